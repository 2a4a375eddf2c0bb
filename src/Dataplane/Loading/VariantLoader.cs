namespace ProxyReplacement.Dataplane.Loading;

/// <summary>
/// Loads the default or the compat build of an object: the one forced (by the caller or
/// <see cref="DataplaneVariants.EnvironmentVariable"/>), or the default one and, when the kernel fails
/// it the way <paramref name="whyCompat"/> recognises, the compat one. Any other failure of the default
/// object is rethrown as it is; a failure of the compat object says why it was tried.
/// </summary>
internal static class VariantLoader
{
    /// <param name="environment">Where <see cref="DataplaneVariants.EnvironmentVariable"/> is read (the process environment by default).</param>
    public static (T Loaded, LoadedVariant Variant) Load<T>(DataplaneVariant requested, string objectName,
        Func<DataplaneVariant, T> load, Func<BpfException, string?> whyCompat, Func<string, string?>? environment = null)
    {
        var (variant, forced) = DataplaneVariants.Resolve(requested, environment ?? Environment.GetEnvironmentVariable);
        if (forced is not null)
            return (load(variant), new LoadedVariant(variant, forced));

        string why;
        try
        {
            return (load(DataplaneVariant.Fast), new LoadedVariant(DataplaneVariant.Fast, "probed: the kernel loaded the default object"));
        }
        catch (BpfException error) when (whyCompat(error) is { } reason)
        {
            why = reason;
        }
        try
        {
            return (load(DataplaneVariant.Compat), new LoadedVariant(DataplaneVariant.Compat, "probed: " + why));
        }
        catch (BpfException error)
        {
            throw new BpfException($"loading the compat build of {objectName} (tried because {why})", error.Errno, error.LibbpfLog, error);
        }
    }
}
