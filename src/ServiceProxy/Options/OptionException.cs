namespace ProxyReplacement.ServiceProxy.Options;

/// <summary>An invalid option: the message names the option and what it accepts. Exit code 2.</summary>
public sealed class OptionException(string option, string problem)
    : Exception($"invalid option {option}: {problem}")
{
    public string Option { get; } = option;
}
