using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.Dataplane.Tests.Layout;

/// <summary>
/// C enums and constants of the ABI against their C# counterparts. The enum values come from the
/// compiled object's BTF when the compiler emitted the enum (only if the program uses the type),
/// otherwise from the header text; the tables name every enumerator explicitly.
/// </summary>
public sealed class AbiEnumTests
{
    private static readonly Dictionary<string, CounterReason> Counters = new()
    {
        ["PR_CNT_PASS_NOT_IPV4"] = CounterReason.PassNotIpv4,
        ["PR_CNT_PASS_NO_SERVICE"] = CounterReason.PassNoService,
        ["PR_CNT_PASS_FRAGMENT"] = CounterReason.PassFragment,
        ["PR_CNT_NAT_NEW_FLOW"] = CounterReason.NatNewFlow,
        ["PR_CNT_NAT_ESTABLISHED"] = CounterReason.NatEstablished,
        ["PR_CNT_NAT_REVERSE"] = CounterReason.NatReverse,
        ["PR_CNT_AFFINITY_HIT"] = CounterReason.AffinityHit,
        ["PR_CNT_ICMP_ERROR_TRANSLATED"] = CounterReason.IcmpErrorTranslated,
        ["PR_CNT_REJECT_TCP_NO_BACKEND"] = CounterReason.RejectTcpNoBackend,
        ["PR_CNT_REJECT_UDP_NO_BACKEND"] = CounterReason.RejectUdpNoBackend,
        ["PR_CNT_REJECT_BACKEND_MISSING"] = CounterReason.RejectBackendMissing,
        ["PR_CNT_DROP_MALFORMED"] = CounterReason.DropMalformed,
        ["PR_CNT_DROP_REJECT_FAILED"] = CounterReason.DropRejectFailed,
        ["PR_CNT_DROP_NAT_FAILED"] = CounterReason.DropNatFailed,
        ["PR_CNT_CT_CREATE_FAILED"] = CounterReason.ConntrackCreateFailed,
        ["PR_CNT_DROP_UNSUPPORTED"] = CounterReason.DropUnsupported,
        ["PR_CNT_CT_EXPIRED"] = CounterReason.ConntrackExpired,
        ["PR_CNT_REJECT_UNKNOWN_SERVICE"] = CounterReason.RejectUnknownService,
        ["PR_CNT_SOCK_CONNECT"] = CounterReason.SockConnect,
        ["PR_CNT_SOCK_SENDMSG"] = CounterReason.SockSendmsg,
        ["PR_CNT_SOCK_RECVMSG_REVERSED"] = CounterReason.SockRecvmsgReversed,
        ["PR_CNT_SOCK_PEERNAME_REVERSED"] = CounterReason.SockPeernameReversed,
        ["PR_CNT_SOCK_PASS_NO_SERVICE"] = CounterReason.SockPassNoService,
        ["PR_CNT_SOCK_PASS_AFFINITY"] = CounterReason.SockPassAffinity,
        ["PR_CNT_SOCK_REFUSE_NO_BACKEND"] = CounterReason.SockRefuseNoBackend,
        ["PR_CNT_SOCK_REFUSE_UNKNOWN_SERVICE"] = CounterReason.SockRefuseUnknownService,
        ["PR_CNT_SOCK_REFUSE_BACKEND_MISSING"] = CounterReason.SockRefuseBackendMissing,
        ["PR_CNT_SOCK_AFFINITY_HIT"] = CounterReason.SockAffinityHit,
        ["PR_CNT_SOCK_REV_UPDATE_FAILED"] = CounterReason.SockRevUpdateFailed,
        ["PR_CNT_SOCK_AFFINITY_HOST"] = CounterReason.SockAffinityHost,
        ["PR_CNT_DROP_AFFINITY_NO_CLIENT"] = CounterReason.DropAffinityNoClient,
        ["PR_CNT_DROP_PULL_FAILED"] = CounterReason.DropPullFailed,
        ["PR_CNT_DROP_SOURCE_RANGE"] = CounterReason.DropSourceRange,
        ["PR_CNT_NAT_HAIRPIN"] = CounterReason.NatHairpin,
        ["PR_CNT_DROP_NO_LOCAL_BACKEND"] = CounterReason.DropNoLocalBackend,
        ["PR_CNT_PASS_NOT_NEW"] = CounterReason.PassNotNew,
        ["PR_CNT_SOCK_PASS_SOURCE_RANGE"] = CounterReason.SockPassSourceRange,
        ["PR_CNT_NAT_SNAT"] = CounterReason.NatSnat,
        ["PR_CNT_TUNNEL_ENCAP"] = CounterReason.TunnelEncap,
        ["PR_CNT_TUNNEL_DECAP"] = CounterReason.TunnelDecap,
        ["PR_CNT_DSR_REPLY"] = CounterReason.DsrReply,
        ["PR_CNT_DROP_TUNNEL_PEER"] = CounterReason.DropTunnelPeer,
        ["PR_CNT_DROP_SNAT_PORTS"] = CounterReason.DropSnatPorts,
        ["PR_CNT_DROP_TUNNEL_FAILED"] = CounterReason.DropTunnelFailed,
        ["PR_CNT_TCP_MSS_CLAMPED"] = CounterReason.TcpMssClamped,
        ["PR_CNT_DROP_TOO_BIG"] = CounterReason.DropTooBig,
        ["PR_CNT_DROP_TUNNEL_MISROUTED"] = CounterReason.DropTunnelMisrouted,
        ["PR_CNT_SOCK_STORE_FAILED"] = CounterReason.SockStoreFailed,
        ["PR_CNT_DROP_POLICY_INGRESS_PORT"] = CounterReason.DropPolicyIngressPort,
        ["PR_CNT_DROP_POLICY_INGRESS_PEER"] = CounterReason.DropPolicyIngressPeer,
        ["PR_CNT_DROP_POLICY_EGRESS_PORT"] = CounterReason.DropPolicyEgressPort,
        ["PR_CNT_DROP_POLICY_EGRESS_PEER"] = CounterReason.DropPolicyEgressPeer,
        ["PR_CNT_POLICY_INGRESS_ALLOWED"] = CounterReason.PolicyIngressAllowed,
        ["PR_CNT_POLICY_EGRESS_ALLOWED"] = CounterReason.PolicyEgressAllowed,
        ["PR_CNT_REJECT_SCTP_SERVICE"] = CounterReason.RejectSctpService,
        ["PR_CNT_NAT_DIRECT"] = CounterReason.NatDirect,
    };

