namespace ProxyReplacement.ServiceProxy.Kubernetes.Config;

/// <summary>Where the bearer token of each request comes from.</summary>
public interface IBearerToken
{
    /// <summary>The token to send now (null: send none).</summary>
    string? Current();

    /// <summary>
    /// The server refused the token (401): re-read it before the next request. True when that can
    /// change anything (a token file), so one immediate retry is worth it.
    /// </summary>
    bool Refresh();
}

/// <summary>A token written in the kubeconfig.</summary>
public sealed class StaticBearerToken(string token) : IBearerToken
{
    public string? Current() => token;
    public bool Refresh() => false;
}

/// <summary>
/// A token file (kubeconfig <c>tokenFile</c>, the service-account token): re-read whenever its size or
/// modification time changed (projected service-account tokens rotate by replacing the file), and when
/// the server refused the current one. A file that vanished or cannot be read keeps the last token,
/// so a rotation in progress does not turn into requests without credentials.
/// </summary>
public sealed class FileBearerToken : IBearerToken
{
    private readonly Lock _gate = new();
    private string? _token;
    private (long Length, DateTime Written)? _stamp;

    public FileBearerToken(string path)
    {
        Path = path;
        if (Current() is null)
            throw new FileNotFoundException($"token file '{path}' is missing or empty", path);
    }

    public string Path { get; }

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

    public bool Refresh()
    {
        lock (_gate)
            _stamp = null;
        return true;
    }
}
