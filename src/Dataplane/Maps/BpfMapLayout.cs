using ProxyReplacement.Dataplane.Interop;

namespace ProxyReplacement.Dataplane.Maps;

/// <summary>
/// What makes two BPF maps interchangeable: kernel map type, key and value sizes, capacity and
/// creation flags. Compared before a pinned map is adopted.
/// </summary>
public sealed record BpfMapLayout(uint Type, uint KeySize, uint ValueSize, uint MaxEntries, uint Flags)
{
    public string TypeName => BpfMapType.Name(Type);

    public IEnumerable<string> Differences(BpfMapLayout other)
    {
        if (Type != other.Type) yield return "type";
        if (KeySize != other.KeySize) yield return "key_size";
        if (ValueSize != other.ValueSize) yield return "value_size";
        if (MaxEntries != other.MaxEntries) yield return "max_entries";
        if (Flags != other.Flags) yield return "map_flags";
    }

    public override string ToString() =>
        $"{{type {TypeName}, key_size {KeySize}, value_size {ValueSize}, max_entries {MaxEntries}, map_flags 0x{Flags:x}}}";
}
