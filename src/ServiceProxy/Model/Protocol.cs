namespace ProxyReplacement.ServiceProxy.Model;

/// <summary>The transport protocol of a Service or endpoint port (Kubernetes <c>protocol</c>).</summary>
public enum Protocol
{
    Tcp,
    Udp,
    Sctp,
}
