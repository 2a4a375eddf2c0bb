using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Sources;

/// <summary>
/// Pods, Namespaces and NetworkPolicies as a source knows them: the policy module's inputs. Both sources implement it
/// (the Kubernetes API watches the three kinds, the manifest directory reads them); with <c>--network-policy=false</c>
/// they read none of them and <see cref="PolicyInputs"/> stays <see cref="PolicyInputs.Empty"/>.
/// </summary>
public interface IPolicySource
{
    /// <summary>The current inputs (an immutable snapshot; a new one on each change).</summary>
    PolicyInputs PolicyInputs { get; }

    /// <summary>
    /// Raised after <see cref="PolicyInputs"/> changed in a field the model keeps, on the source's thread. Handlers must be
    /// quick and must not throw.
    /// </summary>
    event Action? PolicyInputsChanged;
}

/// <summary>
/// The policy module's inputs at one moment: every pod (the cluster's: pods of other nodes are peers), namespace and
/// valid NetworkPolicy, and the policies skipped as malformed (<see cref="Rejected"/>: reported, not enforced).
/// </summary>
public sealed record PolicyInputs(
    IReadOnlyDictionary<ObjectKey, Pod> Pods,
    IReadOnlyDictionary<string, PodNamespace> Namespaces,
    IReadOnlyDictionary<ObjectKey, NetworkPolicy> Policies,
    IReadOnlyList<PolicyProblem> Rejected)
{
    public static readonly PolicyInputs Empty = new(
        new Dictionary<ObjectKey, Pod>(), new Dictionary<string, PodNamespace>(), new Dictionary<ObjectKey, NetworkPolicy>(), []);
}
