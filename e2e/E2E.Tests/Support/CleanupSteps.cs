namespace ProxyReplacement.E2E.Tests.Support;

/// <summary>
/// Runs every cleanup step even when earlier ones fail, then reports all failures at once: a Dispose that stopped at
/// the first error would leave namespaces, mounts or processes behind.
/// </summary>
internal sealed class CleanupSteps
{
    private readonly List<Exception> _failures = [];

    public void Attempt(Action step)
    {
        try
        {
            step();
        }
        catch (Exception e)
        {
            _failures.Add(e);
        }
    }

    public void Attempt(IDisposable? disposable)
    {
        if (disposable is not null)
            Attempt(disposable.Dispose);
    }

    /// <summary>Throws an <see cref="AggregateException"/> naming <paramref name="what"/> when any step failed.</summary>
    public void ThrowIfAnyFailed(string what)
    {
        if (_failures.Count > 0)
            throw new AggregateException($"{what} cleanup failed", _failures);
    }
}
