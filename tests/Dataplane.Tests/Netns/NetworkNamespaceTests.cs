using System.Net.Sockets;
using ProxyReplacement.Dataplane.Netns;
using ProxyReplacement.Dataplane.Tests.Support;

namespace ProxyReplacement.Dataplane.Tests.Netns;

[TestFixture]
[Category("Privileged")]
public sealed class NetworkNamespaceTests
{
    private VethNamespace _scratch = null!;

    [SetUp]
    public void SetUp()
    {
        Privileged.Require();
        _scratch = VethNamespace.Create();
    }

    [TearDown]
    public void TearDown() => _scratch?.Dispose();

    [Test]
    public void Run_executes_inside_the_named_namespace_and_returns_the_result()
    {
        var outside = NetworkNamespace.CurrentIdentity();

        var (inside, ifindex) = NetworkNamespace.Run(_scratch.Name,
            () => (NetworkNamespace.CurrentIdentity(), NetworkNamespace.InterfaceIndex(VethNamespace.Interface)));

        Assert.Multiple(() =>
        {
            Assert.That(inside, Does.StartWith("net:[").And.Not.EqualTo(outside));
            Assert.That(ifindex, Is.GreaterThan(0));
            // The caller's thread never moved, and the veth exists only inside.
            Assert.That(NetworkNamespace.CurrentIdentity(), Is.EqualTo(outside));
            Assert.That(() => NetworkNamespace.InterfaceIndex(VethNamespace.Interface), Throws.ArgumentException);
        });
    }

    [Test]
    public void Run_uses_a_dedicated_thread_that_ends_afterwards()
    {
        var (worker, fromPool) = NetworkNamespace.Run(_scratch.Name,
            () => (Thread.CurrentThread, Thread.CurrentThread.IsThreadPoolThread));

        Assert.Multiple(() =>
        {
            Assert.That(worker, Is.Not.SameAs(Thread.CurrentThread));
            Assert.That(fromPool, Is.False);
            Assert.That(worker.IsAlive, Is.False, "Run returns only after its thread ended");
        });
    }

    [Test]
    public void Run_propagates_the_exception_of_the_action()
    {
        var thrown = Assert.Throws<InvalidOperationException>(() =>
            NetworkNamespace.Run(_scratch.Name, () => throw new InvalidOperationException("from inside")));

        Assert.That(thrown!.Message, Is.EqualTo("from inside"));
    }

    [Test]
    public void Run_on_a_missing_namespace_fails_with_ENOENT()
    {
        var thrown = Assert.Throws<NetworkNamespaceException>(() =>
            NetworkNamespace.Run(_scratch.Name + "-missing", () => 1));

        Assert.Multiple(() =>
        {
            Assert.That(thrown!.Errno, Is.EqualTo(Errno.ENOENT));
            Assert.That(thrown.Message, Does.Contain(_scratch.Name + "-missing"));
        });
    }

    [Test]
    public void Run_rejects_names_that_are_paths()
    {
        Assert.That(() => NetworkNamespace.Run("../self", () => 1), Throws.ArgumentException);
    }

    [Test]
    public void A_socket_created_inside_keeps_the_namespace_after_the_thread_ended()
    {
        // A listener made inside, used after its thread is gone, accepts a connect from inside:
        // both sockets resolved 127.0.0.1 in the scratch namespace.
        using var listener = NetworkNamespace.Run(_scratch.Name, () =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
            socket.Listen();
            return socket;
        });
        var port = ((System.Net.IPEndPoint)listener.LocalEndPoint!).Port;

        using var inside = NetworkNamespace.Run(_scratch.Name, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        inside.Connect(System.Net.IPAddress.Loopback, port);
        using var accepted = listener.Accept();

        Assert.That(((System.Net.IPEndPoint)accepted.RemoteEndPoint!).Port, Is.EqualTo(((System.Net.IPEndPoint)inside.LocalEndPoint!).Port));
    }
}
