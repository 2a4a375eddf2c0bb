using System.Text;

namespace ProxyReplacement.E2E.Tests.Policy;

/// <summary>One column of the matrix: a port and a protocol (<c>80/TCP</c>).</summary>
internal readonly record struct PortProtocol(int Port, L4 Protocol)
{
    /// <summary>Every port and protocol the truth table probes: 80/TCP, 81/TCP, 80/UDP, 81/UDP.</summary>
    public static readonly IReadOnlyList<PortProtocol> All =
        [.. new[] { L4.Tcp, L4.Udp }.SelectMany(protocol => PolicyPod.Ports.Select(port => new PortProtocol(port, protocol)))];

    public override string ToString() => $"{Port}/{Protocol.ToString().ToUpperInvariant()}";
}

/// <summary>
/// The expected matrix of a case: one hand-written <see cref="ReachabilityTable"/> per port and protocol, the same one
/// everywhere unless <see cref="On"/> gives another for some.
/// </summary>
internal sealed class ExpectedReachability
{
    private readonly Dictionary<PortProtocol, ReachabilityTable> _tables;

    private ExpectedReachability(Dictionary<PortProtocol, ReachabilityTable> tables) => _tables = tables;

    public ReachabilityTable this[PortProtocol column] => _tables[column];

    /// <summary><paramref name="table"/> (text, see <see cref="ReachabilityTable.Parse"/>) on every port and protocol.</summary>
    public static ExpectedReachability Everywhere(string table) =>
        new(PortProtocol.All.ToDictionary(column => column, _ => ReachabilityTable.Parse(table, PolicyCluster.PodIds)));

    /// <summary>The same, with <paramref name="table"/> on <paramref name="port"/>/<paramref name="protocol"/> instead.</summary>
    public ExpectedReachability On(int port, L4 protocol, string table) =>
        new(new Dictionary<PortProtocol, ReachabilityTable>(_tables)
        {
            [new PortProtocol(port, protocol)] = ReachabilityTable.Parse(table, PolicyCluster.PodIds),
        });

    /// <summary>Whether any cell of any table says "not reachable".</summary>
    public bool DeniesAnything => _tables.Values.Any(table =>
        Enumerable.Range(0, table.Pods.Count).Any(from => Enumerable.Range(0, table.Pods.Count).Any(to => !table[from, to])));
}

/// <summary>What the probes saw: per port and protocol, one <see cref="ProbeResult"/> per (client, server) cell.</summary>
internal sealed class ObservedReachability(IReadOnlyList<string> pods)
{
    private readonly Dictionary<PortProtocol, ProbeResult[,]> _results =
        PortProtocol.All.ToDictionary(column => column, _ => new ProbeResult[pods.Count, pods.Count]);

    public IReadOnlyList<string> Pods { get; } = pods;

    public ProbeResult this[PortProtocol column, int from, int to]
    {
        get => _results[column][from, to];
        set => _results[column][from, to] = value;
    }

    public ReachabilityTable Table(PortProtocol column)
    {
        var cells = new bool[Pods.Count, Pods.Count];
        for (var from = 0; from < Pods.Count; from++)
            for (var to = 0; to < Pods.Count; to++)
                cells[from, to] = this[column, from, to].Reached;
        return new ReachabilityTable(Pods, cells);
    }

    /// <summary>The cells whose outcome differs from <paramref name="expected"/>.</summary>
    public IReadOnlyList<(PortProtocol Column, int From, int To)> Mismatches(ExpectedReachability expected) =>
        [.. from column in PortProtocol.All
            from f in Enumerable.Range(0, Pods.Count)
            from t in Enumerable.Range(0, Pods.Count)
            where this[column, f, t].Reached != expected[column][f, t]
            select (column, f, t)];

    /// <summary>
    /// Null when every cell is as expected; otherwise, per port and protocol that differs, the expected table, the observed
    /// one and a comparison (<c>.</c> as expected, <c>+</c> reached but should not be, <c>-</c> blocked but should not be),
    /// then each wrong cell with how its probe ended.
    /// </summary>
    public string? Diff(ExpectedReachability expected)
    {
        var mismatches = Mismatches(expected);
        if (mismatches.Count == 0)
            return null;
        var text = new StringBuilder();
        text.AppendLine($"{mismatches.Count} of {PortProtocol.All.Count * Pods.Count * Pods.Count} cells differ from the expected matrix " +
                        "(rows: clients, columns: servers; '.' reachable, 'X' not)");
        foreach (var column in PortProtocol.All.Where(c => mismatches.Any(m => m.Column == c)))
        {
            var want = expected[column];
            var got = Table(column);
            text.AppendLine($"\n==== {column}: expected");
            text.Append(want);
            text.AppendLine($"---- {column}: observed");
            text.Append(got);
            text.AppendLine($"---- {column}: comparison ('.' as expected, '+' reached but expected blocked, '-' blocked but expected reached)");
            text.Append(want.Render((f, t) => want[f, t] == got[f, t] ? '.' : got[f, t] ? '+' : '-'));
        }
        text.AppendLine("\nwrong cells:");
        foreach (var (column, from, to) in mismatches)
            text.AppendLine($"  {Pods[from]} -> {Pods[to]} {column}: expected {(expected[column][from, to] ? "reachable" : "blocked")}, " +
                            $"probe {this[column, from, to]}");
        return text.ToString();
    }
}
