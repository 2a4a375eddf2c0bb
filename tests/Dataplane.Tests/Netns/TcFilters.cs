namespace ProxyReplacement.Dataplane.Tests.Netns;

/// <summary>What <c>tc filter show</c> lists, for tests that check a program was replaced in place rather than added beside.</summary>
public static class TcFilters
{
    /// <summary>The direct-action BPF filters on <paramref name="device"/>'s ingress or egress hook in <paramref name="netns"/>.</summary>
    public static int BpfCount(string netns, string device, bool ingress = true) =>
        IpCommand.InNamespace(netns, "tc", "filter", "show", "dev", device, ingress ? "ingress" : "egress")
            .Split('\n').Count(line => line.Contains(" bpf ", StringComparison.Ordinal) && line.Contains("direct-action", StringComparison.Ordinal));
}
