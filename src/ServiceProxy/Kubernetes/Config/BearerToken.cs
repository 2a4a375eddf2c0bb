using System.Net.Http.Headers;
using k8s.Authentication;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Config;

/// <summary>
/// A token file (the service-account token) as a KubernetesClient token provider, re-read whenever its size
/// or modification time changed (a projected service-account token rotates by replacing the file) and
/// after the server refused the current token (<see cref="Refresh"/>). The package's own <c>TokenFileAuth</c>
/// re-reads the file once a minute, like client-go: enough for kubelet's rotation (the old token stays valid
/// for minutes), but a 401 right after a rotation would then last up to a minute. A file that vanished or
/// cannot be read keeps the last token, so a rotation in progress never turns into requests without one.
/// </summary>
public sealed class FileTokenProvider : ITokenProvider
{
    private readonly Lock _gate = new();
    private string? _token;
    private (long Length, DateTime Written)? _stamp;

    public FileTokenProvider(string path)
    {
        Path = path;
        if (Current() is null)
            throw new FileNotFoundException($"token file '{path}' is missing or empty", path);
    }

    public string Path { get; }

    public Task<AuthenticationHeaderValue> GetAuthenticationHeaderAsync(CancellationToken cancellationToken) =>
        Task.FromResult(new AuthenticationHeaderValue("Bearer", Current()));

    /// <summary>The token to send now.</summary>
    public string? Current()
    {
        lock (_gate)
        {
            try
            {
                var file = new FileInfo(Path);
                var stamp = (file.Length, file.LastWriteTimeUtc);
                if (_token is null || stamp != _stamp)
                {
                    var text = File.ReadAllText(Path).Trim();
                    if (text.Length > 0)
                    {
                        _token = text;
                        _stamp = stamp;
                    }
                }
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException)
            {
                // keep the last token
            }
            return _token;
        }
    }

    /// <summary>The server refused the token (401): read the file again before the next request.</summary>
    public void Refresh()
    {
        lock (_gate)
            _stamp = null;
    }
}
