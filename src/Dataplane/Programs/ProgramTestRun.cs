using ProxyReplacement.Dataplane.Interop;

namespace ProxyReplacement.Dataplane.Programs;

/// <summary>The outcome of one BPF_PROG_TEST_RUN.</summary>
/// <param name="ReturnValue">The program's return code (for TC: TC_ACT_OK = 0, TC_ACT_SHOT = 2, TC_ACT_REDIRECT = 7).</param>
/// <param name="Output">The packet as the program left it.</param>
/// <param name="AverageDurationNs">Kernel-measured average time per run.</param>
public sealed record TestRunResult(int ReturnValue, byte[] Output, uint AverageDurationNs);

/// <summary>Runs a loaded program on a packet in the kernel (BPF_PROG_TEST_RUN), no interface needed.</summary>
public static class ProgramTestRun
{
    /// <summary>Room for programs that grow the packet (e.g. a reject reply or encapsulation).</summary>
    public const int OutputHeadroom = 512;

    /// <summary>
    /// Runs <paramref name="program"/> once (or <paramref name="repeat"/> times) on a copy of
    /// <paramref name="packet"/>, an Ethernet frame (at least 14 bytes for TC programs).
    /// </summary>
    public static TestRunResult Run(BpfProgram program, ReadOnlySpan<byte> packet, int repeat = 1) => Run(program, packet, repeat, ingressIfindex: 0);

    /// <summary>
    /// As <see cref="Run(BpfProgram, ReadOnlySpan{byte}, int)"/>, with the skb's <c>ingress_ifindex</c> (the kernel's
    /// <c>skb_iif</c>: the interface the packet arrived on; 0, as without a context, for a packet the node generated).
    /// </summary>
    public static unsafe TestRunResult Run(BpfProgram program, ReadOnlySpan<byte> packet, int repeat, int ingressIfindex)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(repeat, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(ingressIfindex);
        var output = new byte[packet.Length + OutputHeadroom];
        var context = SkBuffContext(ingressIfindex);
        BpfTestRunOpts opts;
        int rc;
        fixed (byte* input = packet)
        fixed (byte* outputBuffer = output)
        fixed (uint* contextIn = context)
        {
            opts = new BpfTestRunOpts
            {
                Size = (nuint)sizeof(BpfTestRunOpts),
                DataIn = input,
                DataSizeIn = (uint)packet.Length,
                DataOut = outputBuffer,
                DataSizeOut = (uint)output.Length,
                Repeat = repeat,
            };
            if (ingressIfindex != 0)
            {
                opts.ContextIn = contextIn;
                opts.ContextSizeIn = SkBuffContextWords * sizeof(uint);
            }
            rc = LibBpf.bpf_prog_test_run_opts(program.Fd, &opts);
        }
        if (rc < 0)
            throw new BpfException($"BPF_PROG_TEST_RUN of {program} on a {packet.Length}-byte packet", -rc);
        return new TestRunResult((int)opts.ReturnValue, output.AsSpan(0, (int)opts.DataSizeOut).ToArray(), opts.DurationNs);
    }

    /// <summary>
    /// The start of a <c>struct __sk_buff</c> for BPF_PROG_TEST_RUN's ctx_in, up to ifindex: len, pkt_type, mark,
    /// queue_mapping, protocol, vlan_present, vlan_tci, vlan_proto, priority, ingress_ifindex (offset 36), ifindex;
    /// the kernel zero-fills the rest and takes ingress_ifindex as the skb's skb_iif.
    /// </summary>
    internal static uint[] SkBuffContext(int ingressIfindex)
    {
        var context = new uint[SkBuffContextWords];
        context[SkBuffIngressIfindexWord] = (uint)ingressIfindex;
        return context;
    }

    private const int SkBuffContextWords = 12;
    private const int SkBuffIngressIfindexWord = 9;
}
