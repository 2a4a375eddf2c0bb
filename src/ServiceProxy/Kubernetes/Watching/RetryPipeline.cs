using Polly;
using Polly.Retry;
using ProxyReplacement.ServiceProxy.Kubernetes.Api;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Watching;

/// <summary>
/// The Polly v8 retry of one API operation: every failure but <c>410 Gone</c> (which needs a relist, not a
/// retry) is retried forever with capped exponential backoff and jitter, or after the server's
/// <c>Retry-After</c> when it sent one (429, 503). Retrying forever is right for a daemon: it keeps
/// serving its last state and reports itself degraded meanwhile.
/// </summary>
internal static class RetryPipeline
{
    public static ResiliencePipeline Create(ReflectorSettings settings, TimeProvider time, Action<KubernetesApiException, TimeSpan, int> onRetry) =>
        new ResiliencePipelineBuilder { TimeProvider = time }
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is KubernetesApiException { IsGone: false }),
                MaxRetryAttempts = int.MaxValue,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = settings.InitialBackoff,
                MaxDelay = settings.MaxBackoff,
                DelayGenerator = args => ValueTask.FromResult(
                    args.Outcome.Exception is KubernetesApiException { RetryAfter: { } retryAfter }
                        ? retryAfter < settings.MaxRetryAfter ? retryAfter : settings.MaxRetryAfter
                        : (TimeSpan?)null),
                OnRetry = args =>
                {
                    onRetry((KubernetesApiException)args.Outcome.Exception!, args.RetryDelay, args.AttemptNumber);
                    return ValueTask.CompletedTask;
                },
            })
            .Build();
}
