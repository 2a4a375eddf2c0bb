using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;
using ProxyReplacement.ServiceProxy.Tests.Sync.Reference;

namespace ProxyReplacement.ServiceProxy.Tests.Sync;

/// <summary>
/// The fast rebuild (desired state, ordinal placement, diff) must decide exactly what the plain previous one
/// (<see cref="PreviousRebuild"/>) decided, for any snapshot and any map contents: random Services (several ports,
/// named target ports, IPv6 addresses, shared VIPs, session affinity), random slices (not ready, duplicates across
/// slices, IPv6, orphans) and maps that drifted (holes, strays beyond the count, repeated backends, foreign ids,
/// entries of Services long gone), over a few rebuilds in a row so that ids are adopted, kept and released.
/// </summary>
public sealed class RebuildEquivalenceTests
{
    private static readonly string[] Names = ["a", "b", "c", "d", "e", "f"];
    private static readonly string[] PortNames = ["", "http", "dns", "metrics"];

    [Test]
    public void The_fast_rebuild_decides_exactly_what_the_previous_one_did()
    {
        var random = new Random(6);
        var compared = 0;
        var withDeletes = 0;
        for (var history = 0; history < 300; history++)
        {
            var fastIds = new ServiceIdAllocator();
            var referenceIds = new ServiceIdAllocator();
            var current = NatMapContents.Empty;
            for (var step = 0; step < 4; step++)
            {
                var (services, slices) = RandomObjects(random);
                var snapshot = ServiceSnapshot.Create(services, slices);
                var label = $"history {history}, step {step}";
                var (referenceServices, referenceSlices) = PreviousRebuild.Snapshot(services, slices);
                Assert.That(snapshot.Services, Is.EqualTo(referenceServices), $"{label}: snapshot Services");
                Assert.That(snapshot.SlicesByService, Is.EqualTo(referenceSlices), $"{label}: snapshot slices");

                var fast = DesiredStateBuilder.Build(snapshot, fastIds, current);
                var reference = PreviousRebuild.Build(snapshot, referenceIds, current);
                var fastWrites = MapDiff.Compute(fast.Maps, current);
                var referenceWrites = PreviousRebuild.Diff(reference.Maps, current);
                Assert.Multiple(() =>
                {
                    Assert.That(MapDump.Lines(fast.Maps), Is.EqualTo(MapDump.Lines(reference.Maps)), $"{label}: desired entries");
                    Assert.That(fast.Owners.OrderBy(pair => pair.Key), Is.EqualTo(reference.Owners.OrderBy(pair => pair.Key)), $"{label}: owners");
                    Assert.That(fast.Problems, Is.EqualTo(reference.Problems), $"{label}: conflicts");
                    Assert.That(fastWrites.Select(write => write.ToString()), Is.EqualTo(referenceWrites.Select(write => write.ToString())), $"{label}: writes");
                    Assert.That(fastIds.Assignments.OrderBy(pair => pair.Value), Is.EqualTo(referenceIds.Assignments.OrderBy(pair => pair.Value)), $"{label}: ids");
                });
                compared++;
                if (fastWrites.Any(write => write is DeleteBackend or DeleteFrontend))
                    withDeletes++;
                current = Drifted(fast.Maps, random);
            }
        }
        Assert.That(withDeletes, Is.GreaterThan(compared / 4), "the comparison must cover rebuilds that remove entries, not only fresh ones");
    }

    [Test]
    public void Placement_agrees_with_the_previous_one_on_any_current_ordinals()
    {
        var random = new Random(7);
        for (var round = 0; round < 2000; round++)
        {
            var pool = Enumerable.Range(1, 12).Select(i => Backend(i, random.Next(2) == 0 ? 8080 : 9090)).Distinct().ToList();
            var desired = pool.Where(_ => random.Next(2) == 0).ToList();
            var current = new Dictionary<uint, NatBackendValue4>();
            for (var k = random.Next(10); k > 0; k--)
                current[(uint)(random.Next(3) == 0 ? random.Next(40) : random.Next(8))] = pool[random.Next(pool.Count)];
            Assert.That(BackendOrdinals.Assign(current, desired), Is.EqualTo(PreviousRebuild.Assign(current, desired)),
                $"round {round}: current {string.Join(", ", current.OrderBy(pair => pair.Key))}, desired {string.Join(", ", desired)}");
        }
    }

