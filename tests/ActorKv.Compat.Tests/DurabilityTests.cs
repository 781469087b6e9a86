using System.Collections.Concurrent;
using ActorKv.Compat.Tests.Fixtures;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

public sealed class DurabilityTests(ITestOutputHelper output)
{
    private const int Writers = 16;

    /// <summary>The default lone node (a one-member Raft cluster: its WAL holds the writes) and the plain one (its store does).</summary>
    public static TheoryData<string> LoneNodeModes => new() { "one-member-raft", "plain" };

    [Theory]
    [MemberData(nameof(LoneNodeModes))]
    public async Task Kill_9_during_writes_loses_no_acknowledged_write_and_applies_no_txn_in_part(string mode)
    {
        await using var node = await ActorKvProcess.StartAsync(mode == "plain" ? "actorkv.cluster { node-id = 0, initial-members = [] }" : "");
        var acknowledged = new ConcurrentDictionary<string, string>();
        var txnGroupsSent = new ConcurrentBag<string>();
        using var stopWriting = new CancellationTokenSource();

        using (var channel = GrpcChannel.ForAddress(node.Url))
        {
            var kv = new KV.KVClient(channel);
            var writers = Enumerable.Range(0, Writers)
                .Select(writer => WriteUntilCutOff(kv, writer, acknowledged, txnGroupsSent, stopWriting.Token))
                .ToList();

            // Let batches form under load, then cut the power, so to speak.
            await TestEnvironment.WaitUntilAsync(() => Task.FromResult(acknowledged.Count >= 300), TimeSpan.FromSeconds(60), "300 acknowledged writes");
            node.KillHard();
            await stopWriting.CancelAsync();
            await Task.WhenAll(writers);
        }

        output.WriteLine($"{acknowledged.Count} writes acknowledged before kill -9, {txnGroupsSent.Count} txns sent");
        await node.StartAgainAsync();
        using var restartedChannel = GrpcChannel.ForAddress(node.Url);
        var restarted = new KV.KVClient(restartedChannel);
        var stored = (await restarted.RangeAsync(new RangeRequest { Key = ByteString.CopyFrom(0), RangeEnd = ByteString.CopyFrom(0) }))
            .Kvs.ToDictionary(kv => kv.Key.ToStringUtf8(), kv => kv.Value.ToStringUtf8());

        foreach (var (key, value) in acknowledged)
        {
            Assert.True(stored.TryGetValue(key, out var storedValue), $"acknowledged write of {key} is lost");
            Assert.Equal(value, storedValue);
        }

        foreach (var group in txnGroupsSent)
        {
            var present = Enumerable.Range(0, 3).Count(i => stored.ContainsKey($"{group}/{i}"));
            Assert.True(present is 0 or 3, $"txn {group} is applied in part: {present} of 3 keys");
        }
    }

