using System.Collections.Concurrent;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace ActorKv.Bench;

/// <summary>
/// Workloads whose clients hold server-side state across requests: lease keep-alive streams,
/// and the Kubernetes-like mix with watchers. Run by <see cref="LoadRunner"/> once set up.
/// </summary>
public static class SessionWorkloads
{
    /// <summary>
    /// etcd's lease-keepalive: every client grants one lease of --ttl seconds and opens one
    /// LeaseKeepAlive stream; a request is one keep-alive sent and its answer read.
    /// </summary>
    public static async Task<(Func<int, long, Task> Request, Func<Task> Close)> LeaseKeepAliveAsync(BenchOptions options, IReadOnlyList<GrpcChannel> channels)
    {
        var streams = new AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>[options.Clients];
        var leases = new long[options.Clients];
        for (var client = 0; client < options.Clients; client++)
        {
            var leaseClient = new Lease.LeaseClient(channels[client % channels.Count]);
            leases[client] = (await leaseClient.LeaseGrantAsync(new LeaseGrantRequest { TTL = options.Ttl }, deadline: DateTime.UtcNow.AddSeconds(10))).ID;
            streams[client] = leaseClient.LeaseKeepAlive();
        }

        async Task KeepAlive(int client, long _)
        {
            var stream = streams[client];
            await stream.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = leases[client] });
            if (!await stream.ResponseStream.MoveNext(CancellationToken.None))
            {
                throw new RpcException(new Status(StatusCode.Unavailable, "the keep-alive stream ended"));
            }

            if (stream.ResponseStream.Current.TTL <= 0)
            {
                throw new RpcException(new Status(StatusCode.NotFound, "the lease expired"));
            }
        }

        async Task Close()
        {
            var leaseClient = new Lease.LeaseClient(channels[0]);
            for (var client = 0; client < options.Clients; client++)
            {
                await streams[client].RequestStream.CompleteAsync();
                streams[client].Dispose();
                await leaseClient.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leases[client] }, deadline: DateTime.UtcNow.AddSeconds(10));
            }
        }

        return (KeepAlive, Close);
    }

    /// <summary>
    /// A Kubernetes-like mix on --key-space-size objects (default 1000) under one prefix: 80% reads
    /// (nine in ten a linearizable get of one object, one in ten a list of the prefix with
    /// --limit, default 100) and 20% writes (an update as the API server makes it: a txn that puts
    /// if the object's mod revision is not newer than the one read, else reads it). While it runs,
    /// --streams x --watchers-per-stream watchers follow the prefix; their events are counted.
    /// </summary>
    public static async Task<(Func<int, long, Task> Request, Func<Task<List<CoordinationFigures>>> Finish)> MixedAsync(BenchOptions options, IReadOnlyList<GrpcChannel> channels)
    {
        var prefix = $"mixed-{Environment.ProcessId}-{Environment.TickCount64}/";
        var prefixEnd = ByteString.CopyFromUtf8(prefix[..^1] + "0");
        var objects = options.KeySpaceSize == 0 ? 1000 : options.KeySpaceSize;
        var listLimit = options.Limit == 0 ? 100 : options.Limit;
        var value = Workloads.Value(options);
        var kvs = channels.Select(channel => new KV.KVClient(channel)).ToList();
        var objectKeys = Enumerable.Range(0, (int)Math.Min(objects, int.MaxValue)).Select(i => ByteString.CopyFromUtf8(prefix + Workloads.Key(i, options.KeySize).ToStringUtf8())).ToArray();

        // The objects exist before the run, as a cluster's do.
        for (var i = 0; i < objectKeys.Length; i += 100)
        {
            var txn = new TxnRequest();
            txn.Success.AddRange(objectKeys.Skip(i).Take(100).Select(key => new RequestOp { RequestPut = new PutRequest { Key = key, Value = value } }));
            await kvs[0].TxnAsync(txn, deadline: DateTime.UtcNow.AddSeconds(30));
        }

        var start = (await kvs[0].RangeAsync(new RangeRequest { Key = prefixEnd }, deadline: DateTime.UtcNow.AddSeconds(10))).Header.Revision + 1;
        long events = 0;
        var stopWatching = new CancellationTokenSource();
        var watchers = new List<(AsyncDuplexStreamingCall<WatchRequest, WatchResponse> Call, Task Reader)>();
        for (var s = 0; s < options.Streams; s++)
        {
            var call = new Watch.WatchClient(channels[s % channels.Count]).Watch(cancellationToken: stopWatching.Token);
            for (var w = 0; w < options.WatchersPerStream; w++)
            {
                await call.RequestStream.WriteAsync(new WatchRequest { CreateRequest = new WatchCreateRequest { Key = ByteString.CopyFromUtf8(prefix), RangeEnd = prefixEnd, StartRevision = start } });
            }

            watchers.Add((call, Task.Run(async () =>
            {
                try
                {
                    while (await call.ResponseStream.MoveNext(stopWatching.Token))
                    {
                        Interlocked.Add(ref events, call.ResponseStream.Current.Events.Count);
                    }
                }
                catch (Exception error) when (error is OperationCanceledException || (error is RpcException && stopWatching.IsCancellationRequested))
                {
                }
            })));
        }

        // What each client last read of an object, for its next update's compare.
        var lastRead = new ConcurrentDictionary<ByteString, long>();
        var started = Environment.TickCount64;
        long writes = 0;

        async Task Request(int client, long _)
        {
            var kv = kvs[client % kvs.Count];
            var key = objectKeys[Random.Shared.NextInt64(objectKeys.Length)];
            var draw = Random.Shared.Next(100);
            if (draw < 72)
            {
                var got = await kv.RangeAsync(new RangeRequest { Key = key });
                if (got.Kvs.Count == 1)
                {
                    lastRead[key] = got.Kvs[0].ModRevision;
                }
            }
            else if (draw < 80)
            {
                await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(prefix), RangeEnd = prefixEnd, Limit = listLimit });
            }
            else
            {
                var seen = lastRead.GetValueOrDefault(key, long.MaxValue);
                await kv.TxnAsync(new TxnRequest
                {
                    Compare = { new Compare { Key = key, Target = Compare.Types.CompareTarget.Mod, Result = Compare.Types.CompareResult.Less, ModRevision = seen == long.MaxValue ? long.MaxValue : seen + 1 } },
                    Success = { new RequestOp { RequestPut = new PutRequest { Key = key, Value = value } } },
                    Failure = { new RequestOp { RequestRange = new RangeRequest { Key = key } } },
                });
                Interlocked.Increment(ref writes);
            }
        }

        async Task<List<CoordinationFigures>> Finish()
        {
            var seconds = (Environment.TickCount64 - started) / 1000.0;
            // Let the watchers catch up with the last writes before they are counted.
            var deadline = Environment.TickCount64 + 5000;
            var last = -1L;
            while (Environment.TickCount64 < deadline && Interlocked.Read(ref events) != last)
            {
                last = Interlocked.Read(ref events);
                await Task.Delay(200);
            }

            await stopWatching.CancelAsync();
            await Task.WhenAll(watchers.Select(w => w.Reader));
            foreach (var (call, _) in watchers)
            {
                call.Dispose();
            }

            stopWatching.Dispose();

            return [
                new("watchers", options.Streams * options.WatchersPerStream, ""),
                new("writes per second", Interlocked.Read(ref writes) / seconds, "/s"),
                new("watch events delivered per second", Interlocked.Read(ref events) / seconds, "/s"),
            ];
        }

        return (Request, Finish);
    }
}
