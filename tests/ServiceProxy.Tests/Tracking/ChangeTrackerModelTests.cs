using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Tracking;
using static ProxyReplacement.ServiceProxy.Tests.Support.Objects;

namespace ProxyReplacement.ServiceProxy.Tests.Tracking;

/// <summary>
/// The tracker against a model of two plain dictionaries (committed and newest state per kind), over random
/// upserts, deletes and relists (<c>ReplaceAll</c>), small and bulk: every call's answer (did it change anything),
/// and every commit's snapshot and changed Services.
/// </summary>
public sealed class ChangeTrackerModelTests
{
    /// <param name="names">Few names: small commits (applied to the previous snapshot); many: relists big enough to rebuild it.</param>
    [TestCase(5, 200)]
    [TestCase(150, 20)]
    public void The_tracker_behaves_like_its_model(int names, int histories)
    {
        var pool = Enumerable.Range(0, names).Select(i => "s" + i).ToArray();
        var random = new Random(6);
        var relistsThatDeleted = 0;
        for (var history = 0; history < histories; history++)
        {
            var tracker = new ChangeTracker();
            var services = new Model<Service>();
            var slices = new Model<EndpointSlice>();
            for (var step = 0; step < 12; step++)
            {
                var label = $"history {history}, step {step}";
                for (var op = random.Next(6); op > 0; op--)
                {
                    var name = pool[random.Next(pool.Length)];
                    var service = Service(name, $"10.96.0.{1 + random.Next(2)}");
                    var slice = Slice(name + "-1", pool[random.Next(pool.Length)], $"10.244.0.{1 + random.Next(2)}");
                    switch (random.Next(5))
                    {
                        case 0:
                            Assert.That(tracker.UpsertService(service), Is.EqualTo(services.Set(service.Key, service)), label);
                            break;
                        case 1:
                            Assert.That(tracker.DeleteService(service.Key), Is.EqualTo(services.Set(service.Key, null)), label);
                            break;
                        case 2:
                            Assert.That(tracker.UpsertEndpointSlice(slice), Is.EqualTo(slices.Set(slice.Key, slice)), label);
                            break;
                        case 3:
                            Assert.That(tracker.DeleteEndpointSlice(slice.Key), Is.EqualTo(slices.Set(slice.Key, null)), label);
                            break;
                        default:
                            var listedServices = pool.Where(_ => random.Next(3) != 0).Select(n => Service(n, $"10.96.0.{1 + random.Next(2)}")).ToList();
                            var listedSlices = pool.Where(_ => random.Next(3) != 0).Select(n => Slice(n + "-1", n, "10.244.0.1")).ToList();
                            var before = services.Newest.Count + slices.Newest.Count;
                            var expected = services.Replace(listedServices, s => s.Key) | slices.Replace(listedSlices, s => s.Key);
                            Assert.That(tracker.ReplaceAll(listedServices, listedSlices), Is.EqualTo(expected), $"{label}: relist");
                            if (services.Newest.Count + slices.Newest.Count < before)
                                relistsThatDeleted++;
                            break;
                    }
                }

                var changed = services.Changed().ToHashSet();
                foreach (var (old, current) in slices.Changes())
                {
                    if (old is not null)
                        changed.Add(old.ServiceKey);
                    if (current is not null)
                        changed.Add(current.ServiceKey);
                }
                var commit = tracker.Commit();
                services.Commit();
                slices.Commit();
                var expectedSnapshot = ServiceSnapshot.Create(services.Newest.Values, slices.Newest.Values);
                Assert.Multiple(() =>
                {
                    Assert.That(commit.ChangedServices, Is.EquivalentTo(changed), $"{label}: changed Services");
                    Assert.That(commit.Snapshot.Services, Is.EqualTo(expectedSnapshot.Services), $"{label}: Services");
                    Assert.That(commit.Snapshot.SlicesByService, Is.EqualTo(expectedSnapshot.SlicesByService), $"{label}: slices");
                });
            }
        }
        Assert.That(relistsThatDeleted, Is.GreaterThan(histories / 2), "relists must also delete, or the comparison proves little");
    }

    /// <summary>The committed and the newest state of one kind of object.</summary>
    private sealed class Model<T> where T : class
    {
        private Dictionary<ObjectKey, T> _committed = [];

        public Dictionary<ObjectKey, T> Newest { get; } = [];

        /// <returns>Whether the newest state changed.</returns>
        public bool Set(ObjectKey key, T? value)
        {
            var before = Newest.GetValueOrDefault(key);
            if (Equals(before, value))
                return false;
            if (value is null)
                Newest.Remove(key);
            else
                Newest[key] = value;
            return true;
        }

        public bool Replace(IEnumerable<T> all, Func<T, ObjectKey> keyOf)
        {
            var listed = all.ToDictionary(keyOf);
            var changed = false;
            foreach (var key in Newest.Keys.Except(listed.Keys).ToList())
                changed |= Set(key, null);
            foreach (var (key, value) in listed)
                changed |= Set(key, value);
            return changed;
        }

        public IEnumerable<ObjectKey> Changed() => ChangesWithKeys().Select(change => change.Key);

        public IEnumerable<(ObjectKey Key, T? Old, T? Current)> ChangesWithKeys() =>
            _committed.Keys.Union(Newest.Keys)
                .Select(key => (key, _committed.GetValueOrDefault(key), Newest.GetValueOrDefault(key)))
                .Where(change => !Equals(change.Item2, change.Item3));

        public IEnumerable<(T? Old, T? Current)> Changes() => ChangesWithKeys().Select(change => (change.Old, change.Current));

        public void Commit() => _committed = new Dictionary<ObjectKey, T>(Newest);
    }
}
