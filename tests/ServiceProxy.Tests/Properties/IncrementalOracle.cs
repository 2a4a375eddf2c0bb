using System.Net;
using FsCheck;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tests.Support;
using ProxyReplacement.ServiceProxy.Tracking;
using static ProxyReplacement.ServiceProxy.Tests.Properties.SyncerProperties;

namespace ProxyReplacement.ServiceProxy.Tests.Properties;

/// <summary>
/// What one scenario of the oracle exercised: its steps, those synced incrementally, the steps that changed a Service object
/// (outside the first sync, full resyncs and context changes) and how each of those was synced, and the drifts.
/// </summary>
public sealed record OracleTally(int Steps, int Incremental, int ServiceChanges, int ServiceChangesIncremental, int ServiceChangesContested,
    int ServiceChangesOtherwise, int Drifts)
{
    public static readonly OracleTally Zero = new(0, 0, 0, 0, 0, 0, 0);

    public OracleTally Plus(OracleTally other) => new(Steps + other.Steps, Incremental + other.Incremental, ServiceChanges + other.ServiceChanges,
        ServiceChangesIncremental + other.ServiceChangesIncremental, ServiceChangesContested + other.ServiceChangesContested,
        ServiceChangesOtherwise + other.ServiceChangesOtherwise, Drifts + other.Drifts);
}

