namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>
/// The network namespaces one test made, deleted together on Dispose (which also removes their
/// veths, qdiscs and TC filters). Names are <c>prt-xxxx-role</c> with a random <c>xxxx</c>.
/// </summary>
internal sealed class TestNamespaces : IDisposable
{
    private readonly List<string> _created = [];

    public TestNamespaces(string? prefix = null)
    {
        Prefix = prefix ?? NewPrefix();
    }

    /// <summary><c>prt-xxxx</c>: short enough that <c>prefix-role</c> also fits an interface name (15 chars).</summary>
    public string Prefix { get; }

    public IReadOnlyList<string> Created => _created;

    /// <summary>Creates <c>prefix-role</c> with its loopback up.</summary>
    public string Add(string role)
    {
        var name = $"{Prefix}-{role}";
        IpCommand.Ip("netns", "add", name);
        _created.Add(name);
        IpCommand.Ip("-n", name, "link", "set", "lo", "up");
        return name;
    }

    public static bool Exists(string name) => File.Exists(Path.Combine("/var/run/netns", name));

    public void Dispose()
    {
        var failures = new List<string>();
        foreach (var name in Enumerable.Reverse(_created))
        {
            try
            {
                IpCommand.Ip("netns", "delete", name);
            }
            catch (InvalidOperationException e)
            {
                failures.Add(e.Message);
            }
        }
        _created.Clear();
        if (failures.Count > 0)
            throw new InvalidOperationException("could not delete test namespaces: " + string.Join("; ", failures));
    }

    private static string NewPrefix()
    {
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var prefix = $"prt-{Random.Shared.Next(0x10000):x4}";
            if (!Directory.Exists("/var/run/netns") || !Directory.EnumerateFiles("/var/run/netns", prefix + "-*").Any())
                return prefix;
        }
        throw new InvalidOperationException("no free prt-xxxx namespace prefix");
    }
}
