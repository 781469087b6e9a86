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
/// They put, read (linearizable and serializable), compare-and-set and delete five shared keys,
/// write two keys in one txn and read two in one txn, and now and then run a lease cycle on a
/// key of their own (grant with a TTL of 2 or 10 s, put with the lease, read, revoke or let it
/// expire). One client compacts the store now and then, below what every watcher has seen.
/// Each operation is recorded with its call and return on one monotonic clock; a write that
/// fails or times out is an unknown outcome, a failed read is dropped (it told nothing).
/// Serializable reads are not linearizable: they and the two-key reads are judged against the
/// watch history at the revision their response names (RevisionReadChecker). One watcher per
/// member watches every key from revision 1 with prev_kv and progress notifications, and
/// resumes after a broken stream from its last revision + 1, as etcd's client does.
/// </summary>
public sealed class Workload(LocalCluster cluster, int clientsPerNode, int seed, Stopwatch clock)
{
    private static readonly string[] Keys = ["k0", "k1", "k2", "k3", "k4"];
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(2);

    public List<Operation<KvInput, KvOutput>> History { get; } = [];

    public List<AcknowledgedPut> AcknowledgedPuts { get; } = [];

    /// <summary>Reads judged at their response's revision (serializable ones, and every key of a two-key read).</summary>
    public List<RevisionRead> RevisionReads { get; } = [];

    public Dictionary<int, List<ProgressNotice>> ProgressNotices { get; } = [];

    public int Compactions { get; private set; }

    public int LeasesGranted { get; private set; }

    /// <summary>When (clock ms) each successful write returned: availability over the run.</summary>
    public List<long> WriteSuccesses { get; } = [];

    public Dictionary<int, List<ObservedEvent>> WatchedEvents { get; } = [];

    public Dictionary<int, List<string>> WatchProblems { get; } = [];

    public int ClientCount => cluster.Nodes * clientsPerNode;

    public IEnumerable<Task> StartClients(CancellationToken stop) =>
        Enumerable.Range(0, ClientCount).Select(client => Task.Run(() => ClientAsync(client, 1 + client % cluster.Nodes, stop)))
            .Append(Task.Run(() => CompactorAsync(stop)));

