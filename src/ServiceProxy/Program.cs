// Placeholder entry point: the lead writes the CLI (options, sources, daemon loop).
Console.Error.WriteLine("service-proxy: the command line is not written yet");
return 2;
