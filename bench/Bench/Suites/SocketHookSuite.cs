using System.Globalization;
using System.Net;
using ProxyReplacement.Bench.Core;
using ProxyReplacement.Bench.Suites.EndToEnd;
using ProxyReplacement.Bench.Support;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.Dataplane.Tests.Netns;

namespace ProxyReplacement.Bench.Suites;

/// <summary>
/// What the cgroup connect4 hook adds to one connect() (issue #18 item 4: at most 0.5 µs, flat as sockets come and go).
/// A UDP socket's connect() sends nothing, so timed with and without the hook it isolates the hook: the hook's lookup and
/// rewrite, and the translation it keeps for the socket's later calls (socket storage). A non-blocking TCP connect() adds
/// the SYN's transmission, the same with and without the hook. The whole-connection view is the e2e suite's connect()
/// latency section; this one takes the handshake out of the span.
/// </summary>
public sealed class SocketHookSuite : IBenchSuite
{
    private const int HeldSockets = 10_000;

    public string Name => "sock-hook";

    private sealed record Case(string Label, string Mode, bool InCgroup, bool ToClusterIp, int Held = 0);

    private static readonly Case UdpBaseline = new("UDP connect(), no hook (outside the hooks' cgroup), to the pod IP", "-u", false, false);
    private static readonly Case UdpTranslated = new("UDP connect() to the ClusterIP through the hook (translated)", "-u", true, true);
    private static readonly Case UdpMiss = new("UDP connect() to the pod IP through the hook (no Service: the hook's miss)", "-u", true, false);
    private static readonly Case UdpHeld = new($"UDP connect() to the ClusterIP through the hook, {HeldSockets:N0} translated sockets held open", "-u", true, true, HeldSockets);
    // The held sockets' own cost without the hook: every connect() autobinds a UDP port, and with 10,000 ports taken the
    // kernel's search for a free one grows (0.5 µs here, hook or not), so the held row's net is taken against this one.
    private static readonly Case UdpHeldBaseline = new($"UDP connect(), no hook, to the pod IP, {HeldSockets:N0} sockets held open", "-u", false, false, HeldSockets);
    private static readonly Case TcpBaseline = new("TCP non-blocking connect(), no hook, to the pod IP", "-N", false, false);
    private static readonly Case TcpTranslated = new("TCP non-blocking connect() to the ClusterIP through the hook (translated)", "-N", true, true);

    private static readonly Case[] Cases = [UdpBaseline, UdpTranslated, UdpMiss, UdpHeldBaseline, UdpHeld, TcpBaseline, TcpTranslated];

    public IReadOnlyList<ReportSection> Run(BenchContext context)
    {
        var settings = context.Settings;
        var rows = new List<ReportRow>();
        var notes = new List<string>();
        foreach (var services in settings.EndToEndServiceCounts)
        {
            var p50 = Cases.ToDictionary(c => c, _ => new List<double>());
            var connects = Cases.ToDictionary(c => c, _ => new List<long>());
            using (var rig = Rig.Create(services, context))
            {
                for (var run = 0; run < settings.Runs; run++)
                    foreach (var @case in Cases)
                    {
                        context.Cancellation.ThrowIfCancellationRequested();
                        var latency = rig.Time(@case, settings.EndToEndSeconds, settings.ConnectLatencyWarmup, context.Cancellation);
                        p50[@case].Add(latency.P50Microseconds);
                        connects[@case].Add(latency.Connects);
                        context.Progress($"sock-hook: {services} Services, run {run + 1}, {@case.Label}: p50 {latency.P50Microseconds:F2} µs " +
                                         $"over {latency.Connects} connects");
                    }
            }

            var label = services == 1 ? "1 Service" : $"{services:N0} Services";
            Measurement Of(Case c) => new("µs", p50[c]);
            Measurement Net(Case c, Case baseline) => new("µs", p50[c].Zip(p50[baseline], (x, b) => x - b).ToList());
            const string target = "hook ≤ 0.5 µs (net)";
            rows.Add(new ReportRow($"{label}: {UdpBaseline.Label}, p50", Of(UdpBaseline)));
            rows.Add(ReportRow.Versus($"{label}: {UdpTranslated.Label}, p50", Of(UdpTranslated), "no hook", Of(UdpBaseline), target,
                $"net {Net(UdpTranslated, UdpBaseline).Format()}"));
            rows.Add(ReportRow.Versus($"{label}: {UdpMiss.Label}, p50", Of(UdpMiss), "no hook", Of(UdpBaseline), null,
                $"net {Net(UdpMiss, UdpBaseline).Format()}"));
            rows.Add(new ReportRow($"{label}: {UdpHeldBaseline.Label}, p50", Of(UdpHeldBaseline)));
            rows.Add(ReportRow.Versus($"{label}: {UdpHeld.Label}, p50", Of(UdpHeld), "no hook, as many held", Of(UdpHeldBaseline), "flat: net as with none held",
                $"net {Net(UdpHeld, UdpHeldBaseline).Format()}"));
            rows.Add(new ReportRow($"{label}: {TcpBaseline.Label}, p50", Of(TcpBaseline)));
            rows.Add(ReportRow.Versus($"{label}: {TcpTranslated.Label}, p50", Of(TcpTranslated), "no hook", Of(TcpBaseline), target,
                $"net {Net(TcpTranslated, TcpBaseline).Format()}"));
            notes.Add($"{label}: connects timed per run: " + string.Join("; ", Cases.Select(c =>
                $"{c.Label} {Measurement.Number(connects[c].Min())}–{Measurement.Number(connects[c].Max())}")));
        }
        return [new ReportSection("Socket hooks: what the connect4 hook adds to one connect()", Method(settings), rows, notes)];
    }

