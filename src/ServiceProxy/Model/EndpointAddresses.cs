using System.Collections;
using System.Net;

namespace ProxyReplacement.ServiceProxy.Model;

/// <summary>
/// <c>endpoints[].addresses</c>: an immutable list with value equality, like <see cref="EquatableList{T}"/>, held in
/// one reference. Nearly every endpoint has exactly one address, so that one is held directly; a list of one in an
/// <see cref="EquatableList{T}"/> costs a list object and an array besides (56 bytes an endpoint, 22 MB at 100k
/// Services × 4 endpoints). Two or more are held in an array that nothing else sees.
/// </summary>
public readonly struct EndpointAddresses : IReadOnlyList<IPAddress>, IEquatable<EndpointAddresses>
{
    // null: none (FQDN slices); an IPAddress: exactly one; an IPAddress[]: two or more.
    private readonly object? _store;

    public EndpointAddresses(IEnumerable<IPAddress> addresses)
    {
        var array = addresses.ToArray();
        _store = array.Length switch { 0 => null, 1 => array[0], _ => array };
    }

    /// <summary>So that code written for the list type (tests, generators) builds these unchanged.</summary>
    public static implicit operator EndpointAddresses(EquatableList<IPAddress> addresses) => new(addresses);

    public int Count => _store switch { null => 0, IPAddress => 1, IPAddress[] array => array.Length, _ => 0 };

    public IPAddress this[int index] => _store switch
    {
        IPAddress single when index == 0 => single,
        IPAddress[] array => array[index],
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    public bool Equals(EndpointAddresses other)
    {
        var count = Count;
        if (count != other.Count)
            return false;
        for (var i = 0; i < count; i++)
            if (!this[i].Equals(other[i]))
                return false;
        return true;
    }

    public override bool Equals(object? obj) => obj is EndpointAddresses other && Equals(other);

    public override int GetHashCode()
    {
        var hash = new HashCode();
        foreach (var address in this)
            hash.Add(address);
        return hash.ToHashCode();
    }

    public static bool operator ==(EndpointAddresses left, EndpointAddresses right) => left.Equals(right);

    public static bool operator !=(EndpointAddresses left, EndpointAddresses right) => !left.Equals(right);

    /// <summary>A struct enumerator, so <c>foreach</c> allocates nothing.</summary>
    public Enumerator GetEnumerator() => new(this);
    IEnumerator<IPAddress> IEnumerable<IPAddress>.GetEnumerator() => GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    public override string ToString() => $"[{string.Join(", ", (IEnumerable<IPAddress>)this)}]";

    public struct Enumerator(EndpointAddresses addresses) : IEnumerator<IPAddress>
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
