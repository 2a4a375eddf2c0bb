using System.Text.Json.Nodes;

namespace ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;

/// <summary>Builders for the API objects the tests store in the fake server, as the API would return them.</summary>
public static class ApiJson
{
    public static JsonObject Service(string ns, string name, string clusterIP, int port = 80, int targetPort = 8080,
        string portName = "http", IReadOnlyDictionary<string, string>? labels = null) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "Service",
        ["metadata"] = Metadata(ns, name, labels),
        ["spec"] = new JsonObject
        {
            ["type"] = "ClusterIP",
            ["clusterIP"] = clusterIP,
            ["clusterIPs"] = new JsonArray(clusterIP),
            ["ports"] = new JsonArray(new JsonObject
            {
                ["name"] = portName,
                ["protocol"] = "TCP",
                ["port"] = port,
                ["targetPort"] = targetPort,
            }),
        },
    };

    public static JsonObject EndpointSlice(string ns, string name, string service, int port, IEnumerable<string> readyAddresses,
        string portName = "http", IReadOnlyDictionary<string, string>? labels = null)
    {
        var allLabels = new Dictionary<string, string>(labels ?? new Dictionary<string, string>()) { ["kubernetes.io/service-name"] = service };
        return new JsonObject
        {
            ["apiVersion"] = "discovery.k8s.io/v1",
            ["kind"] = "EndpointSlice",
            ["metadata"] = Metadata(ns, name, allLabels),
            ["addressType"] = "IPv4",
            ["ports"] = new JsonArray(new JsonObject { ["name"] = portName, ["protocol"] = "TCP", ["port"] = port }),
            ["endpoints"] = new JsonArray(readyAddresses.Select(address => (JsonNode)new JsonObject
            {
                ["addresses"] = new JsonArray(address),
                ["conditions"] = new JsonObject { ["ready"] = true },
            }).ToArray()),
        };
    }

    public static JsonObject Node(string name, string internalIP, string? zone = null) => new()
    {
        ["apiVersion"] = "v1",
        ["kind"] = "Node",
        ["metadata"] = Metadata("", name, zone is null ? null : new Dictionary<string, string> { ["topology.kubernetes.io/zone"] = zone }),
        ["status"] = new JsonObject
        {
            ["addresses"] = new JsonArray(
                new JsonObject { ["type"] = "InternalIP", ["address"] = internalIP },
                new JsonObject { ["type"] = "Hostname", ["address"] = name }),
        },
    };

    private static JsonObject Metadata(string ns, string name, IReadOnlyDictionary<string, string>? labels)
    {
        var metadata = new JsonObject { ["name"] = name, ["uid"] = Guid.NewGuid().ToString() };
        if (ns.Length > 0)
            metadata["namespace"] = ns;
        if (labels is { Count: > 0 })
            metadata["labels"] = new JsonObject(labels.Select(pair => KeyValuePair.Create(pair.Key, (JsonNode?)pair.Value)));
        return metadata;
    }
}
