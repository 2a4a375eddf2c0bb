using System.Globalization;
using System.Net;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using YamlDotNet.RepresentationModel;

namespace ProxyReplacement.ServiceProxy.Options;

/// <summary>
/// Builds <see cref="ProxyOptions"/> from an optional YAML config file (<c>--config</c>) and flags;
/// flags win over the file. The file's keys are the flag names in camelCase (<c>bpffsRoot</c>,
/// <c>minSyncInterval</c>, ...). Every invalid value fails with an <see cref="OptionException"/>
/// that names the option and what it accepts.
/// </summary>
public static class ProxyOptionsBuilder
{
    /// <summary>Every option: flag name (without dashes) -> how to apply its value.</summary>
    private static readonly Dictionary<string, Func<ProxyOptions, string, string, ProxyOptions>> Setters = new()
    {
        ["manifest-dir"] = (o, _, v) => o with { ManifestDir = v },
        ["source"] = (o, n, v) => o with { Source = Source(n, v) },
        ["kubeconfig"] = (o, n, v) => o with { Kubeconfig = Path.GetFullPath(NonEmpty(n, v)) },
        ["service-proxy-name"] = (o, n, v) => o with { ServiceProxyName = LabelValue(n, v) },
        ["api-timeout"] = (o, n, v) => o with { ApiTimeout = Positive(n, Duration(n, v)) },
        ["hostname-override"] = (o, n, v) => o with { HostnameOverride = NonEmpty(n, v) },
        ["healthz-bind-address"] = (o, n, v) => o with { HealthzBindAddress = BindAddress(n, v) },
        ["metrics-bind-address"] = (o, n, v) => o with { MetricsBindAddress = BindAddress(n, v) },
        ["bpffs-root"] = (o, n, v) => o with { BpffsRoot = AbsolutePath(n, v) },
        ["workload-interfaces"] = (o, n, v) => o with { WorkloadInterfaces = Patterns(n, v) },
        ["host-interfaces"] = (o, n, v) => o with { HostInterfaces = Patterns(n, v) },
        ["nodeport-addresses"] = (o, n, v) => o with { NodePortAddresses = Parsed(n, v, NodePortAddressFilter.Parse, "comma-separated CIDRs and/or the keyword primary, or empty for every address") },
        ["service-node-port-range"] = (o, n, v) => o with { ServiceNodePortRange = Parsed(n, v, PortRange.Parse, "FIRST-LAST, e.g. 30000-32767") },
        ["cgroup-path"] = (o, n, v) => o with { CgroupPath = AbsolutePath(n, v) },
        ["socket-lb-mode"] = (o, n, v) => o with { SocketLbMode = SocketMode(n, v) },
        // External traffic to backends on other nodes (ExternalTrafficOptions): the mode, the tunnel, the SNAT ports.
        ["external-service-mode"] = (o, n, v) => o with { ExternalTraffic = o.ExternalTraffic with { Mode = ExternalTrafficOptions.ParseMode(n, v) } },
        ["tunnel-port"] = (o, n, v) => o with { ExternalTraffic = o.ExternalTraffic with { TunnelPort = ExternalTrafficOptions.ParseTunnelPort(n, v) } },
        ["tunnel-vni"] = (o, n, v) => o with { ExternalTraffic = o.ExternalTraffic with { TunnelVni = ExternalTrafficOptions.ParseTunnelVni(n, v) } },
        ["tunnel-mtu"] = (o, n, v) => o with { ExternalTraffic = o.ExternalTraffic with { TunnelMtu = ExternalTrafficOptions.ParseTunnelMtu(n, v) } },
        ["snat-port-range"] = (o, n, v) => o with { ExternalTraffic = o.ExternalTraffic with { SnatPorts = ExternalTrafficOptions.ParseSnatPorts(n, v) } },
        ["service-cidrs"] = (o, n, v) => o with { ServiceCidrs = Cidrs(n, v) },
        ["min-sync-interval"] = (o, n, v) => o with { MinSyncInterval = Duration(n, v) },
        ["sync-period"] = (o, n, v) => o with { SyncPeriod = Duration(n, v) },
        ["frontend-map-size"] = (o, n, v) => o with { MapSizes = o.MapSizes with { Frontends = MapSize(n, v) } },
        ["backend-map-size"] = (o, n, v) => o with { MapSizes = o.MapSizes with { Backends = MapSize(n, v) } },
        ["affinity-map-size"] = (o, n, v) => o with { MapSizes = o.MapSizes with { Affinity = MapSize(n, v) } },
        ["conntrack-map-size"] = (o, n, v) => o with { MapSizes = o.MapSizes with { Conntrack = MapSize(n, v) } },
        ["socket-reverse-map-size"] = (o, n, v) => o with { MapSizes = o.MapSizes with { SocketReverse = MapSize(n, v) } },
        ["direct-table-size"] = (o, n, v) => o with { DirectTableSize = Options.DirectTableSize.Parse(n, v) },
        ["network-policy"] = (o, n, v) => o with { NetworkPolicy = Bool(n, v) },
        ["cleanup"] = (o, n, v) => o with { Cleanup = Bool(n, v) },
        ["logging-format"] = (o, n, v) => o with { LoggingFormat = Logging(n, v) },
        ["otlp-endpoint"] = (o, n, v) => o with { OtlpEndpoint = HttpUri(n, v) },
        // Conntrack lifecycle (src/ServiceProxy/Conntrack): idle timeouts and the sweeper's interval.
        ["conntrack-tcp-timeout-syn"] = (o, n, v) => o with { ConntrackTimeouts = o.ConntrackTimeouts with { TcpSyn = Timeout(n, v) } },
        ["conntrack-tcp-timeout-established"] = (o, n, v) => o with { ConntrackTimeouts = o.ConntrackTimeouts with { TcpEstablished = Timeout(n, v) } },
        ["conntrack-tcp-timeout-close"] = (o, n, v) => o with { ConntrackTimeouts = o.ConntrackTimeouts with { TcpClosing = Timeout(n, v) } },
        ["conntrack-udp-timeout"] = (o, n, v) => o with { ConntrackTimeouts = o.ConntrackTimeouts with { Udp = Timeout(n, v) } },
        ["conntrack-generic-timeout"] = (o, n, v) => o with { ConntrackTimeouts = o.ConntrackTimeouts with { Generic = Timeout(n, v) } },
        ["conntrack-sweep-interval"] = (o, n, v) => o with { ConntrackSweepInterval = Duration(n, v) },
    };

