namespace ProxyReplacement.Dataplane.Tests.Support;

/// <summary>The test-only BPF objects (bpf-c/test/*.bpf.c, built into bpf-c/build/test/), embedded in this assembly as <c>bpf-test/&lt;file&gt;</c>.</summary>
public static class TestObjects
{
    public static byte[] Read(string file)
    {
        using var stream = typeof(TestObjects).Assembly.GetManifestResourceStream("bpf-test/" + file)
            ?? throw new FileNotFoundException($"test BPF object {file} is not embedded (bpf-c/build/test)");
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }
}
