using ProxyReplacement.ServiceProxy.Model;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>
/// Reads Kubernetes manifests (YAML or JSON, several documents per file, <c>kind: List</c>) into
/// the model. Each object is validated on its own: a malformed one becomes a
/// <see cref="ManifestDiagnostic"/> and is skipped while the rest of the file still loads.
/// Kinds other than Service, EndpointSlice and Node (and, for the policy module, Pod, Namespace and NetworkPolicy, unless
/// <see cref="ManifestReader(bool)"/> is told not to read them) are ignored, as are headless and ExternalName Services.
/// Nodes and Namespaces are cluster-scoped: a <c>metadata.namespace</c> on one is ignored.
/// The first object with a given kind and namespace/name wins; later duplicates are reported.
/// </summary>
public sealed class ManifestReader
{
    private const string DefaultNamespace = "default";

    private readonly List<Service> _services = [];
    private readonly List<EndpointSlice> _slices = [];
    private readonly List<Node> _nodes = [];
    private readonly List<Pod> _pods = [];
    private readonly List<PodNamespace> _namespaces = [];
    private readonly List<NetworkPolicy> _policies = [];
    private readonly List<ManifestDiagnostic> _diagnostics = [];
    private readonly Dictionary<(string Kind, ObjectKey Key), string> _seen = [];
    private readonly bool _policyKinds;

    /// <param name="policyKinds">Read Pods, Namespaces and NetworkPolicies too (<c>--network-policy</c>).</param>
    public ManifestReader(bool policyKinds = true) => _policyKinds = policyKinds;

    /// <summary>Reads every document of <paramref name="text"/>; <paramref name="filePath"/> labels diagnostics.</summary>
    public void Add(string text, string filePath)
    {
        // One document's node tree at a time (OneDocumentParser says why), all from one parser over the whole text.
        var parser = new Parser(new StringReader(text));
        for (var index = 0; ; index++)
        {
            YamlNode root;
            try
            {
                if (!OneDocumentParser.HasDocument(parser))
                    return;
                var stream = new YamlStream();
                stream.Load(new OneDocumentParser(parser));
                root = stream.Documents[0].RootNode;
            }
            catch (YamlException error)
            {
                // The documents before the broken one were read; the parser cannot resume after it.
                _diagnostics.Add(new ManifestDiagnostic(filePath, index, null, null, null,
                    $"YAML syntax error at line {error.Start.Line}, column {error.Start.Column}: {error.Message}"));
                return;
            }
            catch (InvalidOperationException error)
            {
                // Only YamlDotNet runs in this try. Its scanner fails this way on some broken input (an unclosed flow
                // sequence followed by more lines, "c: [x\nd: 3"), without a position: the same report, with the line the
                // parser had reached.
                var line = parser.Current?.Start.Line is { } reached and > 0 ? $"line {reached} or after" : "an unknown line";
                _diagnostics.Add(new ManifestDiagnostic(filePath, index, null, null, null, $"YAML syntax error at {line}: the parser gave up ({error.Message})"));
                return;
            }
            AddRoot(root, filePath, index);
        }
    }

    private void AddRoot(YamlNode root, string filePath, int index)
    {
        if (YamlNodes.IsNull(root))
            return; // an empty document ("---" with nothing after it)
        if (root is not YamlMappingNode mapping)
        {
            _diagnostics.Add(new ManifestDiagnostic(filePath, index, null, null, null, "the document is not an object"));
            return;
        }
        AddDocument(mapping, filePath, index);
    }

    public void AddFile(string path) => Add(File.ReadAllText(path), path);

    public ManifestSet Build() => new(_services.ToList(), SlicesSharingServiceNames(), _diagnostics.ToList(), _nodes.ToList())
    {
        Pods = _pods.ToList(),
        Namespaces = _namespaces.ToList(),
        NetworkPolicies = _policies.ToList(),
    };

    /// <summary>
    /// The slices, each naming its Service with the Service's own name string when that Service was read here too (a
    /// Service and its slices mostly share a file): the label value is an equal string of its own otherwise, about 30
    /// bytes per slice (3 MB at 100k Services). Equality is unchanged.
    /// </summary>
    private List<EndpointSlice> SlicesSharingServiceNames()
    {
        if (_services.Count == 0)
            return _slices.ToList();
        var names = new Dictionary<ObjectKey, string>(_services.Count);
        foreach (var service in _services)
            names.TryAdd(service.Key, service.Name);
        var slices = new List<EndpointSlice>(_slices.Count);
        foreach (var slice in _slices)
            slices.Add(names.TryGetValue(slice.ServiceKey, out var name) && !ReferenceEquals(name, slice.ServiceName)
                ? slice with { ServiceName = name }
                : slice);
        return slices;
    }

    /// <summary>Reads one string of manifests.</summary>
    public static ManifestSet Parse(string text, string filePath, bool policyKinds = true)
    {
        var reader = new ManifestReader(policyKinds);
        reader.Add(text, filePath);
        return reader.Build();
    }

    /// <summary>
    /// Whether a file of a manifest directory is read: <c>*.yaml</c>, <c>*.yml</c> and <c>*.json</c>, but not hidden files
    /// (a leading dot), which editors and atomic writers leave beside the real one (<c>.web.yaml.swp</c>, <c>.tmp.yaml</c>
    /// before its rename): read, they would duplicate the objects of the file they are about to replace. The kubelet
    /// ignores them in its static pod directory for the same reason.
    /// </summary>
    public static bool IsManifestFile(string fileName) =>
        !fileName.StartsWith('.') && Path.GetExtension(fileName) is ".yaml" or ".yml" or ".json";

