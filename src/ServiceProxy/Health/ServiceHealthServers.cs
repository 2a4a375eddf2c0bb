using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Health;

/// <summary>The health check node port servers, as the daemon drives them after each sync.</summary>
public interface IServiceHealthServers : IDisposable
{
    /// <summary>
    /// Makes the servers match <paramref name="services"/> (Service -> its health check port and this node's local
    /// endpoint count, <see cref="ServiceHealthChecks.Desired"/>): closes the servers of Services gone or moved to another
    /// port, opens the new ones, updates the counts of the rest, and retries ports that could not be bound before.
    /// </summary>
    void Update(IReadOnlyDictionary<ObjectKey, ServiceHealthCheck> services);
}

/// <summary>
/// kube-proxy's service health servers: for each LoadBalancer Service with <c>externalTrafficPolicy: Local</c>, an HTTP
/// server on its <c>healthCheckNodePort</c> that answers 200 while this node has ready local endpoints for it (and the
/// proxy is healthy) and 503 otherwise, so the load balancer sends external traffic only to nodes that can serve it.
/// A port that cannot be bound (in use) is logged and counted and retried at every <see cref="Update"/>; the other
/// Services' servers are not affected. Each server is a <see cref="HealthCheckListener"/> (a raw socket, not Kestrel).
/// </summary>
public sealed partial class ServiceHealthServers : IServiceHealthServers
{
    private readonly IPAddress _address;
    private readonly Func<bool> _proxyHealthy;
    private readonly ServiceHealthMetrics _metrics;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Lock _gate = new();
    private readonly Dictionary<ObjectKey, HealthCheckListener> _open = [];
    private readonly Dictionary<ObjectKey, Failure> _failing = [];
    private bool _disposed;

    private sealed record Failure(int Port, string Reason, int Attempts);

    /// <param name="address">Where the servers listen (kube-proxy: every address, or the NodePort addresses).</param>
    /// <param name="proxyHealthy">The proxy's own health (<see cref="Daemon.HealthState.Healthy"/>): <c>serviceProxyHealthy</c>.</param>
    public ServiceHealthServers(IPAddress address, Func<bool> proxyHealthy, ServiceHealthMetrics metrics, ILogger<ServiceHealthServers> logger,
        TimeProvider? time = null)
    {
        _address = address;
        _proxyHealthy = proxyHealthy;
        _metrics = metrics;
        _logger = logger;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The ports being served, by Service (the bound port, which differs from the asked one only for port 0).</summary>
    public IReadOnlyDictionary<ObjectKey, int> Serving
    {
        get
        {
            lock (_gate) return _open.ToDictionary(pair => pair.Key, pair => pair.Value.LocalEndPoint.Port);
        }
    }

    /// <summary>The Services whose port could not be bound, with the port and why.</summary>
    public IReadOnlyDictionary<ObjectKey, (int Port, string Reason)> Failing
    {
        get
        {
            lock (_gate) return _failing.ToDictionary(pair => pair.Key, pair => (pair.Value.Port, pair.Value.Reason));
        }
    }

    public void Update(IReadOnlyDictionary<ObjectKey, ServiceHealthCheck> services)
    {
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            // Close first, so that a port another Service now owns is free when that one opens.
            foreach (var (key, listener) in _open.ToList())
            {
                if (services.TryGetValue(key, out var wanted) && wanted.Port == listener.Port)
                    continue;
                listener.Dispose();
                _open.Remove(key);
                LogClosed(_logger, key.ToString(), listener.Port);
            }
            foreach (var (key, failure) in _failing.ToList())
                if (!services.TryGetValue(key, out var wanted) || wanted.Port != failure.Port)
                    _failing.Remove(key);

            foreach (var (key, wanted) in services)
            {
                if (_open.TryGetValue(key, out var listener))
                {
                    listener.LocalEndpoints = wanted.LocalEndpoints;
                    continue;
                }
                Open(key, wanted);
            }
            _metrics.Servers.Set(_open.Count);
            _metrics.FailingPorts.Set(_failing.Count);
        }
    }

    private void Open(ObjectKey key, ServiceHealthCheck wanted)
    {
        try
        {
            _open[key] = HealthCheckListener.Open(_address, key, wanted.Port, wanted.LocalEndpoints, _proxyHealthy, _time);
            if (_failing.Remove(key, out var earlier))
                LogOpenedAfterFailures(_logger, key.ToString(), wanted.Port, earlier.Attempts);
            else
                LogOpened(_logger, key.ToString(), wanted.Port, wanted.LocalEndpoints);
        }
        catch (SocketException error)
        {
            _metrics.BindFailures.Increment();
            var attempts = _failing.TryGetValue(key, out var earlier) ? earlier.Attempts + 1 : 1;
            _failing[key] = new Failure(wanted.Port, error.Message, attempts);
            if (attempts == 1)
                LogBindFailed(_logger, key.ToString(), wanted.Port, _address.ToString(), error.Message);
            else
                LogBindStillFailing(_logger, key.ToString(), wanted.Port, attempts);
        }
    }

    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
                return;
            _disposed = true;
            foreach (var listener in _open.Values)
                listener.Dispose();
            _open.Clear();
            _failing.Clear();
            _metrics.Servers.Set(0);
            _metrics.FailingPorts.Set(0);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Health check node port for {Service} open on {Port} ({Endpoints} local endpoints)")]
    private static partial void LogOpened(ILogger logger, string service, int port, int endpoints);

    [LoggerMessage(Level = LogLevel.Information, Message = "Health check node port for {Service} open on {Port} after {Attempts} failed attempts")]
    private static partial void LogOpenedAfterFailures(ILogger logger, string service, int port, int attempts);

    [LoggerMessage(Level = LogLevel.Information, Message = "Health check node port for {Service} on {Port} closed")]
    private static partial void LogClosed(ILogger logger, string service, int port);

    [LoggerMessage(Level = LogLevel.Error, Message = "Cannot open the health check node port of {Service} on {Address}:{Port}: {Reason}; retrying at every sync")]
    private static partial void LogBindFailed(ILogger logger, string service, int port, string address, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Health check node port of {Service} on {Port} still cannot be bound ({Attempts} attempts)")]
    private static partial void LogBindStillFailing(ILogger logger, string service, int port, int attempts);
}
