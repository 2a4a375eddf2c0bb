namespace ProxyReplacement.Dataplane.Tests.Packets;

/// <summary>
/// Re-verifies every checksum in a frame with <see cref="Checksum"/>: the IPv4 header, the TCP/UDP/ICMP
/// checksum and, inside an ICMP error, the quoted IPv4 header and (when the quoted packet is complete)
/// its L4 checksum. Returns what failed, so a test can assert the list is empty and print it if not.
/// </summary>
public static class ChecksumAudit
{
    public static IReadOnlyList<string> Problems(byte[] frame)
    {
        var problems = new List<string>();
        var view = FrameView.Parse(frame);
        if (view.EtherType != EtherType.Ipv4)
            return problems;
        AuditIpv4(view.Ip, "outer", problems);
        return problems;
    }

    private static void AuditIpv4(Ipv4View ip, string where, List<string> problems)
    {
        if (!ip.HeaderChecksumValid)
            problems.Add($"{where} IPv4 header checksum 0x{ip.HeaderChecksum:x4} does not verify");
        if (ip.FragmentOffset != 0 || ip.MoreFragments)
            return; // L4 checksum spans fragments: not checkable from one
        if (!ip.IsComplete || ip.Protocol is not (IpProtocol.Tcp or IpProtocol.Udp or IpProtocol.Icmp))
            return;
        if (!ip.L4ChecksumValid)
            problems.Add($"{where} L4 (protocol {ip.Protocol}) checksum does not verify");
        if (ip.Protocol == IpProtocol.Icmp && ip.Icmp.IsError && ip.Icmp.Body.Length >= Ipv4Header.MinimumLength)
            AuditIpv4(ip.Icmp.Quoted, $"{where}/quoted", problems);
    }
}
