using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Maps;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.Dataplane.Tests.Netns;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>
/// Connect-time balancing with the real daemon: `--cgroup-path` on a test cgroup (bind-mounted for the
/// daemon, see <see cref="ProxiedNode.DaemonCgroupPath"/>) and `--socket-lb-mode tcp`. Clients are
/// sock_client.py processes in the client pod's namespace, inside the cgroup unless said otherwise.
/// </summary>
[TestFixture]
public sealed class SocketLbTests : ProxiedNodeFixture
{
    protected override bool WithSocketLbCgroup => true;

    private protected override string[] DaemonArguments(ProxiedNode node) => SocketArguments(node, "tcp");

    private static string[] SocketArguments(ProxiedNode node, string mode) =>
        ["--cgroup-path", node.DaemonCgroupPath!, "--socket-lb-mode", mode];

    private string Vip => Node.Service.Vip.Address.ToString();
    private string Port => Node.Service.Vip.Port.ToString();

    private SocketClientResult AskInCgroup(string text, string? netns = null) =>
        CgroupClient.Run(Node.ClientCgroup!.Path, netns ?? Node.ClientNamespace, "tcp", Vip, Port, text);

    private int ConntrackEntries()
    {
        using var conntrack = BpfMap<ConntrackKey4, ConntrackValue4>.OpenPinned(PinRoot.PathOf(Node.PinRoot, CoreObjectNames.Conntrack));
        return conntrack.ReadAll().Count();
    }

    /// <summary>The programs bpftool lists on the test cgroup (an independent view of what is attached).</summary>
    private string BpftoolCgroup() => IpCommand.Execute("bpftool", ["cgroup", "show", Node.ClientCgroup!.Path]);

    [Test]
    public void Pods_in_the_cgroup_are_balanced_at_connect_with_no_tc_nat_and_dump_shows_the_hooks()
    {
        var replies = Enumerable.Range(0, 30).Select(i => AskInCgroup($"q{i}")).ToList();
        var tally = replies.GroupBy(r => r.Reply?.Split(NamedBackendServer.Separator)[0] ?? $"error {r.Error}").ToDictionary(g => g.Key, g => g.Count());
        var dump = Node.RunCli("dump", "--bpffs-root", Node.PinRoot);
        TestContext.Out.WriteLine($"30 connections: {Describe(tally)}\n{dump}");

        Assert.Multiple(() =>
        {
            Assert.That(tally.Keys, Is.EquivalentTo(Names(InitialBackends)), "every backend serves, nothing fails");
            Assert.That(replies.Select(r => r.Peer), Is.All.EqualTo(Node.Service.Vip), "getpeername() is the VIP");
            Assert.That(ConntrackEntries(), Is.Zero, "the TC path created no conntrack entry");
            Assert.That(dump, Does.Contain("SOCKET LB (mode tcp; 4 hooks pinned)"));
            foreach (var hook in SocketHooks.All)
                Assert.That(dump, Does.Contain(SocketHooks.Name(hook)), "dump lists every hook");
            Assert.That(dump, Does.Contain("sock_connect").And.Contain("30"), "the connect counter");
            Assert.That(BpftoolCgroup(), Does.Contain("pr_sk_connect4").And.Contain("pr_sk_peername4"));
        });
    }

    [Test]
    public void A_host_network_client_in_the_cgroup_reaches_the_service()
    {
        var reply = AskInCgroup("from the node", netns: Node.NodeNamespace);

        Assert.Multiple(() =>
        {
            Assert.That(reply.Error, Is.Null, reply.ToString());
            Assert.That(reply.Reply, Does.StartWith("backend-"));
            Assert.That(reply.Peer, Is.EqualTo(Node.Service.Vip));
        });
    }

