namespace ProxyReplacement.Dataplane.Loading;

/// <summary>
/// Which build of a BPF object to load. bpf-c builds every object twice: the default build uses what
/// current kernels offer, the compat build (<c>-DPR_COMPAT=1</c>, <c>&lt;name&gt;_compat.bpf.o</c>)
/// leaves that out for older kernels, with the same maps, programs and verdicts. Minimum kernels per
/// variant: bpf-c/README.md, "Kernel versions".
/// </summary>
public enum DataplaneVariant
{
    /// <summary>
    /// Probe: the default object, or the compat one when the kernel fails the default one in the way a
    /// kernel without its newer features does (<see cref="VariantProbe"/>); any other failure is an error.
    /// <see cref="DataplaneVariants.EnvironmentVariable"/> can force either.
    /// </summary>
    Auto = 0,

    /// <summary>
    /// The default build. tc_nat: the skb's ip_summed through the kfunc bpf_cast_to_kern_ctx and a CO-RE
    /// read (Linux 6.2, kernel BTF), the coarse clock (5.11). sock_lb: bpf_set_retval (5.18), so a refused
    /// connect() fails with ECONNREFUSED.
    /// </summary>
    Fast,

    /// <summary>
    /// The compat build. tc_nat: L4 checksums by bpf_l4_csum_replace, the exact clock; no kernel BTF needed.
    /// sock_lb: no bpf_set_retval, a refused connect() fails with EPERM.
    /// </summary>
    Compat,
}

/// <summary>The variant a load ended with, and why: forced, or what the probe saw.</summary>
public sealed record LoadedVariant(DataplaneVariant Variant, string Reason)
{
    public override string ToString() => $"{DataplaneVariants.Name(Variant)} ({Reason})";
}

/// <summary>Names, the environment override and the object files of the variants.</summary>
public static class DataplaneVariants
{
    /// <summary>
    /// Forces a variant for every load that asks for <see cref="DataplaneVariant.Auto"/>: <c>fast</c>,
    /// <c>compat</c> or <c>auto</c> (the same as unset). For a kernel the probe misjudges, and for running
    /// the tests of the compat objects on a kernel that would load the default ones.
    /// </summary>
    public const string EnvironmentVariable = "PR_DATAPLANE_VARIANT";

    public static string Name(DataplaneVariant variant) => variant switch
    {
        DataplaneVariant.Fast => "fast",
        DataplaneVariant.Compat => "compat",
        _ => "auto",
    };

    /// <summary>The embedded file of <paramref name="variant"/> of an object: <c>tc_nat.bpf.o</c> or <c>tc_nat_compat.bpf.o</c>.</summary>
    public static string ObjectFile(string defaultFile, DataplaneVariant variant)
    {
        const string suffix = ".bpf.o";
        if (!defaultFile.EndsWith(suffix, StringComparison.Ordinal))
            throw new ArgumentException($"{defaultFile} is not a <name>{suffix} object file", nameof(defaultFile));
        return variant == DataplaneVariant.Compat ? defaultFile[..^suffix.Length] + "_compat" + suffix : defaultFile;
    }

    /// <summary>
    /// What a load asking for <paramref name="requested"/> loads: a forced variant with its reason, or
    /// (<see cref="DataplaneVariant.Auto"/>, null) to probe. An explicit request wins over the environment;
    /// an environment value that is not a variant is an error, not a silent probe.
    /// </summary>
    public static (DataplaneVariant Variant, string? Forced) Resolve(DataplaneVariant requested, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        if (requested != DataplaneVariant.Auto)
            return (requested, "requested by the caller");
        var value = environment(EnvironmentVariable)?.Trim();
        return value?.ToLowerInvariant() switch
        {
            null or "" or "auto" => (DataplaneVariant.Auto, null),
            "fast" => (DataplaneVariant.Fast, $"forced by {EnvironmentVariable}=fast"),
            "compat" => (DataplaneVariant.Compat, $"forced by {EnvironmentVariable}=compat"),
            _ => throw new ArgumentException(
                $"{EnvironmentVariable}={value} is not a dataplane variant: use fast, compat or auto (or leave it unset)"),
        };
    }
}
