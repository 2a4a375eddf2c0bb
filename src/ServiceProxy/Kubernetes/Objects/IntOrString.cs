using System.Text.Json;
using System.Text.Json.Serialization;

namespace ProxyReplacement.ServiceProxy.Kubernetes.Objects;

/// <summary>The API's int-or-string (a Service port's <c>targetPort</c>): a JSON number or a JSON string.</summary>
[JsonConverter(typeof(IntOrStringJsonConverter))]
public readonly record struct IntOrString(int? Number, string? Text)
{
    public static IntOrString From(int number) => new(number, null);
    public static IntOrString From(string text) => new(null, text);

    public override string ToString() => Number?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? Text ?? "";
}

public sealed class IntOrStringJsonConverter : JsonConverter<IntOrString>
{
    public override IntOrString Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) => reader.TokenType switch
    {
        JsonTokenType.Number when reader.TryGetInt32(out var number) => IntOrString.From(number),
        JsonTokenType.String => IntOrString.From(reader.GetString()!),
        _ => throw new JsonException("expected an integer or a string"),
    };

    public override void Write(Utf8JsonWriter writer, IntOrString value, JsonSerializerOptions options)
    {
        if (value.Number is { } number)
            writer.WriteNumberValue(number);
        else
            writer.WriteStringValue(value.Text);
    }
}
