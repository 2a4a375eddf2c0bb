using System.Net;
using Microsoft.AspNetCore.Builder;
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

        // The HTTP servers start beside the daemon, not before it: building Kestrel is a good part of a cold start, and
        // the dataplane's load, the source's list and the first sync need none of it (/readyz says 503 until that sync).
        var addresses = new[] { options.HealthzBindAddress, options.MetricsBindAddress }.OfType<IPEndPoint>().ToList();
        var http = addresses.Count == 0 ? Task.FromResult<WebApplication?>(null) : Task.Run(async () =>
        {
            var app = HttpEndpoints.Create(addresses, daemon, loggers);
            if (app is not null)
                await app.StartAsync(stop.Token).ConfigureAwait(false);
            return app;
        }, stop.Token);
        // A server that cannot start (an address in use) stops the daemon, and its error ends the command below.
        _ = http.ContinueWith(_ => stop.Cancel(), CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        try
        {
            await daemon.RunAsync(stop.Token).ConfigureAwait(false);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            WebApplication? app = null;
            try
            {
                app = await http.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // stopped before it was up
            }
            if (app is not null)
            {
                await app.StopAsync(CancellationToken.None).ConfigureAwait(false);
                await app.DisposeAsync().ConfigureAwait(false);
            }
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
