using ProxyReplacement.Dataplane.Abi;

namespace ProxyReplacement.ServiceProxy.Conntrack;

/// <summary>
/// Which ClientIP-affinity entries (pr_aff4) no lookup can use any more, pure: the entry's frontend is gone
/// or no longer asks for affinity, or the entry idled past the frontend's affinity timeout
/// (<c>pr_affinity_lookup</c>: <c>now &gt; last_used &amp;&amp; now - last_used &gt; timeout</c>, the timeout being the
/// frontend's <c>affinity_timeout_s</c> or 10800 s when that is 0).
/// </summary>
public static class AffinitySweep
{
    /// <summary><c>PR_DEFAULT_AFFINITY_TIMEOUT_S</c> (bpf-c/include/pr_nat.h): Kubernetes' default.</summary>
    public const uint DefaultTimeoutSeconds = 10800;

    public static IReadOnlyList<AffinityKey4> Stale(IReadOnlyList<KeyValuePair<AffinityKey4, AffinityValue4>> entries,
        Func<NatFrontendKey4, NatFrontendValue?> frontend, ulong nowNs)
    {
        var stale = new List<AffinityKey4>();
        foreach (var (key, value) in entries)
        {
            var fe = frontend(key.Frontend);
            if (fe is not { } live || (live.Flags & FrontendFlags.Affinity) == 0)
            {
                stale.Add(key);
                continue;
            }
            var timeoutNs = (ulong)(live.AffinityTimeoutSeconds != 0 ? live.AffinityTimeoutSeconds : DefaultTimeoutSeconds) * ConntrackTimeouts.NsPerSecond;
            if (nowNs > value.LastUsedNs && nowNs - value.LastUsedNs > timeoutNs)
                stale.Add(key);
        }
        return stale;
    }
}
