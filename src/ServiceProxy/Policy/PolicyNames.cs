using System.Diagnostics.CodeAnalysis;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace ProxyReplacement.ServiceProxy.Policy;

/// <summary>
/// What the maps cannot say about the policy module's entries: each rule id's policy and rule, each endpoint address's
/// pod. The daemon writes it after every pass that wrote the maps (<see cref="PathFor"/> its pin root, replaced
/// atomically) so that <c>dump</c> and <c>explain</c>, which read only the pins, can name them; without it they show ids.
/// </summary>
public sealed record PolicyNames(
    [property: JsonPropertyName("rules")] Dictionary<uint, string> Rules,
    [property: JsonPropertyName("endpoints")] Dictionary<string, string> Endpoints)
{
    /// <summary>Where the daemons keep them (a tmpfs on a node: gone at reboot, as the pins are).</summary>
    public const string Directory = "/run/proxy-replacement/policy-names";

    /// <summary>The file of the daemon pinned at <paramref name="pinRoot"/> (several daemons on one machine, as in the tests, each have theirs).</summary>
    public static string PathFor(string pinRoot) =>
        System.IO.Path.Combine(Directory, pinRoot.Trim('/').Replace('/', '_') + ".json");

    public static PolicyNames Of(CompiledPolicy compiled)
    {
        ArgumentNullException.ThrowIfNull(compiled);
        return new(compiled.RuleTable.ToDictionary(pair => pair.Key, pair => pair.Value.ToString()),
            compiled.EndpointInfos.ToDictionary(info => info.Address.ToString(), info => info.Pod.ToString()));
    }

    public string Rule(uint id) => Rules.TryGetValue(id, out var name) ? $"{name} (rule {id})" : $"rule {id}";

    public string? Pod(string address) => Endpoints.GetValueOrDefault(address);

    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Reflection-based JSON over this assembly's own types, which the trimmed publish keeps whole (TrimmerRootAssembly in ServiceProxy.csproj, reflection enabled there)")]
    public void Write(string path)
    {
        System.IO.Directory.CreateDirectory(System.IO.Path.GetDirectoryName(path)!);
        var temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(this));
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The names at <paramref name="path"/>, or null when there are none (no daemon wrote them, or unreadable).</summary>
    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Reflection-based JSON over this assembly's own types, which the trimmed publish keeps whole (TrimmerRootAssembly in ServiceProxy.csproj, reflection enabled there)")]
    public static PolicyNames? Read(string path)
    {
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize<PolicyNames>(File.ReadAllText(path)) : null;
        }
        catch (Exception error) when (error is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static readonly PolicyNames None = new([], []);
}
