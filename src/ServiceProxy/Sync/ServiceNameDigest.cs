using System.IO.Hashing;
using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// A 128-bit digest (XXH128) of a <see cref="ServiceName"/>'s 152 bytes: what the Syncer's view of <c>pr_svc_names</c>
/// keeps instead of the names (16 bytes a service id instead of 152), enough to tell whether the map already holds the
/// name it wants. Not a cryptographic hash: two different names of one id would have to collide in 128 bits for a
/// changed name to be skipped, and the map is read by no program (only <c>dump</c> and <c>explain</c> show it), so a
/// collision could at worst leave a stale name on display.
/// </summary>
public readonly record struct ServiceNameDigest(ulong Low, ulong High)
{
    public static ServiceNameDigest Of(ServiceName name)
    {
        var hash = XxHash128.HashToUInt128(MemoryMarshal.AsBytes(new ReadOnlySpan<ServiceName>(in name)));
        return new ServiceNameDigest((ulong)hash, (ulong)(hash >> 64));
    }
}