    /// <summary>Options whose flag takes no value.</summary>
    private static readonly HashSet<string> Switches = ["cleanup"];

    public static IReadOnlyCollection<string> OptionNames => Setters.Keys;

    /// <summary>Whether the flag of <paramref name="name"/> takes no value (<c>--cleanup</c>).</summary>
    public static bool IsSwitch(string name) => Switches.Contains(name);

    /// <summary>Checks one flag's value alone (its own rules, not how it combines with others): the command-line parser's validator.</summary>
    public static void CheckValue(string name, string value) => Setters[name](new ProxyOptions(), "--" + name, value);

    /// <summary>
    /// Builds options from flags already split by the command-line parser (name without dashes -> value; a switch given
    /// without a value as "true"); <c>config</c> names the YAML file, which the other flags override.
    /// </summary>
    public static ProxyOptions FromFlags(IReadOnlyDictionary<string, string> flags)
    {
        var options = new ProxyOptions();
        if (flags.TryGetValue("config", out var configPath))
            options = ApplyConfigFile(options, configPath);
        foreach (var (name, value) in flags)
            if (name != "config")
                options = Setters.TryGetValue(name, out var setter)
                    ? setter(options, "--" + name, value)
                    : throw new OptionException("--" + name, "unknown option");
        return Validate(options);
    }

    /// <summary>Builds options from command-line arguments (after the command word).</summary>
    public static ProxyOptions FromArguments(IReadOnlyList<string> args, IReadOnlySet<string>? allowed = null)
    {
        var flags = ParseFlags(args, allowed);
        var options = new ProxyOptions();
        if (flags.Remove("config", out var configPath))
            options = ApplyConfigFile(options, configPath);
        foreach (var (name, value) in flags)
            options = Setters[name](options, "--" + name, value);
        return Validate(options);
    }

    /// <summary>Applies a YAML config file; its keys are the camelCase flag names.</summary>
    public static ProxyOptions ApplyConfigFile(ProxyOptions options, string path)
    {
        if (!File.Exists(path))
            throw new OptionException("--config", $"file '{path}' does not exist");
        var yaml = new YamlStream();
        try
        {
            yaml.Load(new StringReader(File.ReadAllText(path)));
        }
        catch (YamlDotNet.Core.YamlException error)
        {
            throw new OptionException("--config", $"'{path}' is not valid YAML: {error.Message}");
        }
        if (yaml.Documents.Count == 0)
            return options;
        if (yaml.Documents[0].RootNode is not YamlMappingNode root)
            throw new OptionException("--config", $"'{path}' must hold a mapping of option names to values");

        var byCamel = Setters.Keys.ToDictionary(CamelCase, name => name);
        foreach (var (keyNode, valueNode) in root.Children)
        {
            var key = (keyNode as YamlScalarNode)?.Value ?? "";
            if (!byCamel.TryGetValue(key, out var name))
                throw new OptionException($"{key} (in {path})",
                    $"unknown key; accepted keys: {string.Join(", ", byCamel.Keys.Order(StringComparer.Ordinal))}");
            var value = valueNode switch
            {
                YamlScalarNode scalar => scalar.Value ?? "",
                YamlSequenceNode sequence => string.Join(',', sequence.Children.OfType<YamlScalarNode>().Select(s => s.Value)),
                _ => throw new OptionException($"{key} (in {path})", "expected a value or a list of values"),
            };
            options = Setters[name](options, $"{key} (in {path})", value);
        }
        return options;
    }

