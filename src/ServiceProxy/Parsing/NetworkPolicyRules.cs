using System.Net;
using k8s.Models;
using ProxyReplacement.ServiceProxy.Kubernetes.Objects;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>A policy field the rules reject: <see cref="Reason"/> is a <see cref="PolicyProblemReason"/> value, also written at the end of the message.</summary>
internal sealed class PolicyValidationException(string reason, string message) : ObjectValidationException($"{message} [{reason}]")
{
    public string Reason { get; } = reason;
}

/// <summary>
/// The rules for a <c>networking.k8s.io/v1 NetworkPolicy</c> (the API's own validation and defaulting, so a manifest
/// and an API object mean the same): <c>policyTypes</c> defaulted (Ingress, plus Egress when <c>spec.egress</c> has
/// rules); a peer names an ipBlock or selectors, never both, and at least one of them; an ipBlock's CIDR and excepts
/// are CIDRs of one family, each except strictly inside the CIDR; selectors use In/NotIn (with values) or
/// Exists/DoesNotExist (without); a port's protocol is TCP, UDP or SCTP (default TCP), its port a number 1-65535 or a
/// port name, and endPort (numbers only) is at least the port. Anything else rejects the whole policy: enforcing part of
/// a policy could allow what its author meant to deny, or the reverse.
/// </summary>
internal static class NetworkPolicyRules
{
    public static NetworkPolicy ToModel(NetworkPolicyObject policy, ObjectKey key)
    {
        var spec = policy.Spec ?? throw new PolicyValidationException(PolicyProblemReason.Malformed, "spec: required");
        var podSelector = Selector(spec.PodSelector, "spec.podSelector") ?? LabelSelector.Everything;
        var ingressRules = spec.Ingress ?? [];
        var egressRules = spec.Egress ?? [];
        bool ingress, egress;
        if (spec.PolicyTypes is { Count: > 0 } types)
        {
            ingress = egress = false;
            for (var i = 0; i < types.Count; i++)
            {
                switch (types[i])
                {
                    case "Ingress": ingress = true; break;
                    case "Egress": egress = true; break;
                    default:
                        throw new PolicyValidationException(PolicyProblemReason.PolicyTypes,
                            $"spec.policyTypes[{i}]: '{types[i]}' is not Ingress or Egress");
                }
            }
        }
        else
        {
            ingress = true;
            egress = egressRules.Count > 0;
        }
        var ingressModel = ingressRules.Select((rule, i) => Rule(rule?.FromProperty, rule?.Ports, $"spec.ingress[{i}]", "from")).ToEquatableList();
        var egressModel = egressRules.Select((rule, i) => Rule(rule?.To, rule?.Ports, $"spec.egress[{i}]", "to")).ToEquatableList();
        return new NetworkPolicy(key, podSelector, ingress, egress, ingressModel, egressModel);
    }

    private static PolicyRule Rule(IList<V1NetworkPolicyPeer>? peers, IList<V1NetworkPolicyPort>? ports, string path, string peerField) => new(
        (peers ?? []).Select((peer, i) => Peer(peer, $"{path}.{peerField}[{i}]")).ToEquatableList(),
        (ports ?? []).Select((port, i) => Port(port, $"{path}.ports[{i}]")).ToEquatableList());

    private static PolicyPeer Peer(V1NetworkPolicyPeer? peer, string path)
    {
        if (peer is null || (peer.IpBlock is null && peer.PodSelector is null && peer.NamespaceSelector is null))
            throw new PolicyValidationException(PolicyProblemReason.EmptyPeer, $"{path}: a peer needs podSelector, namespaceSelector or ipBlock");
        if (peer.IpBlock is { } block)
        {
            if (peer.PodSelector is not null || peer.NamespaceSelector is not null)
                throw new PolicyValidationException(PolicyProblemReason.MixedPeer, $"{path}: ipBlock cannot be combined with podSelector or namespaceSelector");
            var cidr = Cidr(block.Cidr, $"{path}.ipBlock.cidr");
            var excepts = new List<IPNetwork>();
            var list = block.Except ?? [];
            for (var i = 0; i < list.Count; i++)
            {
                var exceptPath = $"{path}.ipBlock.except[{i}]";
                var except = Cidr(list[i], exceptPath);
                if (except.BaseAddress.AddressFamily != cidr.BaseAddress.AddressFamily || except.PrefixLength <= cidr.PrefixLength ||
                    !cidr.Contains(except.BaseAddress))
                    throw new PolicyValidationException(PolicyProblemReason.ExceptOutsideCidr,
                        $"{exceptPath}: {except} is not strictly inside the ipBlock's cidr {cidr}");
                excepts.Add(except);
            }
            return new IpBlockPeer(cidr, excepts.ToEquatableList());
        }
        return new SelectorPeer(Selector(peer.PodSelector, $"{path}.podSelector"), Selector(peer.NamespaceSelector, $"{path}.namespaceSelector"));
    }

