using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sources;

namespace ProxyReplacement.ServiceProxy.Policy;

/// <summary>
/// The policy compiler, a pure function: the cluster's Pods, Namespaces and NetworkPolicies and this node's name ->
/// per endpoint (a pod of this node that takes part: an IPv4 address, not host network, not terminated) the rule set of
/// each direction -> the entries of <c>pr_pol_ep4</c>, <c>pr_pol_ports4</c> and <c>pr_pol_peers4</c>. Kubernetes'
/// semantics: a pod is isolated for a direction when a policy of its namespace selects it and lists that direction in its
/// policyTypes; it may then receive (send) what the union of those policies' rules of that direction allows. A pod no
/// policy isolates in either direction gets no entry (the dataplane lets everything through). See README.md here.
/// </summary>
public static class PolicyCompiler
{
    public static CompiledPolicy Compile(PolicyInputs inputs, string nodeName, PolicyIds? previous = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        previous ??= PolicyIds.Empty;
        var problems = new List<PolicyProblem>(inputs.Rejected);
        var reported = new HashSet<(ObjectKey, string, string)>();
        void Problem(ObjectKey policy, string reason, string detail)
        {
            if (reported.Add((policy, reason, detail)))
                problems.Add(new PolicyProblem(policy, reason, detail, Skipped: false));
        }

        // Rule ids: kept for rules that still exist, new ones counted up, in rule order (deterministic).
        var policies = inputs.Policies.Values.OrderBy(p => p.Key).ToList();
        var ruleIds = new Dictionary<RuleRef, uint>();
        var nextRule = previous.NextRule;
        foreach (var policy in policies)
            foreach (var (direction, rules) in Directions(policy))
                for (var i = 0; i < rules.Count; i++)
                {
                    var rule = new RuleRef(policy.Key, direction, i);
                    ruleIds[rule] = previous.Rules.TryGetValue(rule, out var id) ? id : nextRule++;
                }

        var selection = new PeerSelection(inputs.Pods.Values, inputs.Namespaces.Values);
        var clauses = new ClauseBuilder(selection, Problem);
        var policiesByNamespace = policies.GroupBy(p => p.Key.Namespace, StringComparer.Ordinal).ToDictionary(g => g.Key, g => g.ToList(), StringComparer.Ordinal);

        // A set's content depends only on its rules (and, for ingress named ports, on the endpoint's named ports): compile each once.
        var contents = new Dictionary<string, RuleSetContent>(StringComparer.Ordinal);
        RuleSetContent? SetOf(Pod endpoint, PolicyDirection direction, List<NetworkPolicy> selecting)
        {
            if (selecting.Count == 0)
                return null;
            var ids = selecting.SelectMany(policy => RulesOf(policy, direction).Select((_, i) => ruleIds[new RuleRef(policy.Key, direction, i)])).ToList();
            var namedIngress = direction == PolicyDirection.Ingress && selecting.Any(p => p.Ingress.Any(r => r.Ports.Any(port => port.Name is not null)));
            var memo = $"{direction}|{string.Join(',', ids)}|{(namedIngress ? string.Join(',', endpoint.NamedPorts) : "")}";
            if (contents.TryGetValue(memo, out var known))
                return known;
            var list = new List<Clause>();
            foreach (var policy in selecting)
            {
                var rules = RulesOf(policy, direction);
                for (var i = 0; i < rules.Count; i++)
                    list.AddRange(clauses.Build(ruleIds[new RuleRef(policy.Key, direction, i)], policy, rules[i], direction, endpoint));
            }
            return contents[memo] = RuleSetCompiler.Compile(list);
        }

        var setIds = new Dictionary<string, uint>(StringComparer.Ordinal);
        var sets = new SortedDictionary<uint, RuleSetContent>();
        var nextSet = previous.NextSet;
        uint IdOf(RuleSetContent? content)
        {
            if (content is null)
                return 0;
            if (!setIds.TryGetValue(content.Key, out var id))
            {
                id = previous.Sets.TryGetValue(content.Key, out var kept) ? kept : nextSet++;
                setIds[content.Key] = id;
                sets[id] = content;
            }
            return id;
        }

        var endpoints = new Dictionary<PolicyEndpointKey4, PolicyEndpoint>();
        var infos = new List<PolicyEndpointInfo>();
        foreach (var pod in inputs.Pods.Values.Where(p => p.NodeName == nodeName && p.TakesPart).OrderBy(p => p.Key))
        {
            if (PeerSelection.FirstIpv4(pod) is not { } address)
                continue;
            // Every pod of this node gets an entry, {0, 0} when no policy isolates it: the dataplane then tracks its flows
            // (pr_pol_ct4), so a connection opened before a policy isolates the pod is an established flow the policy keeps.
            var local = policiesByNamespace.TryGetValue(pod.Key.Namespace, out var inNamespace) ? inNamespace : [];
            var ingress = IdOf(SetOf(pod, PolicyDirection.Ingress, local.Where(p => p.IsolatesIngress && p.PodSelector.Matches(pod.Labels)).ToList()));
            var egress = IdOf(SetOf(pod, PolicyDirection.Egress, local.Where(p => p.IsolatesEgress && p.PodSelector.Matches(pod.Labels)).ToList()));
            var key = new PolicyEndpointKey4(Prefix4.ToAddress(address));
            if (!endpoints.TryAdd(key, new PolicyEndpoint(ingress, egress)))
                continue; // two running pods with one address: the first in key order holds it
            infos.Add(new PolicyEndpointInfo(pod.Key, key.Address, ingress, egress));
        }

        var ports = new Dictionary<PolicyPortKey, PolicyPortValue>();
        var peers = new Dictionary<PolicyPeerKey4, PolicyPeerValue>();
        foreach (var (id, content) in sets)
        {
            var (setPorts, setPeers) = CompiledPolicy.Entries(id, content);
            foreach (var (key, value) in setPorts)
                ports[key] = value;
            foreach (var (key, value) in setPeers)
                peers[key] = value;
        }
        var table = ruleIds.ToDictionary(pair => pair.Value, pair => pair.Key);
        return new CompiledPolicy(endpoints, ports, peers, infos, sets, table, problems,
            new PolicyIds(ruleIds, setIds, nextRule, nextSet));
    }

    private static IReadOnlyList<PolicyRule> RulesOf(NetworkPolicy policy, PolicyDirection direction) =>
        direction == PolicyDirection.Ingress ? policy.Ingress : policy.Egress;

    /// <summary>The directions a policy isolates, with their rules (rules of a direction not in policyTypes are ignored, as in Kubernetes).</summary>
    private static IEnumerable<(PolicyDirection, IReadOnlyList<PolicyRule>)> Directions(NetworkPolicy policy)
    {
        if (policy.IsolatesIngress)
            yield return (PolicyDirection.Ingress, policy.Ingress);
        if (policy.IsolatesEgress)
            yield return (PolicyDirection.Egress, policy.Egress);
    }
}
