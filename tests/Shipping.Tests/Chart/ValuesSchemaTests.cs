using System.Text.Json.Nodes;
using ProxyReplacement.Dataplane;
using ProxyReplacement.ServiceProxy.Options;
using ProxyReplacement.Shipping.Tests.Support;

namespace ProxyReplacement.Shipping.Tests.Chart;

/// <summary>values.schema.json refuses what the chart or the daemon could not use, and the chart's defaults are the daemon's.</summary>
public sealed class ValuesSchemaTests
{
    [TestCase("socketLB.mode=sometimes", "/socketLB/mode")]
    [TestCase("maps.conntrack=8", "/maps/conntrack")]
    [TestCase("maps.frontends=67108865", "/maps/frontends")]
    [TestCase("maps.directTable=1000", "/maps/directTable")] // not a power of two
    [TestCase("maps.directTable=1", "/maps/directTable")] // one slot: the mask 0 means off; 0 says so
    [TestCase("maps.directTable=2097152", "/maps/directTable")]
    [TestCase("maps.directTable=big", "/maps/directTable")]
    [TestCase("serviceCidrs={10.96.0.0/33}", "/serviceCidrs/0")]
    [TestCase("serviceCidrs={10.96.0.0}", "/serviceCidrs/0")]
    [TestCase("healthz.port=70000", "/healthz/port")]
    [TestCase("k8sServicePort=https", "/k8sServicePort")]
    [TestCase("sync.period=30", "/sync/period")]
    [TestCase("sync.period=0s", "/sync/period")]
    [TestCase("apiTimeout=soon", "/apiTimeout")]
    [TestCase("image.pullPolicy=Sometimes", "/image/pullPolicy")]
    [TestCase("image.digest=latest", "/image/digest")]
    [TestCase("interfaces.workload=", "/interfaces/workload")]
    [TestCase("serviceProxyName=-bad-", "/serviceProxyName")]
    [TestCase("bpf.hostRoot=sys/fs/bpf", "/bpf/hostRoot")]
    [TestCase("extraConfig.bogusOption=1", "/extraConfig/bogusOption")]
    [TestCase("socketLb.mode=tcp", "/socketLb")] // a misspelt group: an unknown key
    [TestCase("metrics.serviceMonitor.enable=true", "/metrics/serviceMonitor/enable")]
    [TestCase("nodePort.addresses={secondary}", "/nodePort/addresses/0")]
    [TestCase("nodePort.range=30000", "/nodePort/range")]
    [TestCase("externalServiceMode=vxlan", "/externalServiceMode")]
    [TestCase("externalServiceMode=Tunnel", "/externalServiceMode")] // the daemon takes any case; the chart documents one spelling
    [TestCase("tunnel.port=0", "/tunnel/port")]
    [TestCase("tunnel.vni=16777216", "/tunnel/vni")]
    [TestCase("tunnel.vni=0", "/tunnel/vni")]
    [TestCase("tunnel.mtu=500", "/tunnel/mtu")]
    [TestCase("tunnel.mtu=65474", "/tunnel/mtu")]
    [TestCase("snat.portRange=20000", "/snat/portRange")]
    public void Rejects_a_bad_value(string set, string where)
    {
        var chart = ChartRenderer.TryRender("--set", $"k8sServiceHost={Scenarios.ApiHost}", "--set", set);
        // Some bad values already stop the rendering; the others must stop at the schema, as in helm install.
        if (chart.ExitCode != 0)
            return;
        var values = JsonNode.Parse(chart.Output)!["values"]!.AsObject();

        var errors = ValuesSchema.Errors(values);

        Assert.That(errors, Is.Not.Empty, $"--set {set} passed the schema");
        Assert.That(errors, Has.Some.StartsWith(where + ":"), string.Join("\n", errors));
    }

    [Test]
    public void Accepts_the_defaults_with_the_api_server_address()
    {
        var values = ChartRenderer.Render("--set", $"k8sServiceHost={Scenarios.ApiHost}").Values;

        Assert.That(ValuesSchema.Errors(values), Is.Empty);
    }

