using System.Net;
using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_aff_key4</c>:
/// <code>
/// struct pr_aff_key4 { struct pr_nat_fe_key4 fe; __be32 client; };
/// </code>
/// <c>client</c> is a pod's address, or <see cref="HostClient"/> for every host-netns client.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 12)]
public readonly record struct AffinityKey4
{
    /// <summary>
    /// <c>PR_AFF_CLIENT_HOST</c>: the one client identity of all sockets in the host network namespace
    /// (0.0.0.0, "this host"), which no pod can have; see bpf-c/include/pr_map_abi.h.
    /// </summary>
    public static readonly IPAddress HostClient = IPAddress.Any;

    [FieldOffset(0)] public readonly NatFrontendKey4 Frontend;
    [FieldOffset(8)] public readonly uint ClientNbo;

    public AffinityKey4(NatFrontendKey4 frontend, IPAddress client)
    {
        Frontend = frontend;
        ClientNbo = Ipv4.ToNbo(client);
    }

    public IPAddress Client => Ipv4.FromNbo(ClientNbo);

    /// <summary>Whether this is the host network namespace's entry (<see cref="HostClient"/>).</summary>
    public bool IsHostClient => ClientNbo == 0;
}

/// <summary>
/// Mirrors <c>struct pr_aff_value4</c>:
/// <code>
/// struct pr_aff_value4 { __u64 last_used_ns; __u32 ordinal; __be32 backend_addr;
///                        __be16 backend_port; __u16 pad; __u32 pad2; };
/// </code>
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 24)]
public readonly record struct AffinityValue4
{
    [FieldOffset(0)] public readonly ulong LastUsedNs;
    [FieldOffset(8)] public readonly uint Ordinal;
    [FieldOffset(12)] public readonly uint BackendAddressNbo;
    [FieldOffset(16)] public readonly ushort BackendPortNbo;
    [FieldOffset(18)] private readonly ushort _pad;
    [FieldOffset(20)] private readonly uint _pad2;

    public AffinityValue4(ulong lastUsedNs, uint ordinal, IPAddress backend, ushort backendPort)
    {
        LastUsedNs = lastUsedNs;
        Ordinal = ordinal;
        BackendAddressNbo = Ipv4.ToNbo(backend);
        BackendPortNbo = Ipv4.PortToNbo(backendPort);
        _pad = 0;
        _pad2 = 0;
    }

    public IPAddress BackendAddress => Ipv4.FromNbo(BackendAddressNbo);
    public ushort BackendPort => Ipv4.PortFromNbo(BackendPortNbo);
}
