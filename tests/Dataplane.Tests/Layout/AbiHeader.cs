using System.Text.RegularExpressions;

namespace ProxyReplacement.Dataplane.Tests.Layout;

/// <summary>The text of bpf-c/include/pr_map_abi.h, found by walking up from the test binaries.</summary>
public static partial class AbiHeader
{
    private static readonly Lazy<string> TextCache = new(() => File.ReadAllText(Find()));

    public static string Text => TextCache.Value;

    public static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "bpf-c", "include", "pr_map_abi.h");
            if (File.Exists(candidate))
                return candidate;
        }
        throw new FileNotFoundException("bpf-c/include/pr_map_abi.h not found above " + AppContext.BaseDirectory);
    }

    public static long Define(string name)
    {
        // decimal, hex (0x...u) or a flag bit ((1u << n))
        var match = Regex.Match(Text, $@"^#define\s+{Regex.Escape(name)}\s+(?:(?<hex>0x[0-9A-Fa-f]+)u?|(?<dec>\d+)u?|\(1u << (?<bit>\d+)\))(?:\s|$)",
            RegexOptions.Multiline);
        if (!match.Success)
            throw new KeyNotFoundException($"#define {name} not in pr_map_abi.h");
        if (match.Groups["hex"].Success)
            return Convert.ToInt64(match.Groups["hex"].Value, 16);
        if (match.Groups["bit"].Success)
            return 1L << int.Parse(match.Groups["bit"].Value);
        return long.Parse(match.Groups["dec"].Value);
    }

    /// <summary>The explicit enumerators (NAME = value) of <c>enum name { ... };</c>.</summary>
    public static IReadOnlyDictionary<string, long> Enum(string name)
    {
        var body = Regex.Match(Text, $@"enum\s+{Regex.Escape(name)}\s*\{{(?<body>[^}}]*)\}}", RegexOptions.Singleline);
        if (!body.Success)
            throw new KeyNotFoundException($"enum {name} not in pr_map_abi.h");
        var withoutComments = CommentPattern().Replace(body.Groups["body"].Value, "");
        return EnumeratorPattern().Matches(withoutComments)
            .ToDictionary(m => m.Groups[1].Value, m => long.Parse(m.Groups[2].Value));
    }

    [GeneratedRegex(@"/\*.*?\*/", RegexOptions.Singleline)]
    private static partial Regex CommentPattern();

    [GeneratedRegex(@"(\w+)\s*=\s*(\d+)")]
    private static partial Regex EnumeratorPattern();
}
