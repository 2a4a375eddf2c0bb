using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.Tests.Packets;
using static ProxyReplacement.Dataplane.Tests.Golden.Topology;

namespace ProxyReplacement.Dataplane.Tests.Golden.Policy;

/// <summary>
/// NetworkPolicy at a pod's veth: the ingress check (pr_tc_to_wl, packets to the pod) and the egress check
/// (pr_tc_from_wl, packets from it, after the Service translation), on map entries written by hand from the ABI.
/// Every case compares the verdict, the frame (untouched when allowed) and the whole set of counters.
/// </summary>
[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat), Category("Privileged")]
public sealed class PolicyGoldenTests(DataplaneVariant variant)
{
    private const uint IngressSet = 1;
    private const uint EgressSet = 2;
    private const uint DenyAllSet = 3; // a set with no entries: every lookup misses
    private const uint WebClass = 1;

    private GoldenDataplane _dp = null!;
    private PolicyMaps _maps = null!;

    [OneTimeSetUp]
    public void LoadDataplane()
    {
        _dp = GoldenDataplane.Load(variant);
        _maps = new PolicyMaps(_dp.Dataplane);
    }

    [OneTimeTearDown] public void Unload() => _dp?.Dispose();
    [SetUp] public void Reset() => _dp.Reset();

    /// <summary>BackendA's pod accepts TCP 8080 from the client pods' /24 (10.244.1.0/24) only.</summary>
    private void BackendAcceptsWebFromClientSubnet()
    {
        _maps.Endpoint(BackendA.Address, IngressSet, 0);
        _maps.Port(IngressSet, IpProtocol.Tcp, 8080, WebClass);
        _maps.Peer(IngressSet, WebClass, "10.244.1.0/24", rule: 11);
    }

