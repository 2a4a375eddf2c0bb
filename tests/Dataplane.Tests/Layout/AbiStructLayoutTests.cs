using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.Dataplane.Tests.Layout;

/// <summary>
/// Every ABI struct in C (as compiled: the BTF of tc_nat.bpf.o, or of sock_destroy.bpf.o for its own) against its C# mirror: total size,
/// and each C member's offset and size against the C# field named in the table below. Opening an
/// object with libbpf needs no privileges, so these run everywhere libbpf is installed.
/// </summary>
public sealed class AbiStructLayoutTests
{
    /// <summary>C struct -> C# type, and C member -> the C# field at its start.</summary>
    private static readonly (string CStruct, Type Mirror, (string CMember, string Field)[] Members)[] Table =
    [
        ("pr_nat_fe_key4", typeof(NatFrontendKey4),
            [("vip", "VipNbo"), ("port", "PortNbo"), ("proto", "Protocol"), ("pad", "_pad")]),
        ("pr_nat_fe_value", typeof(NatFrontendValue),
            [("svc_id", "ServiceId"), ("backend_count", "BackendCount"), ("flags", "Flags"), ("affinity_timeout_s", "AffinityTimeoutSeconds"),
             ("local_count", "LocalCount"), ("kind", "Kind"), ("pad", "_pad0")]), // __u8 pad[3] is _pad0 (byte) + _pad1 (ushort)
        ("pr_nat_be_key", typeof(NatBackendKey),
            [("svc_id", "ServiceId"), ("ordinal", "Ordinal")]),
        ("pr_nat_be_value4", typeof(NatBackendValue4),
            [("addr", "AddressNbo"), ("port", "PortNbo"), ("flags", "Flags"), ("pad", "_pad")]),
        ("pr_nat_direct4", typeof(NatDirectEntry4),
            [("check", "Check"), ("vip", "VipNbo"), ("port", "PortNbo"), ("proto", "Protocol"), ("backend_count", "BackendCount"),
             ("svc_id", "ServiceId"), ("be", "_backends")]),
        ("pr_aff_key4", typeof(AffinityKey4),
            [("fe", "Frontend"), ("client", "ClientNbo")]),
        ("pr_aff_value4", typeof(AffinityValue4),
            [("last_used_ns", "LastUsedNs"), ("ordinal", "Ordinal"), ("backend_addr", "BackendAddressNbo"),
             ("backend_port", "BackendPortNbo"), ("pad", "_pad"), ("pad2", "_pad2")]),
        ("pr_ct_key4", typeof(ConntrackKey4),
            [("src", "SourceNbo"), ("dst", "DestinationNbo"), ("sport", "SourcePortNbo"), ("dport", "DestinationPortNbo"),
             ("proto", "Protocol"), ("pad", "_pad0")]), // __u8 pad[3] is _pad0 (byte) + _pad1 (ushort)
        ("pr_ct_value4", typeof(ConntrackValue4),
            [("created_ns", "CreatedNs"), ("last_seen_ns", "LastSeenNs"), ("type", "Type"), ("tcp_state", "TcpState"),
             ("fin_seen", "FinSeen"), ("flags", "Flags"), ("svc_id", "ServiceId"), ("nat_addr", "NatAddressNbo"),
             ("nat_port", "NatPortNbo"), ("pad", "_pad"), ("peer_addr", "PeerAddressNbo"), ("peer_port", "PeerPortNbo"),
             ("pad2", "_pad2"), ("tunnel_addr", "TunnelAddressNbo"), ("pad3", "_pad3")]),
        ("pr_svc_cidr_key4", typeof(ServiceCidrKey4),
            [("prefixlen", "PrefixLength"), ("addr", "AddressNbo")]),
        ("pr_svc_cidr_value", typeof(ServiceCidrValue),
            [("flags", "Flags")]),
        ("pr_config", typeof(DataplaneConfig),
            [("abi_version", "AbiVersion"), ("flags", "Flags"), ("tcp_syn_timeout_s", "TcpSynTimeoutSeconds"),
             ("tcp_established_timeout_s", "TcpEstablishedTimeoutSeconds"), ("tcp_closing_timeout_s", "TcpClosingTimeoutSeconds"),
             ("udp_timeout_s", "UdpTimeoutSeconds"), ("generic_timeout_s", "GenericTimeoutSeconds"), ("sock_lb_mode", "SocketLbMode"),
             ("hairpin_addr", "HairpinAddressNbo"), ("direct_mask4", "DirectMask4"), ("ext_mode", "ExternalMode"), ("node_addr4", "NodeAddressNbo"),
             ("tunnel_port", "TunnelPortNbo"), ("tunnel_mtu", "TunnelMtu"), ("tunnel_vni", "TunnelVni"), ("snat_port_min", "SnatPortMin"),
             ("snat_port_max", "SnatPortMax"), ("pad2", "_pad2"), ("node_addr6", "_nodeAddress6")]),
        ("pr_route_key4", typeof(RouteKey4),
            [("prefixlen", "PrefixLength"), ("addr", "AddressNbo")]),
        ("pr_route_value", typeof(RouteValue),
            [("flags", "Flags"), ("node_addr4", "NodeAddressNbo"), ("node_addr6", "_nodeAddress6")]),
        ("pr_pol_ep_key4", typeof(PolicyEndpointKey4),
            [("addr", "AddressNbo")]),
        ("pr_pol_ep", typeof(PolicyEndpoint),
            [("ingress_set", "IngressSet"), ("egress_set", "EgressSet"), ("flags", "Flags"), ("pad", "_pad")]),
        ("pr_pol_port_key", typeof(PolicyPortKey),
            [("prefixlen", "PrefixLength"), ("set", "Set"), ("proto", "Protocol"), ("pad", "_pad"), ("port", "PortNbo")]),
        ("pr_pol_port_value", typeof(PolicyPortValue),
            [("port_class", "PortClass")]),
        ("pr_pol_peer_key4", typeof(PolicyPeerKey4),
            [("prefixlen", "PrefixLength"), ("set", "Set"), ("port_class", "PortClass"), ("addr", "AddressNbo")]),
        ("pr_pol_peer_value", typeof(PolicyPeerValue),
            [("verdict", "Verdict"), ("rule", "Rule")]),
        ("pr_pol_ct_key4", typeof(PolicyConntrackKey4),
            [("addr_a", "AddressANbo"), ("addr_b", "AddressBNbo"), ("port_a", "PortANbo"), ("port_b", "PortBNbo"),
             ("proto", "Protocol"), ("pad", "_pad0")]), // __u8 pad[3] is _pad0 (byte) + _pad1 (ushort)
        ("pr_pol_ct_value4", typeof(PolicyConntrackValue4),
            [("last_seen_ns", "LastSeenNs"), ("flags", "Flags"), ("pad", "_pad")]),
        ("pr_lb_src_key4", typeof(LbSourceRangeKey4),
            [("prefixlen", "PrefixLength"), ("svc_id", "ServiceId"), ("addr", "AddressNbo")]),
        ("pr_lb_src_value", typeof(LbSourceRangeValue),
            [("flags", "Flags")]),
        ("pr_svc_name", typeof(ServiceName),
            [("ns", "_ns"), ("name", "_name"), ("port", "_port"), ("proto", "Protocol"), ("pad", "_pad0")]),
        ("pr_sk_rev_key4", typeof(SocketReverseKey4),
            [("cookie", "Cookie"), ("backend_addr", "BackendAddressNbo"), ("backend_port", "BackendPortNbo"), ("pad", "_pad")]),
        ("pr_sk_rev_value4", typeof(SocketReverseValue4),
            [("vip", "VipNbo"), ("port", "PortNbo"), ("pad", "_pad")]),
        ("pr_sk_store4", typeof(SocketStore4),
            [("backend_addr", "BackendAddressNbo"), ("backend_port", "BackendPortNbo"), ("pad", "_pad"), ("vip", "VipNbo"), ("port", "PortNbo"),
             ("pad2", "_pad2")]),
        ("pr_host_netns", typeof(HostNetns),
            [("cookie", "Cookie")]),
        // sock_destroy.bpf.o's own (not in tc_nat.bpf.o's BTF: looked up there)
        ("pr_sk_doomed_key4", typeof(SocketDoomedKey4),
            [("vip", "VipNbo"), ("port", "PortNbo"), ("proto", "Protocol"), ("pad", "_pad"), ("backend_addr", "BackendAddressNbo"),
             ("backend_port", "BackendPortNbo"), ("pad2", "_pad2")]),
        ("pr_sk_doomed_value", typeof(SocketDoomedValue),
            [("flags", "Flags")]),
        ("pr_sk_destroyed4", typeof(SocketDestroyedRecord4),
            [("src", "SourceNbo"), ("dst", "DestinationNbo"), ("sport", "SourcePortNbo"), ("dport", "DestinationPortNbo"), ("vip", "VipNbo"),
             ("port", "PortNbo"), ("proto", "Protocol"), ("pad", "_pad"), ("result", "Result")]),
    ];

