namespace ProxyReplacement.Dataplane.Abi;

/// <summary>
/// <c>enum pr_counter</c>: slots of the per-CPU <c>pr_counters</c> array, one per verdict reason.
/// </summary>
public enum CounterReason : uint
{
    PassNotIpv4 = 0,
    PassNoService = 1,
    PassFragment = 2,
    NatNewFlow = 3,
    NatEstablished = 4,
    NatReverse = 5,
    AffinityHit = 6,
    IcmpErrorTranslated = 7,
    RejectTcpNoBackend = 8,
    RejectUdpNoBackend = 9,
    RejectBackendMissing = 10,
    DropMalformed = 11,
    DropRejectFailed = 12,
    DropNatFailed = 13,
    ConntrackCreateFailed = 14,
    DropUnsupported = 15,
    ConntrackExpired = 16,
    RejectUnknownService = 17,
    SockConnect = 18,
    SockSendmsg = 19,
    SockRecvmsgReversed = 20,
    SockPeernameReversed = 21,
    SockPassNoService = 22,
    SockPassAffinity = 23,
    SockRefuseNoBackend = 24,
    SockRefuseUnknownService = 25,
    SockRefuseBackendMissing = 26,
    SockAffinityHit = 27,
    SockRevUpdateFailed = 28,
    SockAffinityHost = 29,
    DropAffinityNoClient = 30,
    DropPullFailed = 31,
    DropSourceRange = 32,
    NatHairpin = 33,
    DropNoLocalBackend = 34,
    PassNotNew = 35,
    SockPassSourceRange = 36,
    NatSnat = 37,
    TunnelEncap = 38,
    TunnelDecap = 39,
    DsrReply = 40,
    DropTunnelPeer = 41,
    DropSnatPorts = 42,
    DropTunnelFailed = 43,
    TcpMssClamped = 44,
    DropTooBig = 45,
    DropTunnelMisrouted = 46,
    SockStoreFailed = 47,
    DropPolicyIngressPort = 48,
    DropPolicyIngressPeer = 49,
    DropPolicyEgressPort = 50,
    DropPolicyEgressPeer = 51,
    PolicyIngressAllowed = 52,
    PolicyEgressAllowed = 53,
    RejectSctpService = 54,
    NatDirect = 55,
}

public static class Counters
{
    /// <summary><c>PR_CNT_MAX</c>: the size of the counters array.</summary>
    public const int Slots = 64;
}
