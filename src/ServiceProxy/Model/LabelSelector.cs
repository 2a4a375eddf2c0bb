namespace ProxyReplacement.ServiceProxy.Model;

/// <summary>The operators of a label selector's <c>matchExpressions</c>.</summary>
public enum SelectorOperator
{
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// <summary>One requirement of a label selector (a <c>matchLabels</c> pair is <c>key In [value]</c>).</summary>
public sealed record SelectorRequirement(string Key, SelectorOperator Operator, EquatableList<string> Values)
{
    public bool Matches(Labels labels) => Operator switch
    {
        SelectorOperator.In => labels.TryGetValue(Key, out var value) && Values.Contains(value),
        SelectorOperator.NotIn => !labels.TryGetValue(Key, out var value) || !Values.Contains(value),
        SelectorOperator.Exists => labels.ContainsKey(Key),
        SelectorOperator.DoesNotExist => !labels.ContainsKey(Key),
        _ => false,
    };

    public override string ToString() => Operator switch
    {
        SelectorOperator.In when Values.Count == 1 => $"{Key}={Values[0]}",
        SelectorOperator.In => $"{Key} in ({string.Join(",", Values)})",
        SelectorOperator.NotIn => $"{Key} notin ({string.Join(",", Values)})",
        SelectorOperator.Exists => Key,
        _ => $"!{Key}",
    };
}

/// <summary>A label selector: every requirement must hold; none selects everything (<c>{}</c>).</summary>
public sealed record LabelSelector(EquatableList<SelectorRequirement> Requirements)
{
    public static readonly LabelSelector Everything = new(EquatableList<SelectorRequirement>.Empty);

    public bool Matches(Labels labels)
    {
        foreach (var requirement in Requirements)
            if (!requirement.Matches(labels))
                return false;
        return true;
    }

    public override string ToString() => Requirements.Count == 0 ? "{}" : string.Join(",", Requirements);
}
