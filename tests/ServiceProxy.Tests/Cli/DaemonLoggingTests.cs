using System.Text.Json;
using Microsoft.Extensions.Logging;
using ProxyReplacement.ServiceProxy.Cli;
using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Tests.Cli;

[NonParallelizable] // redirects the process's standard error
public sealed partial class DaemonLoggingTests
{
    [LoggerMessage(Level = LogLevel.Information, Message = "Synced ({Kind}): {Services} services")]
    private static partial void LogSynced(ILogger logger, string kind, int services);

    private static string Capture(LoggingFormat format)
    {
        var original = Console.Error;
        var captured = new StringWriter();
        Console.SetError(captured);
        try
        {
            using (var loggers = DaemonLogging.Create(format))
                LogSynced(loggers.CreateLogger("ProxyReplacement.Daemon"), "full", 3);
            return captured.ToString();
        }
        finally
        {
            Console.SetError(original);
        }
    }

    [Test]
    public void Json_logs_are_one_object_per_line_with_the_named_values()
    {
        var lines = Capture(LoggingFormat.Json).Split('\n', StringSplitOptions.RemoveEmptyEntries);

        using var document = JsonDocument.Parse(lines.Single());
        var entry = document.RootElement;
        Assert.Multiple(() =>
        {
            Assert.That(entry.GetProperty("LogLevel").GetString(), Is.EqualTo("Information"));
            Assert.That(entry.GetProperty("Category").GetString(), Is.EqualTo("ProxyReplacement.Daemon"));
            Assert.That(entry.GetProperty("Message").GetString(), Is.EqualTo("Synced (full): 3 services"));
            Assert.That(entry.GetProperty("State").GetProperty("Services").GetInt32(), Is.EqualTo(3));
            Assert.That(entry.GetProperty("Timestamp").GetString(), Does.Match(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"));
        });
    }

    [Test]
    public void Text_logs_are_one_line_per_event()
    {
        var text = Capture(LoggingFormat.Text);

        Assert.That(text.Trim(), Does.Match(@"^\d\d:\d\d:\d\d\.\d{3} info: ProxyReplacement\.Daemon\[\d+\] Synced \(full\): 3 services$"));
    }
}
