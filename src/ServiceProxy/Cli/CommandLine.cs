using System.CommandLine;
using System.CommandLine.Completions;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Net;
using ProxyReplacement.Dataplane;
using ProxyReplacement.ServiceProxy.Daemon;
using ProxyReplacement.ServiceProxy.Options;
using ProxyReplacement.ServiceProxy.Telemetry;

namespace ProxyReplacement.ServiceProxy.Cli;

/// <summary>
/// The <c>service-proxy</c> command line (System.CommandLine): <c>run</c> (the daemon), <c>dump</c>, <c>cleanup</c>,
/// <c>explain</c>, <c>completion</c>; <c>service-proxy &lt;command&gt; --help</c> for each. Exit codes: 0 ok, 1 runtime
/// failure, 2 invalid command line or configuration. System.CommandLine only splits and completes: every <c>run</c>
/// option comes from <see cref="ProxyOptionsBuilder.OptionNames"/> (help text: <see cref="ProxyOptionHelp"/>) and is
/// checked and applied by <see cref="ProxyOptionsBuilder"/>, which also reads <c>--config</c>.
/// </summary>
public static class CommandLine
{
    private const string Name = "service-proxy";

    public static Task<int> RunAsync(string[] args) => RunAsync(args, Console.Out, Console.Error);

    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error)
    {
        var root = Build();
        var parse = root.Parse(args);
        if (parse.Action is ParseErrorAction)
        {
            foreach (var message in ErrorMessages(parse))
                await error.WriteLineAsync($"{Name}: {message}").ConfigureAwait(false);
            await error.WriteLineAsync($"see '{Name} {CommandPath(parse.CommandResult)}--help'").ConfigureAwait(false);
            return 2;
        }
        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration
            {
                Output = output,
                Error = error,
                EnableDefaultExceptionHandler = false,
                ProcessTerminationTimeout = null, // the daemon handles SIGTERM/SIGINT itself
            }).ConfigureAwait(false);
        }
        catch (OptionException problem)
        {
            await error.WriteLineAsync($"{Name}: {problem.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (Kubernetes.Config.ClusterConfigException problem)
        {
            await error.WriteLineAsync($"{Name}: {problem.Message}").ConfigureAwait(false);
            return 2;
        }
        catch (BpfException problem)
        {
            await error.WriteLineAsync($"{Name}: {problem.Message}").ConfigureAwait(false);
            return 1;
        }
    }

    /// <summary>The command tree; public for tests and for the help text in the README.</summary>
    public static RootCommand Build()
    {
        var root = new RootCommand("A kube-proxy replacement: Services programmed into an eBPF dataplane.") { HelpName = Name };
        root.Add(RunCommand());
        root.Add(DumpCommandLine());
        root.Add(CleanupCommandLine());
        root.Add(ExplainCommandLine());
        root.Add(CompletionCommand());
        return root;
    }

    // ---- run ------------------------------------------------------------------------------------------------------

    private static Command RunCommand()
    {
        var command = new Command("run", "The daemon: watch Services and EndpointSlices and program the eBPF dataplane.");
        var options = new List<(string Name, Option<string> Option)>();
        foreach (var name in new[] { "config" }.Concat(ProxyOptionsBuilder.OptionNames))
        {
            var option = ProxyOption(name);
            command.Add(option);
            options.Add((name, option));
        }
        var validate = new Option<string>(ValidateConfigCommand.Flag)
        {
            Description = "Check a config file as --config reads it and exit: 0 valid, 2 not; starts nothing (no other option with it)",
            HelpName = "FILE",
        };
        command.Add(validate);
        command.SetAction(async (parse, cancellationToken) =>
        {
            var flags = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var (name, option) in options)
                if (Given(parse, option) is { } value)
                    flags[name] = value;
            if (Given(parse, validate) is { } file)
            {
                // The file alone is checked: ValidateConfigCommand refuses any other flag, naming it.
                var arguments = new List<string> { ValidateConfigCommand.Flag, file };
                arguments.AddRange(flags.Keys.Select(name => "--" + name));
                return ValidateConfigCommand.Run(arguments, parse.InvocationConfiguration.Output);
            }
            return await DaemonCommand.RunAsync(ProxyOptionsBuilder.FromFlags(flags), cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>One option of the option model: its value checked by <see cref="ProxyOptionsBuilder"/> at parse time.</summary>
    private static Option<string> ProxyOption(string name)
    {
        var help = ProxyOptionHelp.Of(name);
        var option = new Option<string>("--" + name)
        {
            Description = help.Description,
            HelpName = help.Value,
            Arity = ProxyOptionsBuilder.IsSwitch(name) ? ArgumentArity.ZeroOrOne : ArgumentArity.ExactlyOne,
        };
        if (help.Accepted.Length > 0)
            option.CompletionSources.Add(help.Accepted);
        if (name != "config")
        {
            option.Validators.Add(result =>
            {
                if (result.Tokens.Count == 0)
                    return;
                try
                {
                    ProxyOptionsBuilder.CheckValue(name, result.Tokens[0].Value);
                }
                catch (OptionException problem)
                {
                    result.AddError(problem.Message);
                }
            });
        }
        return option;
    }

    /// <summary>The value given on the command line (a switch without a value: "true"), or null when the option was not given.</summary>
    private static string? Given(ParseResult parse, Option<string> option)
    {
        if (parse.GetResult(option) is not { Implicit: false } result)
            return null;
        return result.Tokens.Count > 0 ? result.Tokens[0].Value : "true";
    }

    // ---- dump, cleanup --------------------------------------------------------------------------------------------

    private static Option<string> BpffsRootOption()
    {
        var option = new Option<string>("--bpffs-root")
        {
            Description = "Where the daemon pinned its maps (its --bpffs-root)",
            HelpName = ProxyOptionHelp.Of("bpffs-root").Value,
            DefaultValueFactory = _ => ProxyOptions.DefaultBpffsRoot,
        };
        option.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && !Path.IsPathRooted(result.Tokens[0].Value))
                result.AddError($"invalid option --bpffs-root: '{result.Tokens[0].Value}' must be an absolute path");
        });
        return option;
    }

    /// <summary><c>-o</c>/<c>--output</c> with a closed set of formats, the first the default.</summary>
    internal static Option<string> OutputOption(params string[] formats)
    {
        var option = new Option<string>("--output", "-o")
        {
            Description = $"Output format: {string.Join(" or ", formats)}",
            HelpName = string.Join('|', formats),
            DefaultValueFactory = _ => formats[0],
        };
        option.CompletionSources.Add(formats);
        option.Validators.Add(result =>
        {
            var value = result.Tokens.Count > 0 ? result.Tokens[0].Value : formats[0];
            if (!formats.Contains(value))
                result.AddError($"invalid option --output: '{value}' is not an output format; accepted: {string.Join(", ", formats)}");
        });
        return option;
    }

    private static Command DumpCommandLine()
    {
        var command = new Command("dump", "Print the live maps: frontends with backends, Service CIDRs, conntrack, affinity, socket LB, counters.");
        var root = BpffsRootOption();
        var output = OutputOption("table", "json");
        command.Add(root);
        command.Add(output);
        command.SetAction(parse =>
        {
            var pinRoot = parse.GetValue(root)!;
            using var maps = PinnedCoreMaps.Open(pinRoot);
            parse.InvocationConfiguration.Output.Write(DumpCommand.Render(maps, parse.GetValue(output) == "json", pinRoot));
            parse.InvocationConfiguration.Output.WriteLine();
            return 0;
        });
        return command;
    }

    private static Command CleanupCommandLine()
    {
        var command = new Command("cleanup", "Detach our programs from every interface and cgroup and remove our pinned maps.");
        var root = BpffsRootOption();
        command.Add(root);
        command.SetAction(parse => DaemonCommand.Cleanup(parse.GetValue(root)!, parse.InvocationConfiguration.Output));
        return command;
    }

    // ---- explain --------------------------------------------------------------------------------------------------

    private static Command ExplainCommandLine()
    {
        var command = new Command("explain",
            "Say step by step what the live dataplane would do with a packet (or a connect()) from SRC to DST:PORT/PROTO: " +
            "the frontend, the eligible backends, an existing conntrack or affinity entry, the backend chosen or why it is rejected or dropped.");
        var from = new Option<string>("--from")
        {
            Description = "Where the packet starts: pod (a pod's veth, TC), host (a host-network socket: connect-time hooks), external (arrives on a host interface)",
            HelpName = "pod|host|external",
            Required = true,
        };
        from.CompletionSources.Add("pod", "host", "external");
        from.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && Explain.TrafficOrigins.Parse(result.Tokens[0].Value) is null)
                result.AddError($"invalid option --from: '{result.Tokens[0].Value}' is not an origin; accepted: pod, host, external");
        });
        var source = new Argument<string>("SRC") { Description = "The client's IPv4 address (host: the address the socket is bound to, or 0.0.0.0)" };
        source.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && !Explain.ExplainRequest.TryParseSource(result.Tokens[0].Value, out _))
                result.AddError($"invalid argument SRC: '{result.Tokens[0].Value}' is not an IPv4 address");
        });
        var destination = new Argument<string>("DST:PORT/PROTO") { Description = "The destination, e.g. 10.96.0.10:80/tcp (proto tcp or udp)" };
        destination.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && !Explain.ExplainRequest.TryParseDestination(result.Tokens[0].Value, out _, out var problem))
                result.AddError($"invalid argument DST:PORT/PROTO: {problem}");
        });
        var root = BpffsRootOption();
        var output = OutputOption("text", "json");
        command.Add(from);
        command.Add(source);
        command.Add(destination);
        command.Add(root);
        command.Add(output);
        command.SetAction(parse =>
        {
            var request = Explain.ExplainRequest.Parse(parse.GetValue(from)!, parse.GetValue(source)!, parse.GetValue(destination)!);
            using var maps = PinnedCoreMaps.Open(parse.GetValue(root)!);
            var explanation = Explain.PacketExplainer.Explain(Explain.ExplainMaps.Of(maps), request, Monotonic.NowNs());
            if (parse.GetValue(output) == "json")
            {
                parse.InvocationConfiguration.Output.WriteLine(Explain.ExplanationRenderer.Json(explanation));
            }
            else
            {
                parse.InvocationConfiguration.Output.WriteLine(Explain.ExplanationRenderer.Text(explanation));
                var endpoints = maps.PolicyEndpoints.ReadAll().ToDictionary();
                var lookup = new Policy.PolicyMapLookup(endpoints, maps.PolicyPorts.ReadAll(), maps.PolicyPeers.ReadAll());
                var checks = Explain.PolicyExplainer.Explain(lookup, Policy.PolicyNames.Read(Policy.PolicyNames.PathFor(parse.GetValue(root)!)), explanation, endpoints);
                parse.InvocationConfiguration.Output.Write(Explain.PolicyExplainer.Text(checks));
            }
            return 0;
        });
        return command;
    }

    // ---- completion -----------------------------------------------------------------------------------------------

    private static Command CompletionCommand()
    {
        var command = new Command("completion", "Print a shell completion script (bash or zsh); it asks service-proxy itself through the [suggest] directive.");
        var shell = new Argument<string>("SHELL") { Description = "bash or zsh" };
        shell.CompletionSources.Add("bash", "zsh");
        shell.Validators.Add(result =>
        {
            if (result.Tokens.Count > 0 && result.Tokens[0].Value is not ("bash" or "zsh"))
                result.AddError($"invalid argument SHELL: '{result.Tokens[0].Value}' is not a shell; accepted: bash, zsh");
        });
        command.Add(shell);
        command.SetAction(parse =>
        {
            parse.InvocationConfiguration.Output.Write(CompletionScripts.For(parse.GetValue(shell)!));
            return 0;
        });
        return command;
    }

    // ---- errors ---------------------------------------------------------------------------------------------------

    private static IEnumerable<string> ErrorMessages(ParseResult parse)
    {
        var command = parse.CommandResult.Command;
        foreach (var error in parse.Errors)
        {
            var message = error.Message;
            // An unknown token: say which options and commands this command does accept.
            if (error.SymbolResult is CommandResult && parse.UnmatchedTokens.Any(token => message.Contains($"'{token}'", StringComparison.Ordinal)))
            {
                var accepted = command.Options.Where(option => !option.Hidden).Select(option => option.Name)
                    .Concat(command.Subcommands.Select(sub => sub.Name)).ToList();
                message += $" Accepted here: {string.Join(", ", accepted)}.";
            }
            yield return message;
        }
    }

    private static string CommandPath(CommandResult result)
    {
        var names = new List<string>();
        for (var current = result; current is not null && current.Command is not RootCommand; current = current.Parent as CommandResult)
            names.Insert(0, current.Command.Name);
        return names.Count == 0 ? "" : string.Join(' ', names) + " ";
    }
}
