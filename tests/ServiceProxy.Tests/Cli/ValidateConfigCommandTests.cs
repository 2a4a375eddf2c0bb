using ProxyReplacement.ServiceProxy.Cli;
using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Tests.Cli;

/// <summary>`run --validate-config FILE`: the file as `run --config` reads it, without starting anything.</summary>
public sealed class ValidateConfigCommandTests
{
    private string _directory = null!;

    [SetUp]
    public void CreateDirectory() => _directory = Directory.CreateTempSubdirectory("prt-validate-").FullName;

    [TearDown]
    public void DeleteDirectory() => Directory.Delete(_directory, recursive: true);

    private string ConfigFile(string yaml)
    {
        var path = Path.Combine(_directory, "config.yaml");
        File.WriteAllText(path, yaml);
        return path;
    }

    [TestCase("--validate-config", true)]
    [TestCase("--validate-config=/x", true)]
    [TestCase("--config", false)]
    public void Is_requested_by_its_flag_only(string argument, bool requested) =>
        Assert.That(ValidateConfigCommand.IsRequested([argument, "/x"]), Is.EqualTo(requested));

    [Test]
    public void A_valid_config_is_OK_and_paths_of_the_node_are_noted_not_required()
    {
        var file = ConfigFile("""
            source: kubernetes
            bpffsRoot: /sys/fs/bpf/proxy-replacement
            cgroupPath: /run/prt-no-such-cgroup
            workloadInterfaces: [veth*, cali*]
            minSyncInterval: 1s
            conntrackMapSize: 262144
            """);
        var output = new StringWriter();

        var code = ValidateConfigCommand.Run(["--validate-config", file], output);

        Assert.That(code, Is.Zero);
        Assert.That(output.ToString(), Does.StartWith($"config OK: {file}"));
        Assert.That(output.ToString(), Does.Contain("cgroupPath /run/prt-no-such-cgroup: not a cgroup v2 directory here"));
    }

    [TestCase("minSyncInterval: fast\n", "minSyncInterval (in")]
    [TestCase("bogusKey: 1\n", "unknown key")]
    [TestCase("syncPeriod: 1s\nminSyncInterval: 2s\n", "--sync-period")]
    [TestCase("source: manifest\n", "manifest needs --manifest-dir")]
    [TestCase("socketLbMode: sometimes\n", "not a socket LB mode")]
    public void An_invalid_config_fails_with_what_is_wrong(string yaml, string expected)
    {
        var file = ConfigFile(yaml);

        var error = Assert.Throws<OptionException>(() => ValidateConfigCommand.Run([$"--validate-config={file}"], TextWriter.Null));

        Assert.That(error!.Message, Does.Contain(expected));
    }

    [Test]
    public void A_missing_file_or_another_flag_is_refused()
    {
        Assert.Throws<OptionException>(() => ValidateConfigCommand.Run(["--validate-config", Path.Combine(_directory, "none.yaml")], TextWriter.Null));
        Assert.Throws<OptionException>(() => ValidateConfigCommand.Run(["--validate-config"], TextWriter.Null));
        Assert.Throws<OptionException>(() => ValidateConfigCommand.Run(["--validate-config", ConfigFile(""), "--bpffs-root", "/x"], TextWriter.Null));
    }

    [Test]
    public async Task Through_the_command_line_it_exits_0_or_2()
    {
        var valid = ConfigFile("bpffsRoot: /sys/fs/bpf/x\n");
        Assert.That(await CommandLine.RunAsync(["run", "--validate-config", valid]), Is.Zero);

        var invalid = ConfigFile("bpffsRoot: relative\n");
        Assert.That(await CommandLine.RunAsync(["run", "--validate-config", invalid]), Is.EqualTo(2));
    }
}
