using System.Net;
using System.Net.Sockets;
using ProxyReplacement.ServiceProxy.Model;

namespace ProxyReplacement.ServiceProxy.Parsing;

/// <summary>The Kubernetes validation rules the proxy depends on, each failing with the field path.</summary>
internal static class FieldRules
{
    /// <summary>
    /// A strict IP literal. <see cref="IPAddress.TryParse(string, out IPAddress)"/> alone would accept
    /// "10" or "010.1.1.1" (as 0.0.0.10 and an octal guess); Kubernetes rejects both.
    /// </summary>
    public static IPAddress IpAddress(string? text, string path)
    {
        if (string.IsNullOrEmpty(text))
            throw new ObjectValidationException($"{path}: an IP address is required");
        if (text.Contains(':'))
        {
            if (!text.Contains('%') && IPAddress.TryParse(text, out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6)
                return v6;
            throw new ObjectValidationException($"{path}: '{text}' is not a valid IP address");
        }
        var parts = text.Split('.');
        var bytes = new byte[4];
        var valid = parts.Length == 4;
        for (var i = 0; valid && i < 4; i++)
        {
            var part = parts[i];
            valid = part.Length is >= 1 and <= 3 && part.All(char.IsAsciiDigit) &&
                    (part.Length == 1 || part[0] != '0') && int.Parse(part) <= 255;
            if (valid)
                bytes[i] = byte.Parse(part);
        }
        return valid ? new IPAddress(bytes) : throw new ObjectValidationException($"{path}: '{text}' is not a valid IP address");
    }

    /// <summary>A CIDR as Kubernetes writes it: a strict IP literal, '/', a prefix length within the family's bits.</summary>
    public static IPNetwork Cidr(string? text, string path)
    {
        if (string.IsNullOrEmpty(text))
            throw new ObjectValidationException($"{path}: a CIDR is required");
        var slash = text.IndexOf('/');
        if (slash < 0)
            throw new ObjectValidationException($"{path}: '{text}' is not a CIDR (expected ADDRESS/PREFIX)");
        var address = IpAddress(text[..slash], path);
        var bits = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefixText = text[(slash + 1)..];
        if (prefixText.Length is 0 or > 3 || !prefixText.All(char.IsAsciiDigit) || int.Parse(prefixText) > bits)
            throw new ObjectValidationException($"{path}: '{text}' has an invalid prefix length (0-{bits})");
        var network = new IPNetwork(Mask(address, int.Parse(prefixText)), int.Parse(prefixText));
        return network;
    }

    /// <summary>The address with the bits past the prefix cleared (kube-proxy accepts 10.0.0.1/8 as 10.0.0.0/8).</summary>
    private static IPAddress Mask(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        for (var bit = prefix; bit < bytes.Length * 8; bit++)
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        return new IPAddress(bytes);
    }

    public static int Port(int? value, string path)
    {
        if (value is null)
            throw new ObjectValidationException($"{path}: a port number is required");
        if (value is < 1 or > 65535)
            throw new ObjectValidationException($"{path}: {value} is out of range 1-65535");
        return value.Value;
    }

    public static Protocol Protocol(string? text, string path) => text switch
    {
        null => Model.Protocol.Tcp,
        "TCP" => Model.Protocol.Tcp,
        "UDP" => Model.Protocol.Udp,
        "SCTP" => Model.Protocol.Sctp,
        _ => throw new ObjectValidationException($"{path}: unknown protocol '{text}' (expected TCP, UDP or SCTP)"),
    };

    public static string ObjectName(string? name, string path)
    {
        if (string.IsNullOrEmpty(name))
            throw new ObjectValidationException($"{path}: a name is required");
        if (name.Length > 253 || !name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '-' or '.') ||
            !char.IsAsciiLetterOrDigit(name[0]) || !char.IsAsciiLetterOrDigit(name[^1]))
            throw new ObjectValidationException($"{path}: '{name}' is not a valid name (lowercase letters, digits, '-' and '.')");
        return name;
    }

    /// <summary>A DNS label (namespaces, port names): at most 63 lowercase letters, digits and '-'.</summary>
    public static string DnsLabel(string name, string path)
    {
        if (name.Length is 0 or > 63 || !name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-') ||
            name[0] == '-' || name[^1] == '-')
            throw new ObjectValidationException($"{path}: '{name}' is not a valid DNS label");
        return name;
    }

    /// <summary>An IANA service name, the form of a named targetPort: 1-15 characters, at least one letter.</summary>
    public static string PortName(string name, string path)
    {
        if (name.Length is 0 or > 15 || !name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-') ||
            !name.Any(char.IsAsciiLetterLower) || name[0] == '-' || name[^1] == '-' || name.Contains("--"))
            throw new ObjectValidationException(
                $"{path}: '{name}' is not a valid port name (1-15 lowercase letters, digits and '-', at least one letter)");
        return name;
    }
}
