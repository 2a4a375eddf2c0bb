namespace ProxyReplacement.Dataplane.Loading;

/// <summary>Names of the maps and programs of tc_nat.bpf.o (bpf-c/include/pr_maps.h, bpf-c/tc_nat.bpf.c).</summary>
public static class CoreObjectNames
{
    /// <summary>The embedded object (resource <c>bpf/tc_nat.bpf.o</c>; its compat build: <see cref="DataplaneVariants.ObjectFile"/>).</summary>
    public const string ObjectFile = "tc_nat.bpf.o";

    public const string Frontends = "pr_nat_fe4";
    public const string Backends = "pr_nat_be4";
    public const string Direct = "pr_nat_direct4";
    public const string Affinity = "pr_aff4";
    public const string Conntrack = "pr_ct4";
    public const string ServiceCidrs = "pr_svc_cidr4";
    public const string SocketReverse = "pr_sk_rev4";
    public const string Counters = "pr_counters";
    public const string Config = "pr_config";
    public const string HostNetns = "pr_host_netns";
    public const string LbSourceRanges = "pr_lb_src4";
    public const string ServiceNames = "pr_svc_names";
    public const string Routes = "pr_routes4";
    public const string PolicyEndpoints = "pr_pol_ep4";
    public const string PolicyPorts = "pr_pol_ports4";
    public const string PolicyPeers = "pr_pol_peers4";
    public const string PolicyConntrack = "pr_pol_ct4";

    public const string FromWorkloadProgram = "pr_tc_from_wl";
    public const string FromHostProgram = "pr_tc_from_host";
    public const string ToWorkloadProgram = "pr_tc_to_wl";
    public const string PassThroughProgram = "pr_tc_pass";
}
