using ActorKv.Node.Configuration;
using ActorKv.Server;
using Akka.Configuration;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests.Fixtures;

/// <summary>An ActorKv node inside the test process, on a free loopback port with a temp data dir.</summary>
public sealed class ActorKvInProcess : IAsyncDisposable
{
    private readonly IDisposable? logRegistration;

    private ActorKvInProcess(ActorKvServer server, string dataDirectory, IDisposable? logRegistration)
    {
        Server = server;
        DataDirectory = dataDirectory;
        this.logRegistration = logRegistration;
    }

    public ActorKvServer Server { get; }

    public string DataDirectory { get; }

    public string Endpoint => Server.ClientEndpoint.ToString();

    public string Url => Server.ClientUrl;

    /// <param name="overrides">Extra HOCON, applied over the test defaults.</param>
    /// <param name="log">The test's output, for the node's log (shown when the test fails); none: the console.</param>
    public static async Task<ActorKvInProcess> StartAsync(string overrides = "", string? dataDirectory = null, ITestOutputHelper? log = null)
    {
        dataDirectory ??= TestEnvironment.TempDirectory("node");
        var (logHocon, logRegistration) = log is null ? ("", null) : TestOutputLogger.For(log);
        var config = ConfigurationFactory.ParseString(overrides)
            .WithFallback(ConfigurationFactory.ParseString(logHocon))
            .WithFallback(ConfigurationFactory.ParseString($$"""
                actorkv.node {
                  name = "test"
                  data-dir = "{{dataDirectory}}"
                  client-url = "127.0.0.1:{{TestEnvironment.FreePort()}}"
                }
                """))
            .WithFallback(ActorKvSettings.Reference);
        try
        {
            var server = await ActorKvServer.StartAsync(config);
            return new ActorKvInProcess(server, dataDirectory, logRegistration);
        }
        catch
        {
            logRegistration?.Dispose();
            throw;
        }
    }

    /// <summary>Stops the node and keeps its data dir (for restart tests).</summary>
    public async Task StopAsync()
    {
        await Server.DisposeAsync();
        logRegistration?.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        TestEnvironment.DeleteDirectory(DataDirectory);
    }
}
