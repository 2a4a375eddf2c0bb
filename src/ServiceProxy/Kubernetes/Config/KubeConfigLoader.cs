using System.Text;
using ProxyReplacement.ServiceProxy.Parsing;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Config;

/// <summary>
/// Reads a kubeconfig (<c>--kubeconfig</c>, or the <c>KUBECONFIG</c> list of files merged as kubectl
/// merges them: the first file that names a cluster, user or context wins, and the first
/// <c>current-context</c> wins) and resolves its current context to a <see cref="ClusterConnection"/>.
/// Supported: <c>server</c>, <c>certificate-authority(-data)</c>, <c>insecure-skip-tls-verify</c>,
/// <c>tls-server-name</c>, <c>token</c>, <c>tokenFile</c>, <c>client-certificate(-data)</c> and
/// <c>client-key(-data)</c>. Relative file paths are relative to the kubeconfig that holds them.
/// Every problem fails with the file, the field and what is wrong.
/// </summary>
public static class KubeConfigLoader
{
    private sealed record Entry(string File, int Index, YamlMappingNode Body);

    private sealed class Merged
    {
        public string? CurrentContext;
        public string? CurrentContextFile;
        public readonly Dictionary<string, Entry> Clusters = new(StringComparer.Ordinal);
        public readonly Dictionary<string, Entry> Contexts = new(StringComparer.Ordinal);
        public readonly Dictionary<string, Entry> Users = new(StringComparer.Ordinal);
    }

