namespace ProxyReplacement.ServiceProxy.Model;

/// <summary>
/// Why a NetworkPolicy (or part of one) is not enforced. The value names the label of
/// <c>proxyreplacement_policy_problems{reason}</c>.
/// </summary>
public static class PolicyProblemReason
{
    public const string InvalidCidr = "invalid_cidr";
    public const string ExceptOutsideCidr = "except_outside_cidr";
    public const string EndPort = "end_port";
    public const string NamedEndPort = "named_end_port";
    public const string Port = "port";
    public const string Protocol = "protocol";
    public const string MixedPeer = "mixed_peer";
    public const string EmptyPeer = "empty_peer";
    public const string Selector = "selector";
    public const string PolicyTypes = "policy_types";
    /// <summary>Any other shape error (a field of the wrong type, a missing name).</summary>
    public const string Malformed = "malformed";
    /// <summary>Compiler: an IPv6 ipBlock or pod address (the dataplane's policy maps are IPv4 only); that part is left out.</summary>
    public const string Ipv6Unsupported = "ipv6_unsupported";
    /// <summary>Compiler: a named port towards an ipBlock peer (no pod to resolve the name against); that part is left out.</summary>
    public const string NamedPortIpBlock = "named_port_ip_block";

    public static readonly IReadOnlyList<string> All =
        [InvalidCidr, ExceptOutsideCidr, EndPort, NamedEndPort, Port, Protocol, MixedPeer, EmptyPeer, Selector, PolicyTypes, Malformed, Ipv6Unsupported, NamedPortIpBlock];

    /// <summary>The reason of a rejection text written by the policy rules ("... [reason]"); <see cref="Malformed"/> for any other.</summary>
    public static string Of(string rejection)
    {
        var open = rejection.LastIndexOf('[');
        if (open >= 0 && rejection.EndsWith(']'))
        {
            var reason = rejection[(open + 1)..^1];
            if (All.Contains(reason))
                return reason;
        }
        return Malformed;
    }
}

/// <summary>A problem of one policy: <see cref="Skipped"/> when the whole policy is not enforced (malformed), else only a part.</summary>
public sealed record PolicyProblem(ObjectKey Policy, string Reason, string Detail, bool Skipped)
{
    public override string ToString() => $"NetworkPolicy {Policy}: {Detail}{(Skipped ? " (policy skipped)" : "")}";
}
