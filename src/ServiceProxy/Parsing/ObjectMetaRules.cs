using ProxyReplacement.ServiceProxy.Kubernetes.Objects;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>Who an object is: <c>metadata</c> name, namespace and labels, checked by the same rules for manifests and API objects.</summary>
internal static class ObjectMetaRules
{
    /// <summary>The validated name and labels of <paramref name="meta"/>; the namespace is checked by <see cref="Namespace"/>.</summary>
    public static (string Name, Labels Labels) NameAndLabels(ObjectMeta meta)
    {
        var name = FieldRules.ObjectName(meta.Name, "metadata.name");
        return (name, Labels(meta.Labels));
    }

    public static string Namespace(string @namespace) => FieldRules.DnsLabel(@namespace, "metadata.namespace");

    public static Labels Labels(IReadOnlyDictionary<string, string>? labels)
    {
        if (labels is null || labels.Count == 0)
            return Model.Labels.Empty;
        if (labels.Keys.Any(key => key.Length == 0))
            throw new ObjectValidationException("metadata.labels: keys must be non-empty strings");
        return Model.Labels.From(labels);
    }
}
