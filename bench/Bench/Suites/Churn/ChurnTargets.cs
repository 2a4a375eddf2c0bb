using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using ProxyReplacement.Bench.Workload;
using ProxyReplacement.ServiceProxy.Tests.Kubernetes.FakeApi;

namespace ProxyReplacement.Bench.Suites.Churn;

/// <summary>Where the soak's changes go: the daemon's source (a manifest directory, or the fake API server's store).</summary>
public interface IChurnTarget
{
    /// <summary>Publishes the whole model (before the daemon starts).</summary>
    void WriteAll(ChurnCluster cluster);

    /// <summary>Publishes what <paramref name="batch"/> touched.</summary>
    void Apply(ChurnCluster cluster, ChurnBatch batch);
}

/// <summary>
/// The manifest directory: <see cref="ServicesPerFile"/> pool indices per file (Service and slice side by side, as
/// <see cref="SyntheticServices.WriteManifests"/> lays them out); a batch rewrites each file it touched once, atomically (a
/// temporary file, then a rename), so the daemon never reads a half-written file.
/// </summary>
public sealed class ManifestChurnTarget(string directory) : IChurnTarget
{
    public const int ServicesPerFile = 100;

    public string Directory { get; } = directory;

    public void WriteAll(ChurnCluster cluster)
    {
        System.IO.Directory.CreateDirectory(Directory);
        for (var file = 0; file * ServicesPerFile < cluster.Pool.Count; file++)
            WriteFile(cluster, file);
    }

    public void Apply(ChurnCluster cluster, ChurnBatch batch)
    {
        foreach (var file in batch.Touched.Keys.Select(index => index / ServicesPerFile).Distinct())
            WriteFile(cluster, file);
    }

    private void WriteFile(ChurnCluster cluster, int file)
    {
        var text = new StringBuilder();
        var end = Math.Min(cluster.Pool.Count, (file + 1) * ServicesPerFile);
        for (var i = file * ServicesPerFile; i < end; i++)
            if (cluster.Pool[i].Present)
                Append(text, cluster.Pool[i]);
        var path = Path.Combine(Directory, $"services-{file:D5}.yaml");
        var temporary = path + ".tmp"; // not *.yaml: the daemon ignores it
        File.WriteAllText(temporary, text.ToString());
        File.Move(temporary, path, overwrite: true);
    }

    private static void Append(StringBuilder text, ChurnService service)
    {
        var inv = CultureInfo.InvariantCulture;
        text.Append(inv, $"""
            apiVersion: v1
            kind: Service
            metadata: {"{"}name: {service.Name}, namespace: {SyntheticServices.Namespace}{"}"}
            spec:
              type: ClusterIP
              clusterIP: {service.ClusterIP}
              ports: [{"{"}name: http, protocol: TCP, port: {service.Port}, targetPort: {SyntheticServices.TargetPort}{"}"}]
            ---
            apiVersion: discovery.k8s.io/v1
            kind: EndpointSlice
            metadata:
              name: {service.SliceName}
              namespace: {SyntheticServices.Namespace}
              labels: {"{"}kubernetes.io/service-name: {service.Name}{"}"}
              annotations: {"{"}endpoints.kubernetes.io/last-change-trigger-time: "{TriggerTime(service)}"{"}"}
            addressType: IPv4
            ports: [{"{"}name: http, protocol: TCP, port: {SyntheticServices.TargetPort}{"}"}]
            endpoints:

            """);
        foreach (var (slot, ready) in service.Endpoints)
            text.Append(inv, $"  - {{addresses: [{service.EndpointAddress(slot)}], conditions: {{ready: {(ready ? "true" : "false")}}}}}\n");
        text.Append("---\n");
    }

    internal static string TriggerTime(ChurnService service) =>
        service.SliceChanged.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'", CultureInfo.InvariantCulture);
}

/// <summary>The fake API server's store: each touched Service and slice is put (a watch event) or deleted.</summary>
public sealed class ApiChurnTarget(FakeApiStore store) : IChurnTarget
{
    public void WriteAll(ChurnCluster cluster)
    {
        foreach (var service in cluster.Pool.Where(service => service.Present))
        {
            store.Put(FakeApiStore.Services, Service(service));
            store.Put(FakeApiStore.EndpointSlices, Slice(service));
        }
    }

    public void Apply(ChurnCluster cluster, ChurnBatch batch)
    {
        foreach (var (index, (serviceChanged, sliceChanged)) in batch.Touched)
        {
            var service = cluster.Pool[index];
            if (!service.Present)
            {
                // deleted (or added and deleted again within the batch): both objects go
                store.Delete(FakeApiStore.EndpointSlices, SyntheticServices.Namespace, service.SliceName);
                store.Delete(FakeApiStore.Services, SyntheticServices.Namespace, service.Name);
                continue;
            }
            if (serviceChanged)
                store.Put(FakeApiStore.Services, Service(service));
            if (sliceChanged)
                store.Put(FakeApiStore.EndpointSlices, Slice(service));
        }
    }

    private static JsonObject Service(ChurnService service)
    {
        var item = ApiJson.Service(SyntheticServices.Namespace, service.Name, service.ClusterIP.ToString(), service.Port, SyntheticServices.TargetPort);
        item["metadata"]!["uid"] = service.Uid(slice: false);
        return item;
    }

    private static JsonObject Slice(ChurnService service) => new()
    {
        ["apiVersion"] = "discovery.k8s.io/v1",
        ["kind"] = "EndpointSlice",
        ["metadata"] = new JsonObject
        {
            ["name"] = service.SliceName,
            ["namespace"] = SyntheticServices.Namespace,
            ["uid"] = service.Uid(slice: true),
            ["labels"] = new JsonObject { ["kubernetes.io/service-name"] = service.Name },
            ["annotations"] = new JsonObject { ["endpoints.kubernetes.io/last-change-trigger-time"] = ManifestChurnTarget.TriggerTime(service) },
        },
        ["addressType"] = "IPv4",
        ["ports"] = new JsonArray(new JsonObject { ["name"] = "http", ["protocol"] = "TCP", ["port"] = SyntheticServices.TargetPort }),
        ["endpoints"] = new JsonArray(service.Endpoints.Select(endpoint => (JsonNode)new JsonObject
        {
            ["addresses"] = new JsonArray(service.EndpointAddress(endpoint.Slot).ToString()),
            ["conditions"] = new JsonObject { ["ready"] = endpoint.Ready },
        }).ToArray()),
    };
}
