using System.Runtime.InteropServices;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_nat_direct4</c>, one slot of <c>pr_nat_direct4</c> (the ClusterIP fast path, ABI 5):
/// <code>
/// struct pr_nat_direct4 { __u32 check; __be32 vip; __be16 port; __u8 proto; __u8 backend_count; __u32 svc_id;
///                         struct pr_nat_be_value4 be[PR_DIRECT_BACKENDS]; };
/// </code>
/// 64 bytes, one cache line: a copy of a ClusterIP frontend and its cluster set that a new flow reads instead of the two
/// hash lookups. <c>check</c> is FNV-1a over the other 15 words as they lie in memory (<see cref="CheckOf"/>), so that a
/// packet reading the slot while it is rewritten sees a mismatch and takes the hash path. The empty slot is all zero.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public readonly record struct NatDirectEntry4
{
    /// <summary><c>PR_DIRECT_BACKENDS</c>: the backends a slot holds; a frontend with more stays on the hash path.</summary>
    public const int MaxBackends = 6;

    private const uint CheckBasis = 2166136261u; // PR_DIRECT_CHECK_BASIS
    private const uint CheckPrime = 16777619u;   // PR_DIRECT_CHECK_PRIME

    [FieldOffset(0)] public readonly uint Check;
    [FieldOffset(4)] public readonly uint VipNbo;
    [FieldOffset(8)] public readonly ushort PortNbo;
    [FieldOffset(10)] public readonly byte Protocol;
    [FieldOffset(11)] public readonly byte BackendCount;
    [FieldOffset(12)] public readonly uint ServiceId;
    [FieldOffset(16)] private readonly DirectBackends _backends;

    /// <summary>The slot for <paramref name="key"/>'s frontend (service <paramref name="serviceId"/>) with its cluster set, sealed.</summary>
    public NatDirectEntry4(NatFrontendKey4 key, uint serviceId, IReadOnlyList<NatBackendValue4> backends)
    {
        ArgumentNullException.ThrowIfNull(backends);
        if (backends.Count is 0 or > MaxBackends)
            throw new ArgumentOutOfRangeException(nameof(backends), backends.Count, $"a direct slot holds 1 to {MaxBackends} backends");
        VipNbo = key.VipNbo;
        PortNbo = key.PortNbo;
        Protocol = key.Protocol;
        BackendCount = (byte)backends.Count;
        ServiceId = serviceId;
        _backends = new DirectBackends(backends);
        Check = 0;
        Check = CheckOf(this);
    }

    /// <summary>The frontend key this slot answers for.</summary>
    public NatFrontendKey4 Frontend =>
        new(Ipv4.FromNbo(VipNbo), Ipv4.PortFromNbo(PortNbo), (L4Protocol)Protocol);

    /// <summary>The backends the slot holds, ordinals 0..count-1 (at most <see cref="MaxBackends"/>).</summary>
    public NatBackendValue4[] GetBackends() => _backends.ToArray()[..Math.Min((int)BackendCount, MaxBackends)];

    /// <summary>Whether the slot holds an entry the dataplane would use: a VIP and a check that matches its words.</summary>
    public bool IsSealed => VipNbo != 0 && Check == CheckOf(this);

    /// <summary><c>pr_direct_check4</c>: FNV-1a over words 1..15, each a host-order 32-bit word as stored.</summary>
    public static uint CheckOf(in NatDirectEntry4 entry)
    {
        var words = MemoryMarshal.Cast<NatDirectEntry4, uint>(new ReadOnlySpan<NatDirectEntry4>(in entry));
        var hash = CheckBasis;
        for (var i = 1; i < words.Length; i++)
            hash = (hash ^ words[i]) * CheckPrime;
        return hash;
    }

    public override string ToString() =>
        $"{Frontend} -> svc {ServiceId} [{string.Join(", ", GetBackends())}]{(IsSealed ? "" : " (unsealed)")}";

    /// <summary><c>be[PR_DIRECT_BACKENDS]</c>: six backend values, zero beyond the count.</summary>
    [StructLayout(LayoutKind.Explicit, Size = 48)]
    private readonly record struct DirectBackends
    {
        [FieldOffset(0)] private readonly NatBackendValue4 _b0;
        [FieldOffset(8)] private readonly NatBackendValue4 _b1;
        [FieldOffset(16)] private readonly NatBackendValue4 _b2;
        [FieldOffset(24)] private readonly NatBackendValue4 _b3;
        [FieldOffset(32)] private readonly NatBackendValue4 _b4;
        [FieldOffset(40)] private readonly NatBackendValue4 _b5;

        public DirectBackends(IReadOnlyList<NatBackendValue4> backends)
        {
            NatBackendValue4 At(int i) => i < backends.Count ? backends[i] : default;
            (_b0, _b1, _b2, _b3, _b4, _b5) = (At(0), At(1), At(2), At(3), At(4), At(5));
        }

        public NatBackendValue4[] ToArray() => [_b0, _b1, _b2, _b3, _b4, _b5];
    }
}