    private static string Method(BenchSettings settings) =>
        "The e2e suite's one-node topology (a node namespace routing between a client pod and a backend pod that holds the " +
        "measured Service's 4 endpoints; N Services × 4 programmed through the Syncer, `pr_tc_from_wl` on both pod veths) with " +
        "the four sock_addr programs attached to a scratch cgroup (`prt-xxxx-sock` under the cgroup v2 mount, never the root), " +
        "the measured Service given a UDP frontend beside its TCP one (the same VIP:port and backends), " +
        "socket LB mode `all` (UDP sockets are translated only in that mode; TCP's hook code is the same in `tcp`, the default). " +
        "Client: `bench/native/connect_latency`, pinned to CPU 0 in the client pod, started inside the cgroup (the hook runs) or " +
        "outside it (no hook), one socket at a time: socket(), connect() timed with CLOCK_MONOTONIC just before and after, close(). " +
        "`-u`: a UDP socket, whose connect() sends nothing: the span is the hook (lookup, backend choice, rewrite, the " +
        "translation stored for the socket) and the route lookup. `-N`: a non-blocking TCP socket, timed until connect() " +
        "returns EINPROGRESS: the hook, the route lookup and the SYN's transmission (through the pod veth, where the " +
        "softirq runs in the caller's context), the same with and without the hook since the translated SYN goes to a pod " +
        $"IP too; closed with SO_LINGER 0. Held: {HeldSockets:N0} more UDP sockets connected to the ClusterIP before the timed " +
        "rounds and kept open to the end, each holding its translation (the issue's \"flat as sockets come and go\"); its " +
        $"baseline holds {HeldSockets:N0} sockets connected to the pod IP outside the cgroup, because each connect() autobinds a " +
        "UDP port and the kernel's search for a free one grows with the ports taken, hook or not (its net is against that). " +
        $"{settings.ConnectLatencyWarmup:N0} untimed rounds first, then {settings.EndToEndSeconds} s of timed ones; a run's figure " +
        "is its p50 (nearest rank), the table the median (min–max) over " + settings.Runs + " runs, the cases taking turns " +
        "within each run. **net** = the case's p50 minus the no-hook p50 of the same run. Self-checks from `pr_counters` " +
        "per run: through the hook to the ClusterIP `sock_connect` moved by at least the connects made (held sockets and " +
        "warm-up included) and `nat_new_flow` did not move; through the hook to the pod IP `sock_pass_no_service` moved by " +
        "at least the connects and `sock_connect` did not; outside the cgroup neither moved.";

    /// <summary>One node with the hooks on a scratch cgroup; the client runs inside it or outside.</summary>
    private sealed class Rig : IDisposable
    {
        private readonly EndToEndNode _node;
        private readonly WiredDataplane _dataplane;
        private readonly SocketLoadBalancer _socketLb;
        private readonly TestCgroup _cgroup;
        private readonly CgroupAttachment _hooks;
        private readonly IPEndPoint _clusterIp;
        private readonly IPEndPoint _podIp;

        private Rig(EndToEndNode node, WiredDataplane dataplane, SocketLoadBalancer socketLb, TestCgroup cgroup, CgroupAttachment hooks,
            IPEndPoint clusterIp, IPEndPoint podIp)
        {
            (_node, _dataplane, _socketLb, _cgroup, _hooks, _clusterIp, _podIp) = (node, dataplane, socketLb, cgroup, hooks, clusterIp, podIp);
        }

