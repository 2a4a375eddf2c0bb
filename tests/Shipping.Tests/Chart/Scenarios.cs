namespace ProxyReplacement.Shipping.Tests.Chart;

/// <summary>The value sets the chart is rendered and checked with: the defaults and overrides that change its shape.</summary>
public static class Scenarios
{
    public const string ApiHost = "10.0.0.1";

    /// <summary>A values file (-f) overriding much at once, written next to the test assembly.</summary>
    public static string ValuesFile
    {
        get
        {
            var path = Path.Combine(TestContext.CurrentContext.WorkDirectory, "prt-chart-values.yaml");
            File.WriteAllText(path, """
                k8sServiceHost: api.cluster.example
                k8sServicePort: 443
                image:
                  repository: registry.example/proxy-replacement
                  digest: sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
                serviceCidrs: [10.96.0.0/12, 10.112.0.0/16]
                serviceProxyName: proxy-replacement
                nodePort:
                  addresses: [primary, 192.168.0.0/16]
                  range: 30000-32000
                externalServiceMode: dsr
                tunnel: {port: 6090, vni: 0x10, mtu: 8900}
                snat: {portRange: 40000-40999}
                socketLB:
                  mode: enabled
                  hostCgroupRoot: /sys/fs/cgroup/unified
                interfaces:
                  workload: ["cali*"]
                  host: ["bond0", "eth*"]
                maps:
                  conntrack: 1048576
                  backends: 524288
                sync:
                  minInterval: 200ms
                  period: 1m
                extraConfig:
                  apiTimeout: 10s
                resources:
                  requests: {cpu: 250m, memory: 200Mi}
                  limits: {cpu: "1", memory: 1Gi}
                tolerations: []
                extraEnv:
                  - name: PR_DATAPLANE_VARIANT
                    value: compat
                podAnnotations:
                  example.com/team: network
                """);
            return path;
        }
    }

    public static IEnumerable<TestCaseData> All()
    {
        yield return new TestCaseData((object)new[] { "--set", $"k8sServiceHost={ApiHost}" }).SetArgDisplayNames("defaults");
        yield return new TestCaseData((object)new[]
        {
            "--set", "k8sServiceHost=api.example.com,socketLB.mode=disabled,metrics.port=0",
            "--set", "fullnameOverride=kpr,serviceAccount.create=false,rbac.create=false",
        }).SetArgDisplayNames("no socket LB, no metrics, no RBAC");
        yield return new TestCaseData((object)new[]
        {
            "--set", $"k8sServiceHost={ApiHost}", "--set", "kubeProxyCleanup.enabled=true",
            "--set", "metrics.serviceMonitor.enabled=true,metrics.podMonitor.enabled=true",
            "--set", "metrics.serviceMonitor.labels.release=prometheus",
            "--api-versions", "monitoring.coreos.com/v1", "--kube-version", "v1.30.2", "--namespace", "proxy",
        }).SetArgDisplayNames("kube-proxy cleanup and monitors");
        yield return new TestCaseData((object)new[] { "--set", $"k8sServiceHost={ApiHost}", "--set", "dataplaneCleanup=true" })
            .SetArgDisplayNames("rollback (dataplane cleanup)");
        yield return new TestCaseData((object)new[] { "-f", ValuesFile, "--set-string", "image.tag=1.2.3" })
            .SetArgDisplayNames("values file");
    }
}
