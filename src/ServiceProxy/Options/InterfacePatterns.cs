using System.Text.RegularExpressions;

namespace ProxyReplacement.ServiceProxy.Options;

/// <summary>Comma-separated interface name globs (<c>*</c> and <c>?</c>), e.g. <c>veth*,cali*</c>.</summary>
public sealed class InterfacePatterns
{
    private readonly Regex[] _regexes;

    private InterfacePatterns(IReadOnlyList<string> patterns)
    {
        Patterns = patterns;
        _regexes = patterns
            .Select(glob => new Regex("^" + Regex.Escape(glob).Replace("\\*", ".*").Replace("\\?", ".") + "$",
                RegexOptions.CultureInvariant))
            .ToArray();
    }

    public IReadOnlyList<string> Patterns { get; }

    public bool Matches(string interfaceName) => _regexes.Any(regex => regex.IsMatch(interfaceName));

    /// <summary>Parses a pattern list; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static InterfacePatterns Parse(string text)
    {
        var patterns = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var pattern in patterns)
        {
            if (pattern.Length > 15 && !pattern.Contains('*'))
                throw new FormatException($"'{pattern}' is longer than an interface name can be (15 characters)");
            if (pattern.Any(c => char.IsWhiteSpace(c) || c == '/'))
                throw new FormatException($"'{pattern}' contains a character interface names cannot have");
        }
        return new InterfacePatterns(patterns);
    }

    public override string ToString() => string.Join(',', Patterns);
}