    [Test]
    public async Task With_ClientIP_affinity_a_host_network_client_keeps_one_backend_and_a_pod_keeps_its_own()
    {
        Node.Manifests.WriteService(Node.Service, clientIpAffinity: true);
        var (synced, took) = await Poll.UntilAsync(() => Task.FromResult(
            PinnedNatMaps.Frontend(Node.PinRoot, Node.Service) is { } fe && fe.Flags.HasFlag(FrontendFlags.Affinity) ? "affinity" : null),
            TimeSpan.FromSeconds(10));
        Assert.That(synced, Is.Not.Null, "the daemon did not program the affinity flag");

        static string? Backend(SocketClientResult r) => r.Reply?.Split(NamedBackendServer.Separator)[0];
        var fromHost = Enumerable.Range(0, 10).Select(i => AskInCgroup($"h{i}", netns: Node.NodeNamespace)).ToList();
        var fromPod = Enumerable.Range(0, 10).Select(i => AskInCgroup($"p{i}")).ToList();
        var dump = Node.RunCli("dump", "--bpffs-root", Node.PinRoot);
        var nodeCookie = NetworkNamespace.Run(Node.NodeNamespace, NetnsCookie.OfCurrentThread);
        await TestContext.Out.WriteLineAsync($"affinity synced after {took.TotalMilliseconds:0} ms; host -> {Backend(fromHost[0])}, pod -> {Backend(fromPod[0])}\n{dump}");

        Assert.Multiple(() =>
        {
            Assert.That(fromHost.Concat(fromPod).Select(r => r.Error), Is.All.Null, string.Join("\n", fromHost.Concat(fromPod)));
            Assert.That(Backend(fromHost[0]), Does.StartWith("backend-"));
            Assert.That(fromHost.Select(Backend), Is.All.EqualTo(Backend(fromHost[0])), "the host-network client keeps its backend (3 backends, 10 connections)");
            Assert.That(Backend(fromPod[0]), Does.StartWith("backend-"));
            Assert.That(fromPod.Select(Backend), Is.All.EqualTo(Backend(fromPod[0])), "the pod keeps its own");
            Assert.That(fromHost.Concat(fromPod).Select(r => r.Peer), Is.All.EqualTo(Node.Service.Vip));
            Assert.That(ConntrackEntries(), Is.GreaterThan(0), "the pod's unbound sockets went through TC NAT");
            Assert.That(dump, Does.Contain($"host netns: cookie {nodeCookie} (this network namespace)"), "the daemon recorded its own netns");
            Assert.That(dump, Does.Contain("client host netns"), "the host's affinity entry");
            Assert.That(dump, Does.Contain($"client {Node.Topology.Client.Address}"), "the pod's affinity entry");
            Assert.That(dump, Does.Match(@"sock_affinity_host\s+10\b"), "every host connection counted");
        });
    }

    [Test]
    public async Task A_restart_swaps_the_hook_programs_in_place_and_a_mode_change_applies_at_once()
    {
        var before = PinnedSocketHooks.Read(Node.PinRoot).ToDictionary(h => h.Hook, h => h.Link);
        Node.Daemon!.Terminate(TimeSpan.FromSeconds(15));
        var whileStopped = AskInCgroup("while stopped");

        var second = Node.StartDaemon(SocketArguments(Node, "tcp"));
        await Node.WaitUntilReadyAsync(second);
        var afterRestart = PinnedSocketHooks.Read(Node.PinRoot).ToDictionary(h => h.Hook, h => h.Link);
        var served = AskInCgroup("after the restart");
        var conntrackWithHooks = ConntrackEntries();

        // Runtime switch: the same node restarted with the hooks disabled hands every pod back to TC NAT ...
        second.Terminate(TimeSpan.FromSeconds(15));
        var third = Node.StartDaemon(SocketArguments(Node, "disabled"));
        await Node.WaitUntilReadyAsync(third);
        var hooksWhenDisabled = PinnedSocketHooks.Read(Node.PinRoot);
        var byTc = AskInCgroup("by tc");
        var conntrackWhenDisabled = ConntrackEntries();
        var bpftoolWhenDisabled = BpftoolCgroup();

        // ... and enabling them again takes the pods back.
        third.Terminate(TimeSpan.FromSeconds(15));
        var fourth = Node.StartDaemon(SocketArguments(Node, "enabled"));
        await Node.WaitUntilReadyAsync(fourth);
        var hooksWhenEnabled = PinnedSocketHooks.Read(Node.PinRoot);
        var bySocket = AskInCgroup("by socket");

        await TestContext.Out.WriteLineAsync($"links before {string.Join("; ", before)}\nafter {string.Join("; ", afterRestart)}");
        Assert.Multiple(() =>
        {
            Assert.That(whileStopped.Reply, Does.StartWith("backend-"), "the hooks keep serving while no daemon runs: " + whileStopped);
            Assert.That(afterRestart.Keys, Is.EquivalentTo(SocketHooks.All));
            foreach (var hook in SocketHooks.All)
            {
                Assert.That(afterRestart[hook].LinkId, Is.EqualTo(before[hook].LinkId), $"{hook}: the same link, updated in place");
                Assert.That(afterRestart[hook].ProgramId, Is.Not.EqualTo(before[hook].ProgramId), $"{hook}: the new daemon's program");
                Assert.That(afterRestart[hook].CgroupId, Is.EqualTo(Cgroup.Id(Node.ClientCgroup!.Path)));
            }
            Assert.That(served.Reply, Does.StartWith("backend-"), served.ToString());
            Assert.That(conntrackWithHooks, Is.Zero);

            Assert.That(hooksWhenDisabled, Is.Empty, "disabled: the pinned links were detached");
            Assert.That(bpftoolWhenDisabled, Does.Not.Contain("pr_sk_"), "nothing of ours on the cgroup");
            Assert.That(byTc.Reply, Does.StartWith("backend-"), byTc.ToString());
            Assert.That(byTc.Peer, Is.EqualTo(Node.Service.Vip));
            Assert.That(conntrackWhenDisabled, Is.GreaterThan(0), "the TC path NATed it");

            Assert.That(hooksWhenEnabled.Select(h => h.Hook), Is.EquivalentTo(SocketHooks.All));
            Assert.That(bySocket.Reply, Does.StartWith("backend-"), bySocket.ToString());
        });
    }

