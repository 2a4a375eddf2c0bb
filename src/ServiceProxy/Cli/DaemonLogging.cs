using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using ProxyReplacement.ServiceProxy.Options;

namespace ProxyReplacement.ServiceProxy.Cli;

/// <summary>
/// The daemon's logs on standard error, as the Kubernetes components' <c>--logging-format</c>: <c>text</c>, one line
/// per event, or <c>json</c>, one JSON object per line (Microsoft.Extensions.Logging's JSON console formatter:
/// Timestamp, EventId, LogLevel, Category, Message and the message's named values under State).
/// </summary>
public static class DaemonLogging
{
    public static ILoggerFactory Create(LoggingFormat format) => LoggerFactory.Create(logging =>
    {
        if (format == LoggingFormat.Json)
        {
            logging.AddJsonConsole(json =>
            {
                json.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ";
                json.UseUtcTimestamp = true;
                json.IncludeScopes = false;
                json.JsonWriterOptions = new JsonWriterOptions { Indented = false };
            });
        }
        else
        {
            logging.AddSimpleConsole(console =>
            {
                console.SingleLine = true;
                console.TimestampFormat = "HH:mm:ss.fff ";
            });
        }
        logging.AddFilter("Microsoft", LogLevel.Warning)
            .Services.Configure<ConsoleLoggerOptions>(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
    });
}
