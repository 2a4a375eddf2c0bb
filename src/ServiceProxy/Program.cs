using ProxyReplacement.ServiceProxy.Cli;
using ProxyReplacement.ServiceProxy.Daemon;

StartupTimeline.MainEntered = System.Diagnostics.Stopwatch.GetTimestamp();
return await CommandLine.RunAsync(args);
