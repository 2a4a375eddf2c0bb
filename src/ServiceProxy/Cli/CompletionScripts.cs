namespace ProxyReplacement.ServiceProxy.Cli;

/// <summary>
/// Shell completion without dotnet-suggest: the scripts hand the command line to System.CommandLine's
/// <c>[suggest:POSITION]</c> directive of <c>service-proxy</c> itself, which answers one candidate per line (commands,
/// options, and the accepted values of options such as <c>--socket-lb-mode</c> or <c>--from</c>). With dotnet-suggest
/// installed, <c>dotnet-suggest register --command-path $(which service-proxy)</c> works as well.
/// </summary>
public static class CompletionScripts
{
    public static string For(string shell) => shell switch
    {
        "bash" => Bash,
        "zsh" => Zsh,
        _ => throw new ArgumentOutOfRangeException(nameof(shell), shell, "bash or zsh"),
    };

    private const string Bash = """
        # service-proxy completion for bash: source <(service-proxy completion bash)
        _service_proxy_complete() {
            local line="${COMP_LINE#*[[:space:]]}"
            local position=$(( COMP_POINT - (${#COMP_LINE} - ${#line}) ))
            local IFS=$'\n'
            COMPREPLY=( $(compgen -W "$("${COMP_WORDS[0]}" "[suggest:${position}]" "${line}" 2>/dev/null)" -- "${COMP_WORDS[COMP_CWORD]}") )
        }
        complete -o default -F _service_proxy_complete service-proxy

        """;

    private const string Zsh = """
        # service-proxy completion for zsh: source <(service-proxy completion zsh)
        _service_proxy_complete() {
            local line="${BUFFER#* }"
            local position=$(( CURSOR - (${#BUFFER} - ${#line}) ))
            local -a candidates
            candidates=("${(@f)$(${words[1]} "[suggest:${position}]" "${line}" 2>/dev/null)}")
            compadd -a candidates
        }
        compdef _service_proxy_complete service-proxy

        """;
}
