using System.Net;

namespace ProxyReplacement.ServiceProxy.Model;

/// <summary>The IP protocols a NetworkPolicy port or a container port names (the value is the IP protocol number).</summary>
public enum PolicyProtocol : byte
{
    Tcp = 6,
    Udp = 17,
    Sctp = 132,
}

/// <summary>A container port that has a name (only named ones are kept: a policy refers to a port by name or by number).</summary>
public readonly record struct NamedContainerPort(string Name, PolicyProtocol Protocol, ushort Port)
{
    public override string ToString() => $"{Name}={Port}/{Protocol.ToString().ToUpperInvariant()}";
}

/// <summary>
/// A pod as the policy module needs it, and nothing more (a cluster has many pods: every field here costs memory per
/// pod): who it is, its labels (policy selectors), its IPs (peers and endpoints), its node (is it one of ours), whether
/// it uses the host's network or has terminated (then it is no peer and no endpoint) and its named container ports
/// (named ports in policies).
/// </summary>
public sealed record Pod(
    ObjectKey Key,
    Labels Labels,
    EquatableList<IPAddress> Ips,
    string? NodeName,
    bool HostNetwork,
    bool Terminated,
    EquatableList<NamedContainerPort> NamedPorts)
{
    /// <summary>Whether NetworkPolicy applies to it at all (as a peer, and as an endpoint on its node): it has an IP of its own and runs.</summary>
    public bool TakesPart => Ips.Count > 0 && !HostNetwork && !Terminated;

    public override string ToString() => $"{Key} [{string.Join(", ", Ips)}] on {NodeName ?? "(no node)"}";
}

/// <summary>A namespace: its name and labels (namespace selectors).</summary>
public sealed record PodNamespace(string Name, Labels Labels)
{
    /// <summary>The label the API server sets on every namespace (Kubernetes 1.21+): its own name.</summary>
    public const string NameLabel = "kubernetes.io/metadata.name";

    /// <summary>A namespace that pods name but no Namespace object defines (manifests): only the name label, as the API server would set it.</summary>
    public static PodNamespace Implicit(string name) => new(name, Labels.From([new(NameLabel, name)]));
}
