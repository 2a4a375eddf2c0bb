using System.Numerics;
using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// A 128-bit digest of a <see cref="ServiceName"/>'s 152 bytes: what the Syncer's view of <c>pr_svc_names</c> keeps
/// instead of the names (16 bytes a service id instead of 152), enough to tell whether the map already holds the
/// name it wants. Two lanes of multiply-rotate mixing over the 19 words, then a full avalanche of each lane. Not a
/// cryptographic hash: two different names of one id would have to collide in 128 bits for a changed name to be
/// skipped, and the map is read by no program (only <c>dump</c> and <c>explain</c> show it), so a collision could
/// at worst leave a stale name on display.
/// </summary>
public readonly record struct ServiceNameDigest(ulong Low, ulong High)
{
    private const ulong PrimeA = 0x9E3779B185EBCA87UL, PrimeB = 0xC2B2AE3D27D4EB4FUL, PrimeC = 0x165667B19E3779F9UL;

    public static ServiceNameDigest Of(ServiceName name)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(MemoryMarshal.AsBytes(new ReadOnlySpan<ServiceName>(in name)));
        ulong low = PrimeC, high = PrimeA;
        foreach (var word in words)
        {
            low = BitOperations.RotateLeft(low ^ (word * PrimeA), 31) * PrimeB;
            high = BitOperations.RotateLeft(high + (word * PrimeB), 27) * PrimeC + PrimeA;
        }
        return new ServiceNameDigest(Avalanche(low), Avalanche(high ^ low));
    }

    /// <summary>Every input bit affects every output bit (MurmurHash3's 64-bit finaliser constants).</summary>
    private static ulong Avalanche(ulong value)
    {
        value ^= value >> 33;
        value *= 0xFF51AFD7ED558CCDUL;
        value ^= value >> 33;
        value *= 0xC4CEB9FE1A85EC53UL;
        return value ^ (value >> 33);
    }
}
