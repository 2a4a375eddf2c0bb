namespace ProxyReplacement.Dataplane.Loading;

/// <summary>
/// The compiled BPF objects embedded in this assembly by Dataplane.csproj (bpf-c/build/*.bpf.o,
/// resource names <c>bpf/&lt;file&gt;</c>), so a deployed daemon needs no files beside itself.
/// </summary>
public static class EmbeddedObjects
{
    private const string Prefix = "bpf/";

    /// <summary>File names of the embedded objects, e.g. <c>tc_nat.bpf.o</c>.</summary>
    public static IReadOnlyList<string> Names =>
        typeof(EmbeddedObjects).Assembly.GetManifestResourceNames()
            .Where(name => name.StartsWith(Prefix, StringComparison.Ordinal))
            .Select(name => name[Prefix.Length..])
            .Order(StringComparer.Ordinal)
            .ToList();

    /// <summary>The bytes of one embedded object (an ELF file).</summary>
    public static byte[] Read(string fileName)
    {
        using var stream = typeof(EmbeddedObjects).Assembly.GetManifestResourceStream(Prefix + fileName)
            ?? throw new FileNotFoundException(
                $"BPF object {fileName} is not embedded (have: {string.Join(", ", Names)}); build with make -C bpf-c available");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
