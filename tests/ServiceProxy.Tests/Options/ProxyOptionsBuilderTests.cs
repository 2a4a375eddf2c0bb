using System.Net;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Tests.Options;

public sealed class ProxyOptionsBuilderTests
{
    private string _directory = null!;

    [SetUp]
    public void CreateDirectory()
    {
        _directory = Path.Combine(Path.GetTempPath(), "prt-options-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_directory);
    }

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(_directory, recursive: true);

    private string ConfigFile(string yaml)
    {
        var path = Path.Combine(_directory, "config.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    private static ProxyOptions Build(params string[] args) => ProxyOptionsBuilder.FromArguments(args);

    private static OptionException Rejects(params string[] args) =>
        Assert.Throws<OptionException>(() => ProxyOptionsBuilder.FromArguments(args))!;

    [Test]
    public void Defaults_match_kube_proxy_and_the_documented_ones()
    {
        var options = Build();

        Assert.Multiple(() =>
        {
            // kube-proxy: --healthz-bind-address 0.0.0.0:10256, --metrics-bind-address 127.0.0.1:10249,
            // syncPeriod 30s; minSyncPeriod 1s there, 1ms here (our writes are incremental: see ProxyOptions.DefaultMinSyncInterval).
            Assert.That(options.HealthzBindAddress, Is.EqualTo(IPEndPoint.Parse("0.0.0.0:10256")));
            Assert.That(options.MetricsBindAddress, Is.EqualTo(IPEndPoint.Parse("127.0.0.1:10249")));
            Assert.That(options.SyncPeriod, Is.EqualTo(TimeSpan.FromSeconds(30)));
            Assert.That(options.MinSyncInterval, Is.EqualTo(TimeSpan.FromMilliseconds(1)));
            Assert.That(options.HostnameOverride, Is.EqualTo(Environment.MachineName));
            Assert.That(options.BpffsRoot, Is.EqualTo("/sys/fs/bpf/proxy-replacement"));
            Assert.That(options.WorkloadInterfaces.Patterns, Is.EqualTo(new[] { "veth*", "cali*", "lxc*" }));
            Assert.That(options.HostInterfaces.Patterns, Is.EqualTo(new[] { "eth*", "ens*", "enp*" }));
            Assert.That(options.ServiceCidrs, Is.EqualTo(new[] { new Ipv4Cidr(IPAddress.Parse("10.96.0.0"), 12) }));
            Assert.That(options.MapSizes, Is.EqualTo(new CoreMapSizes()));
            // --direct-table-size auto: one slot per address of 10.96.0.0/12 (1,048,576), capped at 262,144 (16 MiB).
            Assert.That((options.DirectTableSize, options.DirectTableSlots, options.LoadedMapSizes.DirectSlots), Is.EqualTo(((int?)null, 262144, 262144)));
            Assert.That(options.ManifestDir, Is.Null);
            Assert.That(options.CgroupPath, Is.Null);
            Assert.That(options.SocketLbMode, Is.EqualTo(SocketLbMode.Tcp), "Calico's default: connect-time balancing for TCP");
            Assert.That(options.Cleanup, Is.False);
            // kube-proxy's --conntrack-tcp-timeout-established 24h; the rest as the Conntrack README compares them.
            Assert.That(options.ConntrackTimeouts.TcpEstablished, Is.EqualTo(TimeSpan.FromHours(24)));
            Assert.That(options.ConntrackSweepInterval, Is.EqualTo(TimeSpan.FromSeconds(10)));
            // Calico's bpfExternalServiceMode defaults to Tunnel; the tunnel and SNAT defaults are pr_map_abi.h's PR_DEFAULT_*.
            Assert.That(options.ExternalTraffic.Mode, Is.EqualTo(ExternalServiceMode.Tunnel));
            Assert.That(options.ExternalTraffic.TunnelPort, Is.EqualTo(6082));
            Assert.That(options.ExternalTraffic.TunnelVni, Is.EqualTo(0x5052));
            Assert.That(options.ExternalTraffic.TunnelMtu, Is.Zero, "auto: the host interfaces' MTU - 62");
            Assert.That(options.ExternalTraffic.SnatPorts, Is.EqualTo(new PortRange(20000, 29999)));
        });
    }

    [TestCase("snat", ExternalServiceMode.Snat)]
    [TestCase("tunnel", ExternalServiceMode.Tunnel)]
    [TestCase("DSR", ExternalServiceMode.Dsr)] // Calico writes Tunnel and DSR
    [TestCase("Tunnel", ExternalServiceMode.Tunnel)]
    public void External_service_modes_are_snat_tunnel_and_dsr_in_any_case(string value, ExternalServiceMode expected) =>
        Assert.That(Build("--external-service-mode", value).ExternalTraffic.Mode, Is.EqualTo(expected));

    [TestCase("--external-service-mode", "vxlan", "'vxlan' is not an external service mode; accepted: snat, tunnel, dsr")]
    [TestCase("--external-service-mode", "", "'' is not an external service mode")]
    [TestCase("--tunnel-port", "0", "'0' is not a UDP port; accepted: 1-65535")]
    [TestCase("--tunnel-port", "65536", "'65536' is not a UDP port")]
    [TestCase("--tunnel-port", "geneve", "'geneve' is not a UDP port")]
    [TestCase("--tunnel-vni", "16777216", "'16777216' is not a Geneve VNI; accepted: 1-16777215 (24 bits), decimal or 0x hexadecimal")]
    [TestCase("--tunnel-vni", "0x1000000", "'0x1000000' is not a Geneve VNI")]
    [TestCase("--tunnel-vni", "0", "'0' is not a Geneve VNI")]
    [TestCase("--tunnel-vni", "-1", "'-1' is not a Geneve VNI")]
    [TestCase("--tunnel-vni", "0xZZ", "'0xZZ' is not a Geneve VNI")]
    [TestCase("--tunnel-mtu", "575", "'575' is not a tunnel MTU; accepted: 576-65473 (65535 - 62 bytes of encapsulation), or 0 for the host interfaces' MTU - 62")]
    [TestCase("--tunnel-mtu", "65474", "'65474' is not a tunnel MTU")]
    [TestCase("--tunnel-mtu", "1500b", "'1500b' is not a tunnel MTU")]
    [TestCase("--snat-port-range", "29999-20000", "is not a port range (expected FIRST-LAST within 1-65535, e.g. 30000-32767); expected FIRST-LAST, e.g. 20000-29999")]
    [TestCase("--snat-port-range", "20000", "is not a port range")]
    public void A_bad_external_traffic_option_is_rejected_with_what_is_accepted(string flag, string value, string problem)
    {
        var error = Rejects(flag, value);

        Assert.That(error.Option, Is.EqualTo(flag));
        Assert.That(error.Message, Does.Contain(problem));
    }

    [TestCase("0", 0)]
    [TestCase("576", 576)]
    [TestCase("65473", 65473)]
    public void The_tunnel_mtu_takes_zero_for_auto_and_576_to_65535_minus_the_encapsulation(string value, int expected) =>
        Assert.That(Build("--tunnel-mtu", value).ExternalTraffic.TunnelMtu, Is.EqualTo(expected));

    [TestCase("20562", 0x5052u)]
    [TestCase("0x5052", 0x5052u)]
    [TestCase("0XFFFFFF", 0xFFFFFFu)]
    [TestCase("1", 1u)]
    public void The_tunnel_vni_is_decimal_or_hex_within_24_bits(string value, uint expected) =>
        Assert.That(Build("--tunnel-vni", value).ExternalTraffic.TunnelVni, Is.EqualTo(expected));

    [TestCase("30000-30999", "30000-32767")] // inside
    [TestCase("29000-30000", "30000-32767")] // touching the first NodePort
    [TestCase("32767-33000", "30000-32767")] // touching the last
    [TestCase("20000-29999", "25000-26000")] // the NodePort range moved into the default SNAT range
    public void A_snat_port_range_overlapping_the_node_port_range_is_rejected(string snat, string nodePorts)
    {
        var error = Rejects("--snat-port-range", snat, "--service-node-port-range", nodePorts);

        Assert.That(error.Option, Is.EqualTo("--snat-port-range"));
        Assert.That(error.Message, Is.EqualTo(
            $"invalid option --snat-port-range: {snat} overlaps --service-node-port-range {nodePorts}; choose SNAT ports outside the NodePort range (default 20000-29999)"));
    }

    [Test]
    public void Snat_ports_next_to_the_node_port_range_are_fine()
    {
        var options = Build("--snat-port-range", "29000-29999", "--service-node-port-range", "30000-32767");

        Assert.That(options.ExternalTraffic.SnatPorts, Is.EqualTo(new PortRange(29000, 29999)));
    }

    [Test]
    public void External_traffic_config_keys_are_the_camel_case_flag_names()
    {
        var config = ConfigFile("""
            externalServiceMode: snat
            tunnelPort: 7000
            tunnelVni: 0x10
            tunnelMtu: 8900
            snatPortRange: 40000-41000
            """);

        var traffic = Build("--config", config).ExternalTraffic;

        Assert.That(traffic, Is.EqualTo(new ExternalTrafficOptions
        {
            Mode = ExternalServiceMode.Snat, TunnelPort = 7000, TunnelVni = 16, TunnelMtu = 8900, SnatPorts = new PortRange(40000, 41000),
        }));
    }

    [Test]
    public void The_snat_overlap_check_also_applies_to_config_file_values()
    {
        var config = ConfigFile("snatPortRange: 30000-30100\n");

        Assert.That(Rejects("--config", config).Option, Is.EqualTo("--snat-port-range"));
    }

    /// <summary>One value per option and how to read it back; <see cref="Every_option_has_a_case"/> keeps it complete.</summary>
    private static readonly (string Flag, string Value, Func<ProxyOptions, string?> Read, string Expected)[] OptionCases =
    [
        ("manifest-dir", "<dir>", o => o.ManifestDir, "<dir>"),
        ("hostname-override", "node-7", o => o.HostnameOverride, "node-7"),
        ("healthz-bind-address", "127.0.0.2:9999", o => o.HealthzBindAddress?.ToString(), "127.0.0.2:9999"),
        ("metrics-bind-address", "0.0.0.0:9100", o => o.MetricsBindAddress?.ToString(), "0.0.0.0:9100"),
        ("bpffs-root", "/run/prt/pins", o => o.BpffsRoot, "/run/prt/pins"),
        ("workload-interfaces", "tap*,pod?", o => o.WorkloadInterfaces.ToString(), "tap*,pod?"),
        ("host-interfaces", "bond0,eno*", o => o.HostInterfaces.ToString(), "bond0,eno*"),
        ("cgroup-path", "<cgroup>", o => o.CgroupPath, "<cgroup>"),
        ("socket-lb-mode", "enabled", o => o.SocketLbMode.ToString(), "Enabled"),
        ("service-cidrs", "10.0.0.0/16, 172.20.0.0/24", o => string.Join(',', o.ServiceCidrs), "10.0.0.0/16,172.20.0.0/24"),
        ("min-sync-interval", "250ms", o => o.MinSyncInterval.ToString(), TimeSpan.FromMilliseconds(250).ToString()),
        ("sync-period", "2m", o => o.SyncPeriod.ToString(), TimeSpan.FromMinutes(2).ToString()),
        ("frontend-map-size", "1024", o => o.MapSizes.Frontends.ToString(), "1024"),
        ("backend-map-size", "2048", o => o.MapSizes.Backends.ToString(), "2048"),
        ("affinity-map-size", "16", o => o.MapSizes.Affinity.ToString(), "16"),
        ("conntrack-map-size", "67108864", o => o.MapSizes.Conntrack.ToString(), "67108864"),
        ("socket-reverse-map-size", "4096", o => o.MapSizes.SocketReverse.ToString(), "4096"),
        ("direct-table-size", "4096", o => o.DirectTableSize?.ToString() ?? "auto", "4096"),
        ("network-policy", "false", o => o.NetworkPolicy.ToString(), "False"),
        ("cleanup", "true", o => o.Cleanup.ToString(), "True"),
        ("source", "kubernetes", o => o.Source.ToString(), "Kubernetes"),
        ("kubeconfig", "/etc/kube/config", o => o.Kubeconfig, "/etc/kube/config"),
        ("service-proxy-name", "bpf-proxy.v2", o => o.ServiceProxyName, "bpf-proxy.v2"),
        ("api-timeout", "5s", o => o.ApiTimeout.ToString(), TimeSpan.FromSeconds(5).ToString()),
        ("logging-format", "json", o => o.LoggingFormat.ToString(), "Json"),
        ("otlp-endpoint", "http://otel-collector:4317", o => o.OtlpEndpoint?.ToString(), "http://otel-collector:4317/"),
        ("nodeport-addresses", "primary, 192.168.0.0/16", o => o.NodePortAddresses.ToString(), "primary,192.168.0.0/16"),
        ("service-node-port-range", "30000-31767", o => o.ServiceNodePortRange.ToString(), "30000-31767"),
        ("conntrack-tcp-timeout-syn", "20s", o => o.ConntrackTimeouts.TcpSyn.ToString(), TimeSpan.FromSeconds(20).ToString()),
        ("conntrack-tcp-timeout-established", "1h", o => o.ConntrackTimeouts.TcpEstablished.ToString(), TimeSpan.FromHours(1).ToString()),
        ("conntrack-tcp-timeout-close", "30s", o => o.ConntrackTimeouts.TcpClosing.ToString(), TimeSpan.FromSeconds(30).ToString()),
        ("conntrack-udp-timeout", "2m", o => o.ConntrackTimeouts.Udp.ToString(), TimeSpan.FromMinutes(2).ToString()),
        ("conntrack-generic-timeout", "5m", o => o.ConntrackTimeouts.Generic.ToString(), TimeSpan.FromMinutes(5).ToString()),
        ("conntrack-sweep-interval", "0s", o => o.ConntrackSweepInterval.ToString(), TimeSpan.Zero.ToString()),
        ("external-service-mode", "dsr", o => o.ExternalTraffic.Mode.ToString(), "Dsr"),
        ("tunnel-port", "6081", o => o.ExternalTraffic.TunnelPort.ToString(), "6081"),
        ("tunnel-vni", "0x1234", o => o.ExternalTraffic.TunnelVni.ToString(), "4660"),
        ("tunnel-mtu", "1400", o => o.ExternalTraffic.TunnelMtu.ToString(), "1400"),
        ("snat-port-range", "40000-40999", o => o.ExternalTraffic.SnatPorts.ToString(), "40000-40999"),
    ];

    private static IEnumerable<TestCaseData> FlagCases() =>
        OptionCases.SelectMany(c => new[]
        {
            new TestCaseData(c.Flag, c.Value, c.Read, c.Expected, true).SetArgDisplayNames($"--{c.Flag} value"),
            new TestCaseData(c.Flag, c.Value, c.Read, c.Expected, false).SetArgDisplayNames($"--{c.Flag}=value"),
        }).Where(testCase => !(testCase.Arguments[0] is "cleanup" && testCase.Arguments[4] is true)); // a switch takes no separate value

    /// <summary>Replaces the placeholders with directories that pass validation.</summary>
    private string Resolve(string value)
    {
        if (value == "<dir>")
            return _directory;
        if (value == "<cgroup>")
        {
            // Validation only looks for cgroup.procs; a fake one keeps the test off the real cgroup tree.
            var cgroup = Directory.CreateDirectory(Path.Combine(_directory, "cgroup")).FullName;
            File.WriteAllText(Path.Combine(cgroup, "cgroup.procs"), "");
            return cgroup;
        }
        return value;
    }

    [TestCaseSource(nameof(FlagCases))]
    public void Each_flag_sets_its_option(string flag, string value, Func<ProxyOptions, string?> read, string expected, bool separateValue)
    {
        var resolved = Resolve(value);
        var args = separateValue ? new[] { "--" + flag, resolved } : new[] { $"--{flag}={resolved}" };

        var options = Build(args);

        Assert.That(read(options), Is.EqualTo(Resolve(expected)));
        Assert.That(read(new ProxyOptions()), Is.Not.EqualTo(Resolve(expected)), "the case must differ from the default");
    }

    [TestCase("10.96.0.0/12", 262144)] // 1,048,576 addresses: capped
    [TestCase("10.96.0.0/14", 262144)] // exactly the cap
    [TestCase("10.96.0.0/16", 65536)]
    [TestCase("10.96.0.0/16,10.0.0.0/8", 65536)] // the first CIDR
    [TestCase("10.96.0.0/24", 256)]
    [TestCase("10.96.0.7/31", 2)]
    [TestCase("10.96.0.7/32", 0)] // one address: a table of one slot would be off anyway
    [TestCase("", 0)] // no Service CIDR
    public void Auto_sizes_the_fast_path_to_the_first_Service_CIDR(string cidrs, int slots)
    {
        var options = Build("--service-cidrs", cidrs, "--direct-table-size", "auto");

        Assert.That((options.DirectTableSlots, options.LoadedMapSizes.DirectSlots), Is.EqualTo((slots, Math.Max(1, slots))));
    }

    [TestCase("0", 0, 1)] // off: the map still exists, with one slot (mask 0)
    [TestCase("2", 2, 2)]
    [TestCase("1048576", 1048576, 1048576)]
    public void An_explicit_fast_path_size_wins_over_the_Service_CIDR(string value, int slots, int mapSlots)
    {
        var options = Build("--service-cidrs", "10.96.0.0/16", "--direct-table-size", value);

        Assert.That((options.DirectTableSlots, options.LoadedMapSizes.DirectSlots), Is.EqualTo((slots, mapSlots)));
    }

    [TestCase("1000", "1000 is not a power of two (a slot is a ClusterIP's low bits); the nearest are 512 and 1024")]
    [TestCase("1", "1 slot is a mask of 0, which the dataplane reads as off; use 0")]
    [TestCase("2097152", "'2097152' is not a table size; accepted: auto, 0 (off) or a power of two from 2 to 1048576")]
    [TestCase("-4", "'-4' is not a table size")]
    [TestCase("big", "'big' is not a table size")]
    public void A_fast_path_size_that_is_not_a_power_of_two_is_refused_with_the_reason(string value, string message)
    {
        var error = Rejects("--direct-table-size", value);

        Assert.That(error.Option, Is.EqualTo("--direct-table-size"));
        Assert.That(error.Message, Does.Contain(message));
    }

    [TestCase("0s")]
    [TestCase("500ms")]
    [TestCase("1.5s")]
    public void A_conntrack_timeout_must_be_whole_seconds_of_at_least_one(string value)
    {
        var error = Assert.Throws<OptionException>(() => Build(["--conntrack-udp-timeout", value]));
        Assert.That(error!.Message, Does.Contain("--conntrack-udp-timeout").And.Contain("at least 1s"));
    }

    [Test]
    public void Every_option_has_a_case()
    {
        Assert.That(OptionCases.Select(c => c.Flag), Is.EquivalentTo(ProxyOptionsBuilder.OptionNames));
    }

    [TestCase("disabled", SocketLbMode.Disabled)]
    [TestCase("TCP", SocketLbMode.Tcp)]
    [TestCase("enabled", SocketLbMode.Enabled)]
    public void Socket_lb_modes_are_calicos_three(string value, SocketLbMode expected) =>
        Assert.That(Build("--socket-lb-mode", value).SocketLbMode, Is.EqualTo(expected));

    [Test]
    public void An_unknown_socket_lb_mode_names_the_accepted_ones()
    {
        var error = Rejects("--socket-lb-mode", "udp");
        Assert.Multiple(() =>
        {
            Assert.That(error.Option, Is.EqualTo("--socket-lb-mode"));
            Assert.That(error.Message, Does.Contain("disabled").And.Contain("tcp").And.Contain("enabled"));
        });
    }

    [Test]
    public void A_switch_takes_no_value_but_accepts_an_explicit_one()
    {
        Assert.Multiple(() =>
        {
            Assert.That(Build("--cleanup", "--sync-period", "5s").Cleanup, Is.True);
            Assert.That(Build("--cleanup=false").Cleanup, Is.False);
            Assert.That(Rejects("--cleanup=maybe").Option, Is.EqualTo("--cleanup"));
        });
    }

    [Test]
    public void Config_file_keys_are_the_camel_case_flag_names()
    {
        var config = ConfigFile($"""
            manifestDir: {_directory}
            hostnameOverride: node-3
            bpffsRoot: /run/prt/pins
            minSyncInterval: 500ms
            syncPeriod: 1m
            serviceCidrs: [10.0.0.0/16, 10.1.0.0/16]
            workloadInterfaces:
            - tap*
            - pod*
            conntrackMapSize: 4096
            healthzBindAddress: ""
            """);

        var options = Build("--config", config);

        Assert.Multiple(() =>
        {
            Assert.That(options.ManifestDir, Is.EqualTo(_directory));
            Assert.That(options.HostnameOverride, Is.EqualTo("node-3"));
            Assert.That(options.BpffsRoot, Is.EqualTo("/run/prt/pins"));
            Assert.That(options.MinSyncInterval, Is.EqualTo(TimeSpan.FromMilliseconds(500)));
            Assert.That(options.SyncPeriod, Is.EqualTo(TimeSpan.FromMinutes(1)));
            Assert.That(options.ServiceCidrs.Select(c => c.ToString()), Is.EqualTo(new[] { "10.0.0.0/16", "10.1.0.0/16" }));
            Assert.That(options.WorkloadInterfaces.Patterns, Is.EqualTo(new[] { "tap*", "pod*" }));
            Assert.That(options.MapSizes.Conntrack, Is.EqualTo(4096));
            Assert.That(options.HealthzBindAddress, Is.Null);
            Assert.That(options.MetricsBindAddress, Is.EqualTo(IPEndPoint.Parse("127.0.0.1:10249")), "keys not in the file keep their defaults");
        });
    }

    [Test]
    public void Flags_override_the_config_file_wherever_they_stand()
    {
        var config = ConfigFile("hostnameOverride: from-file\nsyncPeriod: 1m\nbpffsRoot: /from/file\n");

        var flagBefore = Build("--hostname-override", "from-flag", "--config", config);
        var flagAfter = Build("--config", config, "--sync-period=45s");

        Assert.Multiple(() =>
        {
            Assert.That(flagBefore.HostnameOverride, Is.EqualTo("from-flag"));
            Assert.That(flagBefore.SyncPeriod, Is.EqualTo(TimeSpan.FromMinutes(1)));
            Assert.That(flagAfter.SyncPeriod, Is.EqualTo(TimeSpan.FromSeconds(45)));
            Assert.That(flagAfter.BpffsRoot, Is.EqualTo("/from/file"));
        });
    }

    [Test]
    public void An_empty_config_file_leaves_the_defaults()
    {
        Assert.That(Describe(Build("--config", ConfigFile(""))), Is.EqualTo(Describe(new ProxyOptions())));
    }

    /// <summary>Every setting as text (InterfacePatterns has no value equality, so the record's own Equals does not do).</summary>
    private static string Describe(ProxyOptions o) =>
        string.Join(" | ", OptionCases.Select(c => $"{c.Flag}={c.Read(o)}"));

    [Test]
    public void An_unknown_flag_is_named_with_every_accepted_flag()
    {
        var error = Rejects("--sync-period", "5s", "--frobnicate", "1");

        Assert.That(error.Option, Is.EqualTo("--frobnicate"));
        Assert.That(error.Message, Does.StartWith("invalid option --frobnicate: unknown option; accepted: "));
        foreach (var name in ProxyOptionsBuilder.OptionNames.Append("config"))
            Assert.That(error.Message, Does.Contain("--" + name));
    }

    [Test]
    public void A_zero_sync_period_is_rejected_at_start()
    {
        var error = Assert.Throws<OptionException>(() =>
            ProxyOptionsBuilder.FromArguments(["--sync-period", "0s", "--min-sync-interval", "0s"]))!;

        Assert.That(error.Message, Is.EqualTo("invalid option --sync-period: must be longer than 0 (e.g. 30s)"));
    }

    [Test]
    public void A_flag_outside_the_commands_allowed_set_is_rejected_listing_only_the_allowed_ones()
    {
        var allowed = new HashSet<string> { "bpffs-root" };

        var error = Assert.Throws<OptionException>(() => ProxyOptionsBuilder.FromArguments(["--sync-period", "5s"], allowed))!;
        var accepted = ProxyOptionsBuilder.FromArguments(["--bpffs-root", "/run/prt"], allowed);

        Assert.Multiple(() =>
        {
            Assert.That(error.Option, Is.EqualTo("--sync-period"));
            Assert.That(error.Message, Does.EndWith("accepted: --bpffs-root, --config"));
            Assert.That(accepted.BpffsRoot, Is.EqualTo("/run/prt"));
        });
    }

    [Test]
    public void An_unknown_config_key_is_named_with_every_accepted_key()
    {
        var config = ConfigFile("syncPeriod: 1m\nsync-period: 1m\n");

        var error = Rejects("--config", config);

        Assert.That(error.Option, Is.EqualTo($"sync-period (in {config})"));
        Assert.That(error.Message, Does.Contain("unknown key; accepted keys: "));
        foreach (var key in new[] { "manifestDir", "hostnameOverride", "healthzBindAddress", "minSyncInterval", "conntrackMapSize", "cleanup" })
            Assert.That(error.Message, Does.Contain(key));
    }

    [Test]
    public void A_bad_config_value_names_the_key_and_the_file()
    {
        var config = ConfigFile("minSyncInterval: soon\n");

        var error = Rejects("--config", config);

        Assert.That(error.Option, Is.EqualTo($"minSyncInterval (in {config})"));
        Assert.That(error.Message, Does.Contain("'soon' is not a duration"));
    }

    [TestCase("manifestDir: [a, b]\nsyncPeriod: {x: 1}\n", "syncPeriod", "expected a value or a list of values")]
    [TestCase("- syncPeriod\n", "--config", "must hold a mapping of option names to values")]
    [TestCase("syncPeriod: [1m\n", "--config", "is not valid YAML")]
    public void A_config_file_of_the_wrong_shape_is_rejected(string yaml, string option, string problem)
    {
        var config = ConfigFile(yaml);

        var error = Rejects("--config", config);

        Assert.That(error.Option, Does.StartWith(option));
        Assert.That(error.Message, Does.Contain(problem));
    }

    [Test]
    public void A_missing_config_file_is_rejected()
    {
        var error = Rejects("--config", Path.Combine(_directory, "absent.yaml"));

        Assert.That(error.Option, Is.EqualTo("--config"));
        Assert.That(error.Message, Does.Contain("does not exist"));
    }

    [Test]
    public void A_positional_argument_and_a_missing_value_are_rejected()
    {
        var positional = Rejects("--sync-period", "5s", "extra");
        var missing = Rejects("--sync-period");

        Assert.Multiple(() =>
        {
            Assert.That(positional.Option, Is.EqualTo("extra"));
            Assert.That(positional.Message, Does.Contain("options look like --name value"));
            Assert.That(missing.Option, Is.EqualTo("--sync-period"));
            Assert.That(missing.Message, Does.Contain("needs a value"));
        });
    }

    [TestCase("200ms", 0.2)]
    [TestCase("1s", 1.0)]
    [TestCase("1.5s", 1.5)]
    [TestCase("2m", 120.0)]
    [TestCase("1h", 3600.0)]
    [TestCase("0s", 0.0)]
    public void Durations_take_ms_s_m_and_h(string text, double seconds)
    {
        Assert.That(ProxyOptionsBuilder.Duration("--sync-period", text), Is.EqualTo(TimeSpan.FromSeconds(seconds)));
    }

    [TestCase("--min-sync-interval", "5")]
    [TestCase("--min-sync-interval", "5x")]
    [TestCase("--min-sync-interval", "-1s")]
    [TestCase("--sync-period", "")]
    [TestCase("--sync-period", "s")]
    [TestCase("--sync-period", "1 d")]
    [TestCase("--sync-period", "1e12h")]
    [TestCase("--sync-period", "Infinitys")]
    [TestCase("--sync-period", "NaNs")]
    public void A_bad_duration_is_rejected_with_the_accepted_units(string flag, string value)
    {
        var error = Rejects(flag, value);

        Assert.That(error.Option, Is.EqualTo(flag));
        Assert.That(error.Message, Is.EqualTo($"invalid option {flag}: '{value}' is not a duration; use a number with ms, s, m or h (e.g. 500ms, 1s, 2m)"));
    }

    [TestCase("10.96.0.0")]
    [TestCase("10.96.0.0/33")]
    [TestCase("10.96.0.0/-1")]
    [TestCase("fd00::/108")]
    [TestCase("10.96.0.0/12,bogus")]
    public void A_bad_service_cidr_is_rejected(string value)
    {
        var error = Rejects("--service-cidrs", value);

        Assert.That(error.Option, Is.EqualTo("--service-cidrs"));
        Assert.That(error.Message, Does.Contain("is not an IPv4 CIDR (expected e.g. 10.96.0.0/12)"));
        Assert.That(error.Message, Does.EndWith("expected comma-separated IPv4 CIDRs, or empty for none"));
    }

    [TestCase("--nodeport-addresses", "10.0.0.1/8", "is neither a CIDR (e.g. 192.168.0.0/16) nor the keyword primary")]
    [TestCase("--nodeport-addresses", "primary,eth0", "'eth0' is neither a CIDR")]
    [TestCase("--service-node-port-range", "32767-30000", "is not a port range (expected FIRST-LAST within 1-65535")]
    [TestCase("--service-node-port-range", "30000", "is not a port range")]
    [TestCase("--service-node-port-range", "0-100", "is not a port range")]
    public void Bad_nodeport_options_are_rejected_with_what_is_accepted(string flag, string value, string message)
    {
        var error = Rejects(flag, value);

        Assert.That(error.Option, Is.EqualTo(flag));
        Assert.That(error.Message, Does.Contain(message));
    }

    [Test]
    public void Empty_nodeport_addresses_mean_every_address()
    {
        Assert.That(Build("--nodeport-addresses=").NodePortAddresses.IsAll, Is.True);
    }

    [Test]
    public void An_empty_service_cidr_list_means_none()
    {
        Assert.That(Build("--service-cidrs=").ServiceCidrs, Is.Empty);
    }

    [TestCase("10256")]
    [TestCase("0.0.0.0")]
    [TestCase("localhost:10256")]
    [TestCase("127.0.0.1:0")]
    [TestCase("127.0.0.1:65536")]
    [TestCase("127.0.0.1:")]
    public void A_bad_bind_address_is_rejected(string value)
    {
        foreach (var flag in new[] { "--healthz-bind-address", "--metrics-bind-address" })
        {
            var error = Rejects(flag, value);

            Assert.That(error.Option, Is.EqualTo(flag));
            Assert.That(error.Message, Is.EqualTo($"invalid option {flag}: '{value}' is not IP:PORT (e.g. 0.0.0.0:10256), or empty to disable"));
        }
    }

    [Test]
    public void An_empty_bind_address_disables_the_server()
    {
        var options = Build("--healthz-bind-address", "", "--metrics-bind-address=");

        Assert.That(options.HealthzBindAddress, Is.Null);
        Assert.That(options.MetricsBindAddress, Is.Null);
    }

    [TestCase("15")]
    [TestCase("0")]
    [TestCase("-16")]
    [TestCase("+16")]
    [TestCase("1k")]
    [TestCase("67108865")]
    [TestCase("99999999999")]
    public void A_bad_map_size_is_rejected_with_the_accepted_range(string value)
    {
        foreach (var flag in new[] { "--frontend-map-size", "--backend-map-size", "--affinity-map-size", "--conntrack-map-size" })
        {
            var error = Rejects(flag, value);

            Assert.That(error.Option, Is.EqualTo(flag));
            Assert.That(error.Message, Is.EqualTo($"invalid option {flag}: '{value}' is not a map size; accepted: a whole number from 16 to 67108864"));
        }
    }

    [TestCase("", "no pattern given")]
    [TestCase(" , ", "no pattern given")]
    [TestCase("veth*,eth0/1", "'eth0/1' contains a character interface names cannot have")]
    [TestCase("a-very-long-name", "'a-very-long-name' is longer than an interface name can be (15 characters)")]
    public void A_bad_interface_pattern_list_is_rejected(string value, string problem)
    {
        foreach (var flag in new[] { "--workload-interfaces", "--host-interfaces" })
        {
            var error = Rejects(flag, value);

            Assert.That(error.Option, Is.EqualTo(flag));
            Assert.That(error.Message, Is.EqualTo($"invalid option {flag}: {problem}; expected comma-separated name globs such as veth*,cali*"));
        }
    }

    [TestCase("--bpffs-root")]
    [TestCase("--cgroup-path")]
    public void A_relative_path_is_rejected(string flag)
    {
        var error = Rejects(flag, "relative/dir");

        Assert.That(error.Option, Is.EqualTo(flag));
        Assert.That(error.Message, Does.Contain("'relative/dir' must be an absolute path"));
    }

    [Test]
    public void An_empty_hostname_is_rejected()
    {
        Assert.That(Rejects("--hostname-override", " ").Option, Is.EqualTo("--hostname-override"));
    }

    [Test]
    public void A_missing_manifest_directory_or_a_non_cgroup_directory_is_rejected()
    {
        var manifest = Rejects("--manifest-dir", Path.Combine(_directory, "absent"));
        var cgroup = Rejects("--cgroup-path", _directory);

        Assert.Multiple(() =>
        {
            Assert.That(manifest.Option, Is.EqualTo("--manifest-dir"));
            Assert.That(manifest.Message, Does.Contain("does not exist"));
            Assert.That(cgroup.Option, Is.EqualTo("--cgroup-path"));
            Assert.That(cgroup.Message, Does.Contain("is not a cgroup v2 directory"));
        });
    }

    [Test]
    public void A_sync_period_shorter_than_the_minimum_sync_interval_is_rejected()
    {
        var error = Rejects("--min-sync-interval", "2s", "--sync-period", "1500ms");
        var equal = Build("--min-sync-interval", "2s", "--sync-period", "2s");

        Assert.Multiple(() =>
        {
            Assert.That(error.Option, Is.EqualTo("--sync-period"));
            Assert.That(error.Message, Does.Contain("shorter than --min-sync-interval"));
            Assert.That(equal.SyncPeriod, Is.EqualTo(TimeSpan.FromSeconds(2)));
        });
    }

    [Test]
    public void The_sync_period_check_also_applies_to_config_file_values()
    {
        var config = ConfigFile("minSyncInterval: 1m\n");

        Assert.That(Rejects("--config", config).Option, Is.EqualTo("--sync-period"));
    }

    [TestCase("--source", "k8s", "'k8s' is not a source; accepted: auto, kubernetes, manifest")]
    [TestCase("--service-proxy-name", "-bad", "'-bad' is not a label value")]
    [TestCase("--service-proxy-name", "has space", "'has space' is not a label value")]
    [TestCase("--api-timeout", "0s", "must be longer than 0")]
    [TestCase("--kubeconfig", "", "must not be empty")]
    public void A_bad_kubernetes_option_is_rejected(string flag, string value, string problem)
    {
        var error = Assert.Throws<OptionException>(() => Build(flag, value));

        Assert.That(error!.Message, Does.StartWith($"invalid option {flag}: {problem}"));
    }

    [Test]
    public void Source_options_that_contradict_each_other_are_rejected()
    {
        Assert.Multiple(() =>
        {
            Assert.That(() => Build("--source", "manifest"),
                Throws.TypeOf<OptionException>().With.Message.EqualTo("invalid option --source: manifest needs --manifest-dir DIR"));
            Assert.That(() => Build("--source", "kubernetes", "--manifest-dir", _directory),
                Throws.TypeOf<OptionException>().With.Message.StartWith("invalid option --manifest-dir: not used with --source kubernetes"));
            Assert.That(() => Build("--source", "manifest", "--manifest-dir", _directory, "--kubeconfig", "/k"),
                Throws.TypeOf<OptionException>().With.Message.StartWith("invalid option --kubeconfig: not used with --source manifest"));
            Assert.That(() => Build("--manifest-dir", _directory, "--kubeconfig", "/k"),
                Throws.TypeOf<OptionException>().With.Message.StartWith("invalid option --source: both --kubeconfig and --manifest-dir are given"));
        });
    }

    [Test]
    public void A_relative_kubeconfig_path_is_made_absolute()
    {
        var options = Build("--kubeconfig", "conf/kubeconfig");

        Assert.That(options.Kubeconfig, Is.EqualTo(Path.Combine(Environment.CurrentDirectory, "conf/kubeconfig")));
    }
}
