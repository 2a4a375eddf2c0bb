using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.ServiceProxy.Policy;
using ProxyReplacement.ServiceProxy.Tests.Support;

namespace ProxyReplacement.ServiceProxy.Tests.Policy;

/// <summary>
/// The three policy maps in memory, observed: after every single write, <see cref="Violations"/> records any endpoint
/// entry that points at a set whose entries in the maps are not exactly one compile's entries of that set (the writer's
/// make-before-break promise: an endpoint never sees a half-written or half-deleted set).
/// </summary>
internal sealed class PolicyMapsUnderTest
{
    private readonly List<CompiledPolicy> _compiles = [];

    public PolicyMapsUnderTest(int endpoints = 1024, int ports = 4096, int peers = 4096)
    {
        Endpoints = new(new InMemoryBpfMap<PolicyEndpointKey4, PolicyEndpoint>("pr_pol_ep4", endpoints));
        Ports = new(new InMemoryBpfMap<PolicyPortKey, PolicyPortValue>("pr_pol_ports4", ports));
        Peers = new(new InMemoryBpfMap<PolicyPeerKey4, PolicyPeerValue>("pr_pol_peers4", peers));
        Endpoints.AfterWrite = (_, _) => Check();
        Ports.AfterWrite = (_, _) => Check();
        Peers.AfterWrite = (_, _) => Check();
    }

    public ObservedMap<PolicyEndpointKey4, PolicyEndpoint> Endpoints { get; }
    public ObservedMap<PolicyPortKey, PolicyPortValue> Ports { get; }
    public ObservedMap<PolicyPeerKey4, PolicyPeerValue> Peers { get; }
    public List<string> Violations { get; } = [];
    public int Writes { get; private set; }

    /// <summary>A compile whose sets may appear in the maps from now on (register before applying it).</summary>
    public void Expect(CompiledPolicy compiled) => _compiles.Add(compiled);

    public PolicyWriter Writer() => new(Endpoints, Ports, Peers);

    private void Check()
    {
        Writes++;
        var ports = Ports.ReadAll();
        var peers = Peers.ReadAll();
        foreach (var (endpoint, value) in Endpoints.ReadAll())
            foreach (var set in new[] { value.IngressSet, value.EgressSet }.Where(s => s != 0).Distinct())
            {
                var owner = _compiles.LastOrDefault(c => c.Sets.ContainsKey(set));
                if (owner is null)
                {
                    Violations.Add($"write {Writes}: {endpoint} points at set {set}, which no compile made");
                    continue;
                }
                var (wantPorts, wantPeers) = CompiledPolicy.Entries(set, owner.Sets[set]);
                var havePorts = ports.Where(p => p.Key.Set == set).ToHashSet();
                var havePeers = peers.Where(p => p.Key.Set == set).ToHashSet();
                if (!havePorts.SetEquals(wantPorts) || !havePeers.SetEquals(wantPeers))
                    Violations.Add($"write {Writes}: {endpoint} points at set {set} whose entries are not all there (ports {havePorts.Count}/{wantPorts.Count()}, peers {havePeers.Count}/{wantPeers.Count()})");
            }
    }
}