    private static (List<Service> Services, List<EndpointSlice> Slices) RandomObjects(Random random)
    {
        var services = new List<Service>();
        var slices = new List<EndpointSlice>();
        foreach (var ns in new[] { "default", "kube-system" })
            foreach (var name in Names)
            {
                if (random.Next(4) == 0)
                    continue;
                var ips = new List<IPAddress>();
                if (random.Next(6) != 0)
                    ips.Add(IPAddress.Parse($"10.96.0.{1 + random.Next(8)}")); // few VIPs: Services collide on some
                if (random.Next(4) == 0)
                    ips.Add(IPAddress.Parse($"fd00::{1 + random.Next(4)}"));
                if (ips.Count == 0)
                    ips.Add(IPAddress.Parse("10.96.0.9"));
                var ports = Enumerable.Range(0, 1 + random.Next(3)).Select(_ => RandomPort(random)).ToList();
                var affinity = random.Next(4) == 0 ? SessionAffinity.ClientIP : SessionAffinity.None;
                services.Add(new Service(ns, name, Labels.Empty, ServiceType.ClusterIP, ips.ToEquatableList(), ports.ToEquatableList(),
                    affinity, 60 + random.Next(3)));
            }
        foreach (var ns in new[] { "default", "kube-system" })
            foreach (var name in Names.Append("orphan"))
                for (var s = random.Next(3); s > 0; s--)
                    slices.Add(RandomSlice(random, ns, $"{name}-{s}", name));
        return (services, slices);
    }

    private static ServicePort RandomPort(Random random)
    {
        var protocol = random.Next(3) == 0 ? Protocol.Udp : Protocol.Tcp;
        var target = random.Next(3) == 0 ? TargetPort.FromName(PortNames[1 + random.Next(2)]) : TargetPort.FromNumber(8080 + random.Next(2));
        return new ServicePort(PortNames[random.Next(PortNames.Length)], protocol, 80 + random.Next(3), target);
    }

    private static EndpointSlice RandomSlice(Random random, string ns, string name, string service)
    {
        var ipv6 = random.Next(8) == 0;
        var endpoints = Enumerable.Range(0, random.Next(6))
            .Select(_ => new SliceEndpoint(
                Enumerable.Range(0, random.Next(5) == 0 ? 0 : 1 + random.Next(2))
                    .Select(_ => ipv6 ? IPAddress.Parse($"fd00:1::{1 + random.Next(6)}") : IPAddress.Parse($"10.244.{random.Next(2)}.{1 + random.Next(6)}"))
                    .ToEquatableList(),
                new EndpointConditions(Ready: random.Next(4) switch { 0 => false, 1 => null, _ => true })))
            .ToEquatableList();
        var ports = Enumerable.Range(0, random.Next(3))
            .Select(_ => new EndpointPort(PortNames[random.Next(PortNames.Length)], random.Next(3) == 0 ? Protocol.Udp : Protocol.Tcp,
                random.Next(5) == 0 ? null : 8080 + random.Next(3)))
            .ToEquatableList();
        return new EndpointSlice(ns, name, service, ipv6 ? AddressType.IPv6 : AddressType.IPv4, endpoints, ports);
    }

    /// <summary>The maps after the desired state was written, then changed behind the Syncer's back.</summary>
    private static NatMapContents Drifted(NatMapContents written, Random random)
    {
        var maps = written.Clone();
        foreach (var key in maps.Backends.Keys.ToList())
        {
            switch (random.Next(12))
            {
                case 0:
                    maps.Backends.Remove(key); // a hole
                    break;
                case 1:
                    maps.Backends[new NatBackendKey(key.ServiceId, key.Ordinal + 5)] = maps.Backends[key]; // a stray copy beyond the end
                    break;
                case 2:
                    maps.Backends[key] = Backend(1 + random.Next(6), 8080); // another backend (maybe a repeat of one kept)
                    break;
            }
        }
        if (random.Next(3) == 0)
            maps.Backends[new NatBackendKey(900 + (uint)random.Next(3), (uint)random.Next(3))] = Backend(7, 8080); // an id nobody owns
        foreach (var key in maps.Frontends.Keys.ToList())
            if (random.Next(10) == 0)
                maps.Frontends.Remove(key);
        if (random.Next(3) == 0) // a frontend left by a previous daemon: its id may be adopted
            maps.Frontends[new NatFrontendKey4(IPAddress.Parse($"10.96.0.{1 + random.Next(8)}"), (ushort)(80 + random.Next(3)), L4Protocol.Tcp)] =
                new NatFrontendValue(800 + (uint)random.Next(5), (uint)random.Next(3));
        return maps;
    }

    private static NatBackendValue4 Backend(int host, int port) => new(IPAddress.Parse($"10.244.0.{host}"), (ushort)port);
}
