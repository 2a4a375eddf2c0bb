using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Text;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Golden;
using ProxyReplacement.Dataplane.Tests.Packets;

namespace ProxyReplacement.Dataplane.Tests.Fuzz;

/// <summary>
/// Random and mutated packets through both TC programs (pr_tc_from_wl and pr_tc_from_host) under BPF_PROG_TEST_RUN,
/// with a few Services programmed: TCP and UDP ClusterIPs, TCP and UDP NodePorts, a Service without backends, one with
/// ClientIP affinity, an SCTP frontend, and the Service CIDR. Each packet is built from a random template (to a VIP, a
/// NodePort, a backend as a reply, an unrelated address; TCP, UDP, ICMP echo and errors quoting flows, other
/// protocols; from pods, outside clients, 0.0.0.0, a backend itself), replays of flows seen earlier (so conntrack hits
/// and replies come up), and then mutated: IP options, fragments, bad IP and L4 checksums, UDP without checksum, random
/// TCP flags and data offsets, wrong lengths, a wrong IP version or EtherType, flipped bytes, truncation.
///
/// For every run:
/// <list type="bullet">
/// <item>the verdict is TC_ACT_OK, TC_ACT_SHOT or TC_ACT_REDIRECT, and agrees with the reason counted;</item>
/// <item>exactly one terminal reason counter moves by one (<see cref="Terminal"/>), plus at most one each of the
/// annotations (<see cref="Annotations"/>), which bpf-c/tc_nat.bpf.c counts on top of a verdict: affinity_hit,
/// nat_hairpin and ct_create_failed with a new flow's nat_new_flow (or drop_nat_failed), ct_expired before the new-flow
/// path runs again for an expired or reused entry. So the terminal deltas sum to the number of runs;</item>
/// <item>every output of OK or REDIRECT keeps its checksums: each one that verified in the input verifies in the
/// output, each one that did not is exactly as wrong (the same one's-complement sum), a UDP checksum of zero stays
/// zero; a reject (RST, ICMP port unreachable) is a new packet whose checksums all verify (its quote of a header
/// that was wrong stays wrong);</item>
/// <item>a pass leaves the packet byte for byte as it was;</item>
/// <item>a TCP or UDP packet to a frontend (VIP:port) leaves untranslated only with a counted pass reason the
/// program documents: pass_not_new (a host-interface TCP packet that opens no flow) or nat_reverse (a reply whose
/// client address happens to be that VIP); everything else to a VIP is translated, rejected or dropped.</item>
/// </list>
/// Seeded: PR_FUZZ_SEED and PR_FUZZ_PACKETS override the seed and the count; a failure prints the seed, the packet's
/// index, the program, the input and output frames.
/// </summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class RandomPacketTests(DataplaneVariant variant)
{
    private const int DefaultSeed = 20261206;
    private const int DefaultPackets = 10_000;

    private static readonly Endpoint TcpVip = Endpoint.Of("10.96.0.10", 80);
    private static readonly Endpoint UdpVip = Endpoint.Of("10.96.0.53", 53);
    private static readonly Endpoint EmptyTcpVip = Endpoint.Of("10.96.0.20", 80);
    private static readonly Endpoint EmptyUdpVip = Endpoint.Of("10.96.0.20", 53);
    private static readonly Endpoint AffinityVip = Endpoint.Of("10.96.0.30", 443);
    private static readonly Endpoint SctpVip = Endpoint.Of("10.96.0.40", 80);
    private static readonly Endpoint TcpNodePort = Endpoint.Of("192.168.1.10", 30080);
    private static readonly Endpoint UdpNodePort = Endpoint.Of("192.168.1.10", 30053);
    // One backend per Service: the program's random backend choice would otherwise feed back into the replays and
    // make a seed's packet stream depend on the kernel's random numbers.
    private static readonly Endpoint[] TcpBackends = [Endpoint.Of("10.244.2.7", 8080)];
    private static readonly Endpoint[] UdpBackends = [Endpoint.Of("10.244.2.7", 5353)];

    private static readonly IPAddress[] Clients = new[] { "10.244.1.5", "10.244.3.17", "203.0.113.50", "0.0.0.0", "10.244.2.7", "198.51.100.1" }.Select(IPAddress.Parse).ToArray();
    private static readonly IPAddress[] OtherDestinations = new[] { "192.0.2.44", "10.96.0.99", "192.168.1.10", "8.8.8.8", "10.244.2.7", "255.255.255.255" }.Select(IPAddress.Parse).ToArray();

    /// <summary>The reasons of which exactly one counts each run.</summary>
    private static readonly CounterReason[] Terminal =
    [
        CounterReason.PassNotIpv4, CounterReason.PassNoService, CounterReason.PassFragment, CounterReason.PassNotNew,
        CounterReason.NatNewFlow, CounterReason.NatEstablished, CounterReason.NatReverse, CounterReason.IcmpErrorTranslated,
        CounterReason.RejectTcpNoBackend, CounterReason.RejectUdpNoBackend, CounterReason.RejectBackendMissing, CounterReason.RejectUnknownService,
        CounterReason.DropMalformed, CounterReason.DropRejectFailed, CounterReason.DropNatFailed, CounterReason.DropUnsupported,
        CounterReason.DropAffinityNoClient, CounterReason.DropPullFailed, CounterReason.DropSourceRange, CounterReason.DropNoLocalBackend,
        CounterReason.RejectSctpService,
    ];

    /// <summary>Counted on top of a terminal reason (see the class summary).</summary>
    private static readonly CounterReason[] Annotations =
        [CounterReason.AffinityHit, CounterReason.NatHairpin, CounterReason.ConntrackCreateFailed, CounterReason.ConntrackExpired];

    private GoldenDataplane _dp = null!;
    private HashSet<(IPAddress, ushort, byte)> _frontends = null!;

    [OneTimeSetUp] public void LoadDataplane() => _dp = GoldenDataplane.Load(variant);
    [OneTimeTearDown] public void Unload() => _dp?.Dispose();

    [SetUp]
    public void Program()
    {
        _dp.Reset();
        _dp.AddService(TcpVip, L4Protocol.Tcp, TcpBackends, serviceId: 1);
        _dp.AddService(UdpVip, L4Protocol.Udp, UdpBackends, serviceId: 2);
        _dp.AddService(TcpNodePort, L4Protocol.Tcp, TcpBackends, serviceId: 3, kind: FrontendKind.NodePort);
        _dp.AddService(UdpNodePort, L4Protocol.Udp, UdpBackends, serviceId: 4, kind: FrontendKind.NodePort);
        _dp.AddService(EmptyTcpVip, L4Protocol.Tcp, [], serviceId: 5);
        _dp.AddService(EmptyUdpVip, L4Protocol.Udp, [], serviceId: 6);
        _dp.AddService(AffinityVip, L4Protocol.Tcp, TcpBackends, serviceId: 7, flags: FrontendFlags.Affinity, affinityTimeoutSeconds: 60);
        _dp.AddService(SctpVip, L4Protocol.Sctp, TcpBackends, serviceId: 8);
        _dp.Dataplane.ServiceCidrs.Update(new ServiceCidrKey4(IPAddress.Parse("10.96.0.0"), 16), default);
        _frontends =
        [
            .. new[] { TcpVip, EmptyTcpVip, AffinityVip, TcpNodePort }.Select(e => (e.Address, e.Port, IpProtocol.Tcp)),
            .. new[] { UdpVip, EmptyUdpVip, UdpNodePort }.Select(e => (e.Address, e.Port, IpProtocol.Udp)),
            (SctpVip.Address, SctpVip.Port, IpProtocol.Sctp),
        ];
    }

    [Test]
    public void Random_and_mutated_packets_keep_checksums_verdicts_counters_and_translation()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("PR_FUZZ_SEED"), out var s) ? s : DefaultSeed;
        var count = int.TryParse(Environment.GetEnvironmentVariable("PR_FUZZ_PACKETS"), out var n) ? n : DefaultPackets;
        var generator = new PacketGenerator(new Random(seed));
        var clock = Stopwatch.StartNew();
        var failures = new List<string>();
        var terminalTotal = 0UL;
        var tally = new Dictionary<CounterReason, int>();
        var before = _dp.Dataplane.ReadCounters();

        var refused = new Dictionary<string, int>();
        var ran = 0;
        for (var index = 0; ran < count && failures.Count < 10; index++)
        {
            var (frame, template) = generator.Next();
            if (Refused(frame) is { } why)
            {
                // BPF_PROG_TEST_RUN itself refuses these (EINVAL), before any program runs: they cannot be tested here.
                refused[why] = refused.GetValueOrDefault(why) + 1;
                continue;
            }
            ran++;
            foreach (var fromHost in new[] { false, true })
            {
                var run = fromHost ? _dp.RunFromHost(frame) : _dp.Run(frame);
                var after = _dp.Dataplane.ReadCounters();
                var deltas = after.Where(pair => pair.Value != before.GetValueOrDefault(pair.Key))
                    .ToDictionary(pair => pair.Key, pair => pair.Value - before.GetValueOrDefault(pair.Key));
                before = after;
                var problems = Check(frame, run.ReturnValue, run.Output, deltas, fromHost);
                foreach (var (reason, delta) in deltas.Where(d => Terminal.Contains(d.Key)))
                {
                    terminalTotal += delta;
                    tally[reason] = tally.GetValueOrDefault(reason) + 1;
                }
                if (problems.Count > 0)
                {
                    failures.Add($"packet {index} (seed {seed}, {template}) through {(fromHost ? "pr_tc_from_host" : "pr_tc_from_wl")}: verdict {run.ReturnValue}, " +
                                 $"counters [{string.Join(", ", deltas.Select(d => $"{d.Key}+{d.Value}"))}]\n  {string.Join("\n  ", problems)}\n" +
                                 $"input:\n{Hex.Dump(frame)}\noutput:\n{Hex.Dump(run.Output)}");
                }
                else if (run.ReturnValue == TcVerdict.Ok && deltas.ContainsKey(CounterReason.NatNewFlow))
                    generator.Remember(frame, run.Output);
            }
        }

        TestContext.Out.WriteLine($"{variant}: {ran} packets x 2 programs in {clock.Elapsed.TotalSeconds:0.0} s, seed {seed}; reasons: " +
                                  string.Join(", ", tally.OrderBy(t => t.Key).Select(t => $"{t.Key} {t.Value}")) +
                                  $"; not runnable under BPF_PROG_TEST_RUN: {string.Join(", ", refused.Select(r => $"{r.Key} {r.Value}"))}");
        Assert.That(failures, Is.Empty, () => string.Join("\n\n", failures));
        Assert.That(terminalTotal, Is.EqualTo((ulong)count * 2), "the terminal reasons counted once per run");
        // The random mix must reach the paths it is meant to test.
        Assert.That(tally.Keys, Is.SupersetOf(new[]
        {
            CounterReason.PassNotIpv4, CounterReason.PassNoService, CounterReason.PassFragment, CounterReason.PassNotNew, CounterReason.NatNewFlow,
            CounterReason.NatEstablished, CounterReason.NatReverse, CounterReason.IcmpErrorTranslated, CounterReason.RejectTcpNoBackend,
            CounterReason.RejectUdpNoBackend, CounterReason.RejectUnknownService, CounterReason.DropMalformed, CounterReason.DropUnsupported,
            CounterReason.DropAffinityNoClient, CounterReason.RejectSctpService,
        }), "paths the packets reached");
    }

    /// <summary>Why the kernel's BPF_PROG_TEST_RUN refuses a frame (EINVAL before the program runs), or null: probed, not guessed.</summary>
    private string? Refused(byte[] frame)
    {
        try
        {
            Dataplane.Programs.ProgramTestRun.Run(_dp.Dataplane.PassThrough, frame);
            return null;
        }
        catch (BpfException error) when (error.Errno == Errno.EINVAL)
        {
            return $"{BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(12)):x4} frames of {(frame.Length < 34 ? "< 34" : ">= 34")} bytes";
        }
    }

    private List<string> Check(byte[] input, int verdict, byte[] output, Dictionary<CounterReason, ulong> deltas, bool fromHost)
    {
        var problems = new List<string>();
        if (verdict is not (TcVerdict.Ok or TcVerdict.Shot or TcVerdict.Redirect))
            problems.Add($"unknown verdict {verdict}");
        var terminal = deltas.Where(d => Terminal.Contains(d.Key)).ToList();
        if (terminal.Count != 1 || terminal[0].Value != 1)
        {
            problems.Add($"expected one terminal reason counted once, got [{string.Join(", ", terminal.Select(t => $"{t.Key}+{t.Value}"))}]");
            return problems;
        }
        var reason = terminal[0].Key;
        foreach (var (other, delta) in deltas.Where(d => !Terminal.Contains(d.Key)))
        {
            if (!Annotations.Contains(other) || delta != 1)
                problems.Add($"unexpected counter {other}+{delta}");
            else if (other is CounterReason.AffinityHit or CounterReason.NatHairpin or CounterReason.ConntrackCreateFailed &&
                     reason is not (CounterReason.NatNewFlow or CounterReason.DropNatFailed))
                problems.Add($"{other} counted with {reason}, not with a new flow");
            else if (other == CounterReason.ConntrackExpired && reason is CounterReason.PassNotIpv4 or CounterReason.PassFragment or CounterReason.DropMalformed
                         or CounterReason.NatEstablished or CounterReason.NatReverse or CounterReason.IcmpErrorTranslated or CounterReason.DropPullFailed)
                problems.Add($"ct_expired counted with {reason}");
        }

        var expectedVerdicts = reason switch
        {
            CounterReason.PassNotIpv4 or CounterReason.PassNoService or CounterReason.PassFragment or CounterReason.PassNotNew or CounterReason.IcmpErrorTranslated => [TcVerdict.Ok],
            CounterReason.NatNewFlow or CounterReason.NatEstablished or CounterReason.NatReverse => new[] { TcVerdict.Ok, TcVerdict.Redirect }, // REDIRECT: hairpin
            CounterReason.RejectTcpNoBackend or CounterReason.RejectUdpNoBackend or CounterReason.RejectBackendMissing or CounterReason.RejectUnknownService
                or CounterReason.RejectSctpService => [TcVerdict.Redirect],
            _ => [TcVerdict.Shot],
        };
        if (!expectedVerdicts.Contains(verdict))
            problems.Add($"verdict {verdict} does not go with {reason} (expected {string.Join(" or ", expectedVerdicts)})");
        if (verdict == TcVerdict.Shot)
            return problems;

        if (reason is CounterReason.PassNotIpv4 or CounterReason.PassNoService or CounterReason.PassFragment or CounterReason.PassNotNew &&
            !output.AsSpan().SequenceEqual(input))
            problems.Add($"{reason}: the packet was changed");

        var isReject = reason.ToString().StartsWith("Reject", StringComparison.Ordinal);
        var inputSums = Sums(input);
        if (isReject)
        {
            // A new packet: its own checksums verify; an ICMP reply quotes the offending header verbatim, as right or wrong as it was.
            // (Not ChecksumAudit: it throws on a quoted header whose total length leaves no room for the L4 header it names.)
            var replySums = Sums(output);
            foreach (var name in new[] { "ip", "l4" })
                if (replySums.GetValueOrDefault(name) != 0xFFFF)
                    problems.Add($"reject reply: checksum '{name}' does not verify ({(replySums.TryGetValue(name, out var v) ? $"sum 0x{v:x4}" : "absent")})");
            if (replySums.TryGetValue("quoted-ip", out var quotedSum) && quotedSum != inputSums.GetValueOrDefault("ip"))
                problems.Add($"reject reply: the quoted header's sum 0x{quotedSum:x4} is not the input header's 0x{inputSums.GetValueOrDefault("ip"):x4}");
        }
        else
        {
            var outputSums = Sums(output);
            foreach (var (name, was) in inputSums)
            {
                if (!outputSums.TryGetValue(name, out var now))
                {
                    problems.Add($"checksum '{name}' of the input has no counterpart in the output ({string.Join(",", outputSums.Keys)})");
                    continue;
                }
                if (was == 0xFFFF && now != 0xFFFF)
                    problems.Add($"checksum '{name}' verified in the input and does not in the output (sum 0x{now:x4})");
                else if (was != 0xFFFF && now != was && !(was is 0 or 0xFFFF && now is 0 or 0xFFFF))
                    problems.Add($"checksum '{name}' was wrong by sum 0x{was:x4} and is now 0x{now:x4}: not exactly as wrong");
            }
        }

        // A VIP:port leaves untranslated only with a documented pass.
        if (ToFrontend(input) is { } vip && _frontends.Contains(vip) && verdict == TcVerdict.Ok &&
            reason is not (CounterReason.PassNotNew or CounterReason.NatReverse) && ToFrontend(output) == vip)
            problems.Add($"{vip.Item1}:{vip.Item2}/{vip.Item3} left untranslated with {reason}");
        _ = fromHost;
        return problems;
    }

    /// <summary>How many bytes of the frame lie past the IPv4 total length (0 when not IPv4 or none).</summary>
    private static int TrailingBytes(byte[] frame)
    {
        if (frame.Length < 34 || BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(12)) != EtherType.Ipv4)
            return 0;
        return Math.Max(0, frame.Length - 14 - BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(16)));
    }

    /// <summary>
    /// Bug found by the random packets: an ICMP error whose IPv4 total length ends before the quote (the quote is in
    /// trailing bytes that a receiver trims) is translated all the same: pr_icmp_error_translate rewrites the trailing
    /// bytes and moves the ICMP checksum by their change, so a message whose checksum was right over its real length
    /// (the ICMP header alone) leaves with a wrong one. Such a message quotes nothing: it should pass untouched.
    /// </summary>
    [Test]
    public void Icmp_error_quote_beyond_the_total_length_is_not_translated()
    {
        var sent = Frames.UdpPacket(Topology.Client, UdpVip);
        Assert.That(_dp.Run(Frames.FromPod(sent)).ReturnValue, Is.EqualTo(TcVerdict.Ok));
        var delivered = Frames.UdpPacket(Topology.Client, UdpBackends[0]);
        // ICMP port unreachable of 8 bytes (its checksum right over those 8), then the quote as trailing bytes.
        var icmpHeader = new byte[8];
        icmpHeader[0] = IcmpMessage.DestinationUnreachable;
        icmpHeader[1] = IcmpMessage.PortUnreachableCode;
        BinaryPrimitives.WriteUInt16BigEndian(icmpHeader.AsSpan(2), Checksum.Compute(icmpHeader));
        var ip = (Frames.Ip(UdpBackends[0].Address, Topology.Client.Address, IpProtocol.Icmp) with { TotalLengthOverride = 28 })
            .Build([.. icmpHeader, .. delivered.AsSpan(0, 28)]);
        var frame = Frames.FromPod(ip);

        var result = _dp.Run(frame);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        Assert.That(Checksum.Verifies(result.Output.AsSpan(14 + 20, 8)), Is.True,
            () => $"the ICMP checksum over the message's 8 bytes no longer verifies; counters {string.Join(", ", _dp.Counters())}\n{Hex.Dump(result.Output)}");
    }

    /// <summary>(destination, port, protocol) of a TCP/UDP packet that is no later fragment and has its ports, else null.</summary>
    private static (IPAddress, ushort, byte)? ToFrontend(byte[] frame)
    {
        if (frame.Length < 34 || BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(12)) != EtherType.Ipv4)
            return null;
        var ip = frame.AsSpan(14);
        var ihl = (ip[0] & 0x0F) * 4;
        if (ip[0] >> 4 != 4 || ihl < 20 || (BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x1FFF) != 0 || ip.Length < ihl + 4)
            return null;
        if (ip[9] is not (IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Sctp))
            return null;
        return (new IPAddress(ip[16..20]), BinaryPrimitives.ReadUInt16BigEndian(ip[(ihl + 2)..]), ip[9]);
    }

    /// <summary>
    /// The one's-complement sums that verify a frame's checksums (0xFFFF when right): "ip" (the header), "l4" (TCP/UDP
    /// with the pseudo-header, ICMP over the message; complete first fragments only), "udp0" (a UDP datagram without a
    /// checksum), "quoted-ip" (the header quoted in an ICMP error).
    /// </summary>
    private static Dictionary<string, ushort> Sums(byte[] frame)
    {
        var sums = new Dictionary<string, ushort>();
        if (frame.Length < 34 || BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(12)) != EtherType.Ipv4)
            return sums;
        var ip = frame.AsSpan(14);
        var ihl = (ip[0] & 0x0F) * 4;
        if (ip[0] >> 4 != 4 || ihl < 20 || ihl > ip.Length)
            return sums;
        sums["ip"] = Checksum.Fold(Checksum.Accumulate(0, ip[..ihl]));
        var total = BinaryPrimitives.ReadUInt16BigEndian(ip[2..]);
        if (total < ihl || total > ip.Length || (BinaryPrimitives.ReadUInt16BigEndian(ip[6..]) & 0x3FFF) != 0)
            return sums;
        var l4 = ip[ihl..total];
        var source = new IPAddress(ip[12..16]);
        var destination = new IPAddress(ip[16..20]);
        switch (ip[9])
        {
            case IpProtocol.Tcp when l4.Length >= 20:
                sums["l4"] = Checksum.Fold(Checksum.Accumulate(Checksum.PseudoHeaderSum(source, destination, IpProtocol.Tcp, l4.Length), l4));
                break;
            case IpProtocol.Udp when l4.Length >= 8:
                if (BinaryPrimitives.ReadUInt16BigEndian(l4[6..]) == 0)
                    sums["udp0"] = 0;
                else
                    sums["l4"] = Checksum.Fold(Checksum.Accumulate(Checksum.PseudoHeaderSum(source, destination, IpProtocol.Udp, l4.Length), l4));
                break;
            case IpProtocol.Icmp when l4.Length >= 8:
                sums["l4"] = Checksum.Fold(Checksum.Accumulate(0, l4));
                var quoted = l4[8..];
                if (l4[0] is 3 or 11 && quoted.Length >= 20 && quoted[0] >> 4 == 4 && (quoted[0] & 0x0F) * 4 is var qihl && qihl >= 20 && qihl <= quoted.Length)
                    sums["quoted-ip"] = Checksum.Fold(Checksum.Accumulate(0, quoted[..qihl]));
                break;
        }
        return sums;
    }

    /// <summary>
    /// Found by the fuzzing above: the Syncer programs SCTP frontends (Kubernetes Services may be SCTP), but the NAT
    /// translates only TCP and UDP (SCTP's CRC32c covers the ports), so an SCTP packet to the VIP:port used to leave
    /// untranslated towards a VIP nothing answers. It is refused now: an ICMP port unreachable back to the client.
    /// </summary>
    [Test]
    public void Sctp_to_an_sctp_frontend_is_translated_or_refused()
    {
        var sctp = new byte[12 + 16];
        BinaryPrimitives.WriteUInt16BigEndian(sctp, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(sctp.AsSpan(2), SctpVip.Port);
        var frame = Frames.FromPod(Frames.Ip(Topology.Client.Address, SctpVip.Address, 132).Build(sctp));
        var before = _dp.Dataplane.ReadCounters();

        var result = _dp.Run(frame);

        var after = _dp.Dataplane.ReadCounters();
        var ip = FrameView.Parse(result.Output).Ip;
        Assert.Multiple(() =>
        {
            Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Redirect), $"counters {string.Join(", ", _dp.Counters())}");
            Assert.That(ip.Protocol, Is.EqualTo(IpProtocol.Icmp));
            Assert.That((ip.Source, ip.Destination), Is.EqualTo((SctpVip.Address, Topology.Client.Address)), "answered from the VIP to the client");
            Assert.That(((int)ip.Icmp.Type, (int)ip.Icmp.Code), Is.EqualTo((3, 3)), "port unreachable");
            Assert.That(after.GetValueOrDefault(CounterReason.RejectSctpService) - before.GetValueOrDefault(CounterReason.RejectSctpService), Is.EqualTo(1UL));
            Assert.That(after.GetValueOrDefault(CounterReason.PassNoService) - before.GetValueOrDefault(CounterReason.PassNoService), Is.Zero);
        });

        // Another SCTP port of the same address is no Service: it passes as before.
        BinaryPrimitives.WriteUInt16BigEndian(sctp.AsSpan(2), (ushort)(SctpVip.Port + 1));
        var other = _dp.Run(Frames.FromPod(Frames.Ip(Topology.Client.Address, SctpVip.Address, 132).Build(sctp)));
        Assert.That(ToFrontendAny(other.Output), Is.EqualTo((SctpVip.Address, (ushort)(SctpVip.Port + 1))), $"verdict {other.ReturnValue}");
    }

    private static (IPAddress, ushort) ToFrontendAny(byte[] frame)
    {
        var ip = frame.AsSpan(14);
        var ihl = (ip[0] & 0x0F) * 4;
        return (new IPAddress(ip[16..20]), BinaryPrimitives.ReadUInt16BigEndian(ip[(ihl + 2)..]));
    }

    /// <summary>Random templates, replays of remembered flows, and mutations; all from one seeded <see cref="Random"/>.</summary>
    private sealed class PacketGenerator(Random random)
    {
        private readonly List<(byte[] Forward, byte[] Reply, byte[] Delivered)> _flows = [];

        private T Pick<T>(IReadOnlyList<T> items) => items[random.Next(items.Count)];
        private bool Chance(int percent) => random.Next(100) < percent;

        private byte[] Bytes(int count)
        {
            var bytes = new byte[count];
            random.NextBytes(bytes);
            return bytes;
        }

        /// <summary>A NATed packet and what went out: its forward replay and the backend's reply (from the output's destination).</summary>
        public void Remember(byte[] input, byte[] output)
        {
            if (_flows.Count > 200)
                _flows.RemoveAt(random.Next(_flows.Count));
            var reply = (byte[])output.Clone();
            var ip = reply.AsSpan(14);
            var ihl = (ip[0] & 0x0F) * 4;
            if (ip.Length < ihl + 4)
                return;
            // Swap addresses and ports: the backend answers the client.
            Span<byte> address = stackalloc byte[4];
            ip[12..16].CopyTo(address);
            ip[16..20].CopyTo(ip[12..16]);
            address.CopyTo(ip[16..20]);
            Span<byte> port = stackalloc byte[2];
            ip[ihl..(ihl + 2)].CopyTo(port);
            ip[(ihl + 2)..(ihl + 4)].CopyTo(ip[ihl..(ihl + 2)]);
            port.CopyTo(ip[(ihl + 2)..(ihl + 4)]);
            // The swaps keep every one's-complement sum: the checksums stay as right (or wrong) as they were.
            _flows.Add((input, reply, output));
        }

        public (byte[] Frame, string Template) Next()
        {
            byte[] frame;
            string template;
            if (_flows.Count > 0 && Chance(25))
            {
                var (forward, reply, delivered) = Pick(_flows);
                (frame, template) = random.Next(3) switch
                {
                    0 => ((byte[])forward.Clone(), "replay of a flow"),
                    1 => ((byte[])reply.Clone(), "reply of a flow"),
                    _ => (ErrorAbout(delivered), "ICMP error about a delivered flow"),
                };
                if (Chance(50) && frame[23] == IpProtocol.Tcp)
                    SetTcpFlags(frame, Pick(new byte[] { 0x10, 0x18, 0x11, 0x04, 0x02, 0x12, 0x14 }));
            }
            else
                (frame, template) = Template();
            var mutations = Mutate(ref frame);
            return (frame, mutations.Length == 0 ? template : $"{template}; {mutations}");
        }

        private (byte[], string) Template()
        {
            var source = Chance(70) ? Pick(Clients) : new IPAddress(Bytes(4));
            var sourcePort = (ushort)random.Next(1, 65536);
            var roll = random.Next(100);
            Endpoint destination = roll switch
            {
                < 20 => Pick(new[] { TcpVip, AffinityVip, TcpNodePort, EmptyTcpVip }),
                < 35 => Pick(new[] { UdpVip, UdpNodePort, EmptyUdpVip }),
                < 45 => Pick(new[] { TcpVip, UdpVip, AffinityVip, TcpNodePort, SctpVip }) with { Port = (ushort)random.Next(1, 65536) },
                < 60 => new Endpoint(Pick(OtherDestinations), (ushort)random.Next(1, 65536)),
                _ => Pick(new[] { TcpVip, UdpVip, EmptyTcpVip, AffinityVip, TcpNodePort, UdpNodePort, SctpVip }),
            };
            var protocolRoll = random.Next(100);
            var udpish = destination == UdpVip || destination == UdpNodePort || destination == EmptyUdpVip;
            byte protocol = protocolRoll switch
            {
                < 45 => udpish ? IpProtocol.Udp : IpProtocol.Tcp,
                < 60 => udpish ? IpProtocol.Tcp : IpProtocol.Udp,
                < 80 => IpProtocol.Icmp,
                _ => Pick(new byte[] { 132, 47, 0, 255, 50, 17, 6 }),
            };
            var options = Chance(10) ? IpOptions() : [];
            var ipHeader = Frames.Ip(source, destination.Address, protocol) with
            {
                Options = options,
                DontFragment = Chance(50),
                MoreFragments = Chance(5),
                FragmentOffset = Chance(5) ? (ushort)random.Next(1, 0x2000) : (ushort)0,
                TimeToLive = (byte)random.Next(0, 256),
                Identification = (ushort)random.Next(65536),
            };
            byte[] l4;
            string what;
            switch (protocol)
            {
                case IpProtocol.Tcp:
                    var flags = Chance(60) ? Pick(new[] { TcpFlags.Syn, TcpFlags.Ack, TcpFlags.Syn | TcpFlags.Ack, TcpFlags.Fin | TcpFlags.Ack, TcpFlags.Rst, TcpFlags.Psh | TcpFlags.Ack })
                        : (TcpFlags)random.Next(256);
                    l4 = new TcpSegment
                    {
                        SourcePort = sourcePort, DestinationPort = destination.Port, Sequence = (uint)random.Next(), Acknowledgment = (uint)random.Next(),
                        Flags = flags, Options = Chance(30) ? Frames.SynOptions : [], Payload = Bytes(Chance(50) ? 0 : random.Next(1, 200)),
                    }.Build(source, destination.Address);
                    what = $"TCP {flags}";
                    break;
                case IpProtocol.Udp:
                    l4 = new UdpDatagram
                    {
                        SourcePort = sourcePort, DestinationPort = destination.Port, Payload = Bytes(random.Next(0, 120)), WithoutChecksum = Chance(10),
                    }.Build(source, destination.Address);
                    what = "UDP";
                    break;
                case IpProtocol.Icmp:
                    l4 = Chance(40)
                        ? IcmpMessage.Echo((ushort)random.Next(65536), (ushort)random.Next(65536), Bytes(random.Next(0, 56))).Build()
                        : QuotingError(source, destination);
                    what = $"ICMP type {l4[0]}";
                    break;
                default:
                    l4 = Bytes(random.Next(0, 60));
                    if (l4.Length >= 4)
                        BinaryPrimitives.WriteUInt16BigEndian(l4.AsSpan(2), destination.Port);
                    what = $"protocol {protocol}";
                    break;
            }
            return (Frames.FromPod(ipHeader.Build(l4)), $"{what} {source}:{sourcePort} -> {destination}{(options.Length > 0 ? $" options {options.Length}" : "")}");
        }

        /// <summary>What the backend (or a router on the way) answers a delivered (DNATed) packet with: an error quoting it.</summary>
        private byte[] ErrorAbout(byte[] delivered)
        {
            var quoted = delivered[14..];
            var from = Chance(70) ? new IPAddress(quoted.AsSpan(16, 4)) : IPAddress.Parse("10.244.0.1");
            var to = new IPAddress(quoted.AsSpan(12, 4));
            var ihl = (quoted[0] & 0x0F) * 4;
            var payload = Math.Max(0, quoted.Length - ihl);
            var bytes = Math.Min(payload, Chance(70) ? 8 : random.Next(0, payload + 1));
            var message = Chance(50) ? IcmpMessage.PortUnreachable(quoted, bytes) : IcmpMessage.TimeExceededInTransit(quoted, bytes);
            return Frames.Icmp(from, to, message);
        }

        /// <summary>An ICMP error quoting some flow between the template's addresses.</summary>
        private byte[] QuotingError(IPAddress source, Endpoint destination)
        {
            byte[] quoted;
            if (_flows.Count > 0 && Chance(40))
                quoted = Pick(_flows).Forward[14..];
            else
            {
                var inner = Chance(50) ? IpProtocol.Tcp : IpProtocol.Udp;
                quoted = inner == IpProtocol.Tcp
                    ? Frames.TcpPacket(destination, new Endpoint(source, (ushort)random.Next(1, 65536)), TcpFlags.Ack)
                    : Frames.UdpPacket(destination, new Endpoint(source, (ushort)random.Next(1, 65536)));
            }
            var bytes = Chance(80) ? 8 : random.Next(0, Math.Max(1, quoted.Length - 20));
            return Chance(50)
                ? IcmpMessage.PortUnreachable(quoted, Math.Min(bytes, Math.Max(0, quoted.Length - 20))).Build()
                : IcmpMessage.TimeExceededInTransit(quoted, Math.Min(bytes, Math.Max(0, quoted.Length - 20))).Build();
        }

        private byte[] IpOptions()
        {
            var length = random.Next(1, 11) * 4;
            var options = new byte[length];
            for (var i = 0; i < length; i++)
                options[i] = Chance(50) ? (byte)1 : (byte)random.Next(256); // NOPs and noise
            return options;
        }

        private static void SetTcpFlags(byte[] frame, byte flags)
        {
            var ihl = (frame[14] & 0x0F) * 4;
            if (frame.Length < 14 + ihl + 14)
                return;
            // Keep the checksum as right as it was: adjust it by the change of the flags word (RFC 1624).
            var at = 14 + ihl + 12;
            var oldWord = BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(at));
            frame[at + 1] = flags;
            var newWord = BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(at));
            if (frame.Length >= 14 + ihl + 18)
            {
                var check = BinaryPrimitives.ReadUInt16BigEndian(frame.AsSpan(14 + ihl + 16));
                var sum = (uint)(ushort)~check + (ushort)~oldWord + newWord;
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(14 + ihl + 16), (ushort)~Checksum.Fold(sum));
            }
        }

        private string Mutate(ref byte[] frame)
        {
            var applied = new StringBuilder();
            var ipStart = 14;
            if (Chance(8))
            {
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(ipStart + 10), (ushort)random.Next(65536));
                applied.Append("bad IP checksum; ");
            }
            var ihl = (frame[ipStart] & 0x0F) * 4;
            if (Chance(8) && frame[ipStart + 9] is IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmp)
            {
                var at = ipStart + ihl + frame[ipStart + 9] switch { IpProtocol.Tcp => 16, IpProtocol.Udp => 6, _ => 2 };
                if (at + 2 <= frame.Length)
                {
                    frame[at] ^= (byte)random.Next(1, 256);
                    applied.Append("bad L4 checksum; ");
                }
            }
            if (Chance(4) && frame[ipStart + 9] == IpProtocol.Tcp && ipStart + ihl + 13 <= frame.Length)
            {
                frame[ipStart + ihl + 12] = (byte)(random.Next(0, 16) << 4 | frame[ipStart + ihl + 12] & 0x0F);
                applied.Append("random TCP data offset; ");
            }
            if (Chance(4))
            {
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(ipStart + 2), (ushort)random.Next(0, frame.Length + 40));
                applied.Append("wrong total length; ");
            }
            if (Chance(3))
            {
                frame[ipStart] = (byte)(random.Next(0, 16) << 4 | random.Next(0, 16));
                applied.Append("random version/IHL; ");
            }
            if (Chance(3))
            {
                BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(12), Pick(new ushort[] { 0x0806, 0x86DD, 0x8100, (ushort)random.Next(65536) }));
                applied.Append("other EtherType; ");
            }
            if (Chance(5))
            {
                for (var flips = random.Next(1, 4); flips > 0; flips--)
                    frame[random.Next(ipStart, frame.Length)] ^= (byte)random.Next(1, 256);
                applied.Append("flipped bytes; ");
            }
            if (Chance(12))
            {
                var length = random.Next(14, frame.Length);
                frame = frame[..length];
                applied.Append($"truncated to {length}; ");
            }
            return applied.ToString().TrimEnd(' ', ';');
        }
    }
}
