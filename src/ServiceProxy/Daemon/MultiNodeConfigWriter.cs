using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using ProxyReplacement.Dataplane;
using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Daemon;

/// <summary>
/// Keeps pr_config's many-node fields (<see cref="MultiNodeConfig"/>) what the options and this node say: the external
/// service mode, this node's address (the SNAT source and the tunnel's outer source: the address the other nodes know,
/// its InternalIP), the Geneve port, VNI and MTU, the SNAT ports. The daemon calls <see cref="Update"/> on every poll of
/// the node's addresses (each second), so a changed InternalIP or interface MTU reaches the dataplane within about a
/// second; pr_config is written only when a field changed (and the rest of it is kept).
/// </summary>
public sealed partial class MultiNodeConfigWriter
{
    private const string SysClassNet = "/sys/class/net";

    private readonly ExternalTrafficOptions _options;
    private readonly InterfacePatterns _hostInterfaces;
    private readonly Func<DataplaneConfig> _read;
    private readonly Action<DataplaneConfig> _write;
    private readonly Func<IEnumerable<(string Name, int Mtu)>> _interfaceMtus;
    private readonly ILogger _logger;
    private MultiNodeConfig? _written;

    /// <param name="read">pr_config as it is (<see cref="CoreDataplane.ReadConfig"/>).</param>
    /// <param name="write">Writes pr_config (<see cref="CoreDataplane.WriteConfig"/>).</param>
    /// <param name="interfaceMtus">This network namespace's interfaces and MTUs; default <see cref="InterfaceMtus"/>.</param>
    public MultiNodeConfigWriter(ExternalTrafficOptions options, InterfacePatterns hostInterfaces, Func<DataplaneConfig> read, Action<DataplaneConfig> write,
        ILogger logger, Func<IEnumerable<(string Name, int Mtu)>>? interfaceMtus = null)
    {
        _options = options;
        _hostInterfaces = hostInterfaces;
        _read = read;
        _write = write;
        _logger = logger;
        _interfaceMtus = interfaceMtus ?? InterfaceMtus;
    }

    /// <summary>What was last written (null: nothing yet).</summary>
    public MultiNodeConfig? Written => _written;

    /// <summary>Computes the fields from this node and the host's interfaces; writes pr_config when they changed (true).</summary>
    public bool Update(Node? node, IReadOnlyList<InterfaceAddress> host, IReadOnlyList<IPAddress> nodePortAddresses)
    {
        var (address, from) = NodeAddress(node, host, _hostInterfaces, nodePortAddresses);
        var (mtu, mtuFrom) = TunnelMtu(_options.TunnelMtu, _interfaceMtus().Where(i => _hostInterfaces.Matches(i.Name)).ToList());
        var config = Compute(_options, address, mtu);
        if (config == _written)
            return false;
        try
        {
            _write(_read().WithMultiNode(config));
        }
        catch (BpfException error)
        {
            LogWriteFailed(_logger, error.Message);
            return false; // tried again at the next poll
        }
        _written = config;
        LogWritten(_logger, ExternalTrafficOptions.Name(config.Mode), address?.ToString() ?? "none (remote backends are routed as on one node)", from,
            config.TunnelPort, $"0x{config.TunnelVni:x}", config.TunnelMtu, mtuFrom, config.SnatPortMin, config.SnatPortMax);
        return true;
    }

    /// <summary>The fields as written: every one explicit (no zero left for the dataplane's defaults to fill in).</summary>
    public static MultiNodeConfig Compute(ExternalTrafficOptions options, IPAddress? nodeAddress, ushort tunnelMtu) =>
        new(options.Mode, nodeAddress, (ushort)options.TunnelPort, tunnelMtu, options.TunnelVni, (ushort)options.SnatPorts.First,
            (ushort)options.SnatPorts.Last);