    private static IEnumerable<TestCaseData> Structs() =>
        Table.Select(entry => new TestCaseData(entry.CStruct, entry.Mirror, entry.Members).SetName($"Layout_{entry.CStruct}"));

    private static ObjectBtf _btf = null!;
    private static ObjectBtf _socketDestroyBtf = null!;

    [OneTimeSetUp]
    public void OpenObject()
    {
        _btf = ObjectBtf.OpenEmbedded();
        _socketDestroyBtf = ObjectBtf.OpenEmbedded(ProxyReplacement.Dataplane.SocketLb.SocketTerminator.ObjectFile);
    }

    [OneTimeTearDown]
    public void CloseObject()
    {
        _btf.Dispose();
        _socketDestroyBtf.Dispose();
    }

    /// <summary>The struct as tc_nat.bpf.o compiled it, or sock_destroy.bpf.o for the structs only it uses.</summary>
    private static (long Size, IReadOnlyList<BtfMember> Members) CompiledStruct(string name)
    {
        try
        {
            return _btf.Struct(name);
        }
        catch (KeyNotFoundException)
        {
            return _socketDestroyBtf.Struct(name);
        }
    }

    [TestCaseSource(nameof(Structs))]
    public void CSharpMirrorMatchesTheCompiledStruct(string cStruct, Type mirror, (string CMember, string Field)[] members)
    {
        var (cSize, cMembers) = CompiledStruct(cStruct);
        var fields = mirror.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic);

