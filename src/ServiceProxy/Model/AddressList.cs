using System.Collections;
using System.Net;

namespace ProxyReplacement.ServiceProxy.Model;

/// <summary>
/// A list of addresses (<c>endpoints[].addresses</c>, <c>spec.clusterIPs</c>): immutable, with value equality like
/// <see cref="EquatableList{T}"/>, held in 16 bytes. Nearly every endpoint and Service has exactly one address, and
/// in most clusters an IPv4 one: that is held as its 4 bytes, and read back as a new <see cref="IPAddress"/> (a list
/// of one in an <see cref="EquatableList{T}"/> costs a list object, an array and the address besides: 96 bytes, 38 MB
/// for the endpoints of 100k Services × 4). A single IPv6 address is held as its <see cref="IPAddress"/>, two or more
/// (dual stack) in an array that nothing else sees.
/// </summary>
public readonly struct AddressList : IReadOnlyList<IPAddress>, IEquatable<AddressList>
{
    // The one IPv4 address's bytes in network order (as IPAddress's Address property holds them), when _store is V4.
    private readonly uint _v4;
    // null: none (FQDN slices); V4: one IPv4 address in _v4; an IPAddress: one IPv6 address; an IPAddress[]: two or more.
    private readonly object? _store;

    private static readonly object V4 = new();

    public AddressList(IEnumerable<IPAddress> addresses)
    {
        var array = addresses.ToArray();
        _store = array.Length switch { 0 => null, 1 => array[0], _ => array };
        if (array is [{ AddressFamily: System.Net.Sockets.AddressFamily.InterNetwork } single])
        {
            Span<byte> bytes = stackalloc byte[4];
            single.TryWriteBytes(bytes, out _);
            _v4 = BitConverter.ToUInt32(bytes);
            _store = V4;
        }
    }

    /// <summary>So that code written for the list type (tests, generators) builds these unchanged.</summary>
    public static implicit operator AddressList(EquatableList<IPAddress> addresses) => new(addresses);

    public int Count => _store switch { null => 0, IPAddress[] array => array.Length, _ => 1 };

    /// <summary>The address at <paramref name="index"/>; a held IPv4 address is a new <see cref="IPAddress"/> at each call.</summary>
    public IPAddress this[int index] => _store switch
    {
        _ when index == 0 && ReferenceEquals(_store, V4) => new IPAddress(_v4),
        IPAddress single when index == 0 => single,
        IPAddress[] array => array[index],
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    public bool Equals(AddressList other)
    {
        if (ReferenceEquals(_store, V4) || ReferenceEquals(other._store, V4))
            return ReferenceEquals(_store, other._store) && _v4 == other._v4;
        var count = Count;
        if (count != other.Count)
            return false;
        for (var i = 0; i < count; i++)
            if (!this[i].Equals(other[i]))
                return false;
        return true;
    }

    public override bool Equals(object? obj) => obj is AddressList other && Equals(other);

    public override int GetHashCode()
    {
        if (ReferenceEquals(_store, V4))
            return HashCode.Combine(_v4);
        var hash = new HashCode();
        foreach (var address in this)
            hash.Add(address);
        return hash.ToHashCode();
    }

    public static bool operator ==(AddressList left, AddressList right) => left.Equals(right);

    public static bool operator !=(AddressList left, AddressList right) => !left.Equals(right);

    /// <summary>A struct enumerator, so <c>foreach</c> allocates nothing.</summary>
    public Enumerator GetEnumerator() => new(this);
    IEnumerator<IPAddress> IEnumerable<IPAddress>.GetEnumerator() => GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"[{string.Join(", ", (IEnumerable<IPAddress>)this)}]";

    public struct Enumerator(AddressList addresses) : IEnumerator<IPAddress>
    {
        private int _index = -1;

        public readonly IPAddress Current => addresses[_index];
        readonly object IEnumerator.Current => Current;

        public bool MoveNext() => ++_index < addresses.Count;

        public void Reset() => _index = -1;

        public readonly void Dispose()
        {
        }
    }
}
