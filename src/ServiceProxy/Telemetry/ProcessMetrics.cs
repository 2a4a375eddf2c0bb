using Prometheus;

namespace ProxyReplacement.ServiceProxy.Telemetry;

/// <summary>
/// The standard <c>process_*</c> metrics on a registry: prometheus-net's <see cref="DotNetStats"/> (CPU seconds,
/// start time, virtual memory, threads, .NET GC) plus the ones the Prometheus Go client also exports on Linux and
/// dashboards use, which prometheus-net does not: <c>process_resident_memory_bytes</c> (the kubernetes-mixin proxy
/// dashboard's memory panel), <c>process_open_fds</c> and <c>process_max_fds</c>. Read from <c>/proc/self</c> at
/// each scrape.
/// </summary>
public static class ProcessMetrics
{
    public static void Register(CollectorRegistry registry)
    {
        DotNetStats.Register(registry);
        var factory = Prometheus.Metrics.WithCustomRegistry(registry);
        var resident = factory.CreateGauge("process_resident_memory_bytes", "Resident memory size in bytes.");
        var openFds = factory.CreateGauge("process_open_fds", "Number of open file descriptors.");
        var maxFds = factory.CreateGauge("process_max_fds", "Maximum number of open file descriptors.");
        registry.AddBeforeCollectCallback(() =>
        {
            resident.Set(ResidentBytes());
            openFds.Set(OpenFds());
            if (MaxFds() is { } max)
                maxFds.Set(max);
        });
    }

    /// <summary>RSS: the second field of /proc/self/statm (pages) times the page size; the working set elsewhere.</summary>
    public static double ResidentBytes()
    {
        try
        {
            var fields = File.ReadAllText("/proc/self/statm").Split(' ');
            return double.Parse(fields[1], System.Globalization.CultureInfo.InvariantCulture) * Environment.SystemPageSize;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return Environment.WorkingSet;
        }
    }

    private static double OpenFds()
    {
        try
        {
            return Directory.EnumerateFileSystemEntries("/proc/self/fd").Count();
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    private static double? MaxFds()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/limits"))
            {
                if (!line.StartsWith("Max open files", StringComparison.Ordinal))
                    continue;
                var soft = line["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
                return double.TryParse(soft, System.Globalization.CultureInfo.InvariantCulture, out var value) ? value : null;
            }
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
        }
        return null;
    }
}
