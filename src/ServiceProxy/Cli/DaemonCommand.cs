using System.Net;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Options;
using ProxyReplacement.ServiceProxy.Telemetry;

namespace ProxyReplacement.ServiceProxy.Cli;

/// <summary><c>service-proxy run</c> (and <c>cleanup</c>): wires the daemon, its HTTP servers, logs and telemetry.</summary>
public static class DaemonCommand
{
    public static async Task<int> RunAsync(ProxyOptions options, CancellationToken cancellationToken)
    {
        if (options.Cleanup)
            return Cleanup(options.BpffsRoot, Console.Out);

        using var loggers = DaemonLogging.Create(options.LoggingFormat);
        using var metrics = new ProxyMetrics();
        using var telemetry = OtlpTelemetry.Start(options.OtlpEndpoint, Environment.GetEnvironmentVariable, metrics, options.HostnameOverride);
        var health = new HealthState(TimeProvider.System, options.SyncPeriod);
        var source = Sources.ServiceSources.Create(options, Environment.GetEnvironmentVariable, loggers, metrics, health);
        using var daemon = new ProxyDaemon(options, loggers, metrics, health, source);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGTERM, context => { context.Cancel = true; stop.Cancel(); });
        using var sigint = System.Runtime.InteropServices.PosixSignalRegistration.Create(
            System.Runtime.InteropServices.PosixSignal.SIGINT, context => { context.Cancel = true; stop.Cancel(); });

        var addresses = new[] { options.HealthzBindAddress, options.MetricsBindAddress }.OfType<IPEndPoint>().ToList();
        await using var http = HttpEndpoints.Create(addresses, daemon, loggers);
        if (http is not null)
            await http.StartAsync(stop.Token).ConfigureAwait(false);
        try
        {
            await daemon.RunAsync(stop.Token).ConfigureAwait(false);
        }
        finally
        {
            if (http is not null)
                await http.StopAsync(CancellationToken.None).ConfigureAwait(false);
        }
        return 0;
    }

    public static int Cleanup(string bpffsRoot, TextWriter output)
    {
        foreach (var line in CleanupCommand.Run(bpffsRoot))
            output.WriteLine(line);
        output.WriteLine("cleanup done");
        return 0;
    }
}
