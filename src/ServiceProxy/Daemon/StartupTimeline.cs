using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>
/// When each stage of the daemon's start happened, for the one log line that says where a cold start went
/// (<see cref="Summary"/>, logged after the first sync): the runtime's own start (the process's start time from
/// <c>/proc/self/stat</c>, in the kernel's clock ticks: 10 ms), then marks taken with <see cref="Stopwatch"/>.
/// The source lists and parses while the dataplane loads, so those two stages overlap. Thread-safe; each mark
/// keeps its first value.
/// </summary>
public sealed class StartupTimeline
{
    /// <summary>When <c>Main</c> began (set by <see cref="Cli.CommandLine.RunAsync"/>'s caller; 0 when unknown).</summary>
    public static long MainEntered { get; set; }

    private long _daemonStarted;
    private long _loadStarted;
    private long _loadEnded;
    private long _sourceStarted;
    private long _sourceSynced;
    private long _syncStarted;
    private long _syncEnded;

    public void DaemonStarted() => Mark(ref _daemonStarted);
    public void LoadStarted() => Mark(ref _loadStarted);
    public void LoadEnded() => Mark(ref _loadEnded);
    public void SourceStarted() => Mark(ref _sourceStarted);
    public void SourceSynced() => Mark(ref _sourceSynced);
    public void FirstSyncStarted() => Mark(ref _syncStarted);

    /// <summary>Marks the end of the first sync; true the first time only (the caller logs <see cref="Summary"/> then).</summary>
    public bool FirstSyncEnded() => Interlocked.CompareExchange(ref _syncEnded, Stopwatch.GetTimestamp(), 0) == 0;

    public bool FirstSyncDone => Interlocked.Read(ref _syncEnded) != 0;

    private static void Mark(ref long field) => Interlocked.CompareExchange(ref field, Stopwatch.GetTimestamp(), 0);

    /// <summary>
    /// "process start -> programmed T ms: runtime start R ms; command line, logging, source set-up C ms; dataplane load
    /// (BPF verification) from a to b ms; list and parse from c to d ms; first sync from e to f ms", every figure since
    /// the process started (or since Main when the process start is unknown).
    /// </summary>
    public string Summary()
    {
        var main = MainEntered != 0 ? MainEntered : Interlocked.Read(ref _daemonStarted);
        var runtime = ProcessAgeAt(main);
        double At(long mark) => mark == 0 ? double.NaN : runtime + Stopwatch.GetElapsedTime(main, mark).TotalMilliseconds;
        static string F(double ms) => double.IsNaN(ms) ? "?" : ms.ToString("F0", CultureInfo.InvariantCulture);
        return $"process start -> every Service programmed {F(At(_syncEnded))} ms: runtime start {F(runtime)} ms; " +
               $"command line, logging, source set-up until {F(At(_daemonStarted))} ms; " +
               $"dataplane load (BPF verification) {F(At(_loadStarted))}-{F(At(_loadEnded))} ms; " +
               $"list and parse {F(At(_sourceStarted))}-{F(At(_sourceSynced))} ms; " +
               $"first sync {F(At(_syncStarted))}-{F(At(_syncEnded))} ms; {RuntimeCosts()}";
    }

    /// <summary>
    /// What the runtime itself spent so far, which the stages above do not show: the process's CPU time (all threads; on a
    /// busy node the stages wait for CPU), the methods the JIT compiled (those ReadyToRun could not precompile: generic
    /// instantiations over our own value types, mostly) and its time, and the garbage collector's work.
    /// </summary>
    private static string RuntimeCosts()
    {
        var cpu = Environment.CpuUsage.TotalTime.TotalMilliseconds;
        var jitMs = System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds;
        var collections = $"gen0 {GC.CollectionCount(0)}, gen1 {GC.CollectionCount(1)}, gen2 {GC.CollectionCount(2)}";
        return string.Create(CultureInfo.InvariantCulture,
            $"CPU {cpu:F0} ms; JIT {System.Runtime.JitInfo.GetCompiledMethodCount()} methods in {jitMs:F0} ms; " +
            $"GC {collections} collections, paused {GC.GetTotalPauseDuration().TotalMilliseconds:F0} ms, {GC.GetTotalAllocatedBytes() / (1024.0 * 1024):F0} MiB allocated");
    }

    /// <summary>How long the process had run at <paramref name="timestamp"/> (ms), from its start time in /proc/self/stat; 0 if unreadable.</summary>
    private static double ProcessAgeAt(long timestamp)
    {
        try
        {
            // Field 22 (starttime) in clock ticks since boot; the fields after the command name (which may hold spaces) start after ')'.
            var stat = File.ReadAllText("/proc/self/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var startTicks = long.Parse(fields[19], CultureInfo.InvariantCulture);
            // starttime counts on the boot-time clock (suspend included), in USER_HZ (100) ticks.
            if (ClockGetTime(ClockBoottime, out var now) != 0)
                return 0;
            const double ticksPerSecond = 100;
            var ageNow = (now.Seconds * 1000.0 + now.Nanoseconds / 1e6) - startTicks * 1000 / ticksPerSecond;
            return Math.Max(0, ageNow - Stopwatch.GetElapsedTime(timestamp).TotalMilliseconds);
        }
        catch (Exception error) when (error is IOException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException or UnauthorizedAccessException)
        {
            return 0;
        }
    }

    private const int ClockBoottime = 7;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out TimeSpec time);
}
