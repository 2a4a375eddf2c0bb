using System.Net.Sockets;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Policy;

/// <summary>
/// One rule -> its clauses for one rule set (Kubernetes' semantics, applied to the selected pods now):
/// peers: none = every address (0.0.0.0/0); a selector peer = a /32 per selected pod; an ipBlock = its CIDR with its
/// excepts. Ports: none = every port of every protocol; a number or range = that span; a name = the container port of
/// that name and protocol on the pod at the destination side: the endpoint itself for ingress, each peer pod for egress
/// (so an egress rule with a name becomes one clause per number, with the peers that have it). A name cannot be
/// resolved for an address that is no pod: in egress, ipBlock peers (and the non-pod part of "every address") get no
/// named ports, reported as <see cref="PolicyProblemReason.NamedPortIpBlock"/> for ipBlocks. IPv6 ipBlocks are left
/// out and reported (<see cref="PolicyProblemReason.Ipv6Unsupported"/>).
/// </summary>
internal sealed class ClauseBuilder(PeerSelection selection, Action<ObjectKey, string, string> problem)
{
    private readonly Dictionary<uint, ResolvedPeers> _peers = [];

    public List<Clause> Build(uint ruleId, NetworkPolicy policy, PolicyRule rule, PolicyDirection direction, Pod endpoint)
    {
        var clauses = new List<Clause>();
        // A rule's peers do not depend on the endpoint: resolved once per compile, however many sets use the rule.
        if (!_peers.TryGetValue(ruleId, out var peers))
            _peers[ruleId] = peers = Peers(policy, rule);
        if (rule.Ports.Count == 0)
        {
            clauses.Add(new Clause(ruleId, null, peers.Blocks));
            return clauses;
        }

        var numbered = new List<PortSpan>();
        var named = new List<PolicyPort>();
        foreach (var port in rule.Ports)
        {
            var protocol = (byte)port.Protocol;
            if (port.Name is null)
                numbered.Add(port.Number is { } first ? new PortSpan(protocol, first, port.EndPort ?? first) : new PortSpan(protocol, 0, 65535));
            else if (direction == PolicyDirection.Ingress)
            {
                // Resolved against the endpoint, the destination of ingress traffic.
                foreach (var containerPort in endpoint.NamedPorts)
                    if (containerPort.Name == port.Name && (byte)containerPort.Protocol == protocol)
                        numbered.Add(new PortSpan(protocol, containerPort.Port, containerPort.Port));
            }
            else
                named.Add(port);
        }
        if (numbered.Count > 0 && peers.Blocks.Count > 0)
            clauses.Add(new Clause(ruleId, numbered.Distinct().ToList(), peers.Blocks));
        if (named.Count == 0)
            return clauses;

        if (peers.HasIpBlocks)
            problem(policy.Key, PolicyProblemReason.NamedPortIpBlock,
                $"egress rule {rule} names ports ({string.Join(", ", named)}) towards an ipBlock: a name resolves only against a pod; that part is not enforced (use a number)");
        // Egress: each peer pod's own number for the name; pods with the same number share a clause.
        var byNumber = new SortedDictionary<(byte Protocol, int Port), List<PeerBlock>>();
        foreach (var (pod, address) in peers.Pods)
            foreach (var port in named)
                foreach (var containerPort in pod.NamedPorts)
                    if (containerPort.Name == port.Name && containerPort.Protocol == port.Protocol)
                    {
                        var key = ((byte)port.Protocol, (int)containerPort.Port);
                        if (!byNumber.TryGetValue(key, out var list))
                            byNumber[key] = list = [];
                        list.Add(new PeerBlock(new Prefix4(address, 32), []));
                    }
        foreach (var ((protocol, number), blocks) in byNumber)
            clauses.Add(new Clause(ruleId, [new PortSpan(protocol, number, number)], blocks.Distinct().ToList()));
        return clauses;
    }

    private sealed record ResolvedPeers(IReadOnlyList<PeerBlock> Blocks, IReadOnlyList<(Pod Pod, uint Address)> Pods, bool HasIpBlocks);

    private ResolvedPeers Peers(NetworkPolicy policy, PolicyRule rule)
    {
        if (rule.Peers.Count == 0)
            return new ResolvedPeers([new PeerBlock(Prefix4.Everything, [])], selection.All().ToList(), false);
        var blocks = new List<PeerBlock>();
        var pods = new List<(Pod, uint)>();
        var ipBlocks = false;
        foreach (var peer in rule.Peers)
        {
            switch (peer)
            {
                case SelectorPeer selector:
                    foreach (var (pod, address) in selection.Select(selector, policy.Key.Namespace))
                    {
                        pods.Add((pod, address));
                        blocks.Add(new PeerBlock(new Prefix4(address, 32), []));
                    }
                    break;
                case IpBlockPeer block when block.Cidr.BaseAddress.AddressFamily != AddressFamily.InterNetwork:
                    problem(policy.Key, PolicyProblemReason.Ipv6Unsupported, $"ipBlock {block.Cidr}: IPv6 is not enforced yet; that peer is left out");
                    break;
                case IpBlockPeer block:
                    ipBlocks = true;
                    blocks.Add(new PeerBlock(Prefix4.Of(block.Cidr), block.Except.Select(Prefix4.Of).ToList()));
                    break;
            }
        }
        return new ResolvedPeers(blocks.Distinct().ToList(), pods.Distinct().ToList(), ipBlocks);
    }
}
