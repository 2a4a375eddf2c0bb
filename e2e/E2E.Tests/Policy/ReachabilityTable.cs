using System.Text;

namespace ProxyReplacement.E2E.Tests.Policy;

/// <summary>
/// Who reaches whom on one port and protocol: a square table over the nine pods, rows the clients, columns the servers,
/// <c>.</c> reachable and <c>X</c> not (the way Kubernetes' network policy e2e suite prints its reachability matrix).
/// Tables are written by hand in the test, in that text form (<see cref="Parse"/>), and printed the same way.
/// </summary>
internal sealed class ReachabilityTable
{
    public const char Allowed = '.';
    public const char Denied = 'X';

    private readonly bool[,] _cells;

    public ReachabilityTable(IReadOnlyList<string> pods, bool[,] cells)
    {
        if (cells.GetLength(0) != pods.Count || cells.GetLength(1) != pods.Count)
            throw new ArgumentException($"a {cells.GetLength(0)}x{cells.GetLength(1)} table for {pods.Count} pods", nameof(cells));
        Pods = pods;
        _cells = cells;
    }

    /// <summary>The pod ids (<c>x/a</c>), in row and column order.</summary>
    public IReadOnlyList<string> Pods { get; }

    public bool this[int from, int to] => _cells[from, to];

    /// <summary>Every pod reaches every pod.</summary>
    public static ReachabilityTable AllAllowed(IReadOnlyList<string> pods)
    {
        var cells = new bool[pods.Count, pods.Count];
        for (var from = 0; from < pods.Count; from++)
            for (var to = 0; to < pods.Count; to++)
                cells[from, to] = true;
        return new ReachabilityTable(pods, cells);
    }

    /// <summary>
    /// Reads a table written as text: a header line with the pod ids in <paramref name="pods"/> order, then one line per
    /// client pod (its id, then one <c>.</c> or <c>X</c> per server pod). Blank lines and surrounding spaces are ignored.
    /// </summary>
    public static ReachabilityTable Parse(string text, IReadOnlyList<string> pods)
    {
        var lines = text.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (lines.Length != pods.Count + 1)
            throw new FormatException($"a table needs a header and {pods.Count} rows, got {lines.Length} lines:\n{text}");
        var header = lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (!header.SequenceEqual(pods))
            throw new FormatException($"the header must list {string.Join(" ", pods)}, got: {lines[0]}");
        var cells = new bool[pods.Count, pods.Count];
        for (var row = 0; row < pods.Count; row++)
        {
            var tokens = lines[row + 1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length != pods.Count + 1 || tokens[0] != pods[row])
                throw new FormatException($"row {row + 1} must be '{pods[row]}' and {pods.Count} cells, got: {lines[row + 1]}");
            for (var column = 0; column < pods.Count; column++)
                cells[row, column] = tokens[column + 1] switch
                {
                    "." => true,
                    "X" => false,
                    var other => throw new FormatException($"cell {pods[row]} -> {pods[column]} is '{other}', not '.' or 'X'"),
                };
        }
        return new ReachabilityTable(pods, cells);
    }

    /// <summary>The table as <see cref="Parse"/> reads it.</summary>
    public override string ToString() => Render((from, to) => this[from, to] ? Allowed : Denied);

    /// <summary>A table of the same shape with <paramref name="cell"/> in every cell (comparisons, diffs).</summary>
    public string Render(Func<int, int, char> cell)
    {
        var width = Pods.Max(pod => pod.Length) + 1;
        var text = new StringBuilder();
        text.Append(new string(' ', width));
        foreach (var pod in Pods)
            text.Append(pod.PadLeft(width));
        text.Append('\n');
        for (var from = 0; from < Pods.Count; from++)
        {
            text.Append(Pods[from].PadRight(width));
            for (var to = 0; to < Pods.Count; to++)
                text.Append(cell(from, to).ToString().PadLeft(width));
            text.Append('\n');
        }
        return text.ToString();
    }
}
