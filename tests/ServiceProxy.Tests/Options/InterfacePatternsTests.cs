using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Tests.Options;

public sealed class InterfacePatternsTests
{
    [TestCase("veth*,cali*,lxc*", "veth1a2b3c", true)]
    [TestCase("veth*,cali*,lxc*", "cali0", true)]
    [TestCase("veth*,cali*,lxc*", "lxc_health", true)]
    [TestCase("veth*,cali*,lxc*", "veth", true)]
    [TestCase("veth*,cali*,lxc*", "eth0", false)]
    [TestCase("veth*,cali*,lxc*", "xveth1", false)]
    [TestCase("veth*,cali*,lxc*", "VETH1", false)]
    [TestCase("eth?", "eth0", true)]
    [TestCase("eth?", "eth10", false)]
    [TestCase("eth?", "eth", false)]
    [TestCase("eth0", "eth0", true)]
    [TestCase("eth0", "eth01", false)]
    [TestCase("eth0.10", "eth0x10", false)]
    [TestCase("eth0.10", "eth0.10", true)]
    [TestCase("a+b", "aab", false)]
    [TestCase("a+b", "a+b", true)]
    [TestCase("*-in", "ifb-in", true)]
    [TestCase("*", "anything", true)]
    public void Globs_match_whole_names_with_star_and_question_mark_only(string patterns, string name, bool expected)
    {
        Assert.That(InterfacePatterns.Parse(patterns).Matches(name), Is.EqualTo(expected));
    }

    [Test]
    public void Entries_are_trimmed_and_empty_ones_dropped()
    {
        var patterns = InterfacePatterns.Parse(" veth* , ,cali*,");

        Assert.That(patterns.Patterns, Is.EqualTo(new[] { "veth*", "cali*" }));
        Assert.That(patterns.ToString(), Is.EqualTo("veth*,cali*"));
    }

    [Test]
    public void An_empty_list_matches_nothing()
    {
        var patterns = InterfacePatterns.Parse("");

        Assert.That(patterns.Patterns, Is.Empty);
        Assert.That(patterns.Matches("eth0"), Is.False);
    }

    [TestCase("veth *", "contains a character interface names cannot have")]
    [TestCase("veth/*", "contains a character interface names cannot have")]
    [TestCase("sixteen-chars-xx", "is longer than an interface name can be (15 characters)")]
    public void A_pattern_no_interface_name_could_match_is_rejected(string text, string problem)
    {
        var error = Assert.Throws<FormatException>(() => InterfacePatterns.Parse(text))!;

        Assert.That(error.Message, Does.Contain(problem));
    }

    [Test]
    public void A_long_pattern_with_a_star_is_accepted()
    {
        Assert.That(InterfacePatterns.Parse("sixteen-chars-x*").Matches("sixteen-chars-x"), Is.True);
    }
}
