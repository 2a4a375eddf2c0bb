using ProxyReplacement.Dataplane.Interop;

namespace ProxyReplacement.Dataplane.Programs;

/// <summary>The return code and kernel-measured duration of one BPF_PROG_TEST_RUN without output.</summary>
public readonly record struct TimedRun(int ReturnValue, uint DurationNs);

/// <summary>
/// BPF_PROG_TEST_RUN for measurements: no output buffer is copied back, so millions of calls stay cheap.
/// The kernel runs the program <c>repeat</c> times on ONE skb built from the input: a program that rewrites
/// the packet sees its own rewrite from the second repeat on. To time a rewriting path, call with repeat 1
/// on fresh input each time (the kernel then times one run, including its fixed per-call overhead, which an
/// empty program measured the same way shows).
/// </summary>
public static class ProgramTiming
{
    public static unsafe TimedRun Run(BpfProgram program, ReadOnlySpan<byte> packet, int repeat = 1)
    {
        ArgumentNullException.ThrowIfNull(program);
        ArgumentOutOfRangeException.ThrowIfLessThan(repeat, 1);
        BpfTestRunOpts opts;
        int rc;
        fixed (byte* input = packet)
        {
            opts = new BpfTestRunOpts
            {
                Size = (nuint)sizeof(BpfTestRunOpts),
                DataIn = input,
                DataSizeIn = (uint)packet.Length,
                Repeat = repeat,
            };
            rc = LibBpf.bpf_prog_test_run_opts(program.Fd, &opts);
        }
        if (rc < 0)
            throw new BpfException($"BPF_PROG_TEST_RUN of {program} on a {packet.Length}-byte packet", -rc);
        return new TimedRun((int)opts.ReturnValue, opts.DurationNs);
    }
}
