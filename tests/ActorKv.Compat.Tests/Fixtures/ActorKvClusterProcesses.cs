using Etcdserverpb;
using Grpc.Net.Client;

namespace ActorKv.Compat.Tests.Fixtures;

/// <summary>A Raft cluster of actorkv processes on free loopback ports, each with its own temp data dir.</summary>
public sealed class ActorKvClusterProcesses : IAsyncDisposable
{
    private readonly List<GrpcChannel> channels = [];

    private ActorKvClusterProcesses(IReadOnlyList<ActorKvProcess> nodes)
    {
        Nodes = nodes;
        foreach (var node in nodes)
        {
            channels.Add(GrpcChannel.ForAddress(node.Url));
        }
    }

    /// <summary>Member i (0-based) has Raft id i + 1.</summary>
    public IReadOnlyList<ActorKvProcess> Nodes { get; }

    public KV.KVClient Kv(int member) => new(channels[member]);

    public Maintenance.MaintenanceClient Maintenance(int member) => new(channels[member]);

    public static async Task<ActorKvClusterProcesses> StartAsync(int size, string extraHocon = "")
    {
        var clientPorts = Enumerable.Range(0, size).Select(_ => TestEnvironment.FreePort()).ToList();
        var peerPorts = Enumerable.Range(0, size).Select(_ => TestEnvironment.FreePort()).ToList();
        var members = string.Join("\n", Enumerable.Range(0, size).Select(i =>
            $"{{ id = {i + 1}, name = n{i + 1}, peer = \"127.0.0.1:{peerPorts[i]}\", client = \"127.0.0.1:{clientPorts[i]}\" }}"));
        var nodes = Enumerable.Range(0, size)
            .Select(i => ActorKvProcess.Create(clientPorts[i], $$"""
                actorkv.node.name = n{{i + 1}}
                actorkv.cluster {
                  node-id = {{i + 1}}
                  initial-members = [
                  {{members}}
                  ]
                }
                {{extraHocon}}
                """))
            .ToList();
        var cluster = new ActorKvClusterProcesses(nodes);
        try
        {
            foreach (var node in nodes)
            {
                node.Launch();
            }

            foreach (var node in nodes)
            {
                await node.WaitUntilServingAsync();
            }

            await cluster.WaitForLeaderAsync(TimeSpan.FromSeconds(30));
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>The member index (0-based) of the leader, as the first live member that knows one reports it.</summary>
    public async Task<int> WaitForLeaderAsync(TimeSpan timeout, int? excluding = null)
    {
        var leader = -1;
        await TestEnvironment.WaitUntilAsync(async () =>
        {
            for (var i = 0; i < Nodes.Count; i++)
            {
                if (i == excluding)
                {
                    continue;
                }

                try
                {
                    var status = await Maintenance(i).StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(2));
                    if (status.Leader != 0 && (int)status.Leader - 1 != excluding)
                    {
                        leader = (int)status.Leader - 1;
                        return true;
                    }
                }
                catch (Grpc.Core.RpcException)
                {
                }
            }

            return false;
        }, timeout, "a Raft leader");
        return leader;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in channels)
        {
            channel.Dispose();
        }

        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }
    }
}