    /// <summary>Reads the manifest files of a directory (<see cref="IsManifestFile"/>; not its subdirectories) in name order.</summary>
    public static ManifestSet LoadDirectory(string directory)
    {
        var reader = new ManifestReader();
        var files = Directory.EnumerateFiles(directory)
            .Where(path => IsManifestFile(Path.GetFileName(path)))
            .Order(StringComparer.Ordinal);
        foreach (var file in files)
            reader.AddFile(file);
        return reader.Build();
    }

    private void AddDocument(YamlMappingNode root, string filePath, int documentIndex)
    {
        string? kind = null;
        try
        {
            kind = root.String("kind", "kind");
        }
        catch (ObjectValidationException error)
        {
            _diagnostics.Add(new ManifestDiagnostic(filePath, documentIndex, null, null, null, error.Message));
            return;
        }

        if (kind == "List")
        {
            IReadOnlyList<YamlNode> items;
            try
            {
                items = root.Sequence("items", "items");
            }
            catch (ObjectValidationException error)
            {
                _diagnostics.Add(new ManifestDiagnostic(filePath, documentIndex, null, "List", null, error.Message));
                return;
            }
            for (var item = 0; item < items.Count; item++)
            {
                if (items[item] is YamlMappingNode itemMapping)
                    AddObject(itemMapping, filePath, documentIndex, item);
                else
                    _diagnostics.Add(new ManifestDiagnostic(filePath, documentIndex, item, null, null, "the item is not an object"));
            }
            return;
        }
        AddObject(root, filePath, documentIndex, null);
    }

    private void AddObject(YamlMappingNode root, string filePath, int documentIndex, int? itemIndex)
    {
        string? kind = null;
        string? objectName = null;
        try
        {
            kind = root.String("kind", "kind");
            if (kind is not ("Service" or "EndpointSlice" or "Node") && !(_policyKinds && kind is "Pod" or "Namespace" or "NetworkPolicy"))
                return; // Deployments, ConfigMaps, ...: not the proxy's business

            var apiVersion = root.String("apiVersion", "apiVersion");
            var expectedApiVersion = kind switch
            {
                "EndpointSlice" => "discovery.k8s.io/v1",
                "NetworkPolicy" => "networking.k8s.io/v1",
                _ => "v1",
            };
            var metadata = root.Mapping("metadata", "metadata") ?? throw new ObjectValidationException("metadata: required");
            var rawName = metadata.String("name", "metadata.name");
            var clusterScoped = kind is "Node" or "Namespace";
            var @namespace = clusterScoped ? "" : metadata.String("namespace", "metadata.namespace") ?? DefaultNamespace;
            objectName = clusterScoped ? rawName ?? "<unnamed>" : $"{@namespace}/{rawName ?? "<unnamed>"}";
            if (!clusterScoped)
                ObjectMetaRules.Namespace(@namespace);
            var name = FieldRules.ObjectName(rawName, "metadata.name");
            if (apiVersion != expectedApiVersion)
                throw new ObjectValidationException($"apiVersion: '{apiVersion}' is not supported for {kind} (expected {expectedApiVersion})");
            var labels = ObjectMetaRules.Labels(ReadLabels(metadata));

            var key = new ObjectKey(@namespace, name);
            var location = itemIndex is { } item ? $"{filePath} document {documentIndex} item {item}" : $"{filePath} document {documentIndex}";
            if (_seen.TryGetValue((kind, key), out var firstLocation))
                throw new ObjectValidationException($"duplicate {kind} (first defined at {firstLocation}); skipped");

            if (kind == "Pod")
            {
                _pods.Add(PodRules.ToModel(Kubernetes.Objects.ModelMapping.Pod(YamlAsJson.Decode<k8s.Models.V1Pod>(root)), key, labels));
            }
            else if (kind == "Namespace")
            {
                _namespaces.Add(NamespaceRules.ToModel(name, labels));
            }
            else if (kind == "NetworkPolicy")
            {
                _policies.Add(NetworkPolicyRules.ToModel(Kubernetes.Objects.ModelMapping.NetworkPolicy(YamlAsJson.Decode<k8s.Models.V1NetworkPolicy>(root)), key));
            }
            else if (kind == "Node")
            {
                _nodes.Add(NodeParser.Parse(root, name, labels));
            }
            else if (kind == "Service")
            {
                var service = ServiceParser.Parse(root, @namespace, name, labels);
                if (service is not null)
                    _services.Add(service);
            }
            else
            {
                _slices.Add(EndpointSliceParser.Parse(root, @namespace, name, labels));
            }
            _seen[(kind, key)] = location;
        }
        catch (ObjectValidationException error)
        {
            _diagnostics.Add(new ManifestDiagnostic(filePath, documentIndex, itemIndex, kind, objectName, error.Message));
        }
    }

    private static Dictionary<string, string>? ReadLabels(YamlMappingNode metadata)
    {
        var labels = metadata.Mapping("labels", "metadata.labels");
        if (labels is null)
            return null;
        var pairs = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (keyNode, valueNode) in labels.Children)
        {
            if (keyNode is not YamlScalarNode { Value: { Length: > 0 } key })
                throw new ObjectValidationException("metadata.labels: keys must be non-empty strings");
            if (valueNode is not YamlScalarNode value)
                throw new ObjectValidationException($"metadata.labels.{key}: expected a string");
            pairs[key] = value.Value ?? "";
        }
        return pairs;
    }
}