    /// <summary>Splits a <c>KUBECONFIG</c> value (':'-separated; empty entries ignored).</summary>
    public static IReadOnlyList<string> SplitPathList(string value) =>
        value.Split(':', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static ClusterConnection Load(string path) => Load([path]);

    public static ClusterConnection Load(IReadOnlyList<string> paths)
    {
        if (paths.Count == 0)
            throw new ClusterConfigException("kubeconfig", null, "no file given");
        var merged = new Merged();
        foreach (var path in paths)
            Read(Path.GetFullPath(path), merged);

        var origin = paths.Count == 1 ? Origin(Path.GetFullPath(paths[0])) : $"kubeconfig {string.Join(":", paths)}";
        if (string.IsNullOrEmpty(merged.CurrentContext))
            throw new ClusterConfigException(origin, "current-context", $"not set (contexts defined: {Names(merged.Contexts)})");
        if (!merged.Contexts.TryGetValue(merged.CurrentContext, out var context))
            throw new ClusterConfigException(Origin(merged.CurrentContextFile!), "current-context",
                $"no context named '{merged.CurrentContext}' (contexts defined: {Names(merged.Contexts)})");

        var contextOrigin = Origin(context.File);
        var contextPath = $"contexts[{context.Index}].context";
        var clusterName = Text(context.Body, "cluster", contextPath, contextOrigin);
        if (string.IsNullOrEmpty(clusterName))
            throw new ClusterConfigException(contextOrigin, $"{contextPath}.cluster", $"not set in context '{merged.CurrentContext}'");
        if (!merged.Clusters.TryGetValue(clusterName, out var cluster))
            throw new ClusterConfigException(contextOrigin, $"{contextPath}.cluster", $"no cluster named '{clusterName}' (clusters defined: {Names(merged.Clusters)})");
        var userName = Text(context.Body, "user", contextPath, contextOrigin);
        Entry? user = null;
        if (!string.IsNullOrEmpty(userName) && !merged.Users.TryGetValue(userName, out user))
            throw new ClusterConfigException(contextOrigin, $"{contextPath}.user", $"no user named '{userName}' (users defined: {Names(merged.Users)})");

        var connection = ReadCluster(cluster, $"{Origin(context.File)}, context {merged.CurrentContext}");
        return user is null ? connection : ReadUser(user, connection);
    }

    private static string Origin(string file) => $"kubeconfig {file}";

    private static string Names(Dictionary<string, Entry> entries) =>
        entries.Count == 0 ? "none" : string.Join(", ", entries.Keys.Order(StringComparer.Ordinal));

    private static void Read(string file, Merged merged)
    {
        var origin = Origin(file);
        string text;
        try
        {
            text = File.ReadAllText(file);
        }
        catch (Exception error) when (error is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ClusterConfigException(origin, null, "the file does not exist");
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new ClusterConfigException(origin, null, $"cannot read the file: {error.Message}");
        }

        var yaml = new YamlStream();
        try
        {
            yaml.Load(new StringReader(text));
        }
        catch (YamlException error)
        {
            throw new ClusterConfigException(origin, null, $"not valid YAML (line {error.Start.Line}, column {error.Start.Column}): {error.Message}");
        }
        if (yaml.Documents.Count == 0 || YamlNodes.IsNull(yaml.Documents[0].RootNode))
            throw new ClusterConfigException(origin, null, "the file is empty");
        if (yaml.Documents[0].RootNode is not YamlMappingNode root)
            throw new ClusterConfigException(origin, null, "expected a mapping with clusters, contexts, users and current-context");

        var kind = Text(root, "kind", "", origin);
        if (kind is not (null or "Config"))
            throw new ClusterConfigException(origin, "kind", $"'{kind}' is not a kubeconfig (expected Config)");
        var current = Text(root, "current-context", "", origin);
        if (merged.CurrentContext is null && !string.IsNullOrEmpty(current))
        {
            merged.CurrentContext = current;
            merged.CurrentContextFile = file;
        }
        Collect(root, "clusters", "cluster", file, merged.Clusters);
        Collect(root, "contexts", "context", file, merged.Contexts);
        Collect(root, "users", "user", file, merged.Users);
    }

    /// <summary>Adds the named entries of a list (<c>clusters: [{name, cluster: {...}}]</c>) that no earlier file named.</summary>
    private static void Collect(YamlMappingNode root, string listKey, string bodyKey, string file, Dictionary<string, Entry> into)
    {
        var origin = Origin(file);
        var items = Guard(origin, () => root.Sequence(listKey, listKey));
        for (var i = 0; i < items.Count; i++)
        {
            var path = $"{listKey}[{i}]";
            if (items[i] is not YamlMappingNode item)
                throw new ClusterConfigException(origin, path, "expected a mapping with name and " + bodyKey);
            var name = Text(item, "name", path, origin);
            if (string.IsNullOrEmpty(name))
                throw new ClusterConfigException(origin, $"{path}.name", "not set");
            var body = Guard(origin, () => item.Mapping(bodyKey, $"{path}.{bodyKey}")) ?? new YamlMappingNode();
            into.TryAdd(name, new Entry(file, i, body));
        }
    }

    private static ClusterConnection ReadCluster(Entry cluster, string description)
    {
        var origin = Origin(cluster.File);
        var path = $"clusters[{cluster.Index}].cluster";
        var body = cluster.Body;
        var serverText = Text(body, "server", path, origin);
        if (string.IsNullOrEmpty(serverText))
            throw new ClusterConfigException(origin, $"{path}.server", "not set (the API server's URL, e.g. https://10.0.0.1:6443)");
        if (!Uri.TryCreate(serverText, UriKind.Absolute, out var server) || server.Scheme is not ("https" or "http") || server.Host.Length == 0)
            throw new ClusterConfigException(origin, $"{path}.server", $"'{serverText}' is not an https:// or http:// URL");

        var insecure = Guard(origin, () => body.Boolean("insecure-skip-tls-verify", $"{path}.insecure-skip-tls-verify")) ?? false;
        var caPem = PemText(body, "certificate-authority-data", "certificate-authority", path, cluster.File);
        if (insecure && caPem is not null)
            throw new ClusterConfigException(origin, $"{path}.insecure-skip-tls-verify",
                "cannot be true together with a certificate authority: either verify the server against the CA or do not verify at all");

        return new ClusterConnection(server, description)
        {
            InsecureSkipTlsVerify = insecure,
            CertificateAuthorities = caPem is null ? null : Pem.Certificates(caPem.Value.Text, origin, caPem.Value.Field),
            TlsServerName = NullIfEmpty(Text(body, "tls-server-name", path, origin)),
        };
    }

    private static ClusterConnection ReadUser(Entry user, ClusterConnection connection)
    {
        var origin = Origin(user.File);
        var path = $"users[{user.Index}].user";
        var body = user.Body;
        foreach (var unsupported in (string[])["exec", "auth-provider"])
            if (body.Field(unsupported) is not null)
                throw new ClusterConfigException(origin, $"{path}.{unsupported}",
                    "credential plugins are not supported; use token, tokenFile or client-certificate/client-key");
        if (body.Field("username") is not null || body.Field("password") is not null)
            throw new ClusterConfigException(origin, $"{path}.username", "basic authentication is not supported; use token, tokenFile or a client certificate");

        IBearerToken? token = null;
        var tokenFile = NullIfEmpty(Text(body, "tokenFile", path, origin));
        var inlineToken = NullIfEmpty(Text(body, "token", path, origin));
        if (tokenFile is not null)
        {
            var resolved = Resolve(user.File, tokenFile);
            try
            {
                token = new FileBearerToken(resolved);
            }
            catch (FileNotFoundException)
            {
                throw new ClusterConfigException(origin, $"{path}.tokenFile", $"'{resolved}' does not exist or is empty");
            }
        }
        else if (inlineToken is not null)
        {
            token = new StaticBearerToken(inlineToken);
        }

        var certificate = PemText(body, "client-certificate-data", "client-certificate", path, user.File);
        var key = PemText(body, "client-key-data", "client-key", path, user.File);
        if (certificate is null != key is null)
        {
            var (present, missing) = certificate is not null ? (certificate.Value.Field, "client-key-data or client-key") : (key!.Value.Field, "client-certificate-data or client-certificate");
            throw new ClusterConfigException(origin, present, $"set without its pair: also give {missing}");
        }
        var clientCertificate = certificate is null
            ? null
            : Pem.CertificateWithKey(certificate.Value.Text, key!.Value.Text, origin, certificate.Value.Field);
        return connection with { Token = token, ClientCertificate = clientCertificate };
    }

    /// <summary>PEM text from <c>dataKey</c> (base64) or <c>fileKey</c> (a path), with the field it came from; null when neither is set.</summary>
    private static (string Text, string Field)? PemText(YamlMappingNode body, string dataKey, string fileKey, string path, string file)
    {
        var origin = Origin(file);
        var data = NullIfEmpty(Text(body, dataKey, path, origin));
        if (data is not null)
        {
            try
            {
                return (Encoding.UTF8.GetString(Convert.FromBase64String(data)), $"{path}.{dataKey}");
            }
            catch (FormatException)
            {
                throw new ClusterConfigException(origin, $"{path}.{dataKey}", "not valid base64 (it holds the base64 of a PEM file)");
            }
        }
        var reference = NullIfEmpty(Text(body, fileKey, path, origin));
        if (reference is null)
            return null;
        var resolved = Resolve(file, reference);
        try
        {
            return (File.ReadAllText(resolved), $"{path}.{fileKey}");
        }
        catch (Exception error) when (error is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new ClusterConfigException(origin, $"{path}.{fileKey}", $"'{resolved}' does not exist");
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new ClusterConfigException(origin, $"{path}.{fileKey}", $"cannot read '{resolved}': {error.Message}");
        }
    }

    private static string Resolve(string kubeconfigFile, string path) =>
        Path.IsPathRooted(path) ? path : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(kubeconfigFile)!, path));

    private static string? Text(YamlMappingNode body, string key, string path, string origin) =>
        Guard(origin, () => body.String(key, path.Length == 0 ? key : $"{path}.{key}"));

    private static string? NullIfEmpty(string? text) => string.IsNullOrEmpty(text) ? null : text;

    /// <summary>Runs a typed YAML read, turning its shape error (already prefixed with the field path) into a <see cref="ClusterConfigException"/>.</summary>
    private static T Guard<T>(string origin, Func<T> read)
    {
        try
        {
            return read();
        }
        catch (ObjectValidationException error)
        {
            throw new ClusterConfigException(origin, null, error.Message);
        }
    }
}
