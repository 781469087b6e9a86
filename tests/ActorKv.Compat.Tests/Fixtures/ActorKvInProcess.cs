using ActorKv.Node.Configuration;
using ActorKv.Server;
using Akka.Configuration;

namespace ActorKv.Compat.Tests.Fixtures;

/// <summary>An ActorKv node inside the test process, on a free loopback port with a temp data dir.</summary>
public sealed class ActorKvInProcess : IAsyncDisposable
{
    private ActorKvInProcess(ActorKvServer server, string dataDirectory)
    {
        Server = server;
        DataDirectory = dataDirectory;
    }

    public ActorKvServer Server { get; }

    public string DataDirectory { get; }

    public string Endpoint => Server.ClientEndpoint.ToString();

    public string Url => Server.ClientUrl;

    /// <param name="overrides">Extra HOCON, applied over the test defaults.</param>
    public static async Task<ActorKvInProcess> StartAsync(string overrides = "", string? dataDirectory = null)
    {
        dataDirectory ??= TestEnvironment.TempDirectory("node");
        var config = ConfigurationFactory.ParseString(overrides)
            .WithFallback(ConfigurationFactory.ParseString($$"""
                actorkv.node {
                  name = "test"
                  data-dir = "{{dataDirectory}}"
                  client-url = "127.0.0.1:{{TestEnvironment.FreePort()}}"
                }
                """))
            .WithFallback(ActorKvSettings.Reference);
        var server = await ActorKvServer.StartAsync(config);
        return new ActorKvInProcess(server, dataDirectory);
    }

    /// <summary>Stops the node and keeps its data dir (for restart tests).</summary>
    public async Task StopAsync() => await Server.DisposeAsync();

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        TestEnvironment.DeleteDirectory(DataDirectory);
    }
}
