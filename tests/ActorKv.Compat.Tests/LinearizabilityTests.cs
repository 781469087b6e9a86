using System.Diagnostics;
using ActorKv.Chaos.Linearizability;
using ActorKv.Compat.Tests.Fixtures;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>
/// A real history, checked: clients put, read (linearizably) and compare-and-set a few keys
/// through every member of a 3-member cluster while its leader is stopped; the checker must find
/// the history linearizable. A timed-out write is an unknown outcome, a failed read is dropped.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class LinearizabilityTests(ITestOutputHelper output)
{
    [Fact]
    public async Task A_history_across_a_leader_stop_is_linearizable()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, log: output);
        var leader = await cluster.WaitForLeaderAsync();
        var clock = Stopwatch.StartNew();
        var history = new List<Operation<KvInput, KvOutput>>();
        using var stop = new CancellationTokenSource();

        async Task ClientAsync(int client)
        {
            var random = new Random(client);
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                // Like an etcd client with every endpoint: any running member, a moment apart.
                await Task.Delay(5);
                var running = cluster.Running.Values.ToList();
                using var channel = GrpcChannel.ForAddress(running[random.Next(running.Count)].Url);
                var kv = new KV.KVClient(channel);
                var key = "abc"[random.Next(3)].ToString();
                var value = $"{client}-{i}";
                var roll = random.Next(3);
                KvInput input = roll switch
                {
                    0 => new KvInput.Put(key, value),
                    1 => new KvInput.Get(key),
                    _ => new KvInput.CompareAndSet(key, null, value),
                };
                var call = clock.ElapsedTicks;
                try
                {
                    var deadline = DateTime.UtcNow.AddSeconds(3);
                    KvOutput result;
                    switch (input)
                    {
                        case KvInput.Put:
                            await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value) }, deadline: deadline);
                            result = new KvOutput();
                            break;
                        case KvInput.Get:
                            var read = await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key) }, deadline: deadline);
                            result = new KvOutput(read.Kvs.SingleOrDefault()?.Value.ToStringUtf8());
                            break;
                        default:
                            var txn = await kv.TxnAsync(new TxnRequest
                            {
                                Compare = { new Compare { Key = ByteString.CopyFromUtf8(key), Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 } },
                                Success = { new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value) } } },
                            }, deadline: deadline);
                            result = new KvOutput(Succeeded: txn.Succeeded);
                            break;
                    }

                    lock (history)
                    {
                        history.Add(new Operation<KvInput, KvOutput>(client, input, result, call, clock.ElapsedTicks));
                    }
                }
                catch (RpcException) when (input is KvInput.Get)
                {
                    // A read that failed changed nothing and told nothing.
                }
                catch (RpcException)
                {
                    // A write whose outcome is unknown: it may take effect any time after its call.
                    lock (history)
                    {
                        history.Add(Operation<KvInput, KvOutput>.Unknown(client, input, call));
                    }
                }
            }
        }

        var clients = Enumerable.Range(0, 6).Select(client => Task.Run(() => ClientAsync(client))).ToList();
        await Task.Delay(TimeSpan.FromSeconds(3));
        await cluster.StopMemberAsync(leader);
        await Task.Delay(TimeSpan.FromSeconds(5));
        await stop.CancelAsync();
        await Task.WhenAll(clients);

        var result = LinearizabilityChecker.Check(new KeyValueModel(), history);
        output.WriteLine($"{history.Count} operations, {history.Count(o => o.OutcomeUnknown)} with unknown outcome: {result.Verdict}");
        Assert.True(history.Count(o => !o.OutcomeUnknown) > 100, "too few operations completed to judge");
        Assert.Equal(Verdict.Linearizable, result.Verdict);
    }
}
