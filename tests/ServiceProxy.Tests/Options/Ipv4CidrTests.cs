using System.Net;
using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Tests.Options;

public sealed class Ipv4CidrTests
{
    [TestCase("10.96.0.0/12", "10.96.0.0", 12)]
    [TestCase("0.0.0.0/0", "0.0.0.0", 0)]
    [TestCase("192.168.1.7/32", "192.168.1.7", 32)]
    public void Parses_network_and_prefix(string text, string network, int prefix)
    {
        var cidr = Ipv4Cidr.Parse(text);

        Assert.That(cidr, Is.EqualTo(new Ipv4Cidr(IPAddress.Parse(network), prefix)));
        Assert.That(cidr.ToString(), Is.EqualTo(text));
    }

    [TestCase("10.96.0.0")]
    [TestCase("10.96.0.0/")]
    [TestCase("10.96.0.0/33")]
    [TestCase("10.96.0.0/x")]
    [TestCase("/12")]
    [TestCase("10.96.0/12")] // short forms are not CIDRs (as Go's net.ParseCIDR, which kube-proxy uses)
    [TestCase("10.96/12")]
    [TestCase("::1/128")]
    public void Rejects_what_is_not_an_ipv4_cidr(string text)
    {
        var error = Assert.Throws<FormatException>(() => Ipv4Cidr.Parse(text))!;

        Assert.That(error.Message, Is.EqualTo($"'{text}' is not an IPv4 CIDR (expected e.g. 10.96.0.0/12)"));
    }

    [TestCase("10.96.0.1/12")]
    [TestCase("10.111.255.255/12")]
    public void Host_bits_are_cleared_so_one_range_has_one_form(string text)
    {
        Assert.That(Ipv4Cidr.Parse(text), Is.EqualTo(Ipv4Cidr.Parse("10.96.0.0/12")));
    }
}