    private HeldSocketClient Hold(string text, double seconds) =>
        HeldSocketClient.Start(Node.ClientCgroup!.Path, Node.ClientNamespace, "tcp", Vip, Node.Service.Vip.Port, text, seconds);

    private static int BackendIndex(SocketClientResult result) =>
        int.Parse(result.Reply!.Split(NamedBackendServer.Separator)[0]["backend-".Length..], System.Globalization.CultureInfo.InvariantCulture);

    private async Task<string> MetricsAsync() =>
        (await NetnsHttp.TryGetAsync(Node.NodeNamespace, ProxiedNode.MetricsEndpoint, "/metrics"))?.Body ?? "(no /metrics)";

    private static string TerminationMetrics(string metrics) =>
        string.Join("\n", metrics.Split('\n').Where(l => l.Contains("socket_termination") || l.Contains("sockets_")));

    private async Task WaitForBackendCountAsync(uint count)
    {
        var (synced, _) = await Poll.UntilAsync(() => Task.FromResult(
            PinnedNatMaps.Frontend(Node.PinRoot, Node.Service) is { } fe && fe.BackendCount == count ? "synced" : null), TimeSpan.FromSeconds(10));
        Assert.That(synced, Is.Not.Null, $"the daemon did not program {count} backends");
    }

    /// <summary>
    /// Issue #16 item 2: a pod's kept-open connection through the hooks outlives its backend's graceful termination
    /// (terminating but serving: it drains) and is aborted within a couple of seconds once the EndpointSlice loses
    /// the backend; the client's next connection, and every new one, reach the remaining backends.
    /// </summary>
    [Test]
    public async Task A_kept_open_connection_is_aborted_when_the_endpoint_slice_loses_its_backend_and_new_connections_work()
    {
        using var held = Hold("kept open", seconds: 30);
        Assert.That(held.Connected.Error, Is.Null, held.Connected.ToString());
        var index = BackendIndex(held.Connected);
        var others = InitialBackends.Where(i => i != index).ToArray();

        // Graceful termination first: no new flows go to it, but its connection drains.
        Node.Manifests.WriteEndpointSlice(Node.Service,
            Node.BackendAddresses(InitialBackends).Select((address, i) => (address, i == index ? ManifestDirectory.ServingTerminating : ManifestDirectory.Ready)));
        await WaitForBackendCountAsync(2);
        var whileTerminating = held.TryNext(TimeSpan.FromSeconds(1.5));

        var removedAt = System.Diagnostics.Stopwatch.StartNew();
        Node.Manifests.WriteEndpointSlice(Node.Service, Node.BackendAddresses(others));
        var woke = held.Next();
        var abortedAfter = removedAt.Elapsed;
        var reconnected = held.Next();
        var fresh = Enumerable.Range(0, 10).Select(i => AskInCgroup($"n{i}")).ToList();
        var metrics = await MetricsAsync();
        var log = Node.Daemon!.Output;
        await TestContext.Out.WriteLineAsync($"held on backend-{index}; aborted {abortedAfter.TotalMilliseconds:0} ms after the slice lost it: {woke}; " +
                                             $"then {reconnected}\n" + TerminationMetrics(metrics));

        Assert.Multiple(() =>
        {
            Assert.That(whileTerminating, Is.Null, "a terminating, still serving backend's connection is left to drain");
            Assert.That(woke.Error, Is.EqualTo("ECONNABORTED"), woke.ToString());
            Assert.That(abortedAfter, Is.LessThan(TimeSpan.FromSeconds(3)), "aborted within a couple of seconds of the slice change");
            Assert.That(reconnected.Error, Is.Null, reconnected.ToString());
            Assert.That(BackendIndex(reconnected), Is.Not.EqualTo(index), "the client's next connection reaches a remaining backend");
            Assert.That(fresh.Select(r => r.Error), Is.All.Null, string.Join("\n", fresh));
            Assert.That(fresh.Select(BackendIndex).Distinct(), Is.SubsetOf(others), "new connections reach the remaining backends only");
            Assert.That(metrics, Does.Contain("proxyreplacement_sockets_terminated_total{protocol=\"tcp\"} 1"));
            Assert.That(metrics, Does.Contain("proxyreplacement_socket_termination_supported 1"));
            Assert.That(metrics, Does.Contain("proxyreplacement_dataplane_variant{object=\"sock_destroy\",variant=\"fast\"} 1"));
            Assert.That(log, Does.Contain("Socket termination ready"));
            Assert.That(log, Does.Contain("Terminated 1 socket(s)"));
        });
    }

