using System.Diagnostics.CodeAnalysis;
using System.Net;
using FsCheck;
using FsCheck.Fluent;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Policy;
using ProxyReplacement.ServiceProxy.Sources;
using Property = FsCheck.Property;
using PropertyAttribute = FsCheck.NUnit.PropertyAttribute;

namespace ProxyReplacement.ServiceProxy.Tests.Policy;

/// <summary>
/// Random clusters (a few namespaces, pods on two nodes, some host-network or terminated, named ports) and random
/// policies (selectors with every operator, ipBlocks with excepts, numbered, ranged and named ports of three protocols,
/// default and explicit policyTypes): for random packets, what the compiled entries answer through the dataplane's two
/// longest-prefix lookups (<see cref="PolicyMapLookup"/>) equals what <see cref="ReferenceEvaluator"/> says Kubernetes
/// means. The pools are small on purpose so that selectors, prefixes and ports collide. Left out by design (the
/// documented limit): egress named ports in a rule that also has ipBlock peers.
/// </summary>
[SuppressMessage("Usage", "NUnit1027:The test method has parameters, but no arguments are supplied by attributes",
    Justification = "FsCheck properties: FsCheck supplies the arguments")]
public sealed class PolicyCompilerProperties
{
    private const string Node = "node-a";
    private static readonly string[] NamespaceNames = ["ns0", "ns1", "ns2"];
    private static readonly string[] LabelKeys = ["app", "tier", "team"];
    private static readonly string[] LabelValues = ["x", "y"];
    private static readonly string[] Cidrs = ["10.0.0.0/8", "10.0.1.0/24", "10.0.0.0/16", "0.0.0.0/0", "10.0.1.4/30", "192.168.0.0/16", "10.0.2.0/23"];
    private static readonly string[] PortNames = ["web", "dns", "sig", "nope"];
    private static readonly int[] PortNumbers = [53, 80, 81, 443, 7000, 8080];
    private static readonly PolicyProtocol[] Protocols = [PolicyProtocol.Tcp, PolicyProtocol.Tcp, PolicyProtocol.Udp, PolicyProtocol.Sctp];
    private static readonly string[] OtherAddresses = ["8.8.8.8", "10.9.9.9", "192.168.7.7", "10.0.1.200", "10.0.3.3"];

    public sealed record Scenario(PolicyInputs Inputs, IReadOnlyList<Packet> Packets)
    {
        public override string ToString() =>
            "pods:\n" + string.Join("\n", Inputs.Pods.Values.Select(p => $"  {p} labels {p.Labels} host={p.HostNetwork} done={p.Terminated} ports {p.NamedPorts}")) +
            "\nnamespaces: " + string.Join("; ", Inputs.Namespaces.Values.Select(n => $"{n.Name} {n.Labels}")) +
            "\npolicies:\n" + string.Join("\n", Inputs.Policies.Values.Select(Describe));

        private static string Describe(NetworkPolicy p) =>
            $"  {p.Key} select {p.PodSelector} in={p.IsolatesIngress} out={p.IsolatesEgress}\n" +
            string.Join("\n", p.Ingress.Select((r, i) => $"    ingress[{i}] from [{string.Join("; ", r.Peers)}] ports [{string.Join(", ", r.Ports)}]")
                .Concat(p.Egress.Select((r, i) => $"    egress[{i}] to [{string.Join("; ", r.Peers)}] ports [{string.Join(", ", r.Ports)}]")));
    }

    public sealed record Packet(IPAddress Pod, bool Ingress, byte Protocol, ushort Port, IPAddress Peer)
    {
        public override string ToString() => $"{(Ingress ? "to" : "from")} {Pod} {Protocol}/{Port} {(Ingress ? "from" : "to")} {Peer}";
    }

    private static Gen<List<T>> ListOf<T>(Gen<T> gen, int min, int max) => Gen.Choose(min, max).SelectMany(n => Gen.ListOf(gen, n).Select(l => l.ToList()));

    private static Gen<Labels> LabelsGen(string[] keys) =>
        from pairs in ListOf(Gen.Elements(keys).Zip(Gen.Elements(LabelValues)), 0, 3).Select(l => l.ToArray())
        select Labels.From(pairs.DistinctBy(p => p.Item1).Select(p => KeyValuePair.Create(p.Item1, p.Item2)));

