using System.Net;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Parsing;
using ProxyReplacement.ServiceProxy.Policy;
using ProxyReplacement.ServiceProxy.Sources;

namespace ProxyReplacement.ServiceProxy.Tests.Policy;

/// <summary>
/// A small cluster for the compiler's table tests, written as manifests: namespaces x (team=x) and y (team=y); on this
/// node (node-a) x/a (10.0.1.1, app=a, ports http=8080/TCP and dns=53/UDP), x/b (10.0.1.2, app=b, http=9090/TCP) and a
/// host-network pod x/h (192.168.0.1, app=a); on node-b x/c (10.0.2.1, app=c) and y/a (10.0.2.2, app=a, http=8080/TCP).
/// Policies are added per test; <see cref="Allows"/> asks the compiled entries the dataplane's way.
/// </summary>
internal sealed class PolicyWorld
{
    public const string Node = "node-a";

    public const string Cluster = """
        {apiVersion: v1, kind: Namespace, metadata: {name: x, labels: {team: x}}}
        ---
        {apiVersion: v1, kind: Namespace, metadata: {name: y, labels: {team: y}}}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: a, namespace: x, labels: {app: a}}
        spec: {nodeName: node-a, containers: [{name: c, ports: [{name: http, containerPort: 8080}, {name: dns, containerPort: 53, protocol: UDP}]}]}
        status: {podIP: 10.0.1.1}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: b, namespace: x, labels: {app: b}}
        spec: {nodeName: node-a, containers: [{name: c, ports: [{name: http, containerPort: 9090}]}]}
        status: {podIP: 10.0.1.2}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: h, namespace: x, labels: {app: a}}
        spec: {nodeName: node-a, hostNetwork: true}
        status: {podIP: 192.168.0.1}
        ---
        {apiVersion: v1, kind: Pod, metadata: {name: c, namespace: x, labels: {app: c}}, spec: {nodeName: node-b}, status: {podIP: 10.0.2.1}}
        ---
        apiVersion: v1
        kind: Pod
        metadata: {name: a, namespace: y, labels: {app: a}}
        spec: {nodeName: node-b, containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
        status: {podIP: 10.0.2.2}
        """;

    private PolicyWorld(CompiledPolicy compiled) => Compiled = compiled;

    public CompiledPolicy Compiled { get; }

    public static PolicyInputs Inputs(string manifests)
    {
        var set = ManifestReader.Parse(manifests, "world.yaml");
        Assert.That(set.Diagnostics, Is.Empty, "the test's manifests are valid");
        return new PolicyInputs(set.Pods.ToDictionary(p => p.Key), set.Namespaces.ToDictionary(n => n.Name), set.NetworkPolicies.ToDictionary(p => p.Key), []);
    }

    /// <summary>The cluster with these NetworkPolicies (YAML specs by name, in namespace x unless the name is ns/name).</summary>
    public static PolicyWorld With(params (string Name, string Spec)[] policies) => new(PolicyCompiler.Compile(Inputs(Cluster + Policies(policies)), Node));

    public static string Policies(params (string Name, string Spec)[] policies) => string.Concat(policies.Select(p =>
    {
        var (ns, name) = p.Name.Contains('/') ? (p.Name.Split('/')[0], p.Name.Split('/')[1]) : ("x", p.Name);
        return $"\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n{Indent(p.Spec)}";
    }));

    private static string Indent(string spec) => string.Join('\n', spec.Split('\n').Select(line => "  " + line));

    public PolicyMapLookup Lookup => new(Compiled.Endpoints, Compiled.Ports.ToList(), Compiled.Peers.ToList());

    /// <summary>Whether the compiled maps let the packet through: <paramref name="direction"/> of the pod at <paramref name="pod"/>.</summary>
    public bool Allows(string pod, string direction, string protocol, int port, string peer) =>
        Decide(pod, direction, protocol, port, peer).Allowed;

    public PolicyDecision Decide(string pod, string direction, string protocol, int port, string peer) =>
        Lookup.Decide(IPAddress.Parse(pod), direction == "in" ? PolicyDirection.Ingress : PolicyDirection.Egress,
            protocol switch { "tcp" => 6, "udp" => 17, "sctp" => 132, "icmp" => 1, _ => throw new ArgumentException(protocol) }, (ushort)port, IPAddress.Parse(peer));

    /// <summary>The rule a decision names, as <c>ns/policy ingress[0]</c>.</summary>
    public string RuleName(PolicyDecision decision) => Compiled.RuleTable[decision.Rule].ToString();
}
