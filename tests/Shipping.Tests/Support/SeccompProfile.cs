using System.Text.Json.Nodes;

namespace ProxyReplacement.Shipping.Tests.Support;

/// <summary>
/// podman's default seccomp profile with one change: bpf() is allowed to a container that has CAP_BPF, as the
/// default profiles of containerd (1.7+) and moby (23+) allow it. podman 4.3's own profile still allows bpf() only
/// with CAP_SYS_ADMIN, which would force a capability the kernel does not ask for. Everything else it filters stays.
/// </summary>
internal static class SeccompProfile
{
    public const string Default = "/usr/share/containers/seccomp.json";

    /// <summary>Writes the profile to <paramref name="path"/> and returns the path.</summary>
    public static string WriteWithBpfForCapBpf(string path)
    {
        var profile = JsonNode.Parse(File.ReadAllText(Default))!.AsObject();
        var rules = profile["syscalls"]!.AsArray();
        foreach (var rule in rules.OfType<JsonObject>())
        {
            var names = rule["names"]!.AsArray();
            var gatedOnSysAdmin = Caps(rule, "includes").Contains("CAP_SYS_ADMIN") || Caps(rule, "excludes").Contains("CAP_SYS_ADMIN");
            if (gatedOnSysAdmin && names.Any(n => (string?)n == "bpf"))
                rule["names"] = new JsonArray(names.Where(n => (string?)n != "bpf").Select(n => JsonValue.Create((string)n!)).ToArray<JsonNode?>());
        }
        rules.Add(new JsonObject
        {
            ["names"] = new JsonArray("bpf"),
            ["action"] = "SCMP_ACT_ALLOW",
            ["args"] = new JsonArray(),
            ["comment"] = "bpf() with CAP_BPF",
            ["includes"] = new JsonObject { ["caps"] = new JsonArray("CAP_BPF") },
            ["excludes"] = new JsonObject(),
        });
        File.WriteAllText(path, profile.ToJsonString());
        return path;
    }

    private static IEnumerable<string> Caps(JsonObject rule, string key) =>
        (rule[key]?["caps"] as JsonArray)?.Select(c => (string)c!) ?? [];
}
