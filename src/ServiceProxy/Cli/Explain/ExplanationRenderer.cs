using System.Diagnostics.CodeAnalysis;
using System.Text;
using System.Text.Json;
using ProxyReplacement.ServiceProxy.Daemon;

namespace ProxyReplacement.ServiceProxy.Cli.Explain;

/// <summary><c>service-proxy explain</c>'s output: numbered steps and the result, or the same as JSON (<c>-o json</c>).</summary>
public static class ExplanationRenderer
{
    public static string Text(Explanation explanation)
    {
        ArgumentNullException.ThrowIfNull(explanation);
        var request = explanation.Request;
        var text = new StringBuilder();
        text.Append($"{TrafficOrigins.Name(request.From)} {request.Source} -> {request.DestinationText}\n");
        text.Append($"program: {explanation.Program}\n");
        var number = 0;
        foreach (var step in explanation.Steps)
        {
            var lines = step.Text.Split('\n');
            text.Append($"{++number,2}. {step.Name}: {lines[0]}\n");
            foreach (var line in lines.Skip(1))
                text.Append($"      {line}\n");
        }
        text.Append($"result: {explanation.Verdict.ToString().ToLowerInvariant()}: {explanation.Outcome}");
        if (explanation.Counter is { } counter)
            text.Append($" (counter {ProxyMetrics.SnakeCase(counter.ToString())})");
        return text.ToString();
    }

    [UnconditionalSuppressMessage("Trimming", "IL2026", Justification = "Reflection-based JSON over this assembly's own types, which the trimmed publish keeps whole (TrimmerRootAssembly in ServiceProxy.csproj, reflection enabled there)")]
    public static string Json(Explanation explanation)
    {
        ArgumentNullException.ThrowIfNull(explanation);
        var request = explanation.Request;
        return JsonSerializer.Serialize(new
        {
            from = TrafficOrigins.Name(request.From),
            source = request.Source.ToString(),
            destination = request.DestinationText,
            program = explanation.Program,
            steps = explanation.Steps.Select(step => new { name = step.Name, text = step.Text }),
            frontend = explanation.Frontend is { } fe
                ? new
                {
                    key = fe.Key.ToString(),
                    kind = fe.Kind,
                    service = fe.Service,
                    localCount = fe.Value.LocalCount,
                    flags = fe.Value.Flags.ToString(),
                    serviceId = fe.Value.ServiceId,
                    backendCount = fe.Value.BackendCount,
                    affinityTimeoutSeconds = fe.Affinity ? (uint?)fe.AffinityTimeoutSeconds : null,
                }
                : null,
            set = explanation.Set is { } set ? new { name = set.Name, @base = set.Base, count = set.Count } : null,
            backends = explanation.Backends.Select(candidate => new
            {
                ordinal = candidate.Ordinal,
                address = candidate.Backend?.ToString(),
                eligible = candidate.Eligible,
                reason = candidate.Reason,
            }),
            conntrack = explanation.Flows.Select(flow => new
            {
                sourcePort = flow.Key.SourcePort,
                type = flow.Value.Type.ToString().ToLowerInvariant(),
                nat = $"{flow.Value.NatAddress}:{flow.Value.NatPort}",
                tcpState = flow.Value.TcpState.ToString().ToLowerInvariant(),
                idleSeconds = Math.Round(flow.IdleSeconds, 1),
                expired = flow.Expired,
            }),
            affinity = explanation.Affinity is { } affinity
                ? new
                {
                    client = affinity.Key.Client.ToString(),
                    backend = $"{affinity.Value.BackendAddress}:{affinity.Value.BackendPort}",
                    ordinal = affinity.Value.Ordinal,
                    valid = affinity.Valid,
                    reason = affinity.Reason,
                }
                : null,
            externalMode = explanation.ExternalMode is { } mode ? new { mode = mode.Mode, source = mode.Source } : null,
            verdict = explanation.Verdict.ToString().ToLowerInvariant(),
            choices = explanation.Choices.Select(choice => choice.ToString()),
            routes = explanation.Routes.Select(route => new { backend = route.Backend, prefix = route.Prefix, owner = route.Owner, nodeAddress = route.NodeAddress }),
            outcome = explanation.Outcome,
            counter = explanation.Counter is { } counter ? ProxyMetrics.SnakeCase(counter.ToString()) : null,
        }, new JsonSerializerOptions { WriteIndented = true });
    }
}
