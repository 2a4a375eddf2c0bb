using System.Runtime.InteropServices;
using System.Text;

namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// Mirrors <c>struct pr_svc_name</c> (the value of <c>pr_svc_names</c>, keyed by service id):
/// <code>
/// struct pr_svc_name { char ns[64]; char name[64]; char port[16]; __u8 proto; __u8 pad[7]; };
/// </code>
/// NUL-terminated, zero-padded ASCII (Kubernetes names are DNS labels). Read by no program: it lets
/// <c>dump</c> and <c>explain</c> name a service id from the pinned maps alone.
/// </summary>
[StructLayout(LayoutKind.Explicit, Size = 152)]
public unsafe struct ServiceName : IEquatable<ServiceName>
{
    private const int NamespaceBytes = 64, NameBytes = 64, PortBytes = 16;

    [FieldOffset(0)] private fixed byte _ns[NamespaceBytes];
    [FieldOffset(64)] private fixed byte _name[NameBytes];
    [FieldOffset(128)] private fixed byte _port[PortBytes];
    [FieldOffset(144)] public byte Protocol;
    [FieldOffset(145)] private byte _pad0;
    [FieldOffset(146)] private ushort _pad1;
    [FieldOffset(148)] private uint _pad2;

    public ServiceName(string @namespace, string name, string port, L4Protocol protocol)
    {
        fixed (byte* ns = _ns, n = _name, p = _port)
        {
            Write(@namespace, new Span<byte>(ns, NamespaceBytes));
            Write(name, new Span<byte>(n, NameBytes));
            Write(port, new Span<byte>(p, PortBytes));
        }
        Protocol = (byte)protocol;
        _pad0 = 0;
        _pad1 = 0;
        _pad2 = 0;
    }

    public readonly string Namespace { get { fixed (byte* b = _ns) return Read(new ReadOnlySpan<byte>(b, NamespaceBytes)); } }
    public readonly string Name { get { fixed (byte* b = _name) return Read(new ReadOnlySpan<byte>(b, NameBytes)); } }
    public readonly string Port { get { fixed (byte* b = _port) return Read(new ReadOnlySpan<byte>(b, PortBytes)); } }
    public readonly L4Protocol L4 => (L4Protocol)Protocol;

    private static void Write(string text, Span<byte> bytes)
    {
        var written = Encoding.ASCII.GetBytes(text.AsSpan(0, Math.Min(text.Length, bytes.Length - 1)), bytes);
        bytes[written..].Clear();
    }

    private static string Read(ReadOnlySpan<byte> bytes)
    {
        var end = bytes.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? bytes : bytes[..end]);
    }

    /// <summary>Byte for byte (the Syncer compares every name of a full sync with the map's: no strings decoded).</summary>
    public readonly bool Equals(ServiceName other) => Bytes(this).SequenceEqual(Bytes(other));

    public override readonly bool Equals(object? obj) => obj is ServiceName other && Equals(other);
    public override readonly int GetHashCode()
    {
        var hash = new HashCode();
        hash.AddBytes(Bytes(this));
        return hash.ToHashCode();
    }

    private static ReadOnlySpan<byte> Bytes(in ServiceName name) => MemoryMarshal.AsBytes(new ReadOnlySpan<ServiceName>(in name));

    public override readonly string ToString() => $"{Namespace}/{Name}:{(Port.Length > 0 ? Port : "<unnamed>")}/{L4.ToString().ToLowerInvariant()}";
}
