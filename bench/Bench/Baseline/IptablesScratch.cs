using ProxyReplacement.Bench.Support;
using ProxyReplacement.Dataplane.Tests.Netns;

namespace ProxyReplacement.Bench.Baseline;

/// <summary>The two iptables backends Debian ships: the classic x_tables one and the nf_tables translation (the default).</summary>
public enum IptablesBackend
{
    Legacy,
    Nft,
}

/// <summary>
/// A scratch network namespace (<c>prt-xxxx-ipt</c>) whose iptables tables the baseline restores into, so the
/// host's tables are never touched; deleting the namespace drops every rule with it.
/// </summary>
public sealed class IptablesScratch : IDisposable
{
    private static readonly TimeSpan RestoreTimeout = TimeSpan.FromMinutes(15);
    private readonly TestNamespaces _namespaces = new();

    public IptablesScratch(IptablesBackend backend)
    {
        Backend = backend;
        try
        {
            Namespace = _namespaces.Add("ipt");
        }
        catch
        {
            _namespaces.Dispose();
            throw;
        }
    }

    public IptablesBackend Backend { get; }
    public string Namespace { get; }

    public static string RestoreBinary(IptablesBackend backend) =>
        backend == IptablesBackend.Legacy ? "iptables-legacy-restore" : "iptables-nft-restore";

    /// <summary>Runs iptables-restore (with <c>--noflush</c> when asked) on <paramref name="rulesFile"/> in the namespace; returns its wall time.</summary>
    public TimeSpan Restore(string rulesFile, bool noFlush, CancellationToken cancellation)
    {
        string[] arguments = noFlush
            ? ["netns", "exec", Namespace, RestoreBinary(Backend), "--noflush"]
            : ["netns", "exec", Namespace, RestoreBinary(Backend)];
        return ExternalCommand.Check("ip", arguments, RestoreTimeout, cancellation, rulesFile).Elapsed;
    }

    /// <summary>The number of rules (<c>-A</c> lines) in the nat table, to check a restore really landed.</summary>
    public int NatRuleCount(CancellationToken cancellation)
    {
        var save = Backend == IptablesBackend.Legacy ? "iptables-legacy-save" : "iptables-nft-save";
        var output = ExternalCommand.Check("ip", ["netns", "exec", Namespace, save, "-t", "nat"], RestoreTimeout, cancellation).Stdout;
        return output.Split('\n').Count(line => line.StartsWith("-A ", StringComparison.Ordinal));
    }

    public void Dispose() => _namespaces.Dispose();
}
