namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>A scratch namespace <c>prt-xxxx-scratch</c> holding one veth pair, both ends up.</summary>
public sealed class VethNamespace : IDisposable
{
    public const string Interface = "veth-a";
    public const string Peer = "veth-b";

    private readonly TestNamespaces _namespaces;

    private VethNamespace(TestNamespaces namespaces, string name)
    {
        _namespaces = namespaces;
        Name = name;
    }

    public string Name { get; }

    public static VethNamespace Create()
    {
        var namespaces = new TestNamespaces();
        try
        {
            var name = namespaces.Add("scratch");
            IpCommand.Ip("-n", name, "link", "add", Interface, "type", "veth", "peer", "name", Peer);
            IpCommand.Ip("-n", name, "link", "set", Interface, "up");
            IpCommand.Ip("-n", name, "link", "set", Peer, "up");
            return new VethNamespace(namespaces, name);
        }
        catch
        {
            namespaces.Dispose();
            throw;
        }
    }

    public void Dispose() => _namespaces.Dispose();
}