    /// <summary>
    /// The degraded path through the daemon: restarted with the compat builds forced (as on a kernel without
    /// bpf_sock_destroy, which the probe answers with the same build), it warns once, leaves a kept-open connection to a
    /// removed backend alone and counts it, at every removal.
    /// </summary>
    [Test]
    public async Task Without_bpf_sock_destroy_the_daemon_warns_once_leaves_the_connection_and_counts_it()
    {
        Node.Daemon!.Terminate(TimeSpan.FromSeconds(15));
        Environment.SetEnvironmentVariable(DataplaneVariants.EnvironmentVariable, "compat");
        DaemonProcess daemon;
        try
        {
            daemon = Node.StartDaemon(SocketArguments(Node, "tcp"));
        }
        finally
        {
            Environment.SetEnvironmentVariable(DataplaneVariants.EnvironmentVariable, null);
        }
        await Node.WaitUntilReadyAsync(daemon);

        using var first = Hold("first", seconds: 3);
        var firstIndex = BackendIndex(first.Connected);
        var remaining = InitialBackends.Where(i => i != firstIndex).ToList();
        Node.Manifests.WriteEndpointSlice(Node.Service, Node.BackendAddresses(remaining.ToArray()));
        var firstOutcome = first.Next();

        using var second = Hold("second", seconds: 3);
        var secondIndex = BackendIndex(second.Connected);
        Node.Manifests.WriteEndpointSlice(Node.Service, Node.BackendAddresses(remaining.Where(i => i != secondIndex).ToArray()));
        var secondOutcome = second.Next();
        await WaitForBackendCountAsync(1);
        var metrics = await MetricsAsync();
        var log = daemon.Output;
        await TestContext.Out.WriteLineAsync($"{firstOutcome}\n{secondOutcome}\n" + TerminationMetrics(metrics));

        Assert.Multiple(() =>
        {
            Assert.That((firstOutcome.Held, firstOutcome.ThenReply), Is.EqualTo((true, $"backend-{firstIndex}: first again")), firstOutcome.ToString());
            Assert.That((secondOutcome.Held, secondOutcome.ThenReply), Is.EqualTo((true, $"backend-{secondIndex}: second again")), secondOutcome.ToString());
            Assert.That(System.Text.RegularExpressions.Regex.Matches(log, "Socket termination unavailable"), Has.Count.EqualTo(1), "warned once: " + log);
            Assert.That(log, Does.Contain($"forced by {DataplaneVariants.EnvironmentVariable}=compat"));
            Assert.That(metrics, Does.Contain("proxyreplacement_sockets_not_terminated_total{reason=\"unsupported\"} 2"), "both sockets counted");
            Assert.That(metrics, Does.Contain("proxyreplacement_socket_termination_supported 0"));
            Assert.That(metrics, Does.Not.Contain("proxyreplacement_sockets_terminated_total{protocol=\"tcp\"} 1"));
        });
    }

    [Test]
    public void Cleanup_detaches_the_socket_hooks()
    {
        Node.Daemon!.Terminate(TimeSpan.FromSeconds(15));
        var attachedBefore = BpftoolCgroup();

        var output = Node.RunCli("cleanup", "--bpffs-root", Node.PinRoot);

        var attachedAfter = BpftoolCgroup();
        TestContext.Out.WriteLine(output);
        Assert.Multiple(() =>
        {
            Assert.That(attachedBefore, Does.Contain("pr_sk_connect4"));
            Assert.That(output, Does.Contain("detached connect4"));
            Assert.That(attachedAfter, Does.Not.Contain("pr_sk_"), "cleanup left programs on the cgroup");
            Assert.That(Directory.Exists(Path.Combine(Node.PinRoot, PinnedSocketHooks.DirectoryName)), Is.False);
        });
    }
}
