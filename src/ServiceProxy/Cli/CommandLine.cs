using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using ProxyReplacement.Dataplane;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Cli;

/// <summary>
/// The `service-proxy` entry point: `run` (the daemon), `dump`, `cleanup`. Exit codes: 0 ok,
/// 1 runtime failure, 2 invalid command line or configuration.
/// </summary>
public static class CommandLine
{
    private const string Usage = """
        usage: service-proxy <command> [options]

        commands:
          run       the daemon: watch Services/EndpointSlices and program the eBPF dataplane
          dump      print the live maps: frontends with backends, conntrack, affinity, counters
          cleanup   detach our programs from every interface and cgroup, remove our pinned maps

        run options:
          --config FILE                 YAML config; keys are the camelCase option names
          --validate-config FILE        check a config file (as --config reads it) and exit: 0 valid, 2 not; starts nothing
          --source auto|kubernetes|manifest  default auto: Kubernetes with --kubeconfig, KUBECONFIG or in a pod,
                                        the manifest directory with --manifest-dir
          --kubeconfig FILE             kubeconfig of the Kubernetes API source (default: KUBECONFIG, then in-cluster)
          --service-proxy-name NAME     serve only Services labelled service.kubernetes.io/service-proxy-name=NAME
          --api-timeout DURATION        API request timeout, default 30s
          --manifest-dir DIR            directory of Service/EndpointSlice manifests (watched)
          --hostname-override NAME      this node's name
          --healthz-bind-address IP:PORT  default 0.0.0.0:10256 (empty disables)
          --metrics-bind-address IP:PORT  default 127.0.0.1:10249 (empty disables)
          --bpffs-root DIR              pin directory on a bpffs, default /sys/fs/bpf/proxy-replacement
          --workload-interfaces GLOBS   pod veth name patterns, default veth*,cali*,lxc*
          --host-interfaces GLOBS       host data interfaces (NodePort), default eth*,ens*,enp*
          --cgroup-path DIR             cgroup v2 directory for the socket hooks (connect-time balancing); none: no hooks
          --socket-lb-mode MODE         disabled | tcp (TCP only, default) | enabled (TCP and UDP)
          --service-cidrs CIDRS         default 10.96.0.0/12
          --min-sync-interval DURATION  default 1s
          --sync-period DURATION        full resync period, default 30s
          --frontend-map-size N  --backend-map-size N  --affinity-map-size N  --conntrack-map-size N
          --socket-reverse-map-size N   (sockets translated at connect/sendmsg, LRU)
                                        a changed size migrates the pinned map's entries at start
          --conntrack-tcp-timeout-syn D  --conntrack-tcp-timeout-established D  --conntrack-tcp-timeout-close D
          --conntrack-udp-timeout D  --conntrack-generic-timeout D
                                        idle timeouts, default 60s, 24h, 10s, 60s, 600s
          --conntrack-sweep-interval D  delete expired conntrack/affinity entries this often, default 10s (0s: never)
          --cleanup                     remove everything ours and exit (kube-proxy compatible)

        dump options:     --bpffs-root DIR  -o table|json
        cleanup options:  --bpffs-root DIR
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            Console.Out.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        try
        {
            return args[0] switch
            {
                "run" when ValidateConfigCommand.IsRequested(args[1..]) => ValidateConfigCommand.Run(args[1..], Console.Out),
                "run" => await RunDaemonAsync(args[1..]).ConfigureAwait(false),
                "dump" => Dump(args[1..]),
                "cleanup" => Cleanup(ProxyOptionsBuilder.FromArguments(args[1..], new HashSet<string> { "bpffs-root" })),
                _ => throw new OptionException(args[0], "unknown command; accepted: run, dump, cleanup"),
            };
        }
        catch (OptionException error)
        {
            Console.Error.WriteLine($"service-proxy: {error.Message}");
            return 2;
        }
        catch (Kubernetes.Config.ClusterConfigException error)
        {
            Console.Error.WriteLine($"service-proxy: {error.Message}");
            return 2;
        }
        catch (BpfException error)
        {
            Console.Error.WriteLine($"service-proxy: {error.Message}");
            return 1;
        }
    }

    private static async Task<int> RunDaemonAsync(string[] args)
    {
        var options = ProxyOptionsBuilder.FromArguments(args);
        if (options.Cleanup)
            return Cleanup(options);

        using var loggers = LoggerFactory.Create(logging => logging
            .AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.TimestampFormat = "HH:mm:ss.fff ";
            })
            .AddFilter("Microsoft", LogLevel.Warning)
            .Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace));

        var metrics = new ProxyMetrics();
        var health = new HealthState(TimeProvider.System, options.SyncPeriod);
        var source = Sources.ServiceSources.Create(options, Environment.GetEnvironmentVariable, loggers, metrics, health);
        using var daemon = new ProxyDaemon(options, loggers, metrics, health, source);
        using var stop = new CancellationTokenSource();
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

    private static int Dump(string[] args)
    {
        var json = false;
        var rest = new List<string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] is "-o" or "--output")
            {
                var format = i + 1 < args.Length ? args[++i] : "";
                json = format switch
                {
                    "json" => true,
                    "table" => false,
                    _ => throw new OptionException("-o", $"'{format}' is not an output format; accepted: table, json"),
                };
            }
            else
            {
                rest.Add(args[i]);
            }
        }
        var options = ProxyOptionsBuilder.FromArguments(rest, new HashSet<string> { "bpffs-root" });
        using var maps = PinnedCoreMaps.Open(options.BpffsRoot);
        Console.Out.Write(DumpCommand.Render(maps, json, options.BpffsRoot));
        Console.Out.WriteLine();
        return 0;
    }

    private static int Cleanup(ProxyOptions options)
    {
        foreach (var line in CleanupCommand.Run(options.BpffsRoot))
            Console.Out.WriteLine(line);
        Console.Out.WriteLine("cleanup done");
        return 0;
    }
}
