using System.Text;

namespace ProxyReplacement.Dataplane.Tests.Packets;

/// <summary>Hex dumps for failure messages, marking where two frames first differ.</summary>
public static class Hex
{
    public static string Dump(ReadOnlySpan<byte> bytes)
    {
        var text = new StringBuilder();
        for (var i = 0; i < bytes.Length; i += 16)
        {
            text.Append($"{i:x4}:");
            for (var j = i; j < Math.Min(i + 16, bytes.Length); j++)
                text.Append($" {bytes[j]:x2}");
            text.AppendLine();
        }
        return text.ToString();
    }

    /// <summary>Null when equal; otherwise both dumps and the first differing offset.</summary>
    public static string? Difference(ReadOnlySpan<byte> expected, ReadOnlySpan<byte> actual)
    {
        if (expected.SequenceEqual(actual))
            return null;
        var first = 0;
        while (first < expected.Length && first < actual.Length && expected[first] == actual[first])
            first++;
        return $"frames differ first at offset {first} (0x{first:x}); lengths {expected.Length} vs {actual.Length}\n" +
               $"expected:\n{Dump(expected)}actual:\n{Dump(actual)}";
    }
}
