namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>
/// Thrown inside an object's parser or rules to reject that one object (a manifest document or an API
/// object); the caller turns it into a diagnostic and carries on with the others. The message starts
/// with the field path.
/// </summary>
internal class ObjectValidationException(string reason) : Exception(reason);
