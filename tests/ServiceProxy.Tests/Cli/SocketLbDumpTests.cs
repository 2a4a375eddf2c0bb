using ProxyReplacement.ServiceProxy.Cli;

namespace ProxyReplacement.ServiceProxy.Tests.Cli;

/// <summary>The host netns line of `dump`: each state an operator can meet says what it means.</summary>
public sealed class SocketLbDumpTests
{
    [TestCase(null, null, "no pr_host_netns pinned (a daemon from before host-netns affinity)")]
    [TestCase(0UL, null, "unset: every socket is treated as a pod's")]
    [TestCase(4097UL, true, "cookie 4097 (this network namespace)")]
    [TestCase(4097UL, false, "cookie 4097 (not this dump's network namespace)")]
    [TestCase(4097UL, null, "cookie 4097")]
    public void Describes_the_host_netns(ulong? cookie, bool? isOwnNamespace, string expected) =>
        Assert.That(SocketLbDump.Describe(new SocketLbDump.HostNamespace(cookie, isOwnNamespace)), Is.EqualTo(expected));
}
