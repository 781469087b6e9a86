using System.Diagnostics;
using System.Text.Json;
using ActorKv.Compat.Tests.Fixtures;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>
/// The write-path tracer (actorkv.diagnostics.write-path-trace-file): each member writes the
/// steps of a write it took part in, in order, under the write's request id or log index, and
/// scripts/trace-writes.py joins the members' files into one account per write.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class WritePathTraceTests(ITestOutputHelper output)
{
    /// <summary>Ids no other test's cluster has: the event source is process-wide and files keep their node's events only.</summary>
    private const ulong FirstMemberId = 7001;

    private const int WritesPerMember = 3;

    private sealed record TraceEvent(long Ticks, string Name, long[] Values);

    [Fact]
    public async Task Members_trace_each_step_of_a_write_in_order_and_the_script_joins_them()
    {
        var directory = TestEnvironment.TempDirectory("write-trace");
        try
        {
            string FileOf(ulong id) => Path.Combine(directory, $"{id}.trace");
            ulong leader, follower;
            List<ulong> ids;
            await using (var cluster = await InProcessCluster.StartAsync(3, memberHocon: id => $"actorkv.diagnostics.write-path-trace-file = \"{FileOf(id)}\"", firstMemberId: FirstMemberId, log: output))
            {
                leader = await cluster.WaitForLeaderAsync();
                ids = cluster.Specs.Select(spec => spec.Id).ToList();
                follower = ids.First(id => id != leader);
                // Through the leader, and through a follower (which forwards to the leader).
                foreach (var receiver in new[] { leader, follower })
                {
                    using var channel = GrpcChannel.ForAddress(cluster.Member(receiver).Url);
                    var kv = new KV.KVClient(channel);
                    for (var i = 0; i < WritesPerMember; i++)
                    {
                        await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"traced/{receiver}/{i}"), Value = ByteString.CopyFromUtf8("v") }, deadline: DateTime.UtcNow.AddSeconds(10));
                    }
                }
            }

            // Stopped: every file is complete.
            var traces = ids.ToDictionary(id => id, id => Read(FileOf(id)));
            foreach (var (id, events) in traces)
            {
                Assert.All(events, e => Assert.Equal((long)id, e.Values[0]));
            }

            foreach (var receiver in new[] { leader, follower })
            {
                var received = traces[receiver].Where(e => e.Name == "WriteReceived").ToList();
                Assert.Equal(WritesPerMember, received.Count);
                foreach (var write in received)
                {
                    var request = write.Values[1];
                    var applied = Assert.Single(traces[receiver], e => e.Name == "WriteApplied" && e.Values[1] == request);
                    var answered = Assert.Single(traces[receiver], e => e.Name == "WriteAnswered" && e.Values[1] == request);
                    var index = applied.Values[2];
                    if (receiver == leader)
                    {
                        var appended = Assert.Single(traces[leader], e => e.Name == "ProposalAppended" && e.Values[1] == request);
                        Assert.Equal(index, appended.Values[2]);
                        Assert.True(write.Ticks <= appended.Ticks);
                    }

                    // The leader: durable in its WAL, sent to both followers, acknowledged, committed.
                    var leaderWal = FirstCovering(traces[leader], "WalWriteFinished", index);
                    var ack = traces[leader].First(e => e.Name == "AppendResponseReceived" && e.Values[2] >= index);
                    var committed = FirstCovering(traces[leader], "EntriesCommitted", index);
                    Assert.True(leaderWal.Ticks <= committed.Ticks, $"index {index}: committed before the leader's WAL write");
                    Assert.True(ack.Ticks <= committed.Ticks, $"index {index}: committed before a follower acknowledged");
                    foreach (var other in ids.Where(id => id != leader))
                    {
                        var sent = traces[leader].First(e => e.Name == "AppendSent" && e.Values[1] == (long)other && e.Values[2] >= index);
                        var got = traces[other].First(e => e.Name == "AppendReceived" && e.Values[1] == (long)leader && e.Values[2] >= index);
                        var durable = FirstCovering(traces[other], "WalWriteFinished", index);
                        var acked = traces[other].First(e => e.Name == "AppendResponseSent" && e.Values[1] == (long)leader && e.Values[2] >= index);
                        Assert.True(sent.Ticks <= got.Ticks && got.Ticks <= durable.Ticks && durable.Ticks <= acked.Ticks, $"index {index}: member {other}'s steps out of order");
                    }

                    // Answered where it was received, once applied there.
                    var receiverCommitted = FirstCovering(traces[receiver], "EntriesCommitted", index);
                    Assert.True(write.Ticks <= receiverCommitted.Ticks && receiverCommitted.Ticks <= applied.Ticks && applied.Ticks <= answered.Ticks, $"index {index}: steps at member {receiver} out of order");
                }
            }

            var joined = RunScript(ids.Select(FileOf));
            Assert.Equal(2 * WritesPerMember, joined.GetProperty("writes").GetInt32());
            Assert.Equal([(long)leader], joined.GetProperty("leaders").EnumerateArray().Select(l => l.GetInt64()));
            var steps = joined.GetProperty("steps").EnumerateArray().ToDictionary(s => s.GetProperty("step").GetString()!, s => s.GetProperty("writes").GetInt32());
            Assert.Equal(2 * WritesPerMember, steps["total: received -> request resumed"]);
            Assert.Equal(2 * WritesPerMember, steps["Akka.Remote: leader -> follower's Raft actor"]);
            Assert.Equal(2 * WritesPerMember, steps["follower: WAL write (write + fdatasync)"]);
            Assert.Equal(WritesPerMember, steps["receiving follower: leader committed -> it commits"]);
        }
        finally
        {
            TestEnvironment.DeleteDirectory(directory);
        }
    }

    /// <summary>
    /// A member hands committed entries to apply, which answers their clients, only once its own
    /// WAL holds them: before a Ready's write only those an earlier write made durable (etcd's
    /// order), never those this write is for (a lone member's, a follower's just received).
    /// Concurrent writes through every member give Readys with new entries and commits together.
    /// </summary>
    [Theory]
    [InlineData(1, 7101)]
    [InlineData(3, 7111)]
    public async Task A_member_hands_entries_to_apply_only_once_its_wal_holds_them(int size, ulong firstMemberId)
    {
        var directory = TestEnvironment.TempDirectory("write-trace");
        try
        {
            string FileOf(ulong id) => Path.Combine(directory, $"{id}.trace");
            List<ulong> ids;
            await using (var cluster = await InProcessCluster.StartAsync(size, memberHocon: id => $"actorkv.diagnostics.write-path-trace-file = \"{FileOf(id)}\"", firstMemberId: firstMemberId, log: output))
            {
                await cluster.WaitForLeaderAsync();
                ids = cluster.Specs.Select(spec => spec.Id).ToList();
                foreach (var receiver in ids)
                {
                    using var channel = GrpcChannel.ForAddress(cluster.Member(receiver).Url);
                    var kv = new KV.KVClient(channel);
                    for (var round = 0; round < 3; round++)
                    {
                        await Task.WhenAll(Enumerable.Range(0, 32).Select(i =>
                            kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"burst/{receiver}/{round}/{i}"), Value = ByteString.CopyFromUtf8("v") }, deadline: DateTime.UtcNow.AddSeconds(10)).ResponseAsync));
                    }
                }
            }

            foreach (var id in ids)
            {
                // The membership a member writes at its first start is not traced: the account
                // starts at its first traced WAL write.
                var events = Read(FileOf(id)).SkipWhile(e => e.Name != "WalWriteFinished").ToList();
                long durable = 0;
                var handed = 0;
                foreach (var e in events)
                {
                    if (e.Name == "WalWriteFinished")
                    {
                        durable = Math.Max(durable, e.Values[2]);
                    }
                    else if (e.Name == "EntriesCommitted")
                    {
                        Assert.True(e.Values[2] <= durable, $"member {id} handed entries {e.Values[1]}-{e.Values[2]} to apply while its WAL held up to {durable}");
                        handed++;
                    }
                }

                Assert.True(handed > 0, $"member {id} traced no entries handed to apply");
            }
        }
        finally
        {
            TestEnvironment.DeleteDirectory(directory);
        }
    }

    private static List<TraceEvent> Read(string path) =>
        File.ReadLines(path)
            .Where(line => !line.StartsWith('#'))
            .Select(line => line.Split(' '))
            .Select(fields => new TraceEvent(long.Parse(fields[0]), fields[1], fields[2..].Select(long.Parse).ToArray()))
            .ToList();

    /// <summary>The first event of that name (payload: node, first index, last index) whose range holds the index.</summary>
    private static TraceEvent FirstCovering(List<TraceEvent> events, string name, long index) =>
        events.First(e => e.Name == name && e.Values[1] <= index && index <= e.Values[2]);

    private static JsonElement RunScript(IEnumerable<string> files)
    {
        var start = new ProcessStartInfo("python3") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(TestEnvironment.RepositoryRoot(), "scripts", "trace-writes.py"));
        start.ArgumentList.Add("--json");
        foreach (var file in files)
        {
            start.ArgumentList.Add(file);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start python3");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("scripts/trace-writes.py did not finish");
        }

        Assert.True(process.ExitCode == 0, "scripts/trace-writes.py failed: " + stderr.Result);
        return JsonDocument.Parse(stdout.Result).RootElement;
    }
}
