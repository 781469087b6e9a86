using System.Diagnostics;
using ActorKv.Chaos.Linearizability;
using ActorKv.Chaos.Watches;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace ActorKv.Chaos.Runner;

/// <summary>
/// The clients of a chaos run: a few per member, each bound to its member (as an etcd client
/// given one endpoint), one request outstanding, a short pause between requests (two cores).
/// Each operation is recorded with its call and return on one monotonic clock; a write that
/// fails or times out is an unknown outcome, a failed read is dropped (it told nothing). One
/// watcher per member watches every key from revision 1 with prev_kv and resumes after a broken
/// stream from its last revision + 1, as etcd's client does.
/// </summary>
public sealed class Workload(LocalCluster cluster, int clientsPerNode, int seed, Stopwatch clock)
{
    private static readonly string[] Keys = ["k0", "k1", "k2", "k3", "k4"];
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(2);

    public List<Operation<KvInput, KvOutput>> History { get; } = [];

    public List<AcknowledgedPut> AcknowledgedPuts { get; } = [];

    /// <summary>When (clock ms) each successful write returned: availability over the run.</summary>
    public List<long> WriteSuccesses { get; } = [];

    public Dictionary<int, List<ObservedEvent>> WatchedEvents { get; } = [];

    public Dictionary<int, List<string>> WatchProblems { get; } = [];

    public int ClientCount => cluster.Nodes * clientsPerNode;

    public IEnumerable<Task> StartClients(CancellationToken stop) =>
        Enumerable.Range(0, ClientCount).Select(client => Task.Run(() => ClientAsync(client, 1 + client % cluster.Nodes, stop)));

    public IEnumerable<Task> StartWatchers(CancellationToken stop) =>
        cluster.Members.Select(node => Task.Run(() => WatcherAsync(node, stop)));

