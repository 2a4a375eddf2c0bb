using System.CommandLine;
using ProxyReplacement.ServiceProxy.Cli;
using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Tests.Cli;

/// <summary>The command line (System.CommandLine) in front of the option model: help, usage errors, completion.</summary>
public sealed class CommandLineTests
{
    private static async Task<(int Exit, string Output, string Error)> Run(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var exit = await CommandLine.RunAsync(args, output, error);
        return (exit, output.ToString(), error.ToString());
    }

    [TestCase("run", "--bpffs-root", "--config", "--logging-format")]
    [TestCase("dump", "--bpffs-root", "--output")]
    [TestCase("cleanup", "--bpffs-root")]
    [TestCase("explain", "--from", "SRC", "DST:PORT/PROTO", "--output")]
    [TestCase("completion", "SHELL")]
    public async Task Every_command_has_help(string command, params string[] mentions)
    {
        var (exit, output, _) = await Run(command, "--help");

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.Zero);
            Assert.That(output, Does.Contain($"service-proxy {command}"));
            foreach (var mention in mentions)
                Assert.That(output, Does.Contain(mention));
        });
    }

    [Test]
    public async Task Run_help_lists_every_option_of_the_option_model_with_a_description()
    {
        var (_, output, _) = await Run("run", "--help");

        Assert.Multiple(() =>
        {
            foreach (var name in ProxyOptionsBuilder.OptionNames)
            {
                Assert.That(output, Does.Contain($"--{name} <{ProxyOptionHelp.Of(name).Value}>"), name);
                Assert.That(ProxyOptionHelp.Entries.ContainsKey(name), Is.True,
                    $"--{name} has no line in Options/ProxyOptionHelp.cs (its --help says so until it does)");
            }
        });
    }

    [Test]
    public async Task An_unknown_option_is_a_usage_error_that_lists_the_accepted_ones()
    {
        var (exit, _, error) = await Run("run", "--bpffs-rot", "/sys/fs/bpf/x");

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(2));
            Assert.That(error, Does.Contain("'--bpffs-rot'"));
            Assert.That(error, Does.Contain("--bpffs-root"));
            Assert.That(error, Does.Contain("see 'service-proxy run --help'"));
        });
    }

    [TestCase(new[] { "run", "--socket-lb-mode", "sometimes" }, "invalid option --socket-lb-mode: 'sometimes' is not a socket LB mode; accepted: disabled, tcp (TCP only), enabled (TCP and UDP)")]
    [TestCase(new[] { "run", "--logging-format", "xml" }, "invalid option --logging-format: 'xml' is not a logging format; accepted: text, json")]
    [TestCase(new[] { "run", "--frontend-map-size", "8" }, "invalid option --frontend-map-size: '8' is not a map size")]
    [TestCase(new[] { "run", "--otlp-endpoint", "collector:4317" }, "invalid option --otlp-endpoint: 'collector:4317' is not an http(s) URL")]
    [TestCase(new[] { "run", "--bpffs-root" }, "--bpffs-root")]
    [TestCase(new[] { "dump", "-o", "yaml" }, "invalid option --output: 'yaml' is not an output format; accepted: table, json")]
    [TestCase(new[] { "dump", "--bpffs-root", "relative/dir" }, "invalid option --bpffs-root: 'relative/dir' must be an absolute path")]
    [TestCase(new[] { "explain", "--from", "space", "10.0.0.1", "10.96.0.1:80/tcp" }, "invalid option --from: 'space' is not an origin; accepted: pod, host, external")]
    [TestCase(new[] { "explain", "10.0.0.1", "10.96.0.1:80/tcp" }, "Option '--from' is required.")]
    [TestCase(new[] { "explain", "--from", "pod", "10.0.0.1", "10.96.0.1:80/gre" }, "invalid argument DST:PORT/PROTO: 'gre' is not a protocol; accepted: tcp, udp")]
    [TestCase(new[] { "explain", "--from", "pod", "pod-a", "10.96.0.1:80/tcp" }, "invalid argument SRC: 'pod-a' is not an IPv4 address")]
    [TestCase(new[] { "completion", "fish" }, "invalid argument SHELL: 'fish' is not a shell; accepted: bash, zsh")]
    [TestCase(new[] { "launch" }, "'launch'")]
    [TestCase(new string[0], "Required command was not provided.")]
    public async Task A_usage_error_names_the_option_and_what_it_accepts_and_exits_2(string[] args, string message)
    {
        var (exit, _, error) = await Run(args);

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(2));
            Assert.That(error, Does.StartWith("service-proxy: "));
            Assert.That(error, Does.Contain(message));
        });
    }

    [Test]
    public async Task An_option_combination_the_model_refuses_exits_2_before_anything_is_loaded()
    {
        var root = Path.Combine(Path.GetTempPath(), "prt-cli-never-" + Guid.NewGuid().ToString("N"));

        var (exit, _, error) = await Run("run", "--sync-period", "1s", "--min-sync-interval", "2s", "--bpffs-root", root,
            "--healthz-bind-address", "", "--metrics-bind-address", "");

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.EqualTo(2));
            Assert.That(error, Does.Contain("invalid option --sync-period"));
            Assert.That(Directory.Exists(root), Is.False);
        });
    }

    [Test]
    public void The_config_file_is_read_and_flags_win_over_it()
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, "bpffsRoot: /sys/fs/bpf/from-file\nsocketLbMode: enabled\nloggingFormat: json\n");
            var parse = CommandLine.Build().Parse(["run", "--config", file, "--socket-lb-mode", "disabled"]);
            Assert.That(parse.Errors, Is.Empty);

            var options = ProxyOptionsBuilder.FromFlags(new Dictionary<string, string>
            {
                ["config"] = file,
                ["socket-lb-mode"] = "disabled",
            });

            Assert.Multiple(() =>
            {
                Assert.That(options.BpffsRoot, Is.EqualTo("/sys/fs/bpf/from-file"));
                Assert.That(options.SocketLbMode, Is.EqualTo(Dataplane.Abi.SocketLbMode.Disabled));
                Assert.That(options.LoggingFormat, Is.EqualTo(LoggingFormat.Json));
            });
        }
        finally
        {
            File.Delete(file);
        }
    }

    [TestCase("run --socket-lb-mode ", new[] { "disabled", "enabled", "tcp" })]
    [TestCase("run --logging-format ", new[] { "json", "text" })]
    [TestCase("explain --from ", new[] { "external", "host", "pod" })]
    [TestCase("dump -o ", new[] { "json", "table" })]
    [TestCase("du", new[] { "dump" })]
    public void Completion_offers_commands_and_the_accepted_values(string line, string[] expected)
    {
        var completions = CommandLine.Build().Parse(line).GetCompletions(line.Length).Select(item => item.Label).ToList();

        Assert.That(completions, Is.SupersetOf(expected));
    }

    [Test]
    public async Task The_suggest_directive_answers_the_shell_scripts()
    {
        var (exit, output, _) = await Run("[suggest:15]", "run --otlp-endp");

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.Zero);
            Assert.That(output.Trim(), Is.EqualTo("--otlp-endpoint"));
        });
    }

    [TestCase("bash", "complete -o default -F _service_proxy_complete service-proxy")]
    [TestCase("zsh", "compdef _service_proxy_complete service-proxy")]
    public async Task Completion_scripts_use_the_suggest_directive(string shell, string registration)
    {
        var (exit, output, _) = await Run("completion", shell);

        Assert.Multiple(() =>
        {
            Assert.That(exit, Is.Zero);
            Assert.That(output, Does.Contain("[suggest:"));
            Assert.That(output, Does.Contain(registration));
        });
    }

    [Test]
    public async Task Explain_and_dump_without_pins_say_so_and_exit_1()
    {
        var root = Path.Combine(Path.GetTempPath(), "prt-cli-none-" + Guid.NewGuid().ToString("N"));

        var explain = await Run("explain", "--from", "pod", "10.0.0.1", "10.96.0.1:80/tcp", "--bpffs-root", root);
        var dump = await Run("dump", "--bpffs-root", root);

        Assert.Multiple(() =>
        {
            Assert.That(explain.Exit, Is.EqualTo(1));
            Assert.That(explain.Error, Does.Contain($"no pinned maps under {root}"));
            Assert.That(dump.Exit, Is.EqualTo(1));
        });
    }
}
