using Microsoft.Extensions.Logging;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Programs;
using ProxyReplacement.Dataplane.Tc;
using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>
/// Keeps the workload program attached at TC ingress of every interface whose name matches the
/// workload patterns (and, when given, a second program at TC egress: the workload interfaces' NetworkPolicy
/// ingress check, <c>pr_tc_to_wl</c>; an interface counts as attached once both are): interfaces that appear later get it when they appear, an interface recreated
/// under the same name (new ifindex) gets it again, and vanished ones are forgotten (the kernel
/// dropped their filters with them). Attachments are never detached on shutdown: the dataplane keeps
/// serving while the daemon restarts; a new daemon replaces the program atomically.
/// </summary>
public sealed partial class InterfaceAttacher
{
    private const string SysClassNet = "/sys/class/net";

    private readonly InterfacePatterns _patterns;
    private readonly BpfProgram _program;
    private readonly BpfProgram? _egressProgram;
    private readonly ILogger _logger;
    private readonly ProxyMetrics _metrics;
    private readonly MetricGauge _attachedGauge;
    private readonly Dictionary<string, int> _attached = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _failed = new(StringComparer.Ordinal);

    /// <param name="attachedGauge">Where the number of attached interfaces goes (default: the workload interfaces' gauge).</param>
    /// <param name="egressProgram">Attached at TC egress of the same interfaces (same priority and handle), after the ingress one.</param>
    public InterfaceAttacher(InterfacePatterns patterns, BpfProgram program, ILogger<InterfaceAttacher> logger, ProxyMetrics metrics,
        MetricGauge? attachedGauge = null, BpfProgram? egressProgram = null)
    {
        _egressProgram = egressProgram;
        _attachedGauge = attachedGauge ?? metrics.AttachedInterfaces;
        _patterns = patterns;
        _program = program;
        _logger = logger;
        _metrics = metrics;
    }

    /// <summary>Names of the interfaces currently carrying our program.</summary>
    public IReadOnlyCollection<string> Attached => _attached.Keys;

    public async Task RunAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(interval);
        do
        {
            Reconcile();
        }
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>One pass: attach to new or recreated matching interfaces, forget vanished ones.</summary>
    public void Reconcile()
    {
        var present = ListInterfaces().Where(pair => _patterns.Matches(pair.Name)).ToDictionary(p => p.Name, p => p.Index);
        foreach (var gone in _attached.Keys.Where(name => !present.ContainsKey(name)).ToList())
        {
            _attached.Remove(gone);
            LogGone(_logger, gone);
        }
        foreach (var (name, index) in present)
        {
            if (_attached.TryGetValue(name, out var known) && known == index)
                continue;
            try
            {
                Tc.Attach(index, TcDirection.Ingress, _program, AttachPoint.Priority, AttachPoint.Handle);
                LogAttached(_logger, _program.Name, "ingress", name, index);
                if (_egressProgram is not null)
                {
                    Tc.Attach(index, TcDirection.Egress, _egressProgram, AttachPoint.Priority, AttachPoint.Handle);
                    LogAttached(_logger, _egressProgram.Name, "egress", name, index);
                }
                _attached[name] = index;
                _failed.Remove(name);
                _metrics.InterfaceAttaches.Increment();
            }
            catch (BpfException error)
            {
                _metrics.InterfaceAttachErrors.Increment();
                // Log a persistent failure once per reason, not every second.
                if (!_failed.TryGetValue(name, out var reason) || reason != error.Message)
                    LogAttachFailed(_logger, name, index, error.Message);
                _failed[name] = error.Message;
            }
        }
        _attachedGauge.Set(_attached.Count);
    }

    /// <summary>The interfaces of this network namespace as (name, ifindex).</summary>
    public static IEnumerable<(string Name, int Index)> ListInterfaces()
    {
        foreach (var dir in Directory.EnumerateDirectories(SysClassNet))
        {
            var name = Path.GetFileName(dir);
            string text;
            try
            {
                text = File.ReadAllText(Path.Combine(dir, "ifindex")).Trim();
            }
            catch (IOException)
            {
                continue; // vanished while we looked
            }
            if (int.TryParse(text, out var index))
                yield return (name, index);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Attached {Program} at tc {Direction} of {Interface} (ifindex {Index})")]
    private static partial void LogAttached(ILogger logger, string program, string direction, string @interface, int index);

    [LoggerMessage(Level = LogLevel.Error, Message = "Cannot attach to {Interface} (ifindex {Index}): {Reason}")]
    private static partial void LogAttachFailed(ILogger logger, string @interface, int index, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Interface {Interface} is gone")]
    private static partial void LogGone(ILogger logger, string @interface);
}
