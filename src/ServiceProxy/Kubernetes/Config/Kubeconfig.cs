using k8s;
using k8s.KubeConfigModels;
using YamlDotNet.RepresentationModel;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Config;

/// <summary>
/// A kubeconfig (<c>--kubeconfig</c>, or the <c>KUBECONFIG</c> list of files merged as kubectl merges them:
/// the first file that names a cluster, user or context wins, and the first <c>current-context</c> wins),
/// read and resolved by KubernetesClient: every field it supports, including <c>exec</c> credential plugins
/// (EKS, GKE, AKS, OIDC login helpers) and the <c>oidc</c> auth-provider. On top, what the package lacks:
/// a context chosen by name (null: the current one), errors that name the file and what is wrong (exit 2),
/// and <c>tokenFile</c>, read through <see cref="FileTokenProvider"/> (re-read when it changes).
/// Relative file paths are relative to the kubeconfig that holds them.
/// </summary>
public static class Kubeconfig
{
    /// <summary>Splits a <c>KUBECONFIG</c> value (':'-separated; empty entries ignored).</summary>
    public static IReadOnlyList<string> SplitPathList(string value) =>
        value.Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static ClusterConnection Load(string path, string? context = null) => Load([path], context);

    public static ClusterConnection Load(IReadOnlyList<string> paths, string? context = null)
    {
        if (paths.Count == 0)
            throw new ClusterConfigException("kubeconfig", null, "no file given");
        var files = paths.Select(Path.GetFullPath).ToList();
        var origin = files.Count == 1 ? Origin(files[0]) : $"kubeconfig {string.Join(":", files)}";
        K8SConfiguration? merged = null;
        foreach (var file in files)
        {
            var one = Read(file);
            merged = merged is null ? one : Merge(merged, one);
        }

        var contexts = merged!.Contexts?.ToList() ?? [];
        var name = context ?? merged.CurrentContext;
        if (string.IsNullOrEmpty(name))
            throw new ClusterConfigException(origin, "current-context", $"not set (contexts defined: {Names(contexts.Select(c => c.Name))})");
        if (contexts.FirstOrDefault(c => c.Name == name) is not { } chosen)
            throw new ClusterConfigException(origin, context is null ? "current-context" : "context",
                $"no context named '{name}' (contexts defined: {Names(contexts.Select(c => c.Name))})");
        if (string.IsNullOrEmpty(chosen.ContextDetails?.Cluster))
            throw new ClusterConfigException(origin, $"context '{name}'", "names no cluster");
        if (merged.Clusters?.FirstOrDefault(c => c.Name == chosen.ContextDetails.Cluster) is not { } cluster)
            throw new ClusterConfigException(origin, $"context '{name}'",
                $"no cluster named '{chosen.ContextDetails.Cluster}' (clusters defined: {Names(merged.Clusters?.Select(c => c.Name))})");
        var userName = chosen.ContextDetails.User;
        var user = string.IsNullOrEmpty(userName) ? null : merged.Users?.FirstOrDefault(u => u.Name == userName);
        if (!string.IsNullOrEmpty(userName) && user is null)
            throw new ClusterConfigException(origin, $"context '{name}'", $"no user named '{userName}' (users defined: {Names(merged.Users?.Select(u => u.Name))})");
        var server = cluster.ClusterEndpoint?.Server;
        if (string.IsNullOrEmpty(server))
            throw new ClusterConfigException(origin, $"cluster '{cluster.Name}'", "server: not set (the API server's URL, e.g. https://10.0.0.1:6443)");
        if (!Uri.TryCreate(server, UriKind.Absolute, out var url) || url.Scheme is not ("https" or "http") || url.Host.Length == 0)
            throw new ClusterConfigException(origin, $"cluster '{cluster.Name}'", $"server: '{server}' is not an https:// or http:// URL");

        // tokenFile is not read by the package, which then finds the user without credentials: read it here first.
        FileTokenProvider? fileToken = null;
        if (user?.UserCredentials is { } credentials && string.IsNullOrEmpty(credentials.Token) && TokenFile(files, user.Name) is { } tokenFile)
        {
            try
            {
                fileToken = new FileTokenProvider(tokenFile);
            }
            catch (FileNotFoundException)
            {
                throw new ClusterConfigException(origin, $"user '{user.Name}'", $"tokenFile: '{tokenFile}' does not exist or is empty");
            }
            credentials.Token = fileToken.Current();
        }

        KubernetesClientConfiguration configuration;
        try
        {
            configuration = KubernetesClientConfiguration.BuildConfigFromConfigObject(merged, name);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            // the package's KubeConfigException, a FormatException of bad base64, a missing file, an unusable certificate...
            throw new ClusterConfigException(origin, $"context '{name}'", Flatten(error));
        }
        if (fileToken is not null)
        {
            configuration.AccessToken = null;
            configuration.TokenProvider = fileToken;
        }
        return new ClusterConnection(configuration, $"{origin}, context {name}");
    }

