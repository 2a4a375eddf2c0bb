using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Sources;

/// <summary>
/// The cluster's Nodes as a source knows them, and this node among them (by <c>--hostname-override</c>): its addresses
/// (NodePort and external traffic), its zone (topology hints), its pod CIDRs (routing) and whether it is being drained
/// (<c>/healthz</c>). Both sources implement it: the Kubernetes API (a watch of <c>v1 Node</c>) and the manifest
/// directory (<c>kind: Node</c> objects in it).
/// </summary>
public interface INodeSource
{
    /// <summary>The name this daemon runs as (<c>--hostname-override</c>, or the host name).</summary>
    string NodeName { get; }

    /// <summary>The Node named <see cref="NodeName"/>, or null while the source has none.</summary>
    Node? ThisNode { get; }

    /// <summary>Every Node by name (an immutable snapshot; a new one on each change).</summary>
    IReadOnlyDictionary<string, Node> Nodes { get; }

    /// <summary>
    /// Raised after <see cref="Nodes"/> changed (a Node added, removed, or changed in a field the model keeps), on the
    /// source's thread. Handlers must be quick and must not throw.
    /// </summary>
    event Action? NodesChanged;
}