    private static Gen<SelectorRequirement> RequirementGen =>
        from key in Gen.Elements(LabelKeys)
        from op in Gen.Elements(SelectorOperator.In, SelectorOperator.In, SelectorOperator.NotIn, SelectorOperator.Exists, SelectorOperator.DoesNotExist)
        from values in Gen.SubListOf(LabelValues).Where(v => v.Count > 0)
        select new SelectorRequirement(key, op, op is SelectorOperator.In or SelectorOperator.NotIn ? values.ToEquatableList() : EquatableList<string>.Empty);

    private static Gen<LabelSelector> SelectorGen => ListOf(RequirementGen, 0, 2).Select(r => new LabelSelector(r.ToEquatableList()));

    private static Gen<IPNetwork> SubPrefixGen(IPNetwork cidr) =>
        from extra in Gen.Choose(1, Math.Min(8, 32 - cidr.PrefixLength))
        from bits in Gen.Choose(0, (1 << extra) - 1)
        select Prefix4.ToAddress(Prefix4.Of(cidr).Address | ((uint)bits << (32 - cidr.PrefixLength - extra))) is var address
            ? new IPNetwork(address, cidr.PrefixLength + extra) : default;

    private static Gen<PolicyPeer> PeerGen =>
        Gen.OneOf(
            from pods in Gen.OneOf(Gen.Constant<LabelSelector?>(null), SelectorGen.Select(s => (LabelSelector?)s))
            from namespaces in pods is null ? SelectorGen.Select(s => (LabelSelector?)s) : Gen.OneOf(Gen.Constant<LabelSelector?>(null), SelectorGen.Select(s => (LabelSelector?)s))
            select (PolicyPeer)new SelectorPeer(pods, namespaces),
            from cidrText in Gen.Elements(Cidrs)
            let cidr = IPNetwork.Parse(cidrText)
            from excepts in cidr.PrefixLength >= 32 ? Gen.Constant(Array.Empty<IPNetwork>()) : ListOf(SubPrefixGen(cidr), 0, 2).Select(l => l.ToArray())
            select (PolicyPeer)new IpBlockPeer(cidr, excepts.Distinct().ToEquatableList()));

    private static Gen<PolicyPort> PortGen(bool named) =>
        from protocol in Gen.Elements(Protocols)
        from kind in Gen.Choose(0, named ? 4 : 3)
        from number in Gen.Elements(PortNumbers)
        from span in Gen.Elements(0, 1, 5, 100, 60000)
        from name in Gen.Elements(PortNames)
        select kind switch
        {
            0 => new PolicyPort(protocol),
            1 or 2 => new PolicyPort(protocol, number),
            3 => new PolicyPort(protocol, number, EndPort: Math.Min(65535, number + span)),
            _ => new PolicyPort(protocol, Name: name),
        };

    private static Gen<PolicyRule> RuleGen(bool egress) =>
        from peers in ListOf(PeerGen, 0, 3)
        let hasIpBlock = peers.Any(p => p is IpBlockPeer)
        from ports in ListOf(PortGen(named: !(egress && hasIpBlock)), 0, 3)
        select new PolicyRule(peers.ToEquatableList(), ports.ToEquatableList());

    private static Gen<NetworkPolicy> PolicyGen(int index) =>
        from ns in Gen.Elements(NamespaceNames)
        from selector in Gen.Frequency((1, Gen.Constant(LabelSelector.Everything)), (2, SelectorGen))
        from ingress in ListOf(RuleGen(egress: false), 0, 3)
        from egress in ListOf(RuleGen(egress: true), 0, 2)
        from types in Gen.Elements("default", "in", "out", "both")
        select new NetworkPolicy(new ObjectKey(ns, $"p{index}"), selector,
            types is "default" or "in" or "both", types == "default" ? egress.Count > 0 : types is "out" or "both",
            ingress.ToEquatableList(), egress.ToEquatableList());

