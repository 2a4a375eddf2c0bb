using ProxyReplacement.Dataplane.Loading;
using ProxyReplacement.Dataplane.SocketLb;

namespace ProxyReplacement.Dataplane.Tests.Support;

/// <summary>
/// Loads a given build of the BPF objects for fixtures that run against both
/// (<c>[TestFixture(DataplaneVariant.Fast), TestFixture(DataplaneVariant.Compat)]</c>). The compat build loads
/// on every kernel the tests run on; the default one needs Linux 6.2 (tc_nat) and 5.18 (sock_lb): where the
/// kernel lacks that, its fixtures are skipped with the probe's reason (failed under CI), not run on compat.
/// </summary>
public static class TestVariants
{
    public static CoreDataplane LoadCore(DataplaneVariant variant, DataplaneOptions? options = null)
    {
        Privileged.Require();
        try
        {
            return CoreDataplane.Load((options ?? new DataplaneOptions()) with { Variant = variant });
        }
        catch (BpfException error) when (variant == DataplaneVariant.Fast && VariantProbe.WhyTcCompat(error) is { } why)
        {
            Privileged.Unavailable($"the default tc_nat build cannot load on this kernel: {why}");
            throw;
        }
    }

    public static SocketLoadBalancer LoadSocketLb(CoreDataplane core, DataplaneVariant variant)
    {
        try
        {
            return SocketLoadBalancer.Load(core, variant);
        }
        catch (BpfException error) when (variant == DataplaneVariant.Fast && VariantProbe.WhySocketCompat(error) is { } why)
        {
            Privileged.Unavailable($"the default sock_lb build cannot load on this kernel: {why}");
            throw;
        }
    }
}
