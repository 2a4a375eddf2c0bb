using System.Text.Json;
using System.Text.Json.Nodes;
using Json.Schema;

namespace ProxyReplacement.Shipping.Tests.Support;

/// <summary>charts/proxy-replacement/values.schema.json, evaluated as Helm does before it renders (JsonSchema.Net).</summary>
internal static class ValuesSchema
{
    private static readonly Lazy<JsonSchema> Schema = new(() =>
        JsonSchema.FromText(File.ReadAllText(Path.Combine(Repository.ChartDirectory, "values.schema.json"))));

    public static JsonObject Document => JsonNode.Parse(File.ReadAllText(Path.Combine(Repository.ChartDirectory, "values.schema.json")))!.AsObject();

    /// <summary>The errors of the values (empty when valid), one line each: where and what.</summary>
    public static IReadOnlyList<string> Errors(JsonObject values)
    {
        using var document = JsonDocument.Parse(values.ToJsonString());
        var result = Schema.Value.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = OutputFormat.List });
        if (result.IsValid)
            return [];
        return (result.Details ?? [])
            .Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation}: {e.Value}"))
            .DefaultIfEmpty("invalid")
            .ToList();
    }
}
