using System.Buffers.Binary;
using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Programs;
using ProxyReplacement.Dataplane.SocketLb;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.SocketLb;

/// <summary>enum pr_sock_verdict (bpf-c/include/pr_sock.h).</summary>
public enum SocketVerdict
{
    Pass = 0,
    Translated = 1,
    Refuse = 2,
}

/// <summary>enum pr_sock_test_op (bpf-c/test/sock_shim.bpf.c): which hook's call the shim makes.</summary>
public enum SocketCall : uint
{
    Connect = 0,
    Sendmsg = 1,
    Recvmsg = 2,
    Getpeername = 3,
}

/// <summary>One socket call as the hooks see it (struct pr_sock_req) and what they made of it.</summary>
public sealed record SocketCallResult(SocketVerdict Verdict, IPEndPoint Address);

/// <summary>
/// The test shim (bpf-c/test/sock_shim.bpf.c) loaded on a core dataplane's maps: runs the socket
/// hooks' decision code (pr_sock_forward4 / pr_sock_reverse4) through BPF_PROG_TEST_RUN, which
/// cannot run the cgroup programs themselves. The request travels in the test packet after 14
/// bytes of Ethernet header: struct pr_sock_test { struct pr_sock_req req (32 bytes); __u64 now;
/// __u32 op; __s32 verdict; }, pr_sock_req being { __u64 cookie; __be32 ip; __be32 src; __be16 port;
/// __u8 proto; __u8 pad; __u32 pad2; __u64 netns_cookie; }.
/// </summary>
public sealed class SocketShim : IDisposable
{
    private const int Offset = 14;
    private const int Size = 48;

    private readonly LoadedBpfObject _object;
    private readonly BpfProgram _program;

    private SocketShim(LoadedBpfObject loaded)
    {
        _object = loaded;
        _program = loaded.Program("pr_test_sock");
    }

    public static SocketShim Load(CoreDataplane core) =>
        new(SocketLoadBalancer.LoadObject(TestObjects.Read("sock_shim.bpf.o"), "sock_shim", core));

    /// <summary>
    /// Runs one call. <paramref name="source"/> is the socket's bound address (null: unbound);
    /// <paramref name="netnsCookie"/> the cookie of the socket's network namespace (0: none the
    /// dataplane knows, i.e. a pod's unless pr_host_netns holds 0 too, which the program rules out).
    /// </summary>
    public SocketCallResult Run(SocketCall call, ulong cookie, IPEndPoint address, L4Protocol protocol, IPAddress? source = null, ulong nowNs = 0,
        ulong netnsCookie = 0)
    {
        var packet = new byte[Offset + Size];
        var t = packet.AsSpan(Offset);
        BinaryPrimitives.WriteUInt64LittleEndian(t[0..], cookie);
        address.Address.TryWriteBytes(t[8..12], out _);
        (source ?? IPAddress.Any).TryWriteBytes(t[12..16], out _);
        BinaryPrimitives.WriteUInt16BigEndian(t[16..], (ushort)address.Port);
        t[18] = (byte)protocol;
        BinaryPrimitives.WriteUInt64LittleEndian(t[24..], netnsCookie);
        BinaryPrimitives.WriteUInt64LittleEndian(t[32..], nowNs == 0 ? Monotonic.NowNs() : nowNs);
        BinaryPrimitives.WriteUInt32LittleEndian(t[40..], (uint)call);
        BinaryPrimitives.WriteInt32LittleEndian(t[44..], -2);

        var result = ProgramTestRun.Run(_program, packet);
        Assert.That(result.ReturnValue, Is.EqualTo(0), "the shim could not read or write its request");
        var o = result.Output.AsSpan(Offset, Size);
        var verdict = BinaryPrimitives.ReadInt32LittleEndian(o[44..]);
        Assert.That(verdict, Is.InRange(0, 2), "the shim did not run the call");
        var rewritten = new IPEndPoint(new IPAddress(o[8..12]), BinaryPrimitives.ReadUInt16BigEndian(o[16..]));
        return new SocketCallResult((SocketVerdict)verdict, rewritten);
    }

    public void Dispose() => _object.Dispose();
}
