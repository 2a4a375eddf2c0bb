using ProxyReplacement.ServiceProxy.Cli;

return await CommandLine.RunAsync(args);