    private static string Origin(string file) => $"kubeconfig {file}";

    private static string Names(IEnumerable<string>? names) =>
        names?.Order(StringComparer.Ordinal).ToList() is { Count: > 0 } list ? string.Join(", ", list) : "none";

    private static K8SConfiguration Read(string file)
    {
        if (!File.Exists(file))
            throw new ClusterConfigException(Origin(file), null, "the file does not exist");
        K8SConfiguration configuration;
        try
        {
            configuration = KubeconfigYaml.Read(file)!; // null (an empty file) is reported below
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            throw new ClusterConfigException(Origin(file), null, $"not a valid kubeconfig: {Flatten(error)}");
        }
        if (configuration is null)
            throw new ClusterConfigException(Origin(file), null, "the file is empty");
        if (configuration.Kind is { Length: > 0 } kind && kind != "Config")
            throw new ClusterConfigException(Origin(file), "kind", $"'{kind}' is not a kubeconfig (expected Config)");
        // The package resolves relative paths against one file name; make them absolute per file before merging.
        var directory = Path.GetDirectoryName(file)!;
        foreach (var cluster in configuration.Clusters ?? [])
            if (cluster.ClusterEndpoint is { } endpoint)
                endpoint.CertificateAuthority = Absolute(directory, endpoint.CertificateAuthority);
        foreach (var user in configuration.Users ?? [])
        {
            if (user.UserCredentials is not { } credentials)
                continue;
            credentials.ClientCertificate = Absolute(directory, credentials.ClientCertificate);
            credentials.ClientKey = Absolute(directory, credentials.ClientKey);
        }
        return configuration;
    }

    private static string? Absolute(string directory, string? path) =>
        string.IsNullOrEmpty(path) || Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(directory, path));

    /// <summary>kubectl's merge: entries keep the first file's definition; the first current-context wins.</summary>
    private static K8SConfiguration Merge(K8SConfiguration first, K8SConfiguration next)
    {
        static List<T> Union<T>(IEnumerable<T>? a, IEnumerable<T>? b, Func<T, string> name) =>
            (a ?? []).Concat((b ?? []).Where(item => !(a ?? []).Any(existing => name(existing) == name(item)))).ToList();

        first.CurrentContext = string.IsNullOrEmpty(first.CurrentContext) ? next.CurrentContext : first.CurrentContext;
        first.Clusters = Union(first.Clusters, next.Clusters, c => c.Name);
        first.Contexts = Union(first.Contexts, next.Contexts, c => c.Name);
        first.Users = Union(first.Users, next.Users, u => u.Name);
        return first;
    }

    /// <summary><c>users[name].user.tokenFile</c> from the first file that defines the user (the package does not read it).</summary>
    private static string? TokenFile(IReadOnlyList<string> files, string user)
    {
        foreach (var file in files)
        {
            var yaml = new YamlStream();
            try
            {
                yaml.Load(new StringReader(File.ReadAllText(file)));
            }
            catch (Exception error) when (error is IOException or YamlDotNet.Core.YamlException)
            {
                continue;
            }
            if (yaml.Documents.Count == 0 || yaml.Documents[0].RootNode is not YamlMappingNode root ||
                !root.Children.TryGetValue("users", out var users) || users is not YamlSequenceNode list)
                continue;
            foreach (var entry in list.OfType<YamlMappingNode>())
            {
                if (!entry.Children.TryGetValue("name", out var entryName) || (entryName as YamlScalarNode)?.Value != user)
                    continue;
                if (entry.Children.TryGetValue("user", out var body) && body is YamlMappingNode credentials &&
                    credentials.Children.TryGetValue("tokenFile", out var tokenFile) && tokenFile is YamlScalarNode { Value: { Length: > 0 } path })
                    return Absolute(Path.GetDirectoryName(file)!, path);
                return null;
            }
        }
        return null;
    }

    private static string Flatten(Exception error)
    {
        var text = error.Message;
        for (var inner = error.InnerException; inner is not null; inner = inner.InnerException)
            if (!text.Contains(inner.Message, StringComparison.Ordinal))
                text += $" ({inner.Message})";
        return text;
    }
}
