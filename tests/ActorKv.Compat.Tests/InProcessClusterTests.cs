using ActorKv.Compat.Tests.Fixtures;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Net.Client;

namespace ActorKv.Compat.Tests;

/// <summary>Three nodes, three ActorSystems, one test process: Raft over Akka.Remote on loopback.</summary>
public sealed class InProcessClusterTests
{
    private static string MembersHocon(IReadOnlyList<(int Client, int Peer)> ports) =>
        string.Join("\n", ports.Select((p, i) => $"{{ id = {i + 1}, name = n{i + 1}, peer = \"127.0.0.1:{p.Peer}\", client = \"127.0.0.1:{p.Client}\" }}"));

    private static Task<ActorKvInProcess> StartMember(int index, IReadOnlyList<(int Client, int Peer)> ports, string dataDirectory, string extraHocon = "") =>
        ActorKvInProcess.StartAsync($$"""
            {{extraHocon}}
            actorkv.node.client-url = "127.0.0.1:{{ports[index].Client}}"
            actorkv.cluster {
              node-id = {{index + 1}}
              initial-members = [
              {{MembersHocon(ports)}}
              ]
              tick-interval = 50ms
            }
            """, dataDirectory);

    private static async Task<string?> ReadLocally(string url, string key)
    {
        using var channel = GrpcChannel.ForAddress(url);
        var response = await new KV.KVClient(channel).RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key), Serializable = true });
        return response.Kvs.SingleOrDefault()?.Value.ToStringUtf8();
    }

    [Fact]
    public async Task A_stopped_member_misses_writes_and_catches_up_when_it_returns_and_the_others_elect_a_new_leader_without_it()
    {
        var ports = Enumerable.Range(0, 3).Select(_ => (TestEnvironment.FreePort(), TestEnvironment.FreePort())).ToList();
        var directories = Enumerable.Range(0, 3).Select(_ => TestEnvironment.TempDirectory("member")).ToList();
        var members = new ActorKvInProcess?[3];
        try
        {
            for (var i = 0; i < 3; i++)
            {
                members[i] = await StartMember(i, ports, directories[i]);
            }

            async Task Put(string key, string value)
            {
                await TestEnvironment.WaitUntilAsync(async () =>
                {
                    foreach (var member in members.Where(m => m is not null))
                    {
                        try
                        {
                            using var channel = GrpcChannel.ForAddress(member!.Url);
                            await new KV.KVClient(channel).PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value) }, deadline: DateTime.UtcNow.AddSeconds(3));
                            return true;
                        }
                        catch (Grpc.Core.RpcException)
                        {
                        }
                    }

                    return false;
                }, TimeSpan.FromSeconds(30), $"put {key}");
            }

            await Put("a", "1");
            var leader = (int)members[0]!.Server.Node.Raft.Lead - 1;
            var follower = (leader + 1) % 3;

            await members[follower]!.StopAsync();
            members[follower] = null;
            await Put("b", "2");

            members[follower] = await StartMember(follower, ports, directories[follower]);
            await TestEnvironment.WaitUntilAsync(async () => await ReadLocally(members[follower]!.Url, "b") == "2", TimeSpan.FromSeconds(30), "the returning member to catch up");

            await members[leader]!.StopAsync();
            members[leader] = null;
            await Put("c", "3");
            foreach (var member in members.Where(m => m is not null))
            {
                // A follower applies a committed write a little after the leader answers.
                await TestEnvironment.WaitUntilAsync(async () => await ReadLocally(member!.Url, "c") == "3", TimeSpan.FromSeconds(10), "both remaining members to apply c");
                Assert.NotEqual((ulong)(leader + 1), member!.Server.Node.Raft.Lead);
            }
        }
        finally
        {
            foreach (var member in members.Where(m => m is not null))
            {
                await member!.StopAsync();
            }

            foreach (var directory in directories)
            {
                TestEnvironment.DeleteDirectory(directory);
            }
        }
    }

    /// <summary>Akka.Remote's throttler on the transport, so that a test can cut links.</summary>
    private const string Throttled = "akka.remote.dot-netty.tcp.applied-adapters = [trttl]";

    private static Task Blackhole(ActorKvInProcess member, ActorKvInProcess other, bool cut)
    {
        var system = (Akka.Actor.ExtendedActorSystem)member.Server.Node.System;
        var otherAddress = ((Akka.Actor.ExtendedActorSystem)other.Server.Node.System).Provider.DefaultAddress;
        var transport = ((Akka.Remote.IRemoteActorRefProvider)system.Provider).Transport;
        Akka.Remote.Transport.ThrottleMode mode = cut ? Akka.Remote.Transport.Blackhole.Instance : Akka.Remote.Transport.Unthrottled.Instance;
        return transport.ManagementCommand(new Akka.Remote.Transport.SetThrottle(otherAddress, Akka.Remote.Transport.ThrottleTransportAdapter.Direction.Both, mode));
    }

    [Fact]
    public async Task A_partitioned_follower_misses_writes_catches_up_when_healed_and_does_not_disrupt_the_leader()
    {
        var ports = Enumerable.Range(0, 3).Select(_ => (TestEnvironment.FreePort(), TestEnvironment.FreePort())).ToList();
        var directories = Enumerable.Range(0, 3).Select(_ => TestEnvironment.TempDirectory("member")).ToList();
        var members = new List<ActorKvInProcess>();
        try
        {
            for (var i = 0; i < 3; i++)
            {
                members.Add(await StartMember(i, ports, directories[i], Throttled));
            }

            await TestEnvironment.WaitUntilAsync(() => Task.FromResult(members.All(m => m.Server.Node.Raft.Lead != 0)), TimeSpan.FromSeconds(30), "a leader known to all");
            var leader = (int)members[0].Server.Node.Raft.Lead - 1;
            var follower = (leader + 1) % 3;
            var term = members[leader].Server.Node.Raft.Term;
            foreach (var other in members.Where((_, i) => i != follower))
            {
                await Blackhole(members[follower], other, cut: true);
            }

            using (var channel = GrpcChannel.ForAddress(members[leader].Url))
            {
                var kv = new KV.KVClient(channel);
                for (var i = 0; i < 50; i++)
                {
                    await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"p/{i:D2}"), Value = ByteString.CopyFromUtf8("v") }, deadline: DateTime.UtcNow.AddSeconds(10));
                }
            }

            Assert.Null(await ReadLocally(members[follower].Url, "p/49"));
            // Long enough for the cut-off follower to time out several times.
            await Task.Delay(TimeSpan.FromSeconds(3));

            foreach (var other in members.Where((_, i) => i != follower))
            {
                await Blackhole(members[follower], other, cut: false);
            }

            await TestEnvironment.WaitUntilAsync(async () => await ReadLocally(members[follower].Url, "p/49") == "v", TimeSpan.FromSeconds(30), "the healed follower to catch up");
            // PreVote: the rejoining follower never won a pre-election, so the leader kept its term.
            Assert.Equal(((ulong)(leader + 1), term), (members[leader].Server.Node.Raft.Lead, members[leader].Server.Node.Raft.Term));
        }
        finally
        {
            foreach (var member in members)
            {
                await member.StopAsync();
            }

            foreach (var directory in directories)
            {
                TestEnvironment.DeleteDirectory(directory);
            }
        }
    }
}
