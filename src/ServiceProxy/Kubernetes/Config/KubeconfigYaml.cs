using k8s.KubeConfigModels;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Config;

/// <summary>
/// Reads one kubeconfig file into the package's <see cref="K8SConfiguration"/>, with the deserializer settings the package's
/// own <c>LoadKubeConfig</c> uses for it (camelCase names beside the models' <c>YamlMember</c> aliases, unknown fields ignored,
/// merge keys, plain scalars typed in the free-form maps), and <see cref="K8SConfiguration.FileName"/> set as
/// <c>useRelativePaths</c> does. Why not the package's call: it goes through <c>k8s.KubernetesYaml</c>, whose static set-up
/// reflects over every model type of the package (each property's attributes, three times, and every type's) before reading
/// a line: 0.3–0.6 s of a cold start here, for a file of twenty lines (BENCHMARKS.md, cold start).
/// </summary>
internal static class KubeconfigYaml
{
    private static readonly Lazy<IDeserializer> Deserializer = new(() => new DeserializerBuilder()
        .WithNamingConvention(CamelCaseNamingConvention.Instance)
        .WithAttemptingUnquotedStringTypeDeserialization()
        .IgnoreUnmatchedProperties()
        .Build());

    /// <summary>The file's configuration; null for an empty file. Throws <see cref="YamlException"/> for one that does not parse.</summary>
    public static K8SConfiguration? Read(string file)
    {
        using var reader = new StreamReader(file);
        var configuration = Deserializer.Value.Deserialize<K8SConfiguration?>(new MergingParser(new Parser(reader)));
        if (configuration is not null)
            configuration.FileName = Path.GetFullPath(file);
        return configuration;
    }
}
