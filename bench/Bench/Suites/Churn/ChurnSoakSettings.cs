namespace ProxyReplacement.Bench.Suites.Churn;

/// <summary>Which source the soaked daemon reads: a manifest directory, or the fake Kubernetes API server.</summary>
public enum ChurnSource
{
    ManifestDirectory,
    KubernetesApi,
}

/// <summary>
/// Sizes of the churn soak (<see cref="ChurnSoakSuite"/>): the 10k Services, 100 changes per second, 10 minutes
/// for <c>make bench</c>; seconds and a hundred Services for the smoke run, so the harness cannot rot.
/// </summary>
public sealed record ChurnSoakSettings
{
    /// <summary>Services present at any time (adds and deletes keep the count near it).</summary>
    public int Services { get; init; } = 10_000;

    /// <summary>Ready endpoints each Service starts with (scaling moves it between 1 and <see cref="ChurnCluster.MaxEndpoints"/>).</summary>
    public int EndpointsPerService { get; init; } = 4;

    public int ChangesPerSecond { get; init; } = 100;

    /// <summary>How long the changes flow.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>How often RSS and /metrics are read.</summary>
    public TimeSpan SampleInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>One row of the report's table over time (the verdict compares the last period with the second).</summary>
    public TimeSpan Period { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>Quiet time between the daemon's first sync and the first change (its start-up garbage collected).</summary>
    public TimeSpan Settle { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>How long, after the last change, the maps may take to equal the model.</summary>
    public TimeSpan ConvergeTimeout { get; init; } = TimeSpan.FromSeconds(90);

    public IReadOnlyList<ChurnSource> Sources { get; init; } = [ChurnSource.ManifestDirectory, ChurnSource.KubernetesApi];

    /// <summary>Endpoint changes only (<see cref="ChurnCluster.EndpointsOnlyMix"/>) instead of the standard mix.</summary>
    public bool EndpointsOnly { get; init; }

    /// <summary>The seed of the change sequence: every run makes the same changes.</summary>
    public int Seed { get; init; } = 16_07;

    public static ChurnSoakSettings Full { get; } = new();

    public static ChurnSoakSettings Smoke { get; } = new()
    {
        Services = 100,
        ChangesPerSecond = 20,
        Duration = TimeSpan.FromSeconds(12),
        SampleInterval = TimeSpan.FromSeconds(2),
        Period = TimeSpan.FromSeconds(4),
        Settle = TimeSpan.FromSeconds(1),
        ConvergeTimeout = TimeSpan.FromSeconds(60),
    };
}
