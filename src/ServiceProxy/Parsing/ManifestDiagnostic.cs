namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>
/// Why one object (or one unreadable document) of a manifest file was skipped.
/// <see cref="DocumentIndex"/> counts YAML documents from 0; <see cref="ItemIndex"/> is the
/// position inside a <c>kind: List</c>, when the object came from one.
/// </summary>
public sealed record ManifestDiagnostic(
    string FilePath,
    int DocumentIndex,
    int? ItemIndex,
    string? Kind,
    string? ObjectName,
    string Reason)
{
    public override string ToString()
    {
        var where = ItemIndex is { } item ? $"document {DocumentIndex} item {item}" : $"document {DocumentIndex}";
        var what = Kind is null ? "" : ObjectName is null ? $" {Kind}" : $" {Kind} {ObjectName}";
        return $"{FilePath}: {where}{what}: {Reason}";
    }
}
