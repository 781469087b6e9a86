using Etcdserverpb;
using Google.Protobuf;
using Grpc.Net.Client;

namespace ActorKv.Compat.Tests.Fixtures;

/// <summary>
/// The actorkv executable as a child process (hocon/single.conf plus test overrides), for tests
/// that kill it. Its data dir outlives restarts and is removed on dispose.
/// </summary>
public sealed class ActorKvProcess : IAsyncDisposable
{
    private readonly string overrides;
    // hocon/single.conf's one-member Raft cluster listens for peers here (a cluster member's overrides replace it).
    private readonly int peerPort;
    private ChildProcess? process;

    private ActorKvProcess(string dataDirectory, int clientPort, string overrides)
    {
        DataDirectory = dataDirectory;
        ClientPort = clientPort;
        this.overrides = overrides;
        peerPort = TestEnvironment.FreePort();
    }

    public string DataDirectory { get; }

    public int ClientPort { get; }

    public string Endpoint => $"127.0.0.1:{ClientPort}";

    public string Url => "http://" + Endpoint;

    public int? Pid => process?.Pid;

    public static async Task<ActorKvProcess> StartAsync(string overrides = "")
    {
        var node = Create(TestEnvironment.FreePort(), overrides);
        await node.StartAgainAsync();
        return node;
    }

    /// <summary>A node not started yet (cluster members are created first, then started together).</summary>
    public static ActorKvProcess Create(int clientPort, string overrides) =>
        new(TestEnvironment.TempDirectory("process"), clientPort, overrides);

    /// <summary>Starts the process (again) on the same data dir and port; returns once it serves.</summary>
    public async Task StartAgainAsync()
    {
        Launch();
        await WaitUntilServingAsync();
    }

    /// <summary>Starts the process without waiting for it.</summary>
    public void Launch()
    {
        var configFile = Path.Combine(DataDirectory, "test.conf");
        File.WriteAllText(configFile, $$"""
            actorkv.node {
              data-dir = "{{Path.Combine(DataDirectory, "node")}}"
              client-url = "127.0.0.1:{{ClientPort}}"
            }
            actorkv.cluster.initial-members = [
              { id = 1, name = n1, peer = "127.0.0.1:{{peerPort}}", client = "127.0.0.1:{{ClientPort}}" }
            ]
            {{overrides}}
            """);
        var root = TestEnvironment.RepositoryRoot();
        process = new ChildProcess("dotnet", [ServerDll(root), "--config", Path.Combine(root, "hocon", "single.conf"), "--config", configFile]);
    }

    /// <summary>Waits until the node answers a local (serializable) read: it serves, leader or not.</summary>
    public async Task WaitUntilServingAsync()
    {
        using var channel = GrpcChannel.ForAddress(Url);
        var kv = new KV.KVClient(channel);
        var started = process ?? throw new InvalidOperationException("not launched");
        await TestEnvironment.WaitUntilAsync(
            async () => !started.HasExited && (await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("ready"), Serializable = true })) is not null,
            TimeSpan.FromSeconds(60),
            "actorkv process: " + started.Output);
    }

    public void KillHard() => process?.KillHard();

    public void Stop() => process?.Stop(TimeSpan.FromSeconds(20));

    public string Output => process?.Output ?? "";

    /// <summary>The exit code once the process has exited by itself, else null.</summary>
    public int? ExitCode => process is { HasExited: true } exited ? exited.ExitCode : null;

    /// <summary>Waits until the process has exited and all its output is in <see cref="Output"/>; false on timeout.</summary>
    public Task<bool> WaitForExitAsync(TimeSpan limit) =>
        (process ?? throw new InvalidOperationException("not launched")).WaitForExitAsync(limit);

    /// <summary>The actorkv.dll built beside this test assembly's configuration (Debug or Release).</summary>
    private static string ServerDll(string root)
    {
        var configuration = AppContext.BaseDirectory.Contains("/bin/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
        var dll = Path.Combine(root, "src", "ActorKv.Server", "bin", configuration, "net10.0", "actorkv.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException("build src/ActorKv.Server first", dll);
    }

    public ValueTask DisposeAsync()
    {
        process?.Dispose();
        TestEnvironment.DeleteDirectory(DataDirectory);
        return ValueTask.CompletedTask;
    }
}