    [Test]
    public void Names_every_config_key_of_the_daemon_for_extraConfig_and_nothing_else()
    {
        var keys = ValuesSchema.Document["properties"]!["extraConfig"]!["propertyNames"]!["enum"]!.AsArray().Select(k => (string)k!);
        var optionKeys = ProxyOptionsBuilder.OptionNames.Select(CamelCase);

        Assert.That(keys, Is.EquivalentTo(optionKeys));
    }

    [Test]
    public void The_chart_defaults_are_the_daemons_defaults()
    {
        var values = ChartRenderer.Render("--set", $"k8sServiceHost={Scenarios.ApiHost}").Values;
        var daemon = new ProxyOptions();
        var sizes = new CoreMapSizes();

        Assert.Multiple(() =>
        {
            Assert.That((int)values["maps"]!["frontends"]!, Is.EqualTo(sizes.Frontends));
            Assert.That((int)values["maps"]!["backends"]!, Is.EqualTo(sizes.Backends));
            Assert.That((int)values["maps"]!["affinity"]!, Is.EqualTo(sizes.Affinity));
            Assert.That((int)values["maps"]!["conntrack"]!, Is.EqualTo(sizes.Conntrack));
            Assert.That((int)values["maps"]!["socketReverse"]!, Is.EqualTo(sizes.SocketReverse));
            Assert.That((string)values["maps"]!["directTable"]!, Is.EqualTo("auto"));
            Assert.That(daemon.DirectTableSize, Is.Null, "the daemon's default is auto too");
            Assert.That(ProxyOptionsBuilder.Duration("minInterval", (string)values["sync"]!["minInterval"]!), Is.EqualTo(daemon.MinSyncInterval));
            Assert.That(ProxyOptionsBuilder.Duration("period", (string)values["sync"]!["period"]!), Is.EqualTo(daemon.SyncPeriod));
            Assert.That(ProxyOptionsBuilder.Duration("apiTimeout", (string)values["apiTimeout"]!), Is.EqualTo(daemon.ApiTimeout));
            Assert.That(string.Join(',', values["interfaces"]!["workload"]!.AsArray().Select(p => (string)p!)),
                Is.EqualTo(string.Join(',', daemon.WorkloadInterfaces.Patterns)));
            Assert.That(string.Join(',', values["interfaces"]!["host"]!.AsArray().Select(p => (string)p!)),
                Is.EqualTo(string.Join(',', daemon.HostInterfaces.Patterns)));
            Assert.That(values["serviceCidrs"]!.AsArray().Select(c => (string)c!), Is.EqualTo(daemon.ServiceCidrs.Select(c => c.ToString())));
            Assert.That((string)values["socketLB"]!["mode"]!, Is.EqualTo(daemon.SocketLbMode.ToString().ToLowerInvariant()));
            Assert.That((string)values["nodePort"]!["range"]!, Is.EqualTo(daemon.ServiceNodePortRange.ToString()));
            Assert.That(values["nodePort"]!["addresses"]!.AsArray(), Is.Empty, "every address, as the daemon's default");
            Assert.That((int)values["healthz"]!["port"]!, Is.EqualTo(daemon.HealthzBindAddress!.Port));
            Assert.That((int)values["metrics"]!["port"]!, Is.EqualTo(daemon.MetricsBindAddress!.Port));
            Assert.That((string)values["externalServiceMode"]!, Is.EqualTo(ExternalTrafficOptions.Name(daemon.ExternalTraffic.Mode)));
            Assert.That((int)values["tunnel"]!["port"]!, Is.EqualTo(daemon.ExternalTraffic.TunnelPort));
            Assert.That((uint)values["tunnel"]!["vni"]!, Is.EqualTo(daemon.ExternalTraffic.TunnelVni));
            Assert.That((int)values["tunnel"]!["mtu"]!, Is.EqualTo(daemon.ExternalTraffic.TunnelMtu));
            Assert.That((string)values["snat"]!["portRange"]!, Is.EqualTo(daemon.ExternalTraffic.SnatPorts.ToString()));
            Assert.That((bool)values["networkPolicy"]!, Is.EqualTo(daemon.NetworkPolicy));
        });
    }

    private static string CamelCase(string flag)
    {
        var parts = flag.Split('-');
        return parts[0] + string.Concat(parts.Skip(1).Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
    }
}
