using System.Globalization;
using System.Text.Json;
using ProxyReplacement.Bench.Support;
using ProxyReplacement.Dataplane;

namespace ProxyReplacement.Bench.Suites.Churn;

/// <summary>What the maps held when compared with the model.</summary>
public sealed record EndState(
    int Frontends,
    int CountedBackends,
    int UncountedBackends,
    int BackendMapEntries,
    int ServiceNameEntries,
    IReadOnlyList<string> Differences)
{
    /// <summary>Backend entries no frontend lists (a deleted Service's leftovers).</summary>
    public int OrphanBackends => BackendMapEntries - CountedBackends - UncountedBackends;

    public bool Equal => Differences.Count == 0 && UncountedBackends == 0 && OrphanBackends == 0;

    public string Describe() =>
        string.Create(CultureInfo.InvariantCulture,
            $"{Frontends:N0} frontends, {CountedBackends:N0} backends counted, {UncountedBackends} beyond a count, {OrphanBackends} in pr_nat_be4 " +
            $"under no frontend, {ServiceNameEntries:N0} Service names") +
        (Differences.Count == 0 ? "" : $"; {Differences.Count} differences from the model, first: {string.Join("; ", Differences.Take(5))}");
}

/// <summary>
/// The maps against the model: <c>service-proxy dump -o json</c> (the pins, as a user would read them) gives every frontend
/// with its backends; each must be the model's (the frontend "VIP:port/tcp", its count, its counted backends' addresses),
/// none missing, none extra. The pinned backend map is also counted directly, so that entries no frontend lists
/// (leftovers of deleted Services) show.
/// </summary>
public static class EndStateCheck
{
    public static EndState Read(string pinRoot, SortedDictionary<string, string[]> expected, CancellationToken cancellation)
    {
        var dump = ExternalCommand.Check(MemorySuite.DaemonBinary, ["dump", "-o", "json", "--bpffs-root", pinRoot], TimeSpan.FromMinutes(2), cancellation);
        using var json = JsonDocument.Parse(dump.Stdout);
        var actual = new SortedDictionary<string, (uint Count, string[] Counted)>(StringComparer.Ordinal);
        var counted = 0;
        var uncounted = 0;
        var differences = new List<string>();
        foreach (var frontend in json.RootElement.GetProperty("frontends").EnumerateArray())
        {
            var key = frontend.GetProperty("frontend").GetString()!;
            var backends = frontend.GetProperty("backends").EnumerateArray().ToList();
            var live = backends.Where(backend => backend.GetProperty("counted").GetBoolean())
                .Select(backend => backend.GetProperty("address").GetString()!).Order(StringComparer.Ordinal).ToArray();
            counted += live.Length;
            uncounted += backends.Count - live.Length;
            if (!actual.TryAdd(key, (frontend.GetProperty("backendCount").GetUInt32(), live)))
                differences.Add($"{key} listed twice");
        }
        foreach (var (key, addresses) in expected)
        {
            if (!actual.TryGetValue(key, out var found))
                differences.Add($"{key} missing");
            else if (found.Count != addresses.Length || !found.Counted.SequenceEqual(addresses))
                differences.Add($"{key} has {found.Count} [{string.Join(", ", found.Counted)}], the model {addresses.Length} [{string.Join(", ", addresses)}]");
        }
        differences.AddRange(actual.Keys.Where(key => !expected.ContainsKey(key)).Select(key => $"{key} extra"));

        using var maps = PinnedCoreMaps.Open(pinRoot);
        return new EndState(actual.Count, counted, uncounted, maps.Backends.ReadAll().Count, maps.ServiceNames.ReadAll().Count, differences);
    }
}