    private async Task ClientAsync(int client, int node, CancellationToken stop)
    {
        var random = new Random(seed * 1000 + client);
        using var channel = GrpcChannel.ForAddress(cluster.Url(node));
        var kv = new KV.KVClient(channel);
        var lastRead = new Dictionary<string, string?>();
        for (var i = 0; !stop.IsCancellationRequested; i++)
        {
            await Task.Delay(random.Next(10, 30), CancellationToken.None);
            var key = Keys[random.Next(Keys.Length)];
            var value = $"{client}-{i}";
            var roll = random.Next(100);
            KvInput input = roll switch
            {
                < 35 => new KvInput.Put(key, value),
                < 70 => new KvInput.Get(key),
                < 88 => new KvInput.CompareAndSet(key, lastRead.GetValueOrDefault(key), value),
                _ => new KvInput.Delete(key),
            };
            var call = clock.ElapsedTicks;
            try
            {
                var deadline = DateTime.UtcNow + RequestTimeout;
                KvOutput output;
                long? putRevision = null;
                switch (input)
                {
                    case KvInput.Put:
                        putRevision = (await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value) }, deadline: deadline)).Header.Revision;
                        output = new KvOutput();
                        break;
                    case KvInput.Get:
                        var read = await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key) }, deadline: deadline);
                        output = new KvOutput(read.Kvs.SingleOrDefault()?.Value.ToStringUtf8());
                        lastRead[key] = output.Value;
                        break;
                    case KvInput.Delete:
                        await kv.DeleteRangeAsync(new DeleteRangeRequest { Key = ByteString.CopyFromUtf8(key) }, deadline: deadline);
                        output = new KvOutput();
                        break;
                    default:
                        var cas = (KvInput.CompareAndSet)input;
                        var compare = cas.Expected is null
                            ? new Compare { Key = ByteString.CopyFromUtf8(key), Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 }
                            : new Compare { Key = ByteString.CopyFromUtf8(key), Target = Compare.Types.CompareTarget.Value, Result = Compare.Types.CompareResult.Equal, Value = ByteString.CopyFromUtf8(cas.Expected) };
                        var txn = await kv.TxnAsync(new TxnRequest
                        {
                            Compare = { compare },
                            Success = { new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value) } } },
                        }, deadline: deadline);
                        output = new KvOutput(Succeeded: txn.Succeeded);
                        if (txn.Succeeded)
                        {
                            putRevision = txn.Header.Revision;
                        }

                        break;
                }

                var returned = clock.ElapsedTicks;
                lock (History)
                {
                    History.Add(new Operation<KvInput, KvOutput>(client, input, output, call, returned));
                    if (putRevision is { } revision)
                    {
                        AcknowledgedPuts.Add(new AcknowledgedPut(key, value, revision));
                    }

                    if (input is not KvInput.Get)
                    {
                        WriteSuccesses.Add(clock.ElapsedMilliseconds);
                    }
                }
            }
            catch (RpcException failed)
            {
                // A read that failed told nothing, and a request refused at connect was never
                // sent: both are left out. Any other failed write may have taken effect.
                if (input is not KvInput.Get && !NeverSent(failed))
                {
                    lock (History)
                    {
                        History.Add(Operation<KvInput, KvOutput>.Unknown(client, input, call));
                    }
                }

                // As a client seeing errors would, wait before the next request: each unknown
                // outcome stays concurrent with everything after it and widens the search.
                await Task.Delay(500, CancellationToken.None);
            }
        }
    }

    /// <summary>The member refused the TCP connection: the request cannot have reached it.</summary>
    private static bool NeverSent(RpcException failed)
    {
        for (Exception? inner = failed.Status.DebugException; inner is not null; inner = inner.InnerException)
        {
            if (inner is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused })
            {
                return true;
            }
        }

        return false;
    }

    private async Task WatcherAsync(int node, CancellationToken stop)
    {
        var events = new List<ObservedEvent>();
        var problems = new List<string>();
        lock (WatchedEvents)
        {
            WatchedEvents[node] = events;
            WatchProblems[node] = problems;
        }

        long next = 1;
        var response = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                using var channel = GrpcChannel.ForAddress(cluster.Url(node));
                using var call = new Watch.WatchClient(channel).Watch(cancellationToken: stop);
                await call.RequestStream.WriteAsync(new WatchRequest
                {
                    CreateRequest = new WatchCreateRequest { Key = ByteString.CopyFromUtf8("\0"), RangeEnd = ByteString.CopyFromUtf8("\0"), StartRevision = next, PrevKv = true },
                });
                while (await call.ResponseStream.MoveNext(stop))
                {
                    var current = call.ResponseStream.Current;
                    if (current.Canceled)
                    {
                        lock (problems)
                        {
                            problems.Add($"watch from {next} on n{node} canceled: {current.CancelReason} (compact revision {current.CompactRevision})");
                        }

                        return;
                    }

                    if (current.Events.Count == 0)
                    {
                        continue;
                    }

                    response++;
                    lock (events)
                    {
                        foreach (var e in current.Events)
                        {
                            var isPut = e.Type == Mvccpb.Event.Types.EventType.Put;
                            events.Add(new ObservedEvent(response, e.Kv.ModRevision, e.Kv.Key.ToStringUtf8(), isPut, isPut ? e.Kv.Value.ToStringUtf8() : null, e.PrevKv?.Value.ToStringUtf8(), e.PrevKv is not null));
                        }
                    }

                    next = current.Events[^1].Kv.ModRevision + 1;
                }
            }
            catch (RpcException) when (!stop.IsCancellationRequested)
            {
                // The member went away or restarted: resume from the next revision.
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (RpcException)
            {
                return;
            }

            await Task.Delay(200, CancellationToken.None);
        }
    }

    /// <summary>The last revision a watcher has seen.</summary>
    public long LastWatched(int node)
    {
        lock (WatchedEvents)
        {
            var events = WatchedEvents.GetValueOrDefault(node);
            if (events is null)
            {
                return 0;
            }

            lock (events)
            {
                return events.Count == 0 ? 0 : events[^1].Revision;
            }
        }
    }
}
