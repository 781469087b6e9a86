using ActorKv.Node.Configuration;
using ActorKv.Server;
using Akka.Configuration;

const string Usage = """
    usage: actorkv --config FILE [--config FILE ...]
      Starts an ActorKv node. Later files override earlier ones; every key and its default is in
      the embedded reference configuration (src/ActorKv.Node/Configuration/actorkv.conf).
    """;

var configFiles = new List<string>();
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--config" when i + 1 < args.Length:
            configFiles.Add(args[++i]);
            break;
        case "-h" or "--help":
            Console.WriteLine(Usage);
            return 0;
        default:
            Console.Error.WriteLine($"actorkv: unknown argument '{args[i]}'");
            Console.Error.WriteLine(Usage);
            return 2;
    }
}

if (configFiles.Count == 0)
{
    Console.Error.WriteLine(Usage);
    return 2;
}

Config config;
try
{
    config = ActorKvSettings.LoadFiles(configFiles);
    ActorKvSettings.FromConfig(config);
}
catch (ConfigurationException error)
{
    Console.Error.WriteLine($"actorkv: bad configuration: {error.Message}");
    return 2;
}

ActorKvServer started;
try
{
    started = await ActorKvServer.StartAsync(config);
}
catch (Exception error) when (error is InvalidDataException or IOException or UnauthorizedAccessException)
{
    // A data dir of another mode or format, a port in use, a file that cannot be written: the
    // reason is for the operator, not a stack trace.
    Console.Error.WriteLine($"actorkv: cannot start: {error.Message}");
    return 1;
}

await using var server = started;
var settings = server.Node.Settings;
Console.WriteLine($"actorkv: node {settings.NodeName} serving etcd v3 gRPC on {server.ClientUrl}, data in {settings.DataDirectory}");
var (onItsOwn, reason, exitCode) = await server.WaitForShutdownAsync();
if (onItsOwn)
{
    Console.Error.WriteLine($"actorkv: the node stopped on its own: {reason}");
    return exitCode;
}

Console.WriteLine("actorkv: stopping");
return 0;
