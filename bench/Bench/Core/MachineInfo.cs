using System.Runtime.InteropServices;

namespace ProxyReplacement.Bench.Core;

/// <summary>The machine a report's numbers came from: they mean little without it.</summary>
public sealed record MachineInfo(string Kernel, string Cpu, int Cores, string Memory, string Runtime, DateTimeOffset When, string LoadAverage)
{
    /// <summary>How long the run waited for the load of the build before it to settle (<see cref="LoadSettler"/>).</summary>
    public TimeSpan SettleWait { get; init; }

    /// <summary>The 1, 5 and 15 minute load averages: other work on the machine makes the numbers noisy.</summary>
    public static string ReadLoadAverage() => FirstLine("/proc/loadavg") is { } line ? string.Join(' ', line.Split(' ').Take(3)) : "unknown";

    public static MachineInfo Read() => new(
        Kernel: FirstLine("/proc/sys/kernel/osrelease") ?? RuntimeInformation.OSDescription,
        Cpu: ProcField("/proc/cpuinfo", "model name") ?? "unknown",
        Cores: Environment.ProcessorCount,
        Memory: ProcField("/proc/meminfo", "MemTotal") ?? "unknown",
        Runtime: RuntimeInformation.FrameworkDescription,
        When: DateTimeOffset.UtcNow,
        LoadAverage: ReadLoadAverage());

    private static string? FirstLine(string path) =>
        File.Exists(path) ? File.ReadLines(path).FirstOrDefault()?.Trim() : null;

    private static string? ProcField(string path, string field) =>
        File.Exists(path)
            ? File.ReadLines(path).Where(line => line.StartsWith(field, StringComparison.Ordinal))
                .Select(line => line[(line.IndexOf(':') + 1)..].Trim()).FirstOrDefault()
            : null;
}
