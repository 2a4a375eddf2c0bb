using ProxyReplacement.Dataplane.Abi;
using ProxyReplacement.ServiceProxy.Model;
using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Sync;

/// <summary>
/// The per-Service external service mode (<see cref="Service.ExternalServiceModeAnnotation"/>) as frontend flags.
/// A Service with a valid annotation gets its mode's flag (<c>PR_FE_F_MODE_*</c>) on every frontend, ClusterIP ones
/// included: traffic from outside can reach a ClusterIP too (a router with a route to the Service CIDR, as
/// <c>explain --from external</c> shows), and it should leave the node the way the Service asked whichever address it
/// used. Traffic from this node's pods and host never looks at the flag (the modes are about external traffic to a
/// backend on another node), so the flag costs nothing there. Without the annotation, or with a value that is none of
/// snat, tunnel, dsr, no flag is set and the dataplane uses pr_config's mode (<c>--external-service-mode</c>); a bad
/// value is reported by <see cref="Problem"/>, and the Service is programmed all the same.
/// </summary>
public static class ExternalModes
{
    /// <summary>The mode flag of the Service's frontends, or none (the node's default).</summary>
    public static FrontendFlags FlagOf(Service service) =>
        service.ExternalServiceMode is { } text && ExternalTrafficOptions.TryParseMode(text, out var mode) ? FlagOf(mode) : FrontendFlags.None;

    public static FrontendFlags FlagOf(ExternalServiceMode mode) => mode switch
    {
        ExternalServiceMode.Snat => FrontendFlags.ModeSnat,
        ExternalServiceMode.Tunnel => FrontendFlags.ModeTunnel,
        ExternalServiceMode.Dsr => FrontendFlags.ModeDsr,
        _ => FrontendFlags.None,
    };

    /// <summary>The mode a frontend's flags name, or null when they name none (the node's default applies).</summary>
    public static ExternalServiceMode? ModeOf(FrontendFlags flags) => (flags & ModeMask) switch
    {
        FrontendFlags.ModeSnat => ExternalServiceMode.Snat,
        FrontendFlags.ModeTunnel => ExternalServiceMode.Tunnel,
        FrontendFlags.ModeDsr => ExternalServiceMode.Dsr,
        _ => null,
    };

    /// <summary><c>PR_FE_F_MODE_MASK</c>.</summary>
    public const FrontendFlags ModeMask = FrontendFlags.ModeSnat | FrontendFlags.ModeTunnel | FrontendFlags.ModeDsr;

    /// <summary>What is wrong with the Service's annotation, or null (absent or valid).</summary>
    public static string? Problem(Service service) =>
        service.ExternalServiceMode is not { } text || ExternalTrafficOptions.TryParseMode(text, out _)
            ? null
            : $"{service.Namespace}/{service.Name}: annotation {Service.ExternalServiceModeAnnotation}: '{text}' is not an external service mode " +
              "(accepted: snat, tunnel, dsr); its frontends use the node's --external-service-mode";
}
