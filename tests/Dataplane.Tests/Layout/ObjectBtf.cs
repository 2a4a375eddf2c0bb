using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Interop;
using ProxyReplacement.Dataplane.Loading;

namespace ProxyReplacement.Dataplane.Tests.Layout;

/// <summary>A member of a C struct as the compiler laid it out (from BTF).</summary>
public sealed record BtfMember(string Name, int ByteOffset, long Size, bool IsBitfield);

/// <summary>
/// Reads struct and enum definitions from the BTF of the embedded object, opened with
/// bpf_object__open_mem (no kernel involved). The records after a struct btf_type are
/// btf_member {name_off, type, offset}; after an enum, btf_enum {name_off, val}; after an
/// enum64, btf_enum64 {name_off, val_lo32, val_hi32}.
/// </summary>
public sealed unsafe class ObjectBtf : IDisposable
{
    private readonly BpfObjectHandle _object;
    private readonly nint _btf;

    private ObjectBtf(BpfObjectHandle obj)
    {
        _object = obj;
        _btf = LibBpf.bpf_object__btf(obj.Pointer);
        if (_btf == 0)
            throw new InvalidOperationException("the object has no BTF (compiled without -g?)");
    }

    public static ObjectBtf OpenEmbedded(string fileName = CoreObjectNames.ObjectFile) =>
        new(BpfObjectHandle.Open(EmbeddedObjects.Read(fileName), "layout_test"));

    public (long Size, IReadOnlyList<BtfMember> Members) Struct(string name)
    {
        var id = LibBpf.btf__find_by_name_kind(_btf, name, BtfKind.Struct);
        if (id < 0)
            throw new KeyNotFoundException($"struct {name} is not in the object's BTF");
        var type = LibBpf.btf__type_by_id(_btf, (uint)id);
        var records = (uint*)(type + 1);
        var members = new List<BtfMember>();
        for (var i = 0; i < type->Vlen; i++)
        {
            var nameOffset = records[i * 3];
            var memberType = records[i * 3 + 1];
            var offset = records[i * 3 + 2];
            // With kind_flag set, offset holds bitfield size (high 8 bits) and bit offset (low 24).
            var bitOffset = type->KindFlag ? offset & 0xffffff : offset;
            var bitfieldSize = type->KindFlag ? offset >> 24 : 0;
            members.Add(new BtfMember(NameAt(nameOffset), (int)(bitOffset / 8),
                LibBpf.btf__resolve_size(_btf, memberType), bitfieldSize != 0 || bitOffset % 8 != 0));
        }
        return (type->SizeOrType, members);
    }

    /// <summary>The enumerators of a C enum, or null when the compiler did not emit the enum.</summary>
    public IReadOnlyDictionary<string, long>? EnumOrNull(string name)
    {
        foreach (var kind in new[] { BtfKind.Enum, BtfKind.Enum64 })
        {
            var id = LibBpf.btf__find_by_name_kind(_btf, name, kind);
            if (id < 0)
                continue;
            var type = LibBpf.btf__type_by_id(_btf, (uint)id);
            var values = new Dictionary<string, long>();
            if (kind == BtfKind.Enum)
            {
                var records = (uint*)(type + 1);
                for (var i = 0; i < type->Vlen; i++)
                    values[NameAt(records[i * 2])] = (int)records[i * 2 + 1];
            }
            else
            {
                var records = (uint*)(type + 1);
                for (var i = 0; i < type->Vlen; i++)
                    values[NameAt(records[i * 3])] = (long)((ulong)records[i * 3 + 2] << 32 | records[i * 3 + 1]);
            }
            return values;
        }
        return null;
    }

    private string NameAt(uint offset) => Marshal.PtrToStringUTF8((nint)LibBpf.btf__name_by_offset(_btf, offset)) ?? "";

    public void Dispose() => _object.Dispose();
}
