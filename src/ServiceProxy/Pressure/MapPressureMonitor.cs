using Microsoft.Extensions.Logging;
using ProxyReplacement.Dataplane;
using ProxyReplacement.ServiceProxy.Conntrack;

namespace ProxyReplacement.ServiceProxy.Pressure;

/// <summary>One map to watch: its name, capacity and a way to count its entries (a batched read).</summary>
public sealed record WatchedMap(string Name, int Capacity, Func<int> CountEntries);

/// <summary>
/// How full each BPF map is: counted at every full resync (a batched read per map, not per sync), exported as
/// <c>proxyreplacement_map_entries</c>/<c>_capacity</c>/<c>_fill_ratio{map}</c>, and a warning logged when a map
/// reaches <see cref="WarningRatio"/> (once per crossing: again only after it fell below).
/// </summary>
public sealed partial class MapPressureMonitor
{
    public const double WarningRatio = 0.9;

    private readonly IReadOnlyList<WatchedMap> _maps;
    private readonly ConntrackMetrics _metrics;
    private readonly ILogger _logger;
    private readonly HashSet<string> _warned = new(StringComparer.Ordinal);

    public MapPressureMonitor(IReadOnlyList<WatchedMap> maps, ConntrackMetrics metrics, ILogger logger)
    {
        _maps = maps;
        _metrics = metrics;
        _logger = logger;
    }

    /// <summary>
    /// Counts every map; returns the names of the maps at or above <see cref="WarningRatio"/>. One caller at a time: the
    /// sync thread at a full resync, or the periodic drift check beside it.
    /// </summary>
    public IReadOnlyList<string> Check()
    {
        lock (_warned)
            return CheckUnderLock();
    }

    private List<string> CheckUnderLock()
    {
        var full = new List<string>();
        foreach (var map in _maps)
        {
            int entries;
            try
            {
                entries = map.CountEntries();
            }
            catch (BpfException error)
            {
                LogCountFailed(_logger, map.Name, error.Message);
                continue;
            }
            _metrics.MapFill[map.Name] = (entries, map.Capacity);
            var ratio = map.Capacity > 0 ? (double)entries / map.Capacity : 0;
            if (ratio >= WarningRatio)
            {
                full.Add(map.Name);
                if (_warned.Add(map.Name))
                    LogNearlyFull(_logger, map.Name, entries, map.Capacity, ratio * 100);
            }
            else
                _warned.Remove(map.Name);
        }
        return full;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Map {Map} is {Percent:F0} % full ({Entries} of {Capacity} entries); raise its size (a restart with a larger --*-map-size migrates the entries)")]
    private static partial void LogNearlyFull(ILogger logger, string map, int entries, int capacity, double percent);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot count the entries of map {Map}: {Reason}")]
    private static partial void LogCountFailed(ILogger logger, string map, string reason);
}