    private static IPNetwork Cidr(string? text, string path)
    {
        try
        {
            return FieldRules.Cidr(text, path);
        }
        catch (ObjectValidationException error)
        {
            throw new PolicyValidationException(PolicyProblemReason.InvalidCidr, error.Message);
        }
    }

    private static PolicyPort Port(V1NetworkPolicyPort? port, string path)
    {
        if (port is null)
            throw new PolicyValidationException(PolicyProblemReason.Malformed, $"{path}: expected an object");
        var protocol = PolicyRulesText.Protocol(port.Protocol)
            ?? throw new PolicyValidationException(PolicyProblemReason.Protocol, $"{path}.protocol: unknown protocol '{port.Protocol}' (expected TCP, UDP or SCTP)");
        var value = port.Port?.Value;
        if (value is null)
        {
            if (port.EndPort is not null)
                throw new PolicyValidationException(PolicyProblemReason.EndPort, $"{path}.endPort: needs a numeric port");
            return new PolicyPort(protocol);
        }
        if (value.Length > 0 && value.All(char.IsAsciiDigit) || value.StartsWith('-'))
        {
            if (!int.TryParse(value, out var number) || number is < 1 or > 65535)
                throw new PolicyValidationException(PolicyProblemReason.Port, $"{path}.port: {value} is out of range 1-65535");
            if (port.EndPort is { } end && (end < number || end > 65535))
                throw new PolicyValidationException(PolicyProblemReason.EndPort, $"{path}.endPort: {end} is not within {number}-65535");
            return new PolicyPort(protocol, number, EndPort: port.EndPort);
        }
        if (port.EndPort is not null)
            throw new PolicyValidationException(PolicyProblemReason.NamedEndPort, $"{path}.endPort: not allowed with the named port '{value}'");
        try
        {
            return new PolicyPort(protocol, Name: FieldRules.PortName(value, $"{path}.port"));
        }
        catch (ObjectValidationException error)
        {
            throw new PolicyValidationException(PolicyProblemReason.Port, error.Message);
        }
    }

    private static LabelSelector? Selector(V1LabelSelector? selector, string path)
    {
        if (selector is null)
            return null;
        var requirements = new List<SelectorRequirement>();
        foreach (var (labelKey, labelValue) in selector.MatchLabels ?? new Dictionary<string, string>())
        {
            if (string.IsNullOrEmpty(labelKey))
                throw new PolicyValidationException(PolicyProblemReason.Selector, $"{path}.matchLabels: keys must be non-empty");
            requirements.Add(new SelectorRequirement(labelKey, SelectorOperator.In, new EquatableList<string>([labelValue ?? ""])));
        }
        var expressions = selector.MatchExpressions ?? [];
        for (var i = 0; i < expressions.Count; i++)
        {
            var expressionPath = $"{path}.matchExpressions[{i}]";
            var expression = expressions[i] ?? throw new PolicyValidationException(PolicyProblemReason.Selector, $"{expressionPath}: expected an object");
            if (string.IsNullOrEmpty(expression.Key))
                throw new PolicyValidationException(PolicyProblemReason.Selector, $"{expressionPath}.key: required");
            var values = (expression.Values ?? []).ToEquatableList();
            var op = expression.OperatorProperty switch
            {
                "In" => SelectorOperator.In,
                "NotIn" => SelectorOperator.NotIn,
                "Exists" => SelectorOperator.Exists,
                "DoesNotExist" => SelectorOperator.DoesNotExist,
                var other => throw new PolicyValidationException(PolicyProblemReason.Selector,
                    $"{expressionPath}.operator: '{other}' is not In, NotIn, Exists or DoesNotExist"),
            };
            if (op is SelectorOperator.In or SelectorOperator.NotIn ? values.Count == 0 : values.Count > 0)
                throw new PolicyValidationException(PolicyProblemReason.Selector,
                    $"{expressionPath}.values: {(values.Count == 0 ? "required" : "must be empty")} for {expression.OperatorProperty}");
            requirements.Add(new SelectorRequirement(expression.Key, op, values));
        }
        // One order for equal selectors written differently (value equality of the model).
        return new LabelSelector(requirements.OrderBy(r => r.Key, StringComparer.Ordinal).ThenBy(r => r.Operator).ToEquatableList());
    }
}
