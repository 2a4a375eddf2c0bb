using NUnit.Framework.Interfaces;
using ProxyReplacement.Dataplane.Tests.Support;
using ProxyReplacement.E2E.Tests.Support;

namespace ProxyReplacement.E2E.Tests;

/// <summary>
/// Per test: a fresh <see cref="ProxiedNode"/> with <see cref="BackendCount"/> backend pods, the Service
/// and an EndpointSlice listing backends 0..2, and a daemon that has synced them. On failure the
/// daemons' logs and a dump go to the test output; everything is removed afterwards either way.
/// </summary>
[Category("Privileged")]
[NonParallelizable]
public abstract class ProxiedNodeFixture
{
    private protected static readonly int[] InitialBackends = [0, 1, 2];

    private ProxiedNode? _node;

    private protected ProxiedNode Node => _node ?? throw new InvalidOperationException("SetUp did not complete");

    protected virtual int BackendCount => 3;

    /// <summary>Whether the node gets a client test cgroup for the socket hooks (see <see cref="ProxiedNode.AddSocketLbCgroup"/>).</summary>
    protected virtual bool WithSocketLbCgroup => false;

    /// <summary>Arguments added to the first daemon's command line.</summary>
    private protected virtual string[] DaemonArguments(ProxiedNode node) => [];

    [SetUp]
    public async Task StartNodeAsync()
    {
        Privileged.Require();
        var node = ProxiedNode.Create(BackendCount);
        try
        {
            node.Manifests.WriteService(node.Service);
            node.Manifests.WriteEndpointSlice(node.Service, node.BackendAddresses(InitialBackends));
            if (WithSocketLbCgroup)
                node.AddSocketLbCgroup();
            var daemon = node.StartDaemon(DaemonArguments(node));
            var took = await node.WaitUntilReadyAsync(daemon);
            await TestContext.Out.WriteLineAsync($"{daemon.Label} ready {took.TotalMilliseconds:0} ms after start ({node.Binary})");
        }
        catch
        {
            await TestContext.Out.WriteLineAsync(node.Diagnostics());
            node.Dispose();
            throw;
        }
        _node = node;
    }

    [TearDown]
    public void RemoveNode()
    {
        if (_node is null)
            return;
        try
        {
            if (TestContext.CurrentContext.Result.Outcome.Status == TestStatus.Failed)
                TestContext.Out.WriteLine(_node.Diagnostics());
        }
        finally
        {
            _node.Dispose();
            _node = null;
        }
    }

    private protected static string[] Names(params int[] backendIndexes) => backendIndexes.Select(ProxiedNode.BackendName).ToArray();

    private protected static string Describe(IReadOnlyDictionary<string, int> tally) =>
        string.Join(", ", tally.Select(entry => $"{entry.Key}={entry.Value}"));
}
