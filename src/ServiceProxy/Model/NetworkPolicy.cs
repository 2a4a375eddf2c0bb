using System.Net;

namespace ProxyReplacement.ServiceProxy.Model;

/// <summary>A <c>from</c>/<c>to</c> entry of a NetworkPolicy rule.</summary>
public abstract record PolicyPeer;

/// <summary>
/// Pods by selectors: <see cref="Pods"/> alone = those pods in the policy's namespace; <see cref="Namespaces"/> alone =
/// every pod of the matching namespaces; both = the matching pods of the matching namespaces. At least one is set.
/// </summary>
public sealed record SelectorPeer(LabelSelector? Pods, LabelSelector? Namespaces) : PolicyPeer
{
    public override string ToString() =>
        Namespaces is null ? $"pods {Pods}" : Pods is null ? $"namespaces {Namespaces}" : $"pods {Pods} in namespaces {Namespaces}";
}

/// <summary>An <c>ipBlock</c>: the addresses of <see cref="Cidr"/> but those of <see cref="Except"/> (each inside the CIDR).</summary>
public sealed record IpBlockPeer(IPNetwork Cidr, EquatableList<IPNetwork> Except) : PolicyPeer
{
    public override string ToString() => Except.Count == 0 ? $"ipBlock {Cidr}" : $"ipBlock {Cidr} except {string.Join(",", Except)}";
}

/// <summary>
/// A <c>ports</c> entry: a protocol and either every port (<see cref="Number"/> and <see cref="Name"/> null), one number
/// (or the range <see cref="Number"/>..<see cref="EndPort"/>), or a named container port.
/// </summary>
public sealed record PolicyPort(PolicyProtocol Protocol, int? Number = null, string? Name = null, int? EndPort = null)
{
    public override string ToString()
    {
        var protocol = Protocol.ToString().ToUpperInvariant();
        return Name is not null ? $"{Name}/{protocol}"
            : Number is null ? $"*/{protocol}"
            : EndPort is { } end && end != Number ? $"{Number}-{end}/{protocol}"
            : $"{Number}/{protocol}";
    }
}

/// <summary>One ingress or egress rule: <see cref="Peers"/> empty = every peer; <see cref="Ports"/> empty = every port and protocol.</summary>
public sealed record PolicyRule(EquatableList<PolicyPeer> Peers, EquatableList<PolicyPort> Ports);

/// <summary>
/// A <c>networking.k8s.io/v1 NetworkPolicy</c>, validated: it selects pods of its namespace (<see cref="PodSelector"/>),
/// isolates them for ingress and/or egress (<c>policyTypes</c>, defaulted: Ingress, plus Egress when <c>spec.egress</c>
/// is present) and allows what its rules say.
/// </summary>
public sealed record NetworkPolicy(
    ObjectKey Key,
    LabelSelector PodSelector,
    bool IsolatesIngress,
    bool IsolatesEgress,
    EquatableList<PolicyRule> Ingress,
    EquatableList<PolicyRule> Egress)
{
    public override string ToString() => Key.ToString();
}