    private static Gen<Pod> PodGen(int index) =>
        from ns in Gen.Elements(NamespaceNames)
        from labels in LabelsGen(["app", "tier"])
        from node in Gen.Elements(Node, Node, "node-b")
        from host in Gen.Frequency((9, Gen.Constant(false)), (1, Gen.Constant(true)))
        from done in Gen.Frequency((9, Gen.Constant(false)), (1, Gen.Constant(true)))
        from web in Gen.Elements(0, 80, 8080)
        from dns in Gen.Elements(false, true)
        from sig in Gen.Elements(false, true)
        let ports = new List<NamedContainerPort>()
            .Concat(web == 0 ? [] : [new NamedContainerPort("web", PolicyProtocol.Tcp, (ushort)web)])
            .Concat(dns ? [new NamedContainerPort("dns", PolicyProtocol.Udp, 53)] : [])
            .Concat(sig ? [new NamedContainerPort("sig", PolicyProtocol.Sctp, 7000)] : [])
        select new Pod(new ObjectKey(ns, $"pod{index}"), labels,
            EquatableList.From(IPAddress.Parse(host ? $"192.168.0.{index + 1}" : $"10.0.{1 + index % 2}.{index + 1}")),
            node, host, done, ports.ToEquatableList());

    private static Gen<Scenario> Scenarios =>
        from podCount in Gen.Choose(2, 8)
        from pods in Gen.CollectToArray(Enumerable.Range(0, podCount), PodGen)
        from nsLabels in Gen.CollectToArray(NamespaceNames.Take(2), _ => LabelsGen(["team", "app"]))
        from policyCount in Gen.Choose(1, 4)
        from policies in Gen.CollectToArray(Enumerable.Range(0, policyCount), PolicyGen)
        let namespaces = NamespaceNames.Take(2).Select((name, i) =>
            new PodNamespace(name, Labels.From(nsLabels.ElementAt(i).Append(KeyValuePair.Create(PodNamespace.NameLabel, name)))))
        let inputs = new PolicyInputs(pods.ToDictionary(p => p.Key), namespaces.ToDictionary(n => n.Name), policies.ToDictionary(p => p.Key), [])
        let addresses = pods.SelectMany(p => p.Ips).Concat(OtherAddresses.Select(IPAddress.Parse)).ToArray()
        from packets in ListOf(PacketGen(pods.Where(p => p.NodeName == Node).SelectMany(p => p.Ips).DefaultIfEmpty(addresses[0]).ToArray(), addresses), 40, 40)
        select new Scenario(inputs, packets.ToList());

    private static Gen<Packet> PacketGen(IPAddress[] endpoints, IPAddress[] addresses) =>
        from pod in Gen.Elements(endpoints)
        from ingress in Gen.Elements(true, false)
        from protocol in Gen.Elements<byte>(6, 6, 17, 132, 1)
        from port in Gen.Frequency((4, Gen.Elements(PortNumbers.Select(p => (ushort)p).ToArray())), (1, Gen.Elements<ushort>(0, 82, 100, 8085, 65535)))
        from peer in Gen.Elements(addresses)
        select new Packet(pod, ingress, protocol, port, peer);

    [Property(MaxTest = 400, QuietOnSuccess = true)]
    public Property The_compiled_entries_decide_every_packet_as_kubernetes_semantics_do() =>
        Prop.ForAll(Arb.From(Scenarios), scenario =>
        {
            var compiled = PolicyCompiler.Compile(scenario.Inputs, Node);
            var lookup = new PolicyMapLookup(compiled.Endpoints, compiled.Ports.ToList(), compiled.Peers.ToList());
            foreach (var packet in scenario.Packets)
            {
                var expected = ReferenceEvaluator.Allowed(scenario.Inputs, Node, packet.Pod, packet.Ingress, packet.Protocol, packet.Port, packet.Peer);
                var decision = lookup.Decide(packet.Pod, packet.Ingress ? PolicyDirection.Ingress : PolicyDirection.Egress, packet.Protocol, packet.Port, packet.Peer);
                if (decision.Allowed != expected)
                    Assert.Fail($"{packet}: the maps say {(decision.Allowed ? "allow" : "deny")} ({decision.Why}), Kubernetes says {(expected ? "allow" : "deny")}\n{scenario}");
            }
        });

    [Property(MaxTest = 100, QuietOnSuccess = true)]
    public Property Recompiling_with_the_previous_ids_gives_the_same_entries() =>
        Prop.ForAll(Arb.From(Scenarios), scenario =>
        {
            var first = PolicyCompiler.Compile(scenario.Inputs, Node);
            var second = PolicyCompiler.Compile(scenario.Inputs, Node, first.Ids);
            Assert.That(second.Endpoints, Is.EquivalentTo(first.Endpoints));
            Assert.That(second.Ports, Is.EquivalentTo(first.Ports));
            Assert.That(second.Peers, Is.EquivalentTo(first.Peers));
        });
}