    /// <summary>Compacts every 3 to 6 s at the lowest revision every watcher has passed (watchers resume after it).</summary>
    private async Task CompactorAsync(CancellationToken stop)
    {
        var random = new Random(seed * 1000 + 999);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(random.Next(3000, 6000), stop);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var revision = CompactableRevision();
            if (revision < 2)
            {
                continue;
            }

            try
            {
                using var channel = GrpcChannel.ForAddress(cluster.Url(1 + random.Next(cluster.Nodes)));
                await new KV.KVClient(channel).CompactAsync(new CompactionRequest { Revision = revision }, deadline: DateTime.UtcNow + RequestTimeout);
                Compactions++;
            }
            catch (RpcException)
            {
                // A member down, or a compaction already past this revision: the next one.
            }
        }
    }

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
            if (roll >= 94)
            {
                await LeaseCycleAsync(client, channel, random, i, stop);
                continue;
            }

            if (roll >= 82)
            {
                await TwoKeyTxnAsync(client, kv, random, write: roll < 88, value);
                continue;
            }

            KvInput input = roll switch
            {
                < 28 => new KvInput.Put(key, value),
                < 50 => new KvInput.Get(key),
                < 68 => new KvInput.CompareAndSet(key, lastRead.GetValueOrDefault(key), value),
                < 74 => new KvInput.Delete(key),
                _ => new KvInput.Get(key),
            };
            var serializable = roll >= 74;
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
                    case KvInput.Get when serializable:
                        var local = await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key), Serializable = true }, deadline: deadline);
                        lock (History)
                        {
                            RevisionReads.Add(new RevisionRead(client, key, local.Kvs.SingleOrDefault()?.Value.ToStringUtf8(), local.Header.Revision, Serializable: true));
                        }

                        // Not linearizable by design: judged at its revision, not in the history.
                        continue;
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

                RecordCompleted(client, input, output, call, clock.ElapsedTicks, putRevision is { } revision ? [new AcknowledgedPut(key, value, revision)] : null);
            }
            catch (RpcException failed)
            {
                await RecordFailedAsync(client, input, call, failed);
            }
        }
    }

    /// <summary>
    /// Two distinct keys in one txn, both put or both read, recorded as one atomic operation (the
    /// per-key check splits it, the whole-store model keeps it whole); the reads are also judged
    /// at the response's revision, which catches a torn read in any run.
    /// </summary>
    private async Task TwoKeyTxnAsync(int client, KV.KVClient kv, Random random, bool write, string value)
    {
        var first = random.Next(Keys.Length);
        var keys = new[] { Keys[first], Keys[(first + 1 + random.Next(Keys.Length - 1)) % Keys.Length] };
        var txn = new TxnRequest();
        foreach (var key in keys)
        {
            txn.Success.Add(write
                ? new RequestOp { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value) } }
                : new RequestOp { RequestRange = new RangeRequest { Key = ByteString.CopyFromUtf8(key) } });
        }

        var call = clock.ElapsedTicks;
        var input = new KvInput.Txn([.. keys.Select(key => write ? new KvInput.Put(key, value) : (KvInput)new KvInput.Get(key))]);
        try
        {
            var response = await kv.TxnAsync(txn, deadline: DateTime.UtcNow + RequestTimeout);
            var returned = clock.ElapsedTicks;
            if (write)
            {
                RecordCompleted(client, input, new KvOutput(), call, returned, [.. keys.Select(key => new AcknowledgedPut(key, value, response.Header.Revision))]);
                return;
            }

            var reads = response.Responses.Select(r => r.ResponseRange.Kvs.SingleOrDefault()?.Value.ToStringUtf8()).ToList();
            RecordCompleted(client, input, new KvOutput(Values: reads), call, returned);
            lock (History)
            {
                RevisionReads.AddRange(keys.Select((key, k) => new RevisionRead(client, key, reads[k], response.Header.Revision, Serializable: false)));
            }
        }
        catch (RpcException failed)
        {
            await RecordFailedAsync(client, input, call, failed);
        }
    }

    /// <summary>
    /// A lease cycle on the client's own key: grant a lease (an id of the client's, TTL 2 or 10
    /// s), put the key with it, read it, and revoke the lease (or, one time in three, leave it
    /// to expire). Each step is recorded on that key; a step that fails ends the cycle.
    /// </summary>
    private async Task LeaseCycleAsync(int client, GrpcChannel channel, Random random, int cycle, CancellationToken stop)
    {
        var key = $"lease-c{client}";
        var value = $"{client}-{cycle}";
        var leaseId = ((long)(client + 1) << 32) | (uint)cycle;
        var kv = new KV.KVClient(channel);
        var leases = new Lease.LeaseClient(channel);
        try
        {
            await leases.LeaseGrantAsync(new LeaseGrantRequest { ID = leaseId, TTL = random.Next(3) == 0 ? 2 : 10 }, deadline: DateTime.UtcNow + RequestTimeout);
            lock (History)
            {
                LeasesGranted++;
            }
        }
        catch (RpcException)
        {
            await Task.Delay(500, CancellationToken.None);
            return;
        }

        var steps = new List<KvInput> { new KvInput.PutWithLease(key, value, leaseId), new KvInput.Get(key) };
        if (random.Next(3) != 0 || stop.IsCancellationRequested)
        {
            steps.Add(new KvInput.Revoke(key, leaseId));
        }

        foreach (var step in steps)
        {
            var call = clock.ElapsedTicks;
            try
            {
                var deadline = DateTime.UtcNow + RequestTimeout;
                KvOutput output = new();
                AcknowledgedPut? acknowledged = null;
                switch (step)
                {
                    case KvInput.PutWithLease:
                        var put = await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value), Lease = leaseId }, deadline: deadline);
                        acknowledged = new AcknowledgedPut(key, value, put.Header.Revision);
                        break;
                    case KvInput.Get:
                        var read = await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key) }, deadline: deadline);
                        output = new KvOutput(read.Kvs.SingleOrDefault()?.Value.ToStringUtf8());
                        break;
                    default:
                        await leases.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseId }, deadline: deadline);
                        break;
                }

                RecordCompleted(client, step, output, call, clock.ElapsedTicks, acknowledged is null ? null : [acknowledged]);
            }
            catch (RpcException failed)
            {
                await RecordFailedAsync(client, step, call, failed);
                return;
            }
        }
    }

    /// <summary>Records a completed operation (and the put it acknowledged); a write also marks the cluster available then.</summary>
    private void RecordCompleted(int client, KvInput input, KvOutput output, long call, long returned, IEnumerable<AcknowledgedPut>? acknowledged = null)
    {
        lock (History)
        {
            History.Add(new Operation<KvInput, KvOutput>(client, input, output, call, returned));
            AcknowledgedPuts.AddRange(acknowledged ?? []);
            if (!IsRead(input))
            {
                WriteSuccesses.Add(clock.ElapsedMilliseconds);
            }
        }
    }

    /// <summary>
    /// Records a failed request. A read that failed told nothing, and a write refused at connect
    /// or for lack of space did not happen: both are left out; any other failed write may have
    /// taken effect, an unknown outcome. Then, as a client seeing errors would, it waits before
    /// the next request: each unknown outcome stays concurrent with everything after it and
    /// widens the search.
    /// </summary>
    private async Task RecordFailedAsync(int client, KvInput input, long call, RpcException failed)
    {
        if (!IsRead(input) && !CannotHaveTakenEffect(failed))
        {
            lock (History)
            {
                History.Add(Operation<KvInput, KvOutput>.Unknown(client, input, call));
            }
        }

        await Task.Delay(500, CancellationToken.None);
    }

    private static bool IsRead(KvInput input) => input is KvInput.Get || (input is KvInput.Txn txn && txn.Ops.All(op => op is KvInput.Get));

    /// <summary>
    /// The write cannot have taken effect: the member refused the TCP connection, or refused
    /// the write for lack of space (NOSPACE is answered before proposing, or by the apply step
    /// instead of applying).
    /// </summary>
    private static bool CannotHaveTakenEffect(RpcException failed)
    {
        if (failed.StatusCode == StatusCode.ResourceExhausted && failed.Status.Detail == "etcdserver: mvcc: database space exceeded")
        {
            return true;
        }

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
        var notices = new List<ProgressNotice>();
        lock (WatchedEvents)
        {
            WatchedEvents[node] = events;
            WatchProblems[node] = problems;
            ProgressNotices[node] = notices;
        }

        long next = 1;
        var response = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                // No limit on a response's size, as etcd's Go client: one revision's events (a
                // delete of many large values, with prev_kv) come in one response.
                using var channel = GrpcChannel.ForAddress(cluster.Url(node), new GrpcChannelOptions { MaxReceiveMessageSize = null });
                using var call = new Watch.WatchClient(channel).Watch(cancellationToken: stop);
                await call.RequestStream.WriteAsync(new WatchRequest
                {
                    CreateRequest = new WatchCreateRequest { Key = ByteString.CopyFromUtf8("\0"), RangeEnd = ByteString.CopyFromUtf8("\0"), StartRevision = next, PrevKv = true, ProgressNotify = true },
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
                        if (!current.Created && current.WatchId != -1)
                        {
                            // A progress notification of this watch (not a WatchProgressRequest's
                            // answer, id -1, which etcd 3.4 sends out of band with the events).
                            lock (events)
                            {
                                notices.Add(new ProgressNotice(current.Header.Revision, events.Count));
                            }
                        }

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

    /// <summary>The highest revision a compaction may take now: below what every watcher has seen (they resume above it).</summary>
    public long CompactableRevision() => cluster.Members.Min(LastWatched) - 1;

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
