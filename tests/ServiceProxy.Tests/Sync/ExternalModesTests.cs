using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Tests.Sync;

/// <summary>The annotation's value as frontend flags, and what is reported for a bad one.</summary>
public sealed class ExternalModesTests
{
    private static Service With(string? annotation) =>
        new("shop", "web", Labels.Empty, ServiceType.NodePort, new[] { IPAddress.Parse("10.96.0.70") }.ToEquatableList(),
            new[] { new ServicePort("", Protocol.Tcp, 80, TargetPort.FromNumber(8080), 30070) }.ToEquatableList(), ExternalServiceMode: annotation);

    [TestCase(null, FrontendFlags.None)]
    [TestCase("snat", FrontendFlags.ModeSnat)]
    [TestCase("tunnel", FrontendFlags.ModeTunnel)]
    [TestCase("dsr", FrontendFlags.ModeDsr)]
    [TestCase(" DSR ", FrontendFlags.ModeDsr)]
    [TestCase("fast", FrontendFlags.None)]
    [TestCase("", FrontendFlags.None)]
    public void The_annotation_sets_one_mode_flag_or_none(string? annotation, FrontendFlags expected)
    {
        Assert.Multiple(() =>
        {
            Assert.That(ExternalModes.FlagOf(With(annotation)), Is.EqualTo(expected));
            Assert.That(Frontends.Value(With(annotation), FrontendKind.ClusterIP, 1, 1).Flags, Is.EqualTo(expected), "ClusterIP frontends too");
            Assert.That(Frontends.Value(With(annotation), FrontendKind.NodePort, 1, 1, policyFlags: FrontendFlags.ExternalLocal).Flags,
                Is.EqualTo(expected | FrontendFlags.ExternalLocal), "beside the policy flags");
        });
    }

    [TestCase(null, null)]
    [TestCase("tunnel", null)]
    [TestCase("fast", "shop/web: annotation proxy-replacement.io/external-service-mode: 'fast' is not an external service mode (accepted: snat, tunnel, dsr); its frontends use the node's --external-service-mode")]
    [TestCase("", "shop/web: annotation proxy-replacement.io/external-service-mode: '' is not an external service mode (accepted: snat, tunnel, dsr); its frontends use the node's --external-service-mode")]
    public void A_bad_value_is_a_problem(string? annotation, string? problem) =>
        Assert.That(ExternalModes.Problem(With(annotation)), Is.EqualTo(problem));

    [TestCase(FrontendFlags.None, null)]
    [TestCase(FrontendFlags.ModeSnat | FrontendFlags.Affinity, ExternalServiceMode.Snat)]
    [TestCase(FrontendFlags.ModeTunnel | FrontendFlags.SourceRanges, ExternalServiceMode.Tunnel)]
    [TestCase(FrontendFlags.ModeDsr, ExternalServiceMode.Dsr)]
    [TestCase(FrontendFlags.ModeDsr | FrontendFlags.ModeSnat, null)] // never written: the ABI allows at most one
    public void The_mode_of_a_frontend_is_its_one_mode_flag(FrontendFlags flags, ExternalServiceMode? expected) =>
        Assert.That(ExternalModes.ModeOf(flags), Is.EqualTo(expected));
}
