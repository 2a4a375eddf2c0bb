using System.Text.Json;
using ProxyReplacement.ServiceProxy.Kubernetes;
using ProxyReplacement.ServiceProxy.Kubernetes.Api;
using ProxyReplacement.ServiceProxy.Kubernetes.Objects;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Parsing;

namespace ProxyReplacement.ServiceProxy.Tests.Parsing;

/// <summary>
/// <c>endpoints.kubernetes.io/last-change-trigger-time</c> reaches the model from both sources (only that annotation),
/// outside the slice's equality.
/// </summary>
public sealed class TriggerTimeTests
{
    private const string Json = """
        {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
         "metadata": {"name": "web-1", "namespace": "apps", "labels": {"kubernetes.io/service-name": "web"},
                      "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2026-12-06T10:00:01.123456789Z", "other": "x"}},
         "addressType": "IPv4", "endpoints": [{"addresses": ["10.0.0.1"]}], "ports": [{"port": 8080}]}
        """;

    private static readonly DateTimeOffset Expected = new DateTimeOffset(2026, 12, 6, 10, 0, 1, TimeSpan.Zero).AddTicks(1_234_567);

    [Test]
    public void A_manifest_slice_carries_the_annotations_time()
    {
        var slice = ManifestReader.Parse(Json, "slice.json").EndpointSlices.Single();

        Assert.That(slice.LastChangeTriggerTime.Value, Is.EqualTo(Expected));
    }

    [Test]
    public void An_api_slice_carries_the_annotations_time()
    {
        var conversion = ApiObjectConversion.EndpointSlice(
            ApiResources.EndpointSlices.Decode(JsonDocument.Parse(Json).RootElement), new ProxyLabelFilter((string?)null));

        Assert.That(conversion.Value!.LastChangeTriggerTime.Value, Is.EqualTo(Expected));
    }

    [Test]
    public void Slices_that_differ_only_in_the_trigger_time_are_equal()
    {
        var slice = ManifestReader.Parse(Json, "slice.json").EndpointSlices.Single();
        var later = slice with { LastChangeTriggerTime = new ChangeTriggerTime(Expected.AddMinutes(1)) };

        Assert.Multiple(() =>
        {
            Assert.That(later, Is.EqualTo(slice));
            Assert.That(later.GetHashCode(), Is.EqualTo(slice.GetHashCode()));
        });
    }

    [TestCase("2026-12-06T10:00:01Z", "2026-12-06T10:00:01.0000000+00:00")]
    [TestCase("2026-12-06T12:00:01+02:00", "2026-12-06T10:00:01.0000000+00:00")]
    [TestCase("2026-12-06T10:00:01.5Z", "2026-12-06T10:00:01.5000000+00:00")]
    [TestCase("yesterday", null)]
    [TestCase("", null)]
    public void The_time_is_rfc3339_and_anything_else_is_ignored(string text, string? expected)
    {
        Assert.That(EndpointSliceRules.TriggerTime(text)?.ToString("O"), Is.EqualTo(expected));
    }
}