/// <summary>
/// The oracle of the incremental path: a scenario's steps (Service and EndpointSlice changes, node contexts, now and then a
/// full resync) go through one <see cref="ChangeTracker"/>; each commit is synced by a Syncer that takes the incremental
/// path where it can (<see cref="Syncer.Sync(TrackerCommit, bool)"/>) and, on maps of its own, by one that always rebuilds
/// (<see cref="Syncer.Sync(ServiceSnapshot, bool)"/>). After every step both must have written the same NAT writes in the
/// same order, reported the same problems, hold the same ids, maps (NAT, source ranges, names) and source-range writes,
/// and no write of either may have broken make before break. With <c>drift</c>, entries are changed behind both Syncers'
/// backs (the same on both: strays, changed values, frontends gone; never so that a frontend counts a missing backend):
/// an incremental pass trusts its view as a rebuild without a re-read does, and a full resync repairs both alike.
/// A rebuild for an unexpected map state (<see cref="RebuildReason.Unexpected"/>) fails the scenario: the incremental
/// path's view of the maps must always be what the last sync left.
/// </summary>
internal static class IncrementalOracle
{
    public static OracleTally Run(Scenario scenario, bool drift)
    {
        // Two fast-path slots, so that VIPs share them (see SyncerProperties.Run).
        var incremental = new NatMapsUnderTest(maxFrontends: 4096, maxBackends: 8192, directSlots: 2);
        var reference = new NatMapsUnderTest(maxFrontends: 4096, maxBackends: 8192, directSlots: 2);
        var tracker = new ChangeTracker();
        var syncer = incremental.NewSyncer();
        var rebuilder = reference.NewSyncer();
        syncer.Context = rebuilder.Context = scenario.Start;
        var random = new Random(scenario.Seed);
        var tally = OracleTally.Zero;
        var everDrifted = false; // until a full resync repairs it, drift may leave slots the NAT maps no longer call for

        for (var s = 0; s < scenario.Steps.Count; s++)
        {
            var step = scenario.Steps[s];
            foreach (var change in step.Changes)
            {
                switch (change)
                {
                    case UpsertService(var service):
                        tracker.UpsertService(service);
                        break;
                    case DeleteService(var name):
                        tracker.DeleteService(new ObjectKey("default", name));
                        break;
                    case UpsertSlice(var slice):
                        tracker.UpsertEndpointSlice(slice);
                        break;
                    case DeleteSlice(var name):
                        tracker.DeleteEndpointSlice(new ObjectKey("default", name));
                        break;
                }
            }
            if (step.Context is { } context)
                syncer.Context = rebuilder.Context = context;
            var drifted = drift && random.Next(3) == 0 && Drift(random, incremental, reference);
            everDrifted = !step.FullResync && (everDrifted || drifted);

            var commit = tracker.Commit();
            var serviceChanged = commit.ChangedServices.Any(key =>
                !Equals(commit.Previous.Services.GetValueOrDefault(key), commit.Snapshot.Services.GetValueOrDefault(key)));
            incremental.ClearLog();
            reference.ClearLog();
            var got = syncer.Sync(commit, step.FullResync);
            var want = rebuilder.Sync(commit.Snapshot, step.FullResync);
            var path = syncer.LastPath;
            var label = $"step {s} ({path}{(drifted ? ", after drift" : "")})";

            Check(path.Reason != RebuildReason.Unexpected, () => $"{label}: the incremental path found the maps not as the last sync left them");
            Check(!path.Incremental || commit.ChangedServices.Count > 0 || got.Applied.Count == 0, () => $"{label}: writes without a change");
            Same(got.Applied.Select(write => write.ToString()), want.Applied.Select(write => write.ToString()), $"{label}: NAT writes");
            Same(got.Problems.Select(problem => problem.ToString()), want.Problems.Select(problem => problem.ToString()), $"{label}: problems");
            Same(incremental.Dump(), reference.Dump(), $"{label}: maps");
            Same(Names(incremental), Names(reference), $"{label}: service names");
            Same(RangeWrites(incremental), RangeWrites(reference), $"{label}: source-range writes");
            Same(incremental.DirectLog.Select(write => write.ToString()), reference.DirectLog.Select(write => write.ToString()), $"{label}: fast-path writes");
            Same(DirectSlotLines(incremental), DirectSlotLines(reference), $"{label}: fast-path slots");
            Same(DirectSlotsModel.OrderViolations(incremental), [], $"{label}: fast-path write order");
            if (!everDrifted)
                Same(DirectSlotLines(incremental), DirectSlotsModel.Expected(incremental).OrderBy(p => p.Key).Select(p => $"{p.Key}: {p.Value}"),
                    $"{label}: fast-path slots against the model");
            Same(syncer.Ids.Assignments.OrderBy(pair => pair.Value).Select(pair => $"{pair.Value} {pair.Key}"),
                rebuilder.Ids.Assignments.OrderBy(pair => pair.Value).Select(pair => $"{pair.Value} {pair.Key}"), $"{label}: ids");
            Check(incremental.Violations.Count == 0, () => $"{label}: make-before-break violated:\n  {string.Join("\n  ", incremental.Violations.Take(10))}");
            Check(reference.Violations.Count == 0, () => $"{label}: the rebuild broke make before break:\n  {string.Join("\n  ", reference.Violations.Take(10))}");

            var eligible = s > 0 && serviceChanged && !step.FullResync && step.Context is null; // the first sync is always full
            tally = tally.Plus(new OracleTally(1, path.Incremental ? 1 : 0, eligible ? 1 : 0, eligible && path.Incremental ? 1 : 0,
                eligible && path.Reason == RebuildReason.ContestedFrontend ? 1 : 0,
                eligible && path.Reason is not (null or RebuildReason.ContestedFrontend) ? 1 : 0, drifted ? 1 : 0));
        }
        return tally;

        void Same(IEnumerable<string> actual, IEnumerable<string> expected, string what)
        {
            var (a, e) = (actual.ToList(), expected.ToList());
            Check(a.SequenceEqual(e), () => $"{what} differ:\n  incremental:\n    {string.Join("\n    ", a)}\n  rebuild:\n    {string.Join("\n    ", e)}");
        }

        void Check(bool ok, Func<string> what)
        {
            if (!ok)
                throw new PropertyFailure($"{what()}\n--- scenario:\n{scenario}");
        }
    }

    private static IEnumerable<string> DirectSlotLines(NatMapsUnderTest maps) =>
        maps.DirectSlotsHeld().OrderBy(pair => pair.Key).Select(pair => $"{pair.Key}: {pair.Value}");

    private static IEnumerable<string> Names(NatMapsUnderTest maps) =>
        maps.Names.ReadAll().OrderBy(pair => pair.Key).Select(pair => $"{pair.Key} {pair.Value}");

