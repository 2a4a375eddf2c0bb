using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Policy;

namespace ProxyReplacement.ServiceProxy.Cli.Explain;

/// <summary>One policy check of a packet: which endpoint, which direction, against which peer and port, and the verdict with its rule.</summary>
public sealed record PolicyCheck(string Direction, IPAddress Pod, string? PodName, IPAddress Peer, ushort Port, PolicyDecision Decision, string? Rule);

/// <summary>
/// What the policy maps say about an explained packet, after the Service translation: for traffic from a pod, the egress
/// check of the source pod against each possible backend (or the destination itself when it is no Service); for every
/// destination that is a pod of this node, its ingress check against the source. Read from the maps only
/// (<see cref="PolicyMapLookup"/>, the BPF programs' two lookups); rule and pod names from the daemon's
/// <see cref="PolicyNames"/>. A pod without a policy entry is open and gets no check.
/// </summary>
public static class PolicyExplainer
{
    public static IReadOnlyList<PolicyCheck> Explain(PolicyMapLookup lookup, PolicyNames? names, Explanation explanation,
        IReadOnlyDictionary<PolicyEndpointKey4, PolicyEndpoint> endpoints)
    {
        ArgumentNullException.ThrowIfNull(lookup);
        ArgumentNullException.ThrowIfNull(explanation);
        names ??= PolicyNames.None;
        var request = explanation.Request;
        var protocol = (byte)request.Protocol;
        if (explanation.Frontend is not null && explanation.Choices.Count == 0)
            return []; // a Service packet that is rejected or dropped never reaches the policy checks
        var targets = explanation.Choices.Count > 0
            ? explanation.Choices.Select(choice => (Address: choice.Address, choice.Port)).Distinct().ToList()
            : [(request.Destination, request.Port)];
        var checks = new List<PolicyCheck>();
        foreach (var (address, port) in targets)
        {
            if (request.From == TrafficOrigin.Pod && endpoints.ContainsKey(new PolicyEndpointKey4(request.Source)))
                checks.Add(Check(lookup, names, PolicyDirection.Egress, request.Source, address, protocol, port));
            if (endpoints.ContainsKey(new PolicyEndpointKey4(address)))
                checks.Add(Check(lookup, names, PolicyDirection.Ingress, address, request.Source, protocol, port));
        }
        return checks;
    }

    private static PolicyCheck Check(PolicyMapLookup lookup, PolicyNames names, PolicyDirection direction, IPAddress pod, IPAddress peer, byte protocol, ushort port)
    {
        var decision = lookup.Decide(pod, direction, protocol, port, peer);
        var rule = decision.Rule != 0 ? names.Rule(decision.Rule) : null;
        return new PolicyCheck(direction.ToString().ToLowerInvariant(), pod, names.Pod(pod.ToString()), peer, port, decision, rule);
    }

    public static string Text(IReadOnlyList<PolicyCheck> checks)
    {
        if (checks.Count == 0)
            return "policy: no pod on either side is isolated by a NetworkPolicy\n";
        var text = new System.Text.StringBuilder();
        foreach (var check in checks)
        {
            var who = check.PodName is null ? check.Pod.ToString() : $"{check.PodName} ({check.Pod})";
            var verdict = check.Decision.Allowed ? "allowed" : "denied";
            var by = check.Rule is null ? "" : $" by {check.Rule}";
            text.Append($"policy {check.Direction} of {who}, peer {check.Peer} port {check.Port}: {verdict}{by}: {check.Decision.Why}\n");
        }
        return text.ToString();
    }
}