    private static readonly Dictionary<string, SocketLbMode> SocketLbModes = new()
    {
        ["PR_SOCK_LB_DISABLED"] = SocketLbMode.Disabled,
        ["PR_SOCK_LB_TCP"] = SocketLbMode.Tcp,
        ["PR_SOCK_LB_ENABLED"] = SocketLbMode.Enabled,
    };

    private static readonly Dictionary<string, ConntrackType> CtTypes = new()
    {
        ["PR_CT_FORWARD"] = ConntrackType.Forward,
        ["PR_CT_REVERSE"] = ConntrackType.Reverse,
        ["PR_CT_TUNNEL_RETURN"] = ConntrackType.TunnelReturn,
    };

    private static readonly Dictionary<string, ConntrackTcpState> TcpStates = new()
    {
        ["PR_TCP_NONE"] = ConntrackTcpState.None,
        ["PR_TCP_SYN_SENT"] = ConntrackTcpState.SynSent,
        ["PR_TCP_ESTABLISHED"] = ConntrackTcpState.Established,
        ["PR_TCP_CLOSING"] = ConntrackTcpState.Closing,
        ["PR_TCP_CLOSED"] = ConntrackTcpState.Closed,
    };

    [Test]
    public void CounterReasonMatchesEnumPrCounter()
    {
        var c = CEnum("pr_counter");
        Assert.That(c["PR_CNT_MAX"], Is.EqualTo(Abi.Counters.Slots), "PR_CNT_MAX vs Counters.Slots");
        AssertSame(c.Where(e => e.Key != "PR_CNT_MAX").ToDictionary(), Counters);
        Assert.That(Enum.GetValues<CounterReason>().Max(), Is.LessThan((CounterReason)Abi.Counters.Slots));
    }

    private static readonly Dictionary<string, FrontendKind> FrontendKinds = new()
    {
        ["PR_FE_CLUSTER_IP"] = FrontendKind.ClusterIP,
        ["PR_FE_NODE_PORT"] = FrontendKind.NodePort,
        ["PR_FE_LOAD_BALANCER"] = FrontendKind.LoadBalancer,
        ["PR_FE_EXTERNAL_IP"] = FrontendKind.ExternalIP,
    };

    [Test]
    public void FrontendKindMatchesEnumPrFeKind() => AssertSame(CEnum("pr_fe_kind"), FrontendKinds);

    private static readonly Dictionary<string, ExternalServiceMode> ExternalModes = new()
    {
        ["PR_EXT_MODE_TUNNEL"] = ExternalServiceMode.Tunnel,
        ["PR_EXT_MODE_SNAT"] = ExternalServiceMode.Snat,
        ["PR_EXT_MODE_DSR"] = ExternalServiceMode.Dsr,
    };