    /// <summary>
    /// This node's IPv4 address for the other nodes: its Node's first IPv4 InternalIP (what the routing module writes into
    /// every node's pr_routes4 as this node's tunnel endpoint, and what a decapsulating node checks a tunnel packet's
    /// source against). Without one, the first IPv4 NodePort address on a host interface (<c>--host-interfaces</c>),
    /// then the first IPv4 NodePort address at all (the sorted list also holds bridges such as docker0). Null: none.
    /// </summary>
    public static (IPAddress? Address, string From) NodeAddress(Node? node, IReadOnlyList<InterfaceAddress> host, InterfacePatterns hostInterfaces,
        IReadOnlyList<IPAddress> nodePortAddresses)
    {
        if (node?.IPs(NodeAddressType.InternalIP).FirstOrDefault(ip => ip.AddressFamily == AddressFamily.InterNetwork) is { } internalIP)
            return (internalIP, $"Node {node.Name} InternalIP");
        var ipv4 = nodePortAddresses.Where(ip => ip.AddressFamily == AddressFamily.InterNetwork).ToList();
        foreach (var address in ipv4)
            if (host.FirstOrDefault(a => a.Address.Equals(address) && hostInterfaces.Matches(a.Interface)) is { Interface: { } name })
                return (address, $"NodePort address of {name}");
        return ipv4.Count > 0 ? (ipv4[0], "first NodePort address") : (null, "no IPv4 node address");
    }

    /// <summary>
    /// The configured tunnel MTU, or with 0 the smallest MTU of the host interfaces minus the encapsulation (62 bytes:
    /// the packet must fit the smallest link it may leave by), or the dataplane's default (1500 - 62) without any.
    /// </summary>
    public static (ushort Mtu, string From) TunnelMtu(int configured, IReadOnlyList<(string Name, int Mtu)> hostInterfaces)
    {
        if (configured != 0)
            return ((ushort)configured, "--tunnel-mtu");
        var smallest = hostInterfaces.Where(i => i.Mtu > MultiNodeConfig.EncapsulationOverhead).OrderBy(i => i.Mtu).ThenBy(i => i.Name, StringComparer.Ordinal)
            .Select(i => ((string Name, int Mtu)?)i).FirstOrDefault();
        if (smallest is not { } link)
            return (MultiNodeConfig.DefaultTunnelMtu, $"no host interface: 1500 - {MultiNodeConfig.EncapsulationOverhead}");
        var mtu = Math.Min(link.Mtu, 65535) - MultiNodeConfig.EncapsulationOverhead;
        return ((ushort)mtu, $"{link.Name} {link.Mtu} - {MultiNodeConfig.EncapsulationOverhead}");
    }

    /// <summary>The MTU of each interface of this network namespace (/sys/class/net/NAME/mtu); none when sysfs cannot be read.</summary>
    public static IEnumerable<(string Name, int Mtu)> InterfaceMtus()
    {
        var mtus = new List<(string, int)>();
        try
        {
            foreach (var dir in Directory.EnumerateDirectories(SysClassNet))
            {
                try
                {
                    if (int.TryParse(File.ReadAllText(Path.Combine(dir, "mtu")).Trim(), out var mtu))
                        mtus.Add((Path.GetFileName(dir), mtu));
                }
                catch (IOException)
                {
                    // vanished while we looked
                }
            }
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // no sysfs: the default MTU (TunnelMtu), rather than a poll loop that throws
        }
        return mtus;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "External traffic to other nodes: mode {Mode}; node address {Address} ({From}); Geneve UDP {Port}, VNI {Vni}, MTU {Mtu} ({MtuFrom}); SNAT ports {SnatMin}-{SnatMax}")]
    private static partial void LogWritten(ILogger logger, string mode, string address, string from, ushort port, string vni, ushort mtu, string mtuFrom,
        ushort snatMin, ushort snatMax);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Cannot write the external traffic settings into pr_config: {Reason}; retrying at the next address poll")]
    private static partial void LogWriteFailed(ILogger logger, string reason);
}
