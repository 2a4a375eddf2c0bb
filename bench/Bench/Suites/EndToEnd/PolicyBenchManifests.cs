using System.Net;
using System.Text;

namespace ProxyReplacement.Bench.Suites.EndToEnd;

/// <summary>
/// The Kubernetes objects of the policy-e2e suite, as YAML: namespace <c>bench</c> with the client pod (label
/// <c>role: client</c>) and the server pod (<c>role: server</c>); the measured policy <see cref="MeasuredPolicy"/> (ten
/// ingress and ten egress rules, one of each matching the measured flow); and the filler (<see cref="Filler"/>) that makes
/// 1,000 policies, in namespaces whose pods run on nodes of their own (peers, never endpoints of the measured nodes).
/// </summary>
public static class PolicyBenchManifests
{
    public const string Namespace = "bench";

    public static string NamespaceYaml(string name, string team) => $"""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: {name}
          labels: {"{"}kubernetes.io/metadata.name: {name}, team: {team}{"}"}

        """;

    public static string PodYaml(string ns, string name, IReadOnlyDictionary<string, string> labels, string nodeName, IPAddress address, IEnumerable<int> ports) =>
        $"""
        apiVersion: v1
        kind: Pod
        metadata:
          name: {name}
          namespace: {ns}
          labels: {"{"}{string.Join(", ", labels.Select(l => $"{l.Key}: {l.Value}"))}{"}"}
        spec:
          nodeName: {nodeName}
          containers:
          - name: main
            image: bench
            ports: [{string.Join(", ", ports.Select(p => $"{{name: tcp-{p}, containerPort: {p}, protocol: TCP}}"))}]
        status:
          phase: Running
          podIP: {address}
          podIPs: [{"{"}ip: {address}{"}"}]

        """;

    /// <summary>
    /// One policy selecting both pods of <see cref="Namespace"/>, both directions, ten rules each. Nine ingress rules admit
    /// addresses no pod has (10.99.k.0/24) on ports 9001-9009; the tenth admits pods labelled <paramref name="admittedRole"/>
    /// on <paramref name="servedPort"/>. Nine egress rules go to 10.98.k.0/24 on 9101-9109; the tenth to the server pods on
    /// <paramref name="servedPort"/> and <paramref name="otherPort"/>. With <paramref name="admittedRole"/> <c>client</c> the
    /// measured flow (client to server on the served port) is allowed, with <c>nobody</c> it is not; the other port is never
    /// admitted by the server's ingress, so a connection to it shows that the policy is enforced.
    /// </summary>
    public static string MeasuredPolicy(int servedPort, int otherPort, string admittedRole)
    {
        var text = new StringBuilder($"""
            apiVersion: networking.k8s.io/v1
            kind: NetworkPolicy
            metadata: {"{"}name: ten-rules, namespace: {Namespace}{"}"}
            spec:
              podSelector: {"{"}{"}"}
              policyTypes: [Ingress, Egress]
              ingress:

            """);
        for (var k = 1; k <= 9; k++)
            text.Append($"  - {{from: [{{ipBlock: {{cidr: 10.99.{k}.0/24}}}}], ports: [{{protocol: TCP, port: {9000 + k}}}]}}\n");
        text.Append($"  - {{from: [{{podSelector: {{matchLabels: {{role: {admittedRole}}}}}}}], ports: [{{protocol: TCP, port: {servedPort}}}]}}\n");
        text.Append("  egress:\n");
        for (var k = 1; k <= 9; k++)
            text.Append($"  - {{to: [{{ipBlock: {{cidr: 10.98.{k}.0/24}}}}], ports: [{{protocol: TCP, port: {9100 + k}}}]}}\n");
        text.Append($"  - {{to: [{{podSelector: {{matchLabels: {{role: server}}}}}}], ports: [{{protocol: TCP, port: {servedPort}}}, {{protocol: TCP, port: {otherPort}}}]}}\n");
        return text.ToString();
    }

    /// <summary>
    /// <paramref name="namespaces"/> namespaces <c>fill-NN</c> (label <c>team: tN</c>, ten teams), each with ten pods
    /// (<c>app: appK</c>, addresses 10.250.NN.K+1, on node <c>node-far-NN</c>, which is neither measured node) and
    /// <paramref name="policiesPerNamespace"/> policies: policy j selects <c>app: app(j mod 10)</c> and admits, on TCP
    /// 8000+j, the pods <c>app: app((j+1) mod 10)</c> of its namespace and every pod of the namespaces of team t((N+j) mod 10).
    /// </summary>
    public static string Filler(int namespaces, int policiesPerNamespace)
    {
        var text = new StringBuilder();
        for (var n = 0; n < namespaces; n++)
        {
            var ns = $"fill-{n:D2}";
            text.Append(NamespaceYaml(ns, $"t{n % 10}")).Append("---\n");
            for (var k = 0; k < 10; k++)
                text.Append(PodYaml(ns, $"pod-{k}", new Dictionary<string, string> { ["app"] = $"app{k}" }, $"node-far-{n:D2}",
                    IPAddress.Parse($"10.250.{n}.{k + 1}"), [8000 + k])).Append("---\n");
            for (var j = 0; j < policiesPerNamespace; j++)
                text.Append($"""
                    apiVersion: networking.k8s.io/v1
                    kind: NetworkPolicy
                    metadata: {"{"}name: filler-{j}, namespace: {ns}{"}"}
                    spec:
                      podSelector: {"{"}matchLabels: {"{"}app: app{j % 10}{"}"}{"}"}
                      ingress:
                      - from:
                        - podSelector: {"{"}matchLabels: {"{"}app: app{(j + 1) % 10}{"}"}{"}"}
                        - namespaceSelector: {"{"}matchLabels: {"{"}team: t{(n + j) % 10}{"}"}{"}"}
                        ports: [{"{"}protocol: TCP, port: {8000 + j}{"}"}]

                    """).Append("---\n");
        }
        return text.ToString();
    }
}
