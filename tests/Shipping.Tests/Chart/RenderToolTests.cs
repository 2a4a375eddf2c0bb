using System.Text.Json.Nodes;
using ProxyReplacement.Shipping.Tests.Support;

namespace ProxyReplacement.Shipping.Tests.Chart;

/// <summary>tests/ChartRender merges values as Helm does: -f files in order, then --set (typed) and --set-string.</summary>
public sealed class RenderToolTests
{
    private static JsonObject Values(params string[] arguments) =>
        ChartRenderer.Render(["--set", $"k8sServiceHost={Scenarios.ApiHost}", .. arguments]).Values;

    [Test]
    public void Set_types_values_like_helm_and_set_string_keeps_strings()
    {
        var values = Values("--set", "maps.conntrack=524288,rbac.create=false,podLabels.a\\.b=c", "--set-string", "podAnnotations.n=0123");

        Assert.Multiple(() =>
        {
            Assert.That(values["maps"]!["conntrack"]!.GetValueKind(), Is.EqualTo(System.Text.Json.JsonValueKind.Number));
            Assert.That((bool)values["rbac"]!["create"]!, Is.False);
            Assert.That((string)values["podLabels"]!["a.b"]!, Is.EqualTo("c"), "an escaped dot stays in the key");
            Assert.That((string)values["podAnnotations"]!["n"]!, Is.EqualTo("0123"));
            Assert.That((int)values["maps"]!["frontends"]!, Is.EqualTo(65536), "siblings of a set key keep their defaults");
        });
    }

    [Test]
    public void Set_builds_lists_and_indexes_and_null_removes_a_key()
    {
        var values = Values("--set", "serviceCidrs={10.96.0.0/12,10.112.0.0/16}", "--set", "tolerations[0].key=a,tolerations[0].operator=Exists",
            "--set", "nodeSelector=null");

        Assert.Multiple(() =>
        {
            Assert.That(values["serviceCidrs"]!.AsArray().Select(c => (string)c!), Is.EqualTo(new[] { "10.96.0.0/12", "10.112.0.0/16" }));
            Assert.That((string)values["tolerations"]![0]!["key"]!, Is.EqualTo("a"));
            Assert.That(values.ContainsKey("nodeSelector"), Is.False);
        });
    }

    [Test]
    public void Values_files_merge_maps_and_replace_lists_later_ones_winning()
    {
        var first = Path.Combine(TestContext.CurrentContext.WorkDirectory, "prt-values-1.yaml");
        var second = Path.Combine(TestContext.CurrentContext.WorkDirectory, "prt-values-2.yaml");
        File.WriteAllText(first, "maps: {conntrack: 1024}\ninterfaces: {workload: [a*, b*]}\n");
        File.WriteAllText(second, "maps: {backends: 2048}\ninterfaces: {workload: [c*]}\n");

        var values = Values("-f", first, "-f", second, "--set", "maps.backends=4096");

        Assert.Multiple(() =>
        {
            Assert.That((int)values["maps"]!["conntrack"]!, Is.EqualTo(1024));
            Assert.That((int)values["maps"]!["backends"]!, Is.EqualTo(4096), "--set wins over files");
            Assert.That(values["interfaces"]!["workload"]!.AsArray().Select(p => (string)p!), Is.EqualTo(new[] { "c*" }));
            Assert.That(values["interfaces"]!["host"], Is.Not.Null);
        });
    }
}
