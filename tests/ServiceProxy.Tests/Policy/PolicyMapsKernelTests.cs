using System.Net;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Tests.Support;
using ProxyReplacement.ServiceProxy.Policy;

namespace ProxyReplacement.ServiceProxy.Tests.Policy;

/// <summary>
/// The policy writer against the real <c>pr_pol_ep4</c> (hash) and <c>pr_pol_ports4</c>/<c>pr_pol_peers4</c> (LPM tries)
/// of a core dataplane loaded on a private bpffs: the kernel accepts every key the compiler makes, the kernel's own
/// longest-prefix lookups (what the programs will do) decide every packet of a grid as <see cref="PolicyMapLookup"/> does,
/// and a reloaded dataplane's pinned entries are adopted without a write.
/// </summary>
[Category("Privileged")]
public sealed class PolicyMapsKernelTests
{
    private static readonly CoreMapSizes Small = new(Frontends: 32, Backends: 64, Affinity: 32, Conntrack: 128, SocketReverse: 32, LbSourceRanges: 16, Routes: 64,
        PolicyEndpoints: 64, PolicyPorts: 256, PolicyPeers: 256);

    private BpffsMount? _bpffs;

    private string PinRoot => Path.Combine(_bpffs!.Path, "pr");

    [SetUp]
    public void MountBpffs()
    {
        Privileged.Require();
        _bpffs = BpffsMount.Create();
    }

    [TearDown]
    public void Unmount() => _bpffs?.Dispose();

    private CoreDataplane Load() => CoreDataplane.Load(new DataplaneOptions { PinRoot = PinRoot, Sizes = Small });

    private static readonly (string, string)[] Policies =
    [
        ("web", "podSelector: {matchLabels: {app: a}}\ningress:\n- from: [{ipBlock: {cidr: 10.0.0.0/8, except: [10.0.2.0/24]}}]\n  ports: [{port: 80}, {port: 1000, endPort: 1010}]\n- from: [{namespaceSelector: {matchLabels: {team: y}}}]"),
        ("out", "podSelector: {matchLabels: {app: b}}\npolicyTypes: [Egress]\negress: [{to: [{podSelector: {}}], ports: [{port: http}, {protocol: UDP, port: 53}]}]"),
    ];

    /// <summary>The kernel's answer: the two LPM lookups with full-length keys, as the programs make them.</summary>
    private static bool KernelAllows(CoreDataplane dataplane, IPAddress pod, PolicyDirection direction, byte protocol, ushort port, IPAddress peer)
    {
        if (!dataplane.PolicyEndpoints.TryLookup(new PolicyEndpointKey4(pod), out var endpoint))
            return true;
        var set = direction == PolicyDirection.Ingress ? endpoint.IngressSet : endpoint.EgressSet;
        if (set == 0)
            return true;
        var other = protocol is not (6 or 17 or 132);
        if (!dataplane.PolicyPorts.TryLookup(new PolicyPortKey(set, other ? PolicyPortKey.OtherProtocol : protocol, other ? (ushort)0 : port, 16), out var cls))
            return false;
        return dataplane.PolicyPeers.TryLookup(new PolicyPeerKey4(set, cls.PortClass, new IPNetwork(peer, 32)), out var verdict) && verdict.Verdict == PolicyVerdict.Allow;
    }

    [Test]
    public void The_kernels_lookups_decide_every_packet_as_the_compiler_means()
    {
        using var dataplane = Load();
        var compiled = PolicyCompiler.Compile(PolicyWorld.Inputs(PolicyWorld.Cluster + PolicyWorld.Policies(Policies)), PolicyWorld.Node);
        var written = new PolicyWriter(dataplane.PolicyEndpoints, dataplane.PolicyPorts, dataplane.PolicyPeers).Apply(compiled, reread: false);
        Assert.That(written.Problems, Is.Empty, "the kernel accepted every key");

        var lookup = new PolicyMapLookup(compiled.Endpoints, compiled.Ports.ToList(), compiled.Peers.ToList());
        var pods = new[] { "10.0.1.1", "10.0.1.2" }.Select(IPAddress.Parse).ToArray();
        var peers = new[] { "10.0.1.1", "10.0.1.2", "10.0.2.1", "10.0.2.2", "10.0.2.200", "10.9.9.9", "8.8.8.8" }.Select(IPAddress.Parse).ToArray();
        var checkedPackets = 0;
        var allowed = 0;
        foreach (var pod in pods)
            foreach (var direction in new[] { PolicyDirection.Ingress, PolicyDirection.Egress })
                foreach (var protocol in new byte[] { 6, 17, 132, 1 })
                    foreach (var port in new ushort[] { 53, 80, 81, 999, 1000, 1007, 1008, 1010, 1011, 8080, 9090 })
                        foreach (var peer in peers)
                        {
                            var expected = lookup.Decide(pod, direction, protocol, port, peer).Allowed;
                            Assert.That(KernelAllows(dataplane, pod, direction, protocol, port, peer), Is.EqualTo(expected),
                                $"{direction} {pod} {protocol}/{port} peer {peer}");
                            checkedPackets++;
                            allowed += expected ? 1 : 0;
                        }
        Assert.That(allowed, Is.InRange(1, checkedPackets - 1), "the grid has allowed and denied packets");
    }

    [Test]
    public void A_reloaded_dataplane_keeps_the_entries_and_a_new_writer_adopts_them_without_writing()
    {
        var compiled = PolicyCompiler.Compile(PolicyWorld.Inputs(PolicyWorld.Cluster + PolicyWorld.Policies(Policies)), PolicyWorld.Node);
        using (var dataplane = Load())
            new PolicyWriter(dataplane.PolicyEndpoints, dataplane.PolicyPorts, dataplane.PolicyPeers).Apply(compiled, reread: false);

        using var reloaded = Load();
        var writer = new PolicyWriter(reloaded.PolicyEndpoints, reloaded.PolicyPorts, reloaded.PolicyPeers);
        var result = writer.Apply(compiled, reread: false);

        Assert.Multiple(() =>
        {
            Assert.That(result.Writes, Is.Zero);
            Assert.That(reloaded.PolicyPeers.ReadAll(), Is.EquivalentTo(compiled.Peers));
            Assert.That(writer.MaxSetInMaps(), Is.EqualTo(compiled.Sets.Keys.Max()));
        });
    }
}
