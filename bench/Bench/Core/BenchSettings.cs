namespace ProxyReplacement.Bench.Core;

/// <summary>
/// How big, how often, and where. The real run (<c>make bench</c>) uses the sizes; the smoke run
/// (<c>make bench-smoke</c>, part of <c>make test</c>) uses tiny ones so the harness cannot rot, and its
/// numbers mean nothing.
/// </summary>
public sealed record BenchSettings
{
    public bool Smoke { get; init; }

    /// <summary>Runs per figure; the report shows their median, min and max.</summary>
    public int Runs { get; init; } = 5;

    /// <summary>
    /// Program runs per packet case per run. Each is its own BPF_PROG_TEST_RUN with repeat 1 on a fresh
    /// packet (see the packet suite for why), so a figure rests on <see cref="Runs"/> × this many runs.
    /// The same count is the repeat of the one-call cross-checks.
    /// </summary>
    public int PacketRepeat { get; init; } = 1_000_000;

    /// <summary>Service counts for the per-packet cost.</summary>
    public IReadOnlyList<int> PacketServiceCounts { get; init; } = [1, 1_000, 10_000, 100_000];

    /// <summary>Service counts for the per-packet cost of the host-interface program (NodePort traffic from outside).</summary>
    public IReadOnlyList<int> HostPacketServiceCounts { get; init; } = [1, 100_000];

    /// <summary>Service counts for the NodePort end-to-end rates (the NodePort Services are the first min(N, 2,768)).</summary>
    public IReadOnlyList<int> NodePortEndToEndServiceCounts { get; init; } = [1, 10_000];

    /// <summary>Service counts for cold programming (each with <see cref="EndpointsPerService"/> endpoints).</summary>
    public IReadOnlyList<int> ControlPlaneServiceCounts { get; init; } = [1_000, 10_000, 100_000];

    public int EndpointsPerService { get; init; } = 4;

    /// <summary>Service count at which one EndpointSlice change is timed.</summary>
    public int ChangeLatencyServices { get; init; } = 10_000;

    /// <summary>EndpointSlice changes timed per run for the p50/p99.</summary>
    public int ChangeLatencySamples { get; init; } = 200;

    /// <summary>iptables-restore --noflush endpoint changes timed per run (each takes a whole-table round trip).</summary>
    public int IptablesChangeSamples { get; init; } = 10;

    /// <summary>
    /// The largest Service count restored with the nf_tables backend of iptables (iptables-nft): its restore
    /// grows worse than linearly (minutes and GiBs at 100k), so beyond this only the legacy backend runs.
    /// </summary>
    public int IptablesNftMaxServices { get; init; } = 10_000;

    /// <summary>
    /// Runs of the iptables baseline above <see cref="IptablesNftMaxServices"/> Services: one legacy restore of 100k
    /// Services takes minutes, so it is measured fewer times than <see cref="Runs"/> (the report says so).
    /// </summary>
    public int IptablesRunsAtLargeSizes { get; init; } = 1;

    /// <summary>Service counts for the end-to-end rates.</summary>
    public IReadOnlyList<int> EndToEndServiceCounts { get; init; } = [1, 10_000];

    /// <summary>Whole seconds per end-to-end rate sample (wrk -d, iperf3 -t).</summary>
    public int EndToEndSeconds { get; init; } = 3;

    /// <summary>Seconds (fractions allowed) per request/response run of the multinode-e2e suite (<c>http_rr -d</c>).</summary>
    public double MultiNodeRequestSeconds { get; init; } = 0.5;

    /// <summary>Untimed requests before each request/response run of the multinode-e2e suite (<c>http_rr -w</c>).</summary>
    public int MultiNodeWarmup { get; init; } = 200;

    /// <summary>Whole seconds per iperf3 run of the multinode-e2e suite (<c>iperf3 -t</c>).</summary>
    public int MultiNodeIperfSeconds { get; init; } = 1;

    /// <summary>When set, each multinode-e2e iperf3 run moves this many bytes (<c>iperf3 -n</c>) instead of running for seconds.</summary>
    public long? MultiNodeIperfBytes { get; init; }

