namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>Thrown inside an object's parser to reject that object; the loader turns it into a diagnostic.</summary>
internal sealed class ManifestValidationException(string reason) : Exception(reason);
