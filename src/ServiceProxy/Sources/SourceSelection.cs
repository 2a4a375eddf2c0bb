using ProxyReplacement.ServiceProxy.Kubernetes.Config;
using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Sources;

/// <summary>The source the options and the environment select.</summary>
public abstract record SourceChoice
{
    public sealed record ManifestDirectory(string Directory) : SourceChoice;

    /// <summary>A kubeconfig: the <c>--kubeconfig</c> file, or the <c>KUBECONFIG</c> list.</summary>
    public sealed record Kubeconfig(IReadOnlyList<string> Paths, string From) : SourceChoice;

    /// <summary>The pod's service account and <c>KUBERNETES_SERVICE_HOST</c>/<c>_PORT</c>.</summary>
    public sealed record InCluster : SourceChoice;
}

/// <summary>
/// Picks the source. Explicit flags first: <c>--kubeconfig</c> means Kubernetes and <c>--manifest-dir</c>
/// the manifest directory (giving both needs <c>--source</c>). With neither, the environment decides:
/// <c>KUBECONFIG</c>, then the in-cluster variables, mean Kubernetes. So an ambient <c>KUBECONFIG</c>
/// in a shell never overrides an explicit <c>--manifest-dir</c>. <c>--source kubernetes</c> uses
/// <c>--kubeconfig</c>, <c>KUBECONFIG</c> or in-cluster, in that order; <c>--source manifest</c> the directory.
/// </summary>
public static class SourceSelection
{
    public const string KubeconfigVariable = "KUBECONFIG";

    public static SourceChoice Choose(ProxyOptions options, Func<string, string?> environment)
    {
        if (options.Source == SourceKind.Manifest || (options.Source == SourceKind.Auto && options.Kubeconfig is null && options.ManifestDir is not null))
            return new SourceChoice.ManifestDirectory(options.ManifestDir
                ?? throw new OptionException("--source", "manifest needs --manifest-dir DIR"));

        if (options.Kubeconfig is { } file)
            return new SourceChoice.Kubeconfig([file], "--kubeconfig");
        if (environment(KubeconfigVariable) is { Length: > 0 } list && Kubeconfig.SplitPathList(list) is { Count: > 0 } paths)
            return new SourceChoice.Kubeconfig(paths, KubeconfigVariable);
        if (InClusterConfig.IsPresent(environment))
            return new SourceChoice.InCluster();
        throw options.Source == SourceKind.Kubernetes
            ? new OptionException("--source", "kubernetes needs --kubeconfig FILE, KUBECONFIG, or a pod's environment (KUBERNETES_SERVICE_HOST/_PORT)")
            : new OptionException("--manifest-dir", "no source configured: give --manifest-dir DIR or --kubeconfig FILE (or set KUBECONFIG, or run in a pod)");
    }
}