        public static Rig Create(int services, BenchContext context)
        {
            var node = EndToEndNode.Create();
            WiredDataplane? dataplane = null;
            SocketLoadBalancer? socketLb = null;
            TestCgroup? cgroup = null;
            try
            {
                var measured = services / 2;
                var endpoints = node.Endpoints;
                var cluster = new SyntheticServices(services, EndToEndNode.EndpointCount,
                    (i, j) => i == measured ? endpoints[j] : SyntheticServices.DefaultEndpoint(i, j));
                context.Progress($"sock-hook: {services} Services: programming the dataplane and attaching the hooks");
                dataplane = WiredDataplane.Create(node, cluster);
                // The synthetic Services are TCP: the measured one gets a UDP frontend on the same VIP:port sharing its
                // backends (same service id), so that a UDP connect() to it is translated.
                var clusterIp = new IPEndPoint(SyntheticServices.ClusterIP(measured), SyntheticServices.ServicePort);
                var tcpKey = new NatFrontendKey4(clusterIp.Address, (ushort)clusterIp.Port, L4Protocol.Tcp);
                if (!dataplane.Core.Frontends.TryLookup(tcpKey, out var frontend))
                    throw new InvalidOperationException($"sock-hook: the measured Service's frontend {clusterIp}/tcp is not programmed");
                dataplane.Core.Frontends.Update(new NatFrontendKey4(clusterIp.Address, (ushort)clusterIp.Port, L4Protocol.Udp), frontend);
                dataplane.Core.SetSocketLbMode(SocketLbMode.Enabled);
                dataplane.Core.SetHostNetnsCookie(NetworkNamespace.Run(node.NodeNamespace, NetnsCookie.OfCurrentThread));
                socketLb = SocketLoadBalancer.Load(dataplane.Core);
                cgroup = TestCgroup.Create($"{node.Topology.Prefix}-sock", context.Settings.Cgroup2Root);
                var hooks = socketLb.Attach(cgroup.Path);
                node.StartServer(ServerKind.Http, context.Cancellation);
                return new Rig(node, dataplane, socketLb, cgroup, hooks, clusterIp, new IPEndPoint(endpoints[0], EndToEndNode.ServerPort));
            }
            catch
            {
                socketLb?.Dispose();
                cgroup?.Dispose();
                dataplane?.Dispose();
                node.Dispose();
                throw;
            }
        }

        public ConnectLatency Time(Case @case, int seconds, int warmup, CancellationToken cancellation)
        {
            var target = @case.ToClusterIp ? _clusterIp : _podIp;
            string[] arguments =
            [
                target.Address.ToString(), target.Port.ToString(CultureInfo.InvariantCulture), "-d", seconds.ToString(CultureInfo.InvariantCulture),
                "-w", warmup.ToString(CultureInfo.InvariantCulture), @case.Mode, "-k", @case.Held.ToString(CultureInfo.InvariantCulture),
            ];
            var argv = @case.InCgroup
                ? SocketClusterIpPath.InCgroup(_cgroup.Path, _node, EndToEndNode.ConnectLatencyBinary, arguments)
                : ["ip", .. ExternalCommand.InNamespace(_node.ClientNamespace, EndToEndNode.ClientCpu, EndToEndNode.ConnectLatencyBinary, arguments)];
            var before = _dataplane.Core.ReadCounters();
            var result = ExternalCommand.Check(argv[0], argv.Skip(1).ToList(), TimeSpan.FromSeconds(seconds + 60), cancellation);
            var latency = ConnectLatency.Parse(result.Stdout);
            var after = _dataplane.Core.ReadCounters();
            ulong Moved(CounterReason reason) => after.GetValueOrDefault(reason) - before.GetValueOrDefault(reason);
            var made = (ulong)(latency.Connects + warmup + @case.Held);
            var problem = (@case.InCgroup, @case.ToClusterIp) switch
            {
                (true, true) when Moved(CounterReason.SockConnect) < made || Moved(CounterReason.NatNewFlow) != 0 =>
                    $"sock_connect moved by {Moved(CounterReason.SockConnect)} (expected at least {made}), nat_new_flow by {Moved(CounterReason.NatNewFlow)} (expected 0)",
                (true, false) when Moved(CounterReason.SockPassNoService) < made || Moved(CounterReason.SockConnect) != 0 =>
                    $"sock_pass_no_service moved by {Moved(CounterReason.SockPassNoService)} (expected at least {made}), sock_connect by {Moved(CounterReason.SockConnect)} (expected 0)",
                (false, _) when Moved(CounterReason.SockConnect) != 0 || Moved(CounterReason.SockPassNoService) != 0 =>
                    $"outside the cgroup, yet sock_connect moved by {Moved(CounterReason.SockConnect)} and sock_pass_no_service by {Moved(CounterReason.SockPassNoService)}",
                _ => null,
            };
            if (problem is not null)
                throw new InvalidOperationException($"sock-hook: '{@case.Label}' did not take its path: {problem}");
            return latency;
        }

        /// <summary>Detaches the hooks first (no new translation), then removes the cgroup (its clients have exited), then the rest.</summary>
        public void Dispose()
        {
            try
            {
                _hooks.Dispose();
                _socketLb.Dispose();
                _cgroup.Dispose();
                _dataplane.Dispose();
            }
            finally
            {
                _node.Dispose();
            }
        }
    }
}
