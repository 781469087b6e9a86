using System.Net;
using ActorKv.Gateway;
using ActorKv.Node;
using Akka.Actor;
using Akka.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace ActorKv.Server;

/// <summary>
/// A running ActorKv node with its gRPC endpoint: what the executable runs, and what tests start
/// in-process. Dispose to stop: the endpoint closes first, then the actors and the store.
/// </summary>
public sealed class ActorKvServer : IAsyncDisposable
{
    /// <summary>etcd's gRPC server allows unbounded concurrent streams; this is our bound per connection.</summary>
    private const int MaxStreamsPerConnection = 4096;

    /// <summary>
    /// How long requests in flight get to finish when the server stops; then Kestrel closes the
    /// connections, which ends the watch, keep-alive and observe streams that would otherwise hold
    /// the stop for the host's default 30 s. etcd stops its gRPC server gracefully too and then
    /// closes what is left; its streams end as its server stops (it exits within 2 s with a watch
    /// open, measured).
    /// </summary>
    private static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(2);

    private readonly WebApplication app;
    private int disposed;

    private ActorKvServer(ActorKvNode node, WebApplication app, IPEndPoint endpoint)
    {
        Node = node;
        this.app = app;
        ClientEndpoint = endpoint;
    }

    public ActorKvNode Node { get; }

    public IPEndPoint ClientEndpoint { get; }

    /// <summary>The client URL, http://host:port, as etcd clients take it.</summary>
    public string ClientUrl => ActorKvNode.ClientUrl(ClientEndpoint.ToString());

    public static async Task<ActorKvServer> StartAsync(Config config, LogLevel logLevel = LogLevel.Warning)
    {
        var node = await ActorKvNode.StartAsync(config);
        try
        {
            // No configuration reload: its file watcher watches the content root recursively,
            // which is the working directory by default, and woke for every LMDB write of a data
            // dir under it (9% of a leader's CPU under load, measured with perf).
            var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
            {
                Args = ["--hostBuilder:reloadConfigOnChange=false"],
                ContentRootPath = AppContext.BaseDirectory,
            });
            builder.Logging.SetMinimumLevel(logLevel);
            builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = ShutdownGrace);
            builder.WebHost.ConfigureKestrel(kestrel =>
            {
                kestrel.Limits.Http2.MaxStreamsPerConnection = MaxStreamsPerConnection;
                kestrel.Limits.MaxRequestBodySize = node.Settings.MaxRequestBytes + node.Settings.GrpcOverheadBytes;
                kestrel.Listen(node.Settings.ClientEndpoint, listen =>
                {
                    listen.Protocols = HttpProtocols.Http2;
                    listen.Use(Http2AuthorityScrubber.Middleware());
                });
                if (node.Settings.MetricsEndpoint is { } metricsEndpoint)
                {
                    kestrel.Listen(metricsEndpoint, listen => listen.Protocols = HttpProtocols.Http1);
                }
            });
            builder.Services.AddEtcdGateway(node);
            var app = builder.Build();
            app.MapEtcdGateway();
            app.MapMetrics("/metrics", node.Metrics.Registry);
            await app.StartAsync();
            return new ActorKvServer(node, app, node.Settings.ClientEndpoint);
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Completes when the host is asked to stop (SIGINT, SIGTERM), or when the node stopped on its
    /// own (its storage failed, or the cluster removed it); then with the reason, whose exit code
    /// the process exits with (1 when the actor system ended without one).
    /// </summary>
    public async Task<(bool OnItsOwn, string Reason, int ExitCode)> WaitForShutdownAsync()
    {
        var stopped = await Task.WhenAny(app.WaitForShutdownAsync(), Node.System.WhenTerminated);
        if (stopped != Node.System.WhenTerminated)
        {
            return (false, "", 0);
        }

        var reason = CoordinatedShutdown.Get(Node.System).ShutdownReason;
        return (true, $"{reason}", reason?.ExitCode ?? 1);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1)
        {
            return;
        }

        await app.StopAsync();
        await app.DisposeAsync();
        await Node.DisposeAsync();
    }
}