    private static Dictionary<string, string> ParseFlags(IReadOnlyList<string> args, IReadOnlySet<string>? allowed)
    {
        var flags = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal))
                throw new OptionException(arg, "unexpected argument; options look like --name value");
            var name = arg[2..];
            string? value = null;
            var equals = name.IndexOf('=');
            if (equals >= 0)
            {
                value = name[(equals + 1)..];
                name = name[..equals];
            }
            var known = name == "config" || Setters.ContainsKey(name);
            if (!known || (allowed is not null && name != "config" && !allowed.Contains(name)))
            {
                var accepted = (allowed ?? (IEnumerable<string>)Setters.Keys).Append("config").ToHashSet();
                throw new OptionException("--" + name,
                    $"unknown option; accepted: {string.Join(", ", accepted.Order(StringComparer.Ordinal).Select(n => "--" + n))}");
            }
            if (value is null)
            {
                if (Switches.Contains(name))
                    value = "true";
                else if (i + 1 < args.Count)
                    value = args[++i];
                else
                    throw new OptionException("--" + name, "needs a value");
            }
            flags[name] = value;
        }
        return flags;
    }

    /// <param name="checkHostPaths">false: skip what depends on this machine's files (the manifest directory and the
    /// cgroup exist), for checking a config written for another machine (<c>run --validate-config</c>).</param>
    internal static ProxyOptions Validate(ProxyOptions options, bool checkHostPaths = true)
    {
        if (options.SyncPeriod <= TimeSpan.Zero)
            throw new OptionException("--sync-period", "must be longer than 0 (e.g. 30s)");
        if (options.SyncPeriod < options.MinSyncInterval)
            throw new OptionException("--sync-period",
                $"{options.SyncPeriod} is shorter than --min-sync-interval {options.MinSyncInterval}; it must be at least as long");
        ExternalTrafficOptions.Validate(options.ExternalTraffic, options.ServiceNodePortRange);
        if (options.Source == SourceKind.Manifest && options.ManifestDir is null)
            throw new OptionException("--source", "manifest needs --manifest-dir DIR");
        if (options.Source == SourceKind.Kubernetes && options.ManifestDir is not null)
            throw new OptionException("--manifest-dir", "not used with --source kubernetes; remove one of them");
        if (options.Source == SourceKind.Manifest && options.Kubeconfig is not null)
            throw new OptionException("--kubeconfig", "not used with --source manifest; remove one of them");
        if (options.Source == SourceKind.Auto && options.ManifestDir is not null && options.Kubeconfig is not null)
            throw new OptionException("--source", "both --kubeconfig and --manifest-dir are given: choose with --source kubernetes|manifest");
        if (!checkHostPaths)
            return options;
        if (options.ManifestDir is { } dir && !Directory.Exists(dir))
            throw new OptionException("--manifest-dir", $"directory '{dir}' does not exist");
        if (options.CgroupPath is { } cgroup && !File.Exists(Path.Combine(cgroup, "cgroup.procs")))
            throw new OptionException("--cgroup-path", $"'{cgroup}' is not a cgroup v2 directory (no cgroup.procs)");
        return options;
    }

    private static string CamelCase(string flag)
    {
        var parts = flag.Split('-');
        return parts[0] + string.Concat(parts.Skip(1).Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
    }

    private static string NonEmpty(string name, string value) =>
        string.IsNullOrWhiteSpace(value) ? throw new OptionException(name, "must not be empty") : value;

    private static string AbsolutePath(string name, string value) =>
        Path.IsPathRooted(value) ? value : throw new OptionException(name, $"'{value}' must be an absolute path");

    private static IPEndPoint? BindAddress(string name, string value)
    {
        if (value.Length == 0)
            return null; // kube-proxy: an empty address disables the server
        if (IPEndPoint.TryParse(value, out var endpoint) && value.Contains(':') && endpoint.Port > 0)
            return endpoint;
        throw new OptionException(name, $"'{value}' is not IP:PORT (e.g. 0.0.0.0:10256), or empty to disable");
    }

    private static InterfacePatterns Patterns(string name, string value)
    {
        try
        {
            var patterns = InterfacePatterns.Parse(value);
            return patterns.Patterns.Count > 0 ? patterns : throw new FormatException("no pattern given");
        }
        catch (FormatException error)
        {
            throw new OptionException(name, $"{error.Message}; expected comma-separated name globs such as veth*,cali*");
        }
    }

    private static T Parsed<T>(string name, string value, Func<string, T> parse, string accepted)
    {
        try
        {
            return parse(value);
        }
        catch (FormatException error)
        {
            throw new OptionException(name, $"{error.Message}; expected {accepted}");
        }
    }

    private static IReadOnlyList<Ipv4Cidr> Cidrs(string name, string value)
    {
        try
        {
            return value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(Ipv4Cidr.Parse).ToList();
        }
        catch (FormatException error)
        {
            throw new OptionException(name, $"{error.Message}; expected comma-separated IPv4 CIDRs, or empty for none");
        }
    }

    /// <summary>Durations like 200ms, 1s, 2m, 1h (or 1.5s).</summary>
    public static TimeSpan Duration(string name, string value)
    {
        var units = new (string Suffix, double Seconds)[] { ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600) };
        foreach (var (suffix, seconds) in units)
        {
            if (value.EndsWith(suffix, StringComparison.Ordinal)
                && double.TryParse(value[..^suffix.Length], NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
                && number >= 0 && number * seconds < TimeSpan.MaxValue.TotalSeconds)
                return TimeSpan.FromSeconds(number * seconds);
        }
        throw new OptionException(name, $"'{value}' is not a duration; use a number with ms, s, m or h (e.g. 500ms, 1s, 2m)");
    }

    private static int MapSize(string name, string value)
    {
        if (int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var size) && size is >= 16 and <= 1 << 26)
            return size;
        throw new OptionException(name, $"'{value}' is not a map size; accepted: a whole number from 16 to {1 << 26}");
    }

    private static SocketLbMode SocketMode(string name, string value) => value.ToLowerInvariant() switch
    {
        "disabled" => SocketLbMode.Disabled,
        "tcp" => SocketLbMode.Tcp,
        "enabled" => SocketLbMode.Enabled,
        _ => throw new OptionException(name, $"'{value}' is not a socket LB mode; accepted: disabled, tcp (TCP only), enabled (TCP and UDP)"),
    };

    private static SourceKind Source(string name, string value) => value switch
    {
        "auto" => SourceKind.Auto,
        "kubernetes" => SourceKind.Kubernetes,
        "manifest" => SourceKind.Manifest,
        _ => throw new OptionException(name, $"'{value}' is not a source; accepted: auto, kubernetes, manifest"),
    };

    /// <summary>A Kubernetes label value: at most 63 letters, digits, '-', '_', '.', starting and ending alphanumeric.</summary>
    private static string LabelValue(string name, string value)
    {
        if (value.Length is > 0 and <= 63 && char.IsAsciiLetterOrDigit(value[0]) && char.IsAsciiLetterOrDigit(value[^1]) &&
            value.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            return value;
        throw new OptionException(name, $"'{value}' is not a label value (1-63 letters, digits, '-', '_' or '.', alphanumeric at both ends)");
    }

    private static LoggingFormat Logging(string name, string value) => value switch
    {
        "text" => LoggingFormat.Text,
        "json" => LoggingFormat.Json,
        _ => throw new OptionException(name, $"'{value}' is not a logging format; accepted: text, json"),
    };

    private static Uri? HttpUri(string name, string value)
    {
        if (value.Length == 0)
            return null;
        if (Uri.TryCreate(value, UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https")
            return uri;
        throw new OptionException(name, $"'{value}' is not an http(s) URL (e.g. http://otel-collector:4317), or empty for none");
    }

    /// <summary>A conntrack timeout: whole seconds from 1 s to about 136 years (pr_config holds u32 seconds).</summary>
    private static TimeSpan Timeout(string name, string value)
    {
        var timeout = Duration(name, value);
        if (timeout < TimeSpan.FromSeconds(1) || timeout.TotalSeconds > uint.MaxValue || timeout.TotalSeconds != Math.Floor(timeout.TotalSeconds))
            throw new OptionException(name, $"'{value}' is not a conntrack timeout; accepted: whole seconds, at least 1s (e.g. 30s, 10m, 24h)");
        return timeout;
    }

    private static TimeSpan Positive(string name, TimeSpan value) =>
        value > TimeSpan.Zero ? value : throw new OptionException(name, "must be longer than 0 (e.g. 30s)");

    private static bool Bool(string name, string value) => value.ToLowerInvariant() switch
    {
        "true" or "1" or "yes" => true,
        "false" or "0" or "no" => false,
        _ => throw new OptionException(name, $"'{value}' is not a boolean; accepted: true, false"),
    };
}