        Assert.Multiple(() =>
        {
            Assert.That(Marshal.SizeOf(mirror), Is.EqualTo(cSize), $"Marshal.SizeOf({mirror.Name}) vs sizeof(struct {cStruct})");
            Assert.That(UnsafeSizeOf(mirror), Is.EqualTo(cSize), $"Unsafe.SizeOf<{mirror.Name}>() vs sizeof(struct {cStruct})");
            Assert.That(members.Select(m => m.CMember), Is.EquivalentTo(cMembers.Select(m => m.Name)),
                $"the table for {cStruct} must name every C member (update it and the C# mirror together)");
            Assert.That(cMembers.Where(m => m.IsBitfield).Select(m => m.Name), Is.Empty, "bitfields cannot be mirrored");
        });

        var fieldRanges = fields.Select(f => (f.Name, Offset: (int)Marshal.OffsetOf(mirror, f.Name), Size: FieldSize(f.FieldType))).ToList();
        foreach (var cMember in cMembers)
        {
            var mapped = members.Single(m => m.CMember == cMember.Name).Field;
            var field = fieldRanges.SingleOrDefault(f => f.Name == mapped);
            Assert.That(field.Name, Is.Not.Null, $"{mirror.Name} has no field {mapped} (for {cStruct}.{cMember.Name})");
            Assert.That(field.Offset, Is.EqualTo(cMember.ByteOffset), $"offset of {mirror.Name}.{mapped} vs {cStruct}.{cMember.Name}");

            // The C# fields inside the C member's bytes must tile it exactly (pad[3] may be two fields).
            var inside = fieldRanges.Where(f => f.Offset >= cMember.ByteOffset && f.Offset < cMember.ByteOffset + cMember.Size).ToList();
            Assert.That(inside.Sum(f => f.Size), Is.EqualTo(cMember.Size),
                $"{cStruct}.{cMember.Name} is {cMember.Size} bytes; C# fields there: {string.Join(", ", inside.Select(f => $"{f.Name}({f.Size})"))}");
        }

        var covered = fieldRanges.Where(f => !cMembers.Any(c => f.Offset >= c.ByteOffset && f.Offset < c.ByteOffset + c.Size));
        Assert.That(covered.Select(f => f.Name), Is.Empty, $"{mirror.Name} fields outside every C member of {cStruct}");
    }

    [Test]
    public void EveryAbiStructOfTheAssemblyIsInTheTable()
    {
        var mirrors = typeof(DataplaneConfig).Assembly.GetTypes()
            .Where(t => t.Namespace == typeof(DataplaneConfig).Namespace && t.IsValueType && !t.IsEnum && !t.IsNested
                        && t.StructLayoutAttribute?.Value == LayoutKind.Explicit)
            .ToList();
        Assert.That(mirrors, Is.Not.Empty);
        Assert.That(mirrors, Is.SubsetOf(Table.Select(t => t.Mirror)), "a new ABI mirror needs a row in the layout table");
    }

    private static long FieldSize(Type type) =>
        type.IsEnum ? Marshal.SizeOf(Enum.GetUnderlyingType(type)) : Marshal.SizeOf(type);

    private static int UnsafeSizeOf(Type type) =>
        (int)typeof(Unsafe).GetMethod(nameof(Unsafe.SizeOf))!.MakeGenericMethod(type).Invoke(null, null)!;
}
