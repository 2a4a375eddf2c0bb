using System.Net;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Sync;

namespace ProxyReplacement.ServiceProxy.Tests.Sync;

/// <summary>
/// SCTP ports get their frontends (the dataplane refuses their traffic from them) and are reported, since the NAT
/// does not translate SCTP; TCP and UDP ports of the same Service are not reported.
/// </summary>
public sealed class SctpPortTests
{
    private static readonly Service Web =
        new("shop", "web", Labels.Empty, ServiceType.ClusterIP, new[] { IPAddress.Parse("10.96.0.70") }.ToEquatableList(),
            new[]
            {
                new ServicePort("http", Protocol.Tcp, 80, TargetPort.FromNumber(8080)),
                new ServicePort("signal", Protocol.Sctp, 3868, TargetPort.FromNumber(3868)),
            }.ToEquatableList());

    [Test]
    public void An_sctp_port_is_programmed_and_reported()
    {
        var frontends = new List<FrontendEntry>();
        var problems = new List<string>();

        Frontends.Add(Web, Web.Ports[1], FrontendContext.None, frontends, problems);

        Assert.Multiple(() =>
        {
            Assert.That(frontends.Select(entry => entry.Key),
                Is.EqualTo(new[] { new NatFrontendKey4(IPAddress.Parse("10.96.0.70"), 3868, L4Protocol.Sctp) }));
            Assert.That(problems, Is.EqualTo(new[]
            {
                "shop/web: port signal 3868/Sctp -> 3868: SCTP is not translated by this dataplane; its traffic is refused " +
                "(ICMP port unreachable, counter reject_sctp_service)",
            }));
        });
    }

    [Test]
    public void A_tcp_port_of_the_same_service_is_not_reported()
    {
        var frontends = new List<FrontendEntry>();
        var problems = new List<string>();

        Frontends.Add(Web, Web.Ports[0], FrontendContext.None, frontends, problems);

        Assert.Multiple(() =>
        {
            Assert.That(frontends, Has.Count.EqualTo(1));
            Assert.That(problems, Is.Empty);
        });
    }
}
