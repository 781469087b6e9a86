using System.Text.RegularExpressions;
using ActorKv.Compat.Tests.Fixtures;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>The Watch service: against a real etcd, and its guarantees under load, compaction and failures.</summary>
public sealed partial class WatchTests(ITestOutputHelper output)
{
    [GeneratedRegex("\"(clusterId|memberId|raftTerm)\": \"?\\d+\"?")]
    private static partial Regex MemberFields();

    private static WatchRequest Create(string key, string? rangeEnd = null, long startRevision = 0, long watchId = 0, bool prevKv = false, bool noPut = false, bool progressNotify = false)
    {
        var create = new WatchCreateRequest
        {
            Key = ByteString.CopyFromUtf8(key),
            StartRevision = startRevision,
            WatchId = watchId,
            PrevKv = prevKv,
            ProgressNotify = progressNotify,
        };
        if (rangeEnd is not null)
        {
            create.RangeEnd = ByteString.CopyFromUtf8(rangeEnd);
        }

        if (noPut)
        {
            create.Filters.Add(WatchCreateRequest.Types.FilterType.Noput);
        }

        return new WatchRequest { CreateRequest = create };
    }

    /// <summary>
    /// One scripted session: writes before, watches of every kind, writes after, cancels and a
    /// progress request. Returns each watch id's responses (etcd orders responses of different
    /// watches as its maps iterate, so only each watch's own sequence is compared).
    /// </summary>
    private static async Task<SortedDictionary<long, List<string>>> SessionAsync(string url)
    {
        using var channel = GrpcChannel.ForAddress(url);
        var kv = new KV.KVClient(channel);
        async Task Put(string key, string value) => await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value) });
        await Put("w/a", "1");
        await Put("w/b", "2");
        await kv.DeleteRangeAsync(new DeleteRangeRequest { Key = ByteString.CopyFromUtf8("w/a") });

        using var call = new Watch.WatchClient(channel).Watch();
        var responses = new SortedDictionary<long, List<string>>();
        var received = 0;
        var reader = Task.Run(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None))
            {
                var response = call.ResponseStream.Current;
                var text = MemberFields().Replace(JsonFormatter.Default.Format(response), "\"$1\": 0");
                lock (responses)
                {
                    (responses.TryGetValue(response.WatchId, out var list) ? list : responses[response.WatchId] = []).Add(text);
                    received++;
                }
            }
        });

        async Task Send(WatchRequest request) => await call.RequestStream.WriteAsync(request);
        await Send(Create("w/", "w0", startRevision: 1, prevKv: true));     // id 0: history with prev_kv
        await Send(Create("w/a"));                                          // id 1: one key from now
        await Send(Create("w/", "w0", noPut: true));                        // id 2: deletes only
        await Send(Create("w/z", "w/a"));                                   // refused: empty range
        await Send(Create("w/", "w0", watchId: 7));                         // id 7, chosen by the client
        await Send(Create("w/", "w0", watchId: 7));                         // refused: duplicate id
        await Send(Create("", "\0", startRevision: 3));                     // id 3: every key, from revision 3
        // Catch-up answers carry the revision they caught up to: let them finish before writing.
        await Task.Delay(1000);
        await Put("w/a", "3");
        await kv.TxnAsync(new TxnRequest
        {
            Success =
            {
                new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8("w/c"), Value = ByteString.CopyFromUtf8("4") } },
                new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = ByteString.CopyFromUtf8("w/b") } },
            },
        });
        await Put("other", "5");
        await Task.Delay(500);
        await Send(new WatchRequest { CancelRequest = new WatchCancelRequest { WatchId = 1 } });
        await Send(new WatchRequest { CancelRequest = new WatchCancelRequest { WatchId = 99 } });   // unknown: no answer
        // The cancel's answer carries the revision when the server handles it: let it be handled first.
        await Task.Delay(1000);
        await Put("w/a", "6");
        await Send(new WatchRequest { ProgressRequest = new WatchProgressRequest() });
        await Task.Delay(1000);
        await call.RequestStream.CompleteAsync();
        await Task.WhenAny(reader, Task.Delay(5000));
        return responses;
    }

    [Fact]
    public async Task A_scripted_watch_session_gets_the_same_responses_as_from_etcd()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var actorKv = await ActorKvInProcess.StartAsync(log: output);
        var expected = await SessionAsync(etcd.Url);
        var actual = await SessionAsync(actorKv.Url);
        foreach (var (id, list) in expected)
        {
            output.WriteLine($"etcd, watch {id}:\n  {string.Join("\n  ", list)}");
        }

        foreach (var (id, list) in actual)
        {
            output.WriteLine($"actorkv, watch {id}:\n  {string.Join("\n  ", list)}");
        }

        Assert.Equal(expected.Keys, actual.Keys);
        foreach (var id in expected.Keys)
        {
            Assert.Equal(expected[id], actual[id]);
        }
    }

    /// <summary>
    /// A watch that asks for fragments gets a response larger than the server's request limit
    /// split, as etcd splits it; one that does not ask gets it whole.
    /// </summary>
    [Fact]
    public async Task Large_responses_come_in_fragments_as_from_etcd_when_the_watch_asks()
    {
        const int limit = 20_000;
        await using var etcd = await EtcdServer.StartAsync($"--max-request-bytes={limit}");
        await using var actorKv = await ActorKvInProcess.StartAsync($"actorkv.limits.max-request-bytes = {limit}", log: output);
        var expected = await FragmentSessionAsync(etcd.Url);
        var actual = await FragmentSessionAsync(actorKv.Url);
        output.WriteLine(string.Join('\n', expected));
        Assert.Contains(expected, line => line.Contains("fragment=True", StringComparison.Ordinal));
        Assert.Equal(expected, actual);
    }

    /// <summary>
    /// Responses of a fragmenting and a plain watch over 36 values of 19,000 bytes (684 KB, over
    /// the fragment size: the 20,000-byte request limit plus etcd's 512 KiB gRPC overhead), one line each.
    /// </summary>
    private static async Task<List<string>> FragmentSessionAsync(string url)
    {
        using var channel = GrpcChannel.ForAddress(url);
        var kv = new KV.KVClient(channel);
        const int puts = 36;
        for (var i = 0; i < puts; i++)
        {
            await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"f/{i:D2}"), Value = ByteString.CopyFrom(new byte[19_000]) });
        }

        using var call = new Watch.WatchClient(channel).Watch();
        var fragmenting = Create("f/", "f0", startRevision: 1);
        fragmenting.CreateRequest.Fragment = true;
        await call.RequestStream.WriteAsync(fragmenting);
        await call.RequestStream.WriteAsync(Create("f/", "f0", startRevision: 1));
        var lines = new List<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        var events = new Dictionary<long, int>();
        while (events.GetValueOrDefault(0) < puts || events.GetValueOrDefault(1) < puts)
        {
            Assert.True(await call.ResponseStream.MoveNext(timeout.Token), "the stream ended");
            var response = call.ResponseStream.Current;
            events[response.WatchId] = events.GetValueOrDefault(response.WatchId) + response.Events.Count;
            if (response.Events.Count > 0)
            {
                lines.Add($"watch {response.WatchId}: fragment={response.Fragment} revisions={string.Join(',', response.Events.Select(e => e.Kv.ModRevision))} header={response.Header.Revision}");
            }
        }

        await call.RequestStream.CompleteAsync();
        // Responses of two watches interleave as the server schedules them: compare each watch's own.
        return [.. lines.OrderBy(line => line[..8], StringComparer.Ordinal)];
    }

    /// <summary>Reads one watch's events from a stream until <paramref name="untilRevision"/> says stop.</summary>
    private sealed class Recorder
    {
        public List<Mvccpb.Event> Events { get; } = [];

        public long LastRevision { get; private set; }

        public long CompactRevision { get; private set; }

        public async Task ReadAsync(AsyncDuplexStreamingCall<WatchRequest, WatchResponse> call, CancellationToken stop)
        {
            try
            {
                while (await call.ResponseStream.MoveNext(stop))
                {
                    var response = call.ResponseStream.Current;
                    lock (Events)
                    {
                        Events.AddRange(response.Events);
                        if (response.Events.Count > 0)
                        {
                            LastRevision = response.Events[^1].Kv.ModRevision;
                        }

                        CompactRevision = Math.Max(CompactRevision, response.CompactRevision);
                    }
                }
            }
            catch (RpcException) when (stop.IsCancellationRequested)
            {
            }
            catch (OperationCanceledException)
            {
            }
        }

        /// <summary>Ordered by revision, no duplicates, no revision skipped (every write of the run is one put in the range).</summary>
        public void AssertOrderedWithoutGapsOrDuplicates()
        {
            for (var i = 1; i < Events.Count; i++)
            {
                Assert.Equal(Events[i - 1].Kv.ModRevision + 1, Events[i].Kv.ModRevision);
            }
        }
    }

    [Fact]
    public async Task A_watch_on_a_follower_sees_every_acknowledged_write_in_order_through_compaction_and_a_leader_kill()
    {
        await using var cluster = await InProcessCluster.StartAsync(3, log: output);
        var leader = await cluster.WaitForLeaderAsync();
        var watched = cluster.Member(leader % 3 + 1);
        await cluster.PutAsync("g/start", "0");

        using var watchChannel = GrpcChannel.ForAddress(watched.Url);
        using var call = new Watch.WatchClient(watchChannel).Watch();
        using var stop = new CancellationTokenSource();
        var recorder = new Recorder();
        var reading = recorder.ReadAsync(call, stop.Token);
        await call.RequestStream.WriteAsync(Create("g/", "g0", startRevision: 1));

        var acknowledged = new System.Collections.Concurrent.ConcurrentDictionary<long, (string Key, string Value)>();
        async Task WriteAsync(int writer, int count)
        {
            for (var i = 0; i < count; i++)
            {
                var key = $"g/{writer}/{i % 10}";
                var value = $"{writer}-{i}";
                foreach (var member in cluster.Running.Values.ToList())
                {
                    try
                    {
                        using var channel = GrpcChannel.ForAddress(member.Url);
                        var put = await new KV.KVClient(channel).PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value) }, deadline: DateTime.UtcNow.AddSeconds(5));
                        acknowledged[put.Header.Revision] = (key, value);
                        break;
                    }
                    catch (RpcException)
                    {
                        // Unknown outcome: it may still be applied, and then the watch shows it.
                    }
                }
            }
        }

        var writers = Enumerable.Range(0, 2).Select(w => Task.Run(() => WriteAsync(w, 150))).ToList();
        await Task.Delay(1500);
        using (var channel = GrpcChannel.ForAddress(watched.Url))
        {
            var current = (await new KV.KVClient(channel).RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("g/start") })).Header.Revision;
            await new KV.KVClient(channel).CompactAsync(new CompactionRequest { Revision = current - 5 });
        }

        await cluster.StopMemberAsync(leader);
        await Task.WhenAll(writers);

        await cluster.PutAsync("g/zend", "1");
        await TestEnvironment.WaitUntilAsync(() => Task.FromResult(recorder.Events.Any(e => e.Kv.Key.ToStringUtf8() == "g/zend")), TimeSpan.FromSeconds(20), "the watch to see the last write");
        await stop.CancelAsync();
        await reading;

        Assert.Equal(0, recorder.CompactRevision);
        recorder.AssertOrderedWithoutGapsOrDuplicates();
        var byRevision = recorder.Events.ToDictionary(e => e.Kv.ModRevision);
        Assert.NotEmpty(acknowledged);
        foreach (var (revision, (key, value)) in acknowledged)
        {
            Assert.True(byRevision.TryGetValue(revision, out var seen), $"acknowledged put of {key} at {revision} not watched");
            Assert.Equal((key, value), (seen.Kv.Key.ToStringUtf8(), seen.Kv.Value.ToStringUtf8()));
        }

        output.WriteLine($"{recorder.Events.Count} events, {acknowledged.Count} acknowledged puts");
    }

    [Fact]
    public async Task A_client_that_does_not_read_holds_up_nobody_and_gets_every_event_when_it_reads()
    {
        await using var node = await ActorKvInProcess.StartAsync("actorkv.watch.max-pending-event-responses = 4", log: output);
        using var channel = GrpcChannel.ForAddress(node.Url);
        var watch = new Watch.WatchClient(channel);
        using var slow = watch.Watch();
        using var fast = watch.Watch();
        await slow.RequestStream.WriteAsync(Create("s/", "s0"));
        await fast.RequestStream.WriteAsync(Create("s/", "s0"));
        using var stop = new CancellationTokenSource();
        var fastRecorder = new Recorder();
        var fastReading = fastRecorder.ReadAsync(fast, stop.Token);
        await Task.Delay(300);

        // Large values fill the slow stream's HTTP/2 window quickly; the writes must not wait for it.
        var kv = new KV.KVClient(channel);
        var value = ByteString.CopyFrom(new byte[4096]);
        const int puts = 600;
        for (var i = 0; i < puts; i++)
        {
            await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"s/{i:D4}"), Value = value }, deadline: DateTime.UtcNow.AddSeconds(10));
        }

        await TestEnvironment.WaitUntilAsync(() => Task.FromResult(fastRecorder.Events.Count >= puts), TimeSpan.FromSeconds(20), "the reading watcher to get every event");

        // Now the slow client reads: everything, in order, once.
        var slowRecorder = new Recorder();
        var slowReading = slowRecorder.ReadAsync(slow, stop.Token);
        await TestEnvironment.WaitUntilAsync(() => Task.FromResult(slowRecorder.Events.Count >= puts), TimeSpan.FromSeconds(30), "the slow watcher to catch up");
        await Task.Delay(300);
        await stop.CancelAsync();
        await Task.WhenAll(fastReading, slowReading);
        Assert.Equal(puts, slowRecorder.Events.Count);
        slowRecorder.AssertOrderedWithoutGapsOrDuplicates();
        fastRecorder.AssertOrderedWithoutGapsOrDuplicates();
    }
}