    [Test]
    public void ExternalServiceModeMatchesEnumPrExtMode() => AssertSame(CEnum("pr_ext_mode"), ExternalModes);

    [Test]
    public void SocketLbModeMatchesEnumPrSockLbMode() => AssertSame(CEnum("pr_sock_lb_mode"), SocketLbModes);

    [Test]
    public void ConntrackTypeMatchesEnumPrCtType() => AssertSame(CEnum("pr_ct_type"), CtTypes);

    [Test]
    public void ConntrackTcpStateMatchesEnumPrCtTcpState() => AssertSame(CEnum("pr_ct_tcp_state"), TcpStates);

    [Test]
    public void ConstantsMatchTheHeader()
    {
        var defaults = DataplaneConfig.Default;
        Assert.Multiple(() =>
        {
            Assert.That(AbiHeader.Define("PR_ABI_VERSION"), Is.EqualTo(DataplaneConfig.CurrentAbiVersion), "PR_ABI_VERSION");
            Assert.That(defaults.AbiVersion, Is.EqualTo(DataplaneConfig.CurrentAbiVersion));
            Assert.That(defaults.TcpSynTimeoutSeconds, Is.EqualTo(AbiHeader.Define("PR_DEFAULT_TCP_SYN_TIMEOUT_S")));
            Assert.That(defaults.TcpEstablishedTimeoutSeconds, Is.EqualTo(AbiHeader.Define("PR_DEFAULT_TCP_ESTABLISHED_TIMEOUT_S")));
            Assert.That(defaults.TcpClosingTimeoutSeconds, Is.EqualTo(AbiHeader.Define("PR_DEFAULT_TCP_CLOSING_TIMEOUT_S")));
            Assert.That(defaults.UdpTimeoutSeconds, Is.EqualTo(AbiHeader.Define("PR_DEFAULT_UDP_TIMEOUT_S")));
            Assert.That(defaults.GenericTimeoutSeconds, Is.EqualTo(AbiHeader.Define("PR_DEFAULT_GENERIC_TIMEOUT_S")));
            Assert.That(AbiHeader.Define("PR_SNAT_TIME_WAIT_S"), Is.EqualTo((long)SnatTimeWait.Seconds), "PR_SNAT_TIME_WAIT_S");
            Assert.That(AbiHeader.Define("PR_CT_FIN_FROM_CLIENT"), Is.EqualTo((long)SnatTimeWait.FinFromClient), "PR_CT_FIN_FROM_CLIENT");
            Assert.That(AbiHeader.Define("PR_CT_FIN_FROM_BACKEND"), Is.EqualTo((long)SnatTimeWait.FinFromBackend), "PR_CT_FIN_FROM_BACKEND");
            Assert.That(Ipv4.ToNbo(AffinityKey4.HostClient), Is.EqualTo(AbiHeader.Define("PR_AFF_CLIENT_HOST")), "PR_AFF_CLIENT_HOST");
            Assert.That(AbiHeader.Define("PR_LOCAL_ORDINAL_BASE"), Is.EqualTo(NatFrontendValue.LocalOrdinalBase), "PR_LOCAL_ORDINAL_BASE");
            Assert.That(AbiHeader.Define("PR_FE_F_AFFINITY"), Is.EqualTo((uint)FrontendFlags.Affinity), "PR_FE_F_AFFINITY");
            Assert.That(AbiHeader.Define("PR_FE_F_SOURCE_RANGES"), Is.EqualTo((uint)FrontendFlags.SourceRanges), "PR_FE_F_SOURCE_RANGES");
            Assert.That(AbiHeader.Define("PR_FE_F_EXT_LOCAL"), Is.EqualTo((uint)FrontendFlags.ExternalLocal), "PR_FE_F_EXT_LOCAL");
            Assert.That(AbiHeader.Define("PR_FE_F_INT_LOCAL"), Is.EqualTo((uint)FrontendFlags.InternalLocal), "PR_FE_F_INT_LOCAL");
            Assert.That(AbiHeader.Define("PR_FE_F_MODE_SNAT"), Is.EqualTo((uint)FrontendFlags.ModeSnat), "PR_FE_F_MODE_SNAT");
            Assert.That(AbiHeader.Define("PR_FE_F_MODE_TUNNEL"), Is.EqualTo((uint)FrontendFlags.ModeTunnel), "PR_FE_F_MODE_TUNNEL");
            Assert.That(AbiHeader.Define("PR_FE_F_MODE_DSR"), Is.EqualTo((uint)FrontendFlags.ModeDsr), "PR_FE_F_MODE_DSR");
            Assert.That(AbiHeader.Define("PR_CT_F_AFFINITY"), Is.EqualTo((long)ConntrackFlags.Affinity), "PR_CT_F_AFFINITY");
            Assert.That(AbiHeader.Define("PR_CT_F_HAIRPIN"), Is.EqualTo((long)ConntrackFlags.Hairpin), "PR_CT_F_HAIRPIN");
            Assert.That(AbiHeader.Define("PR_CT_F_LOCAL_VIP"), Is.EqualTo((long)ConntrackFlags.LocalVip), "PR_CT_F_LOCAL_VIP");
            Assert.That(AbiHeader.Define("PR_CT_F_SNAT"), Is.EqualTo((long)ConntrackFlags.Snat), "PR_CT_F_SNAT");
            Assert.That(AbiHeader.Define("PR_CT_F_TUNNEL"), Is.EqualTo((long)ConntrackFlags.Tunnel), "PR_CT_F_TUNNEL");
            Assert.That(AbiHeader.Define("PR_CT_F_DSR"), Is.EqualTo((long)ConntrackFlags.Dsr), "PR_CT_F_DSR");
            Assert.That(AbiHeader.Define("PR_ROUTE_F_LOCAL"), Is.EqualTo((long)RouteFlags.Local), "PR_ROUTE_F_LOCAL");
            Assert.That(AbiHeader.Define("PR_ROUTE_F_REMOTE"), Is.EqualTo((long)RouteFlags.Remote), "PR_ROUTE_F_REMOTE");
            Assert.That(AbiHeader.Define("PR_ROUTE_F_NODE"), Is.EqualTo((long)RouteFlags.Node), "PR_ROUTE_F_NODE");
            Assert.That(AbiHeader.Define("PR_SK_DESTROY_UNSUPPORTED"), Is.EqualTo((long)SocketDestroyedRecord4.Unsupported), "PR_SK_DESTROY_UNSUPPORTED");
            Assert.That(AbiHeader.Define("PR_DEFAULT_TUNNEL_PORT"), Is.EqualTo((long)MultiNodeConfig.DefaultTunnelPort), "PR_DEFAULT_TUNNEL_PORT");
            Assert.That(AbiHeader.Define("PR_DEFAULT_TUNNEL_MTU"), Is.EqualTo((long)MultiNodeConfig.DefaultTunnelMtu), "PR_DEFAULT_TUNNEL_MTU");
            Assert.That(AbiHeader.Define("PR_DEFAULT_TUNNEL_VNI"), Is.EqualTo((long)MultiNodeConfig.DefaultTunnelVni), "PR_DEFAULT_TUNNEL_VNI");
            Assert.That(AbiHeader.Define("PR_DEFAULT_SNAT_PORT_MIN"), Is.EqualTo((long)MultiNodeConfig.DefaultSnatPortMin), "PR_DEFAULT_SNAT_PORT_MIN");
            Assert.That(AbiHeader.Define("PR_DEFAULT_SNAT_PORT_MAX"), Is.EqualTo((long)MultiNodeConfig.DefaultSnatPortMax), "PR_DEFAULT_SNAT_PORT_MAX");
            Assert.That(new System.Net.IPAddress(System.Buffers.Binary.BinaryPrimitives.ReverseEndianness((uint)AbiHeader.Define("PR_DEFAULT_HAIRPIN_ADDR_HBO"))),
                Is.EqualTo(DataplaneConfig.DefaultHairpinAddress), "PR_DEFAULT_HAIRPIN_ADDR_HBO");
        });
    }

    private static IReadOnlyDictionary<string, long> CEnum(string name)
    {
        using var btf = ObjectBtf.OpenEmbedded();
        return btf.EnumOrNull(name) ?? AbiHeader.Enum(name);
    }

    private static void AssertSame<TEnum>(IReadOnlyDictionary<string, long> c, Dictionary<string, TEnum> table)
        where TEnum : struct, Enum
    {
        Assert.Multiple(() =>
        {
            Assert.That(c.Keys, Is.EquivalentTo(table.Keys), "every C enumerator needs a row in the table");
            Assert.That(table.Values.Distinct(), Is.EquivalentTo(Enum.GetValues<TEnum>()), $"every {typeof(TEnum).Name} value needs a row");
            foreach (var (cName, csharp) in table)
                if (c.TryGetValue(cName, out var value))
                    Assert.That(Convert.ToInt64(csharp), Is.EqualTo(value), $"{cName} vs {typeof(TEnum).Name}.{csharp}");
        });
    }
}