    /// <summary>The source-range writes as a set: their order within each half does not matter to make before break.</summary>
    private static IEnumerable<string> RangeWrites(NatMapsUnderTest maps) =>
        maps.WriteLog.Where(write => write.StartsWith("+src", StringComparison.Ordinal) || write.StartsWith("-src", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

    private static readonly IPAddress[] StrayVips = new[] { "10.96.0.1", "10.96.0.2", "192.0.2.10", "192.168.1.10", "10.96.0.99" }.Select(IPAddress.Parse).ToArray();

    /// <summary>
    /// Changes the same entries of every map set behind the Syncers' backs (as read in the first): a stray backend beyond
    /// a count, another backend value, a frontend gone, a frontend of an id nobody owns (count 0), other affinity on a
    /// frontend, a stray source range, a stray or missing name, a fast-path slot emptied or holding a stray copy. None makes a frontend count a missing backend or check
    /// ranges that are not there. False when there was nothing to change.
    /// </summary>
    private static bool Drift(Random random, params NatMapsUnderTest[] all)
    {
        var first = all[0];
        var backends = first.Backends.Inner.ReadAll();
        var frontends = first.Frontends.Inner.ReadAll();
        var names = first.Names.ReadAll();
        switch (random.Next(8))
        {
            case 0 when backends.Count > 0:
            {
                var (key, value) = backends[random.Next(backends.Count)];
                foreach (var maps in all)
                    maps.Backends.Inner.Update(new NatBackendKey(key.ServiceId, key.Ordinal + 5), value);
                return true;
            }
            case 1 when backends.Count > 0:
            {
                var key = backends[random.Next(backends.Count)].Key;
                var value = new NatBackendValue4(IPAddress.Parse($"10.244.9.{1 + random.Next(3)}"), 8080);
                foreach (var maps in all)
                    maps.Backends.Inner.Update(key, value);
                return true;
            }
            case 2 when frontends.Count > 0:
            {
                var key = frontends[random.Next(frontends.Count)].Key;
                foreach (var maps in all)
                    maps.Frontends.Inner.Delete(key);
                return true;
            }
            case 3:
            {
                var key = new NatFrontendKey4(StrayVips[random.Next(StrayVips.Length)], (ushort)(random.Next(2) == 0 ? 80 : 443), L4Protocol.Tcp);
                var value = new NatFrontendValue(800 + (uint)random.Next(3), 0);
                foreach (var maps in all)
                    maps.Frontends.Inner.Update(key, value);
                return true;
            }
            case 4 when frontends.Count > 0:
            {
                var (key, value) = frontends[random.Next(frontends.Count)];
                var changed = new NatFrontendValue(value.ServiceId, value.BackendCount, value.Flags ^ FrontendFlags.Affinity, 77, value.Kind, value.LocalCount);
                foreach (var maps in all)
                    maps.Frontends.Inner.Update(key, changed);
                return true;
            }
            case 5:
            {
                var id = frontends.Count > 0 && random.Next(2) == 0 ? frontends[random.Next(frontends.Count)].Value.ServiceId : 900u;
                var key = new LbSourceRangeKey4(id, IPNetwork.Parse("198.51.100.0/24"));
                foreach (var maps in all)
                    maps.SourceRanges.Inner.Update(key, default);
                return true;
            }
            case 6:
            {
                if (names.Count > 0 && random.Next(2) == 0)
                {
                    var id = names[random.Next(names.Count)].Key;
                    foreach (var maps in all)
                        maps.Names.Delete(id);
                }
                else
                    foreach (var maps in all)
                        maps.Names.Update(900, new ServiceName("stray", "stray", "", L4Protocol.Tcp));
                return true;
            }
            case 7:
            {
                // A fast-path slot emptied, or given a copy of a frontend nobody serves.
                var slot = (uint)random.Next(first.Direct.MaxEntries);
                var entry = random.Next(2) == 0 ? default
                    : new NatDirectEntry4(new NatFrontendKey4(StrayVips[random.Next(StrayVips.Length)], 80, L4Protocol.Tcp), 800,
                        [new NatBackendValue4(IPAddress.Parse("10.244.9.1"), 8080)]);
                foreach (var maps in all)
                    maps.Direct.Inner.Update(slot, entry);
                return true;
            }
            default:
                return false;
        }
    }
}
