using System.Text;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests.Policy;

/// <summary>
/// What the truth table's daemons read besides the Nodes: the three Namespaces (label <c>ns: x</c> and the
/// <c>kubernetes.io/metadata.name</c> label the API server sets), the nine Pods as the API would show them (IP, node,
/// labels <c>pod: a</c>, phase Running, a container whose ports are named <c>serve-80-tcp</c> ... <c>serve-81-udp</c>) and
/// the NetworkPolicies of the case being checked, in <see cref="PoliciesFile"/>, replaced atomically per case.
/// </summary>
internal static class PolicyManifests
{
    public const string NamespacesFile = "namespaces.yaml";
    public const string PodsFile = "pods.yaml";
    public const string PoliciesFile = "policies.yaml";

    public static void WriteNamespacesAndPods(ManifestDirectory manifests, IEnumerable<PolicyPod> pods)
    {
        manifests.Write(NamespacesFile, string.Join("---\n", PolicyPod.Namespaces.Select(NamespaceYaml)));
        manifests.Write(PodsFile, string.Join("---\n", pods.Select(PodYaml)));
    }

    /// <summary>Writes the policies of a case (YAML documents, <c>---</c> between them); empty: removes the file.</summary>
    public static void WritePolicies(ManifestDirectory manifests, string policies)
    {
        if (string.IsNullOrWhiteSpace(policies))
            manifests.Delete(PoliciesFile);
        else
            manifests.Write(PoliciesFile, policies);
    }

    public static string NamespaceYaml(string name) => $"""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: {name}
          labels: {"{"}ns: {name}, kubernetes.io/metadata.name: {name}{"}"}

        """;

    public static string PodYaml(PolicyPod pod)
    {
        var ports = new StringBuilder();
        foreach (var port in PolicyPod.Ports)
            foreach (var protocol in new[] { L4.Tcp, L4.Udp })
                ports.Append($"      - {{name: {PolicyPod.PortName(port, protocol)}, containerPort: {port}, protocol: {protocol.ToString().ToUpperInvariant()}}}\n");
        return $"""
            apiVersion: v1
            kind: Pod
            metadata:
              name: {pod.Name}
              namespace: {pod.Namespace}
              labels: {"{"}pod: {pod.Name}{"}"}
            spec:
              nodeName: {pod.Node.Name}
              containers:
              - name: serve
                image: registry.k8s.io/e2e-test-images/agnhost:2.53
                ports:

            """ + ports + $"""
            status:
              phase: Running
              hostIP: {pod.Node.Address}
              podIP: {pod.Address}
              podIPs: [{"{"}ip: {pod.Address}{"}"}]

            """;
    }
}
