namespace ProxyReplacement.Shipping.Tests.Support;

/// <summary>
/// The daemon's capability set as docs/capabilities.md documents it (its table's rows starting with
/// <c>| CAP_</c>): the chart and the image test use this list, so the document, the chart and the proof agree.
/// </summary>
internal static class Capabilities
{
    public static IReadOnlyList<string> Documented { get; } = File.ReadAllLines(Path.Combine(Repository.Root, "docs", "capabilities.md"))
        .Where(line => line.StartsWith("| `CAP_", StringComparison.Ordinal))
        .Select(line => line.Split('|', StringSplitOptions.TrimEntries)[1].Trim('`'))
        .ToList();
}
