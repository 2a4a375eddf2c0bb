namespace ProxyReplacement.Dataplane.Tc;

/// <summary>Which clsact hook of an interface: packets the interface receives, or sends.</summary>
public enum TcDirection
{
    /// <summary>Packets arriving on the interface (on a pod veth's host side: packets leaving the pod).</summary>
    Ingress,

    /// <summary>Packets leaving through the interface.</summary>
    Egress,
}
