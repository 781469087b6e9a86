using Etcdserverpb;
using Google.Protobuf;
using Grpc.Net.Client;

namespace ActorKv.Compat.Tests.Fixtures;

/// <summary>A real etcd 3.4 (Debian's etcd-server) on free loopback ports with a temp data dir.</summary>
public sealed class EtcdServer : IAsyncDisposable
{
    public const string Binary = "/usr/bin/etcd";

    private readonly ChildProcess process;
    private readonly string dataDirectory;

    private EtcdServer(ChildProcess process, string dataDirectory, string endpoint)
    {
        this.process = process;
        this.dataDirectory = dataDirectory;
        Endpoint = endpoint;
    }

    /// <summary>host:port, as etcdctl's --endpoints takes it.</summary>
    public string Endpoint { get; }

    public string Url => "http://" + Endpoint;

    /// <param name="extraArguments">More etcd flags, e.g. an experimental interval.</param>
    public static async Task<EtcdServer> StartAsync(params string[] extraArguments)
    {
        if (!File.Exists(Binary))
        {
            throw new InvalidOperationException($"{Binary} is missing: install Debian's etcd-server (.ci/run does)");
        }

        var dataDirectory = TestEnvironment.TempDirectory("etcd");
        var clientPort = TestEnvironment.FreePort();
        var peerPort = TestEnvironment.FreePort();
        var clientUrl = $"http://127.0.0.1:{clientPort}";
        var peerUrl = $"http://127.0.0.1:{peerPort}";
        var process = new ChildProcess(Binary,
        [
            "--name", "default",
            "--data-dir", dataDirectory,
            "--listen-client-urls", clientUrl,
            "--advertise-client-urls", clientUrl,
            "--listen-peer-urls", peerUrl,
            "--initial-advertise-peer-urls", peerUrl,
            "--initial-cluster", "default=" + peerUrl,
            "--log-level", "error",
            .. extraArguments,
        ]);
        var server = new EtcdServer(process, dataDirectory, $"127.0.0.1:{clientPort}");
        try
        {
            using var channel = GrpcChannel.ForAddress(server.Url);
            var kv = new KV.KVClient(channel);
            await TestEnvironment.WaitUntilAsync(
                async () => (await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("ready") })) is not null,
                TimeSpan.FromSeconds(30),
                "etcd");
            return server;
        }
        catch (Exception error)
        {
            await server.DisposeAsync();
            throw new InvalidOperationException("etcd did not start: " + process.Output, error);
        }
    }

    public ValueTask DisposeAsync()
    {
        process.Dispose();
        TestEnvironment.DeleteDirectory(dataDirectory);
        return ValueTask.CompletedTask;
    }
}
