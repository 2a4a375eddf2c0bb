using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>The identity that owns a service id: one port of one Service. Stable across port-number changes.</summary>
public readonly record struct ServicePortKey(string Namespace, string Name, string PortName, Protocol Protocol)
    : IComparable<ServicePortKey>
{
    public ObjectKey Service => new(Namespace, Name);

    public int CompareTo(ServicePortKey other)
    {
        var order = string.CompareOrdinal(Namespace, other.Namespace);
        if (order == 0) order = string.CompareOrdinal(Name, other.Name);
        if (order == 0) order = string.CompareOrdinal(PortName, other.PortName);
        return order != 0 ? order : Protocol.CompareTo(other.Protocol);
    }

    public override string ToString() =>
        $"{Namespace}/{Name}:{(PortName.Length > 0 ? PortName : "<unnamed>")}/{Protocol.ToString().ToLowerInvariant()}";
}