    /// <summary>
    /// connect() calls the connect-latency client makes, untimed, before each timed run (<c>connect_latency -w</c>): the first
    /// connections of a run pay for cold caches and neighbour entries, which is not the path's cost.
    /// </summary>
    public int ConnectLatencyWarmup { get; init; } = 1_000;

    /// <summary>
    /// The cgroup v2 directory under which the socket path creates its scratch cgroup (<c>prt-xxxx-sock</c>, removed
    /// afterwards); null: PR_CGROUP2_ROOT, else the first cgroup2 mount (<c>--cgroup-root</c>).
    /// </summary>
    public string? Cgroup2Root { get; init; }

    /// <summary>Service counts for the daemon's RSS.</summary>
    public IReadOnlyList<int> MemoryServiceCounts { get; init; } = [10_000, 100_000];

    /// <summary>Service counts for the Kubernetes API source (first list to first sync, RSS).</summary>
    public IReadOnlyList<int> ApiSourceServiceCounts { get; init; } = [10_000, 100_000];

    /// <summary>The churn soak: Services, change rate, duration, sampling (<see cref="Suites.Churn.ChurnSoakSettings"/>).</summary>
    public Suites.Churn.ChurnSoakSettings ChurnSoak { get; init; } = Suites.Churn.ChurnSoakSettings.Full;

    /// <summary>Service counts for the end-to-end programming latency and the cold start (the real daemon, both sources).</summary>
    public IReadOnlyList<int> LatencyServiceCounts { get; init; } = [1_000, 10_000];

    /// <summary>Single changes (each after a quiet second) per run, source and size.</summary>
    public int LatencySingleChanges { get; init; } = 20;

    /// <summary>Bursts of changes 100–300 ms apart per run, source and size, and the changes in each.</summary>
    public int LatencyBursts { get; init; } = 4;

    public int LatencyBurstLength { get; init; } = 5;

    /// <summary>Changes the iptables baseline writes per run and size (each restore takes a round trip of the whole table).</summary>
    public int LatencyIptablesChanges { get; init; } = 10;

    /// <summary>The runner storm: Services programmed, changes (0.1 ms apart), and the minimum intervals compared (ms).</summary>
    public int LatencyStormServices { get; init; } = 10_000;

    public int LatencyStormChanges { get; init; } = 500;

    public IReadOnlyList<int> LatencyStormIntervals { get; init; } = [0, 1, 5, 10, 20, 100];

    public static BenchSettings Full { get; } = new();

    public static BenchSettings SmokeTest { get; } = new()
    {
        Smoke = true,
        Runs = 1,
        PacketRepeat = 1_000,
        PacketServiceCounts = [1, 10],
        HostPacketServiceCounts = [1, 10],
        NodePortEndToEndServiceCounts = [1],
        ControlPlaneServiceCounts = [10],
        ChangeLatencyServices = 10,
        ChangeLatencySamples = 5,
        IptablesChangeSamples = 2,
        EndToEndServiceCounts = [1],
        // 2 s, not 1: a SYN lost once under load is retransmitted after 1 s, and a 1 s run would then see
        // no answer at all and fail the smoke run (seen once on a loaded machine).
        EndToEndSeconds = 2,
        ConnectLatencyWarmup = 10,
        // multinode-e2e: http_rr takes fractions of a second and iperf3 a byte count, so its smoke run stays a few seconds
        MultiNodeRequestSeconds = 0.1,
        MultiNodeWarmup = 5,
        MultiNodeIperfSeconds = 1,
        MultiNodeIperfBytes = 1 << 20,
        MemoryServiceCounts = [10],
        ApiSourceServiceCounts = [10],
        ChurnSoak = Suites.Churn.ChurnSoakSettings.Smoke,
        LatencyServiceCounts = [10],
        LatencySingleChanges = 2,
        LatencyBursts = 1,
        LatencyBurstLength = 2,
        LatencyIptablesChanges = 2,
        LatencyStormServices = 10,
        LatencyStormChanges = 20,
        LatencyStormIntervals = [0, 1],
    };
}