    [Test]
    public void PodWithoutEndpointEntryPassesUntouchedAndUncounted()
    {
        var frame = Frames.Tcp(OtherClient, BackendA, TcpFlags.Syn);

        var result = _dp.RunToPod(frame);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, frame);
        GoldenDataplane.AssertCounters(_dp.Counters());
        Assert.That(_dp.Dataplane.PolicyConntrack.ReadAll(), Is.Empty, "an unpoliced pod's flows are not tracked");
    }

    [Test]
    public void IngressAllowedByPortAndPeerIsDeliveredAndApproved()
    {
        BackendAcceptsWebFromClientSubnet();
        var frame = Frames.Tcp(Client, BackendA, TcpFlags.Syn, options: Frames.SynOptions);

        var result = _dp.RunToPod(frame);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(result.Output, frame);
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PolicyIngressAllowed, 1));
        var flow = _maps.Flow(Client.Address, Client.Port, BackendA.Address, BackendA.Port, IpProtocol.Tcp);
        Assert.That(flow, Is.Not.Null);
        // 10.244.1.5 < 10.244.2.7: the client is end a and sent the first packet; the backend (end b) approved.
        Assert.That(flow!.Value.Flags, Is.EqualTo(PolicyConntrackFlags.BApproved | PolicyConntrackFlags.AInitiated));
    }

    [Test]
    public void IngressToAPortNoRuleCoversIsDroppedAsPort()
    {
        BackendAcceptsWebFromClientSubnet();

        var result = _dp.RunToPod(Frames.Tcp(Client, BackendA with { Port = 9090 }, TcpFlags.Syn));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.DropPolicyIngressPort, 1));
        Assert.That(_dp.Dataplane.PolicyConntrack.ReadAll(), Is.Empty, "a denied flow leaves no entry");
    }

    [Test]
    public void IngressFromAPeerNoRuleCoversIsDroppedAsPeer()
    {
        BackendAcceptsWebFromClientSubnet();

        var result = _dp.RunToPod(Frames.Tcp(OtherClient, BackendA, TcpFlags.Syn));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.DropPolicyIngressPeer, 1));
    }

    [Test]
    public void EgressIsCheckedByDestinationPortAndPeer()
    {
        // The client may send DNS (UDP 53) to 10.244.2.0/24 only.
        _maps.Endpoint(Client.Address, 0, EgressSet);
        _maps.Port(EgressSet, IpProtocol.Udp, 53, WebClass);
        _maps.Peer(EgressSet, WebClass, "10.244.2.0/24");
        var allowed = Frames.Udp(Client, Endpoint.Of("10.244.2.7", 53));

        var allowedResult = _dp.Run(allowed);
        var wrongPort = _dp.Run(Frames.Udp(Client, Endpoint.Of("10.244.2.7", 54)));
        var wrongPeer = _dp.Run(Frames.Udp(Client, Endpoint.Of("10.244.3.9", 53)));

        Assert.Multiple(() =>
        {
            Assert.That(allowedResult.ReturnValue, Is.EqualTo(TcVerdict.Ok));
            Assert.That(wrongPort.ReturnValue, Is.EqualTo(TcVerdict.Shot));
            Assert.That(wrongPeer.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        });
        GoldenDataplane.AssertFrame(allowedResult.Output, allowed);
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PolicyEgressAllowed, 1), (CounterReason.PassNoService, 1),
            (CounterReason.DropPolicyEgressPort, 1), (CounterReason.DropPolicyEgressPeer, 1));
    }

    [Test]
    public void ReplyOfAnAllowedFlowPassesADenyAllIngress()
    {
        // The client may open TCP 8080 to BackendA and accepts nothing.
        _maps.Endpoint(Client.Address, DenyAllSet, EgressSet);
        _maps.Port(EgressSet, IpProtocol.Tcp, 8080, WebClass);
        _maps.Peer(EgressSet, WebClass, "10.244.2.7/32");
        var synAck = Frames.Tcp(BackendA, Client, TcpFlags.Syn | TcpFlags.Ack, sequence: 9000, acknowledgment: 1001);

        var syn = _dp.Run(Frames.Tcp(Client, BackendA, TcpFlags.Syn));
        var reply = _dp.RunToPod(synAck);
        var unsolicited = _dp.RunToPod(Frames.Tcp(BackendA with { Port = 8081 }, Client, TcpFlags.Syn));

        Assert.Multiple(() =>
        {
            Assert.That(syn.ReturnValue, Is.EqualTo(TcVerdict.Ok));
            Assert.That(reply.ReturnValue, Is.EqualTo(TcVerdict.Ok), "the reply of the client's own flow");
            Assert.That(unsolicited.ReturnValue, Is.EqualTo(TcVerdict.Shot), "a new flow from the same peer");
        });
        GoldenDataplane.AssertFrame(reply.Output, synAck);
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PolicyEgressAllowed, 1), (CounterReason.PassNoService, 1),
            (CounterReason.DropPolicyIngressPort, 1));
    }

    [Test]
    public void PodToPodOnOneNodeIsCheckedOnBothVethsAndItsRepliesPassBothDenyAlls()
    {
        // Client: egress to BackendA:8080 only, no ingress. BackendA: ingress from the client subnet, no egress.
        _maps.Endpoint(Client.Address, DenyAllSet, EgressSet);
        _maps.Port(EgressSet, IpProtocol.Tcp, 8080, WebClass);
        _maps.Peer(EgressSet, WebClass, "10.244.2.7/32");
        _maps.Endpoint(BackendA.Address, IngressSet, DenyAllSet);
        _maps.Port(IngressSet, IpProtocol.Tcp, 8080, WebClass);
        _maps.Peer(IngressSet, WebClass, "10.244.1.0/24");

        var verdicts = new[]
        {
            _dp.Run(Frames.Tcp(Client, BackendA, TcpFlags.Syn)).ReturnValue,                                    // client's veth, egress
            _dp.RunToPod(Frames.Tcp(Client, BackendA, TcpFlags.Syn)).ReturnValue,                               // backend's veth, ingress
            _dp.Run(Frames.Tcp(BackendA, Client, TcpFlags.Syn | TcpFlags.Ack, acknowledgment: 1001)).ReturnValue, // backend's veth, reply
            _dp.RunToPod(Frames.Tcp(BackendA, Client, TcpFlags.Syn | TcpFlags.Ack, acknowledgment: 1001)).ReturnValue, // client's veth
            _dp.Run(Frames.Tcp(Client, BackendA, TcpFlags.Ack, sequence: 1001)).ReturnValue,
            _dp.RunToPod(Frames.Tcp(Client, BackendA, TcpFlags.Ack, sequence: 1001)).ReturnValue,
        };

        Assert.That(verdicts, Is.All.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PolicyEgressAllowed, 1), (CounterReason.PolicyIngressAllowed, 1),
            (CounterReason.PassNoService, 3));
        var flow = _maps.Flow(Client.Address, Client.Port, BackendA.Address, BackendA.Port, IpProtocol.Tcp);
        Assert.That(flow!.Value.Flags,
            Is.EqualTo(PolicyConntrackFlags.AApproved | PolicyConntrackFlags.BApproved | PolicyConntrackFlags.AInitiated));
    }

    [Test]
    public void EstablishedFlowSurvivesAPolicyChangeToDenyButNewFlowsAndSynsDoNot()
    {
        BackendAcceptsWebFromClientSubnet();
        Assert.That(_dp.RunToPod(Frames.Tcp(Client, BackendA, TcpFlags.Syn)).ReturnValue, Is.EqualTo(TcVerdict.Ok));

        _maps.RemovePeer(IngressSet, WebClass, "10.244.1.0/24"); // the policy now denies the client
        var data = _dp.RunToPod(Frames.Tcp(Client, BackendA, TcpFlags.Psh | TcpFlags.Ack, sequence: 1001, payload: "GET /"u8.ToArray()));
        var newFlow = _dp.RunToPod(Frames.Tcp(Client with { Port = 40001 }, BackendA, TcpFlags.Syn));
        var synOnTheOldTuple = _dp.RunToPod(Frames.Tcp(Client, BackendA, TcpFlags.Syn));

        Assert.Multiple(() =>
        {
            Assert.That(data.ReturnValue, Is.EqualTo(TcVerdict.Ok), "the established flow keeps its approval");
            Assert.That(newFlow.ReturnValue, Is.EqualTo(TcVerdict.Shot));
            Assert.That(synOnTheOldTuple.ReturnValue, Is.EqualTo(TcVerdict.Shot), "a SYN is a new connection: checked again");
        });
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PolicyIngressAllowed, 1), (CounterReason.DropPolicyIngressPeer, 2));
    }

    [Test]
    public void EstablishedUdpFlowSurvivesTheRemovalOfItsRule()
    {
        _maps.Endpoint(UdpBackendA.Address, IngressSet, 0);
        _maps.Port(IngressSet, IpProtocol.Udp, UdpBackendA.Port, WebClass);
        _maps.Peer(IngressSet, WebClass, "10.244.1.5/32");
        Assert.That(_dp.RunToPod(Frames.Udp(Client, UdpBackendA)).ReturnValue, Is.EqualTo(TcVerdict.Ok));

        _dp.Dataplane.PolicyPorts.Delete(new PolicyPortKey(IngressSet, IpProtocol.Udp, UdpBackendA.Port, 16));
        var again = _dp.RunToPod(Frames.Udp(Client, UdpBackendA));
        var answer = _dp.Run(Frames.Udp(UdpBackendA, Client));
        var otherPort = _dp.RunToPod(Frames.Udp(Client with { Port = 40001 }, UdpBackendA));

        Assert.Multiple(() =>
        {
            Assert.That(again.ReturnValue, Is.EqualTo(TcVerdict.Ok));
            Assert.That(answer.ReturnValue, Is.EqualTo(TcVerdict.Ok));
            Assert.That(otherPort.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        });
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PolicyIngressAllowed, 1), (CounterReason.PassNoService, 1),
            (CounterReason.DropPolicyIngressPort, 1));
    }

    [Test]
    public void IpBlockExceptDeniesInsideTheAllowedBlock()
    {
        // ipBlock 10.0.0.0/8 except 10.244.3.0/24, as the compiler writes it: the except as a DENY prefix.
        BackendAcceptsNothingBut("10.0.0.0/8", except: "10.244.3.0/24");

        var inside = _dp.RunToPod(Frames.Tcp(Client, BackendA, TcpFlags.Syn));
        var excepted = _dp.RunToPod(Frames.Tcp(OtherClient, BackendA, TcpFlags.Syn));
        var outside = _dp.RunToPod(Frames.Tcp(Endpoint.Of("192.0.2.1", 40000), BackendA, TcpFlags.Syn));

        Assert.Multiple(() =>
        {
            Assert.That(inside.ReturnValue, Is.EqualTo(TcVerdict.Ok));
            Assert.That(excepted.ReturnValue, Is.EqualTo(TcVerdict.Shot), "10.244.3.17 is in the except");
            Assert.That(outside.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        });
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PolicyIngressAllowed, 1), (CounterReason.DropPolicyIngressPeer, 2));
    }

    private void BackendAcceptsNothingBut(string cidr, string except)
    {
        _maps.Endpoint(BackendA.Address, IngressSet, 0);
        _maps.Port(IngressSet, IpProtocol.Tcp, 8080, WebClass);
        _maps.Peer(IngressSet, WebClass, cidr, rule: 21);
        _maps.Peer(IngressSet, WebClass, except, PolicyVerdict.Deny, rule: 21);
    }

    [TestCase((ushort)7999, false)]
    [TestCase((ushort)8000, true)]
    [TestCase((ushort)8015, true)]
    [TestCase((ushort)8016, true)]
    [TestCase((ushort)8017, true)]
    [TestCase((ushort)8018, false)]
    public void PortRangeIsMatchedThroughItsPrefixBlocks(ushort port, bool allowed)
    {
        // port 8000, endPort 8017: the blocks 8000/12 (8000..8015) and 8016/15 (8016, 8017).
        _maps.Endpoint(Client.Address, 0, EgressSet);
        _maps.Port(EgressSet, IpProtocol.Tcp, 8000, WebClass, portPrefixBits: 12);
        _maps.Port(EgressSet, IpProtocol.Tcp, 8016, WebClass, portPrefixBits: 15);
        _maps.Peer(EgressSet, WebClass, "0.0.0.0/0");

        var result = _dp.Run(Frames.Tcp(Client, Endpoint.Of("10.244.2.7", port), TcpFlags.Syn));

        Assert.That(result.ReturnValue, Is.EqualTo(allowed ? TcVerdict.Ok : TcVerdict.Shot));
        if (allowed)
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PolicyEgressAllowed, 1), (CounterReason.PassNoService, 1));
        else
            GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.DropPolicyEgressPort, 1));
    }

    [Test]
    public void ServiceFlowIsCheckedAgainstTheChosenBackendNotTheVip()
    {
        // Egress allows TCP 8080 to BackendA, and TCP 80 to the VIP (which must not matter).
        _maps.Endpoint(Client.Address, 0, EgressSet);
        _maps.Port(EgressSet, IpProtocol.Tcp, 8080, WebClass);
        _maps.Peer(EgressSet, WebClass, "10.244.2.7/32");
        _maps.Port(EgressSet, IpProtocol.Tcp, 80, 2);
        _maps.Peer(EgressSet, 2, "10.96.0.10/32");
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);

        var allowed = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn));

        Assert.That(allowed.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(allowed.Output, Frames.Tcp(Client, BackendA, TcpFlags.Syn));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PolicyEgressAllowed, 1), (CounterReason.NatNewFlow, 1));
        Assert.That(_dp.Dataplane.PolicyConntrack.ReadAll(), Is.Empty, "a NAT flow is tracked by pr_ct4 alone");

        // The same Service moved to BackendC, which the policy does not allow: dropped, nothing remembered.
        _dp.Reset();
        _maps.Endpoint(Client.Address, 0, EgressSet);
        _maps.Port(EgressSet, IpProtocol.Tcp, 8080, WebClass);
        _maps.Peer(EgressSet, WebClass, "10.244.2.7/32");
        _maps.Port(EgressSet, IpProtocol.Tcp, 80, 2);
        _maps.Peer(EgressSet, 2, "10.96.0.10/32");
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendC]);

        var denied = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn));

        Assert.That(denied.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.DropPolicyEgressPeer, 1));
        Assert.That(_dp.Dataplane.Conntrack.ReadAll(), Is.Empty, "a denied Service flow creates no NAT entries");
    }

    [Test]
    public void ServiceReplyReverseNatedToTheVipPassesTheClientsDenyAllIngress()
    {
        _maps.Endpoint(Client.Address, DenyAllSet, 0);
        _dp.AddService(TcpVip, L4Protocol.Tcp, [BackendA]);
        Assert.That(_dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn)).ReturnValue, Is.EqualTo(TcVerdict.Ok));
        var synAck = Frames.Tcp(TcpVip, Client, TcpFlags.Syn | TcpFlags.Ack, acknowledgment: 1001);

        var reply = _dp.RunToPod(synAck);
        var fromTheVipOnAnotherPort = _dp.RunToPod(Frames.Tcp(TcpVip, Client with { Port = 40001 }, TcpFlags.Syn | TcpFlags.Ack));

        Assert.That(reply.ReturnValue, Is.EqualTo(TcVerdict.Ok), "recognised by the NAT flow's forward entry");
        Assert.That(fromTheVipOnAnotherPort.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        GoldenDataplane.AssertFrame(reply.Output, synAck);
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1), (CounterReason.DropPolicyIngressPort, 1));
    }

    [Test]
    public void IcmpIsAllowedByAPortlessRuleAndDeniedByAPortRule()
    {
        var echo = Frames.Icmp(Client.Address, BackendA.Address, IcmpMessage.Echo(7, 1, "ping"u8.ToArray()));
        // A rule without ports: every port of TCP, UDP and SCTP, and the other protocols.
        _maps.Endpoint(BackendA.Address, IngressSet, 0);
        foreach (var protocol in new byte[] { IpProtocol.Tcp, IpProtocol.Udp, 132, PolicyPortKey.OtherProtocol })
            _maps.AllPorts(IngressSet, protocol, WebClass);
        _maps.Peer(IngressSet, WebClass, "10.244.1.0/24");

        var portless = _dp.RunToPod(echo);

        _dp.Reset();
        BackendAcceptsWebFromClientSubnet(); // TCP 8080 only
        var portRule = _dp.RunToPod(echo);

        Assert.That(portless.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertFrame(portless.Output, echo);
        Assert.That(portRule.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.DropPolicyIngressPort, 1));
    }

    [Test]
    public void IcmpEchoFromAnEgressIsolatedPodNeedsAnOtherProtocolsRule()
    {
        _maps.Endpoint(Client.Address, 0, EgressSet);
        _maps.Port(EgressSet, IpProtocol.Tcp, 8080, WebClass);
        _maps.Peer(EgressSet, WebClass, "0.0.0.0/0");

        var result = _dp.Run(Frames.Icmp(Client.Address, BackendA.Address, IcmpMessage.Echo(7, 1, "ping"u8.ToArray())));

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.DropPolicyEgressPort, 1));
    }

    [Test]
    public void SctpIsMatchedByItsDestinationPort()
    {
        _maps.Endpoint(BackendA.Address, IngressSet, 0);
        _maps.Port(IngressSet, 132, 3868, WebClass);
        _maps.Peer(IngressSet, WebClass, "10.244.1.0/24");

        var allowed = _dp.RunToPod(Sctp(Client.Address, 40000, BackendA.Address, 3868));
        var denied = _dp.RunToPod(Sctp(Client.Address, 40000, BackendA.Address, 3869));

        Assert.That(allowed.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        Assert.That(denied.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PolicyIngressAllowed, 1), (CounterReason.DropPolicyIngressPort, 1));
    }

    [Test]
    public void TheNodesOwnPacketsReachADenyAllPodAndTheirRepliesPassItsDenyAllEgress()
    {
        var node = Endpoint.Of("10.244.2.1", 45000); // the kubelet probing from the node's address on the pod network
        _maps.Endpoint(BackendA.Address, DenyAllSet, DenyAllSet);

        var probe = _dp.RunToPod(Frames.Tcp(node, BackendA, TcpFlags.Syn), fromNode: true);
        var answer = _dp.Run(Frames.Tcp(BackendA, node, TcpFlags.Syn | TcpFlags.Ack, acknowledgment: 1001));
        var forwarded = _dp.RunToPod(Frames.Tcp(node with { Port = 45001 }, BackendA, TcpFlags.Syn));

        Assert.Multiple(() =>
        {
            Assert.That(probe.ReturnValue, Is.EqualTo(TcVerdict.Ok), "ingress_ifindex 0: generated by the node");
            Assert.That(answer.ReturnValue, Is.EqualTo(TcVerdict.Ok));
            Assert.That(forwarded.ReturnValue, Is.EqualTo(TcVerdict.Shot), "the same source from another interface is checked");
        });
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.PassNoService, 1), (CounterReason.DropPolicyIngressPort, 1));
    }

    [Test]
    public void IcmpErrorsToAnIsolatedPodPassAsRelated()
    {
        _maps.Endpoint(Client.Address, DenyAllSet, 0);
        var quoted = Frames.UdpPacket(Client, UdpBackendA);
        var error = Frames.Icmp(UdpBackendA.Address, Client.Address, IcmpMessage.PortUnreachable(quoted));

        var result = _dp.RunToPod(error);

        Assert.That(result.ReturnValue, Is.EqualTo(TcVerdict.Ok));
        GoldenDataplane.AssertCounters(_dp.Counters());
    }

    [Test]
    public void NodePortTrafficIsCheckedAtTheBackendWithTheRealClientAndItsReplyPassesADenyAllEgress()
    {
        var external = Endpoint.Of("203.0.113.50", 41000);
        var outsider = Endpoint.Of("198.51.100.77", 42000);
        var nodePort = Endpoint.Of("192.168.1.10", 30080);
        // BackendA accepts TCP 8080 from 203.0.113.0/24 and sends nothing of its own.
        _maps.Endpoint(BackendA.Address, IngressSet, DenyAllSet);
        _maps.Port(IngressSet, IpProtocol.Tcp, 8080, WebClass);
        _maps.Peer(IngressSet, WebClass, "203.0.113.0/24");
        _dp.AddService(nodePort, L4Protocol.Tcp, [BackendA], kind: FrontendKind.NodePort);

        // pr_tc_from_host DNATs (no policy on host interfaces); the kernel forwards the result to the backend's veth
        var dnated = _dp.RunFromHost(Frames.Tcp(external, nodePort, TcpFlags.Syn));
        var delivered = _dp.RunToPod(dnated.Output);
        var answer = _dp.Run(Frames.Tcp(BackendA, external, TcpFlags.Syn | TcpFlags.Ack, acknowledgment: 1001));
        var outsiderDnated = _dp.RunFromHost(Frames.Tcp(outsider, nodePort, TcpFlags.Syn));
        var outsiderDelivered = _dp.RunToPod(outsiderDnated.Output);

        Assert.Multiple(() =>
        {
            Assert.That(dnated.ReturnValue, Is.EqualTo(TcVerdict.Ok));
            Assert.That(delivered.ReturnValue, Is.EqualTo(TcVerdict.Ok), "the real client's address is in the ipBlock");
            Assert.That(answer.ReturnValue, Is.AnyOf(TcVerdict.Ok, TcVerdict.Redirect), "the reply: pr_ct4's reverse entry, before any policy");
            Assert.That(outsiderDelivered.ReturnValue, Is.EqualTo(TcVerdict.Shot));
        });
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 2), (CounterReason.PolicyIngressAllowed, 1),
            (CounterReason.NatReverse, 1), (CounterReason.DropPolicyIngressPeer, 1));
    }

    [TestCase("10.244.1.5/32", TcVerdict.Ok)]
    [TestCase("10.244.2.0/24", TcVerdict.Shot)]
    public void APodReachingItselfThroughAServiceIsCheckedAsItselfNotAsTheHairpinAddress(string allowedPeer, int expected)
    {
        var self = Client with { Port = 8080 };
        _maps.Endpoint(Client.Address, IngressSet, 0);
        _maps.Port(IngressSet, IpProtocol.Tcp, 8080, WebClass);
        _maps.Peer(IngressSet, WebClass, allowedPeer);
        _dp.AddService(TcpVip, L4Protocol.Tcp, [self]);

        var hairpinned = _dp.Run(Frames.Tcp(Client, TcpVip, TcpFlags.Syn));
        var delivered = _dp.RunToPod(hairpinned.Output);

        Assert.That(hairpinned.ReturnValue, Is.EqualTo(TcVerdict.Redirect), "sent back out of the client's own veth");
        Assert.That(FrameView.Parse(hairpinned.Output).Ip.Source, Is.Not.EqualTo(Client.Address), "from the hairpin address");
        Assert.That(delivered.ReturnValue, Is.EqualTo(expected));
        GoldenDataplane.AssertCounters(_dp.Counters(), (CounterReason.NatNewFlow, 1), (CounterReason.NatHairpin, 1),
            (expected == TcVerdict.Ok ? CounterReason.PolicyIngressAllowed : CounterReason.DropPolicyIngressPeer, 1UL));
    }

    /// <summary>An SCTP packet: the 12-byte common header (ports, verification tag, CRC32c left zero: nothing here checks it).</summary>
    private static byte[] Sctp(System.Net.IPAddress source, ushort sourcePort, System.Net.IPAddress destination, ushort destinationPort)
    {
        var header = new byte[12];
        header[0] = (byte)(sourcePort >> 8);
        header[1] = (byte)sourcePort;
        header[2] = (byte)(destinationPort >> 8);
        header[3] = (byte)destinationPort;
        header[4] = 0x5e;
        return Frames.FromPod(Frames.Ip(source, destination, 132).Build(header));
    }
}