    /// <summary>One client: alternates single puts and 3-key txns until the server goes away.</summary>
    private static async Task WriteUntilCutOff(KV.KVClient kv, int writer, ConcurrentDictionary<string, string> acknowledged, ConcurrentBag<string> txnGroupsSent, CancellationToken cutOff)
    {
        for (var i = 0; !cutOff.IsCancellationRequested; i++)
        {
            try
            {
                if (i % 2 == 0)
                {
                    var key = $"put/{writer}/{i}";
                    await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8("v" + i) }, cancellationToken: cutOff);
                    acknowledged[key] = "v" + i;
                }
                else
                {
                    var group = $"txn/{writer}/{i}";
                    var txn = new TxnRequest();
                    for (var k = 0; k < 3; k++)
                    {
                        txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8($"{group}/{k}"), Value = ByteString.CopyFromUtf8(group) } });
                    }

                    txnGroupsSent.Add(group);
                    await kv.TxnAsync(txn, cancellationToken: cutOff);
                    for (var k = 0; k < 3; k++)
                    {
                        acknowledged[$"{group}/{k}"] = group;
                    }
                }
            }
            catch (RpcException)
            {
                // The server is gone: whatever was not acknowledged may or may not be there.
                return;
            }
        }
    }

    [Fact]
    public async Task A_full_store_refuses_writes_with_etcds_error_and_keeps_every_acknowledged_write()
    {
        const string smallStore = "actorkv.storage { map-size = 4MiB, quota-backend-bytes = 0 }";
        var dataDirectory = TestEnvironment.TempDirectory("full");
        var acknowledged = new Dictionary<string, int>();
        RpcException? refusal = null;
        try
        {
            var node = await ActorKvInProcess.StartAsync(smallStore, dataDirectory, log: output);
            using (var channel = GrpcChannel.ForAddress(node.Url))
            {
                var kv = new KV.KVClient(channel);
                for (var i = 0; i < 1000 && refusal is null; i++)
                {
                    try
                    {
                        await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"big/{i:D4}"), Value = ByteString.CopyFrom(new byte[32 * 1024]) });
                        acknowledged[$"big/{i:D4}"] = i;
                    }
                    catch (RpcException error)
                    {
                        refusal = error;
                    }
                }

                Assert.NotNull(refusal);
                Assert.Equal(StatusCode.ResourceExhausted, refusal.StatusCode);
                Assert.Equal("etcdserver: mvcc: database space exceeded", refusal.Status.Detail);
                // Still readable, and still refusing rather than failing some other way.
                Assert.Equal(acknowledged.Count, (await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("big/"), RangeEnd = ByteString.CopyFromUtf8("big0"), CountOnly = true })).Count);
            }

            await node.StopAsync();
            output.WriteLine($"{acknowledged.Count} writes of 32 KiB fitted before: {refusal.Status.Detail}");

            var reopened = await ActorKvInProcess.StartAsync(smallStore, dataDirectory, log: output);
            await using (reopened)
            {
                using var channel = GrpcChannel.ForAddress(reopened.Url);
                var kv = new KV.KVClient(channel);
                var stored = await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("big/"), RangeEnd = ByteString.CopyFromUtf8("big0"), KeysOnly = true });
                Assert.Equal(acknowledged.Keys.Order(), stored.Kvs.Select(kv => kv.Key.ToStringUtf8()));
                Assert.Equal(acknowledged.Count + 1, stored.Header.Revision);
            }
        }
        finally
        {
            TestEnvironment.DeleteDirectory(dataDirectory);
        }
    }

    [Fact]
    public async Task A_lone_nodes_data_opens_again_in_its_own_mode_and_is_refused_in_the_other()
    {
        static string OneMemberRaft()
        {
            var client = TestEnvironment.FreePort();
            return $$"""
                actorkv.node.client-url = "127.0.0.1:{{client}}"
                actorkv.cluster {
                  node-id = 1
                  initial-members = [ { id = 1, name = n1, peer = "127.0.0.1:{{TestEnvironment.FreePort()}}", client = "127.0.0.1:{{client}}" } ]
                }
                """;
        }

        foreach (var (created, other, refusal) in new[] { ("", OneMemberRaft(), "without Raft"), (OneMemberRaft(), "", "belongs to a Raft member") })
        {
            var node = await ActorKvInProcess.StartAsync(created, log: output);
            try
            {
                using (var channel = GrpcChannel.ForAddress(node.Url))
                {
                    await new KV.KVClient(channel).PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8("k"), Value = ByteString.CopyFromUtf8("v") });
                }

                await node.StopAsync();
                var again = await ActorKvInProcess.StartAsync(created, node.DataDirectory, log: output);
                using (var channel = GrpcChannel.ForAddress(again.Url))
                {
                    var read = await new KV.KVClient(channel).RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("k") }, deadline: DateTime.UtcNow.AddSeconds(30));
                    Assert.Equal("v", Assert.Single(read.Kvs).Value.ToStringUtf8());
                }

                await again.StopAsync();
                var refused = await Assert.ThrowsAsync<InvalidDataException>(() => ActorKvInProcess.StartAsync(other, node.DataDirectory, log: output));
                Assert.Contains(refusal, refused.Message);
            }
            finally
            {
                TestEnvironment.DeleteDirectory(node.DataDirectory);
            }
        }
    }

    [Fact]
    public async Task A_store_of_another_format_is_refused_at_start_with_its_format_named()
    {
        var node = await ActorKvInProcess.StartAsync(log: output);
        using (var channel = GrpcChannel.ForAddress(node.Url))
        {
            await new KV.KVClient(channel).PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8("k"), Value = ByteString.CopyFromUtf8("v") });
        }

        await node.StopAsync();
        try
        {
            // The meta record begins with the format number; 1 is the layout before varint records.
            using (var environment = new LightningDB.LightningEnvironment(Path.Combine(node.DataDirectory, "mvcc"), new LightningDB.EnvironmentConfiguration { MaxDatabases = 8, MapSize = 64L << 20 }))
            {
                environment.Open();
                using var txn = environment.BeginTransaction();
                using var meta = txn.OpenDatabase("meta");
                var key = "m"u8.ToArray();
                var record = txn.Get(meta, key).value.CopyToNewArray();
                BitConverter.GetBytes(1).CopyTo(record, 0);
                txn.Put(meta, key, record);
                txn.Commit();
            }

            var refused = await Assert.ThrowsAsync<InvalidDataException>(() => ActorKvInProcess.StartAsync(dataDirectory: node.DataDirectory, log: output));
            Assert.Contains("MVCC store format 1", refused.Message);
        }
        finally
        {
            TestEnvironment.DeleteDirectory(node.DataDirectory);
        }
    }
}
