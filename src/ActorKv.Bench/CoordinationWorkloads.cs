using System.Collections.Concurrent;
using System.Diagnostics;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using HdrHistogram;

namespace ActorKv.Bench;

/// <summary>What lease-storm and watch measured, besides a latency histogram.</summary>
public sealed record CoordinationFigures(string Name, double Value, string Unit);

/// <summary>
/// The lease and watch workloads (issue 4's measurements). They speak only the etcd v3 API, so
/// they run against etcd as against ActorKv.
/// </summary>
public static class CoordinationWorkloads
{
    private const long HighestLatencyMicroseconds = 3_600_000_000L;

    /// <summary>
    /// Grants --total leases of --ttl seconds, each with one key, as fast as --clients allow;
    /// then, while --clients keep putting other keys, waits until every leased key is gone.
    /// Reports the time from the last lease's expiry to the last key's deletion, and the latency
    /// of the puts made during the storm.
    /// </summary>
    public static async Task<(BenchReport Report, List<CoordinationFigures> Figures)> LeaseStormAsync(BenchOptions options, IReadOnlyList<GrpcChannel> channels)
    {
        var prefix = $"storm-{Environment.ProcessId}-{Stopwatch.GetTimestamp()}/";
        var errors = new ConcurrentDictionary<string, long>();
        long next = -1;
        var granting = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(client => Task.Run(async () =>
        {
            var channel = channels[client % channels.Count];
            var leases = new Lease.LeaseClient(channel);
            var kv = new KV.KVClient(channel);
            long index;
            while ((index = Interlocked.Increment(ref next)) < options.Total)
            {
                try
                {
                    var granted = await leases.LeaseGrantAsync(new LeaseGrantRequest { TTL = options.Ttl });
                    await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(prefix + index.ToString("D9")), Lease = granted.ID });
                }
                catch (RpcException error)
                {
                    errors.AddOrUpdate($"{error.StatusCode}: {error.Status.Detail}", 1, (_, n) => n + 1);
                }
            }
        })));
        var lastExpiry = granting.Elapsed + TimeSpan.FromSeconds(options.Ttl);
        var grantSeconds = granting.Elapsed.TotalSeconds;

        // Clients keep writing through the storm; their latency is what the storm costs.
        var latency = new LongHistogram(HighestLatencyMicroseconds, 3);
        long puts = 0;
        using var stopWriting = new CancellationTokenSource();
        var writers = Enumerable.Range(0, options.Clients).Select(client => Task.Run(async () =>
        {
            var kv = new KV.KVClient(channels[client % channels.Count]);
            var local = new LongHistogram(HighestLatencyMicroseconds, 3);
            var i = 0;
            while (!stopWriting.IsCancellationRequested)
            {
                var begin = Stopwatch.GetTimestamp();
                try
                {
                    await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"{prefix}writes/{client}/{i++ % 100}"), Value = ByteString.CopyFromUtf8("v") });
                    local.RecordValue(Math.Max(1, (long)Stopwatch.GetElapsedTime(begin).TotalMicroseconds));
                    Interlocked.Increment(ref puts);
                }
                catch (RpcException error)
                {
                    errors.AddOrUpdate($"{error.StatusCode}: {error.Status.Detail}", 1, (_, n) => n + 1);
                }
            }

            lock (latency)
            {
                latency.Add(local);
            }
        })).ToList();

        var counter = new KV.KVClient(channels[0]);
        var leasedEnd = ByteString.CopyFromUtf8(prefix + ":");   // '0'..'9' keys sort before ':'
        TimeSpan? allGone = null;
        var giveUp = lastExpiry + TimeSpan.FromSeconds(Math.Max(60, options.Total / 100.0));
        while (granting.Elapsed < giveUp)
        {
            var left = await counter.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(prefix + "0"), RangeEnd = leasedEnd, CountOnly = true });
            if (left.Count == 0)
            {
                allGone = granting.Elapsed;
                break;
            }

            await Task.Delay(100);
        }

        var stormStarted = Stopwatch.StartNew();
        await stopWriting.CancelAsync();
        await Task.WhenAll(writers);
        if (allGone is null)
        {
            errors.AddOrUpdate("leased keys still present when the run gave up", 1, (_, n) => n + 1);
        }

        var report = new BenchReport("lease-storm", options.Clients, puts, errors, allGone ?? giveUp, latency);
        return (report, [
            new("leases granted per second", options.Total / grantSeconds, "/s"),
            new("all keys gone after the last expiry", ((allGone ?? giveUp) - lastExpiry).TotalSeconds, "s"),
            new("all keys gone after the first grant", (allGone ?? giveUp).TotalSeconds, "s"),
        ]);
    }

    /// <summary>
    /// Opens --streams watch streams with --watchers-per-stream watchers each on one prefix, then
    /// makes --total puts there (at --rate if set), each value carrying its send time. Reports
    /// events delivered per second over all watchers and the put-to-event latency.
    /// </summary>
    public static async Task<(BenchReport Report, List<CoordinationFigures> Figures)> WatchAsync(BenchOptions options, IReadOnlyList<GrpcChannel> channels)
    {
        var prefix = $"watch-{Environment.ProcessId}-{Stopwatch.GetTimestamp()}/";
        var prefixEnd = ByteString.CopyFromUtf8(prefix[..^1] + "0");
        var latency = new LongHistogram(HighestLatencyMicroseconds, 3);
        long events = 0;
        var errors = new ConcurrentDictionary<string, long>();
        var expected = options.Total * options.Streams * options.WatchersPerStream;
        using var stop = new CancellationTokenSource();
        var streams = new List<AsyncDuplexStreamingCall<WatchRequest, WatchResponse>>();
        var readers = new List<Task>();
        for (var s = 0; s < options.Streams; s++)
        {
            var call = new Watch.WatchClient(channels[s % channels.Count]).Watch(cancellationToken: stop.Token);
            streams.Add(call);
            var created = 0;
            var allCreated = new TaskCompletionSource();
            readers.Add(Task.Run(async () =>
            {
                var local = new LongHistogram(HighestLatencyMicroseconds, 3);
                try
                {
                    while (await call.ResponseStream.MoveNext(stop.Token))
                    {
                        var response = call.ResponseStream.Current;
                        if (response.Created && ++created == options.WatchersPerStream)
                        {
                            allCreated.TrySetResult();
                        }

                        var now = Stopwatch.GetTimestamp();
                        foreach (var change in response.Events)
                        {
                            var sent = long.Parse(change.Kv.Value.ToStringUtf8(), System.Globalization.CultureInfo.InvariantCulture);
                            local.RecordValue(Math.Max(1, (long)Stopwatch.GetElapsedTime(sent, now).TotalMicroseconds));
                        }

                        if (Interlocked.Add(ref events, response.Events.Count) >= expected)
                        {
                            break;
                        }
                    }
                }
                catch (RpcException) when (stop.IsCancellationRequested)
                {
                }
                catch (OperationCanceledException)
                {
                }
                finally
                {
                    lock (latency)
                    {
                        latency.Add(local);
                    }
                }
            }));
            for (var w = 0; w < options.WatchersPerStream; w++)
            {
                await call.RequestStream.WriteAsync(new WatchRequest { CreateRequest = new WatchCreateRequest { Key = ByteString.CopyFromUtf8(prefix), RangeEnd = prefixEnd } });
            }

            await allCreated.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }

        var started = Stopwatch.StartNew();
        long next = -1;
        await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(client => Task.Run(async () =>
        {
            var kv = new KV.KVClient(channels[client % channels.Count]);
            long index;
            while ((index = Interlocked.Increment(ref next)) < options.Total)
            {
                if (options.Rate > 0)
                {
                    var wait = TimeSpan.FromSeconds(index / (double)options.Rate) - started.Elapsed;
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait);
                    }
                }

                try
                {
                    var sent = Stopwatch.GetTimestamp().ToString(System.Globalization.CultureInfo.InvariantCulture);
                    await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(prefix + (index % 1000)), Value = ByteString.CopyFromUtf8(sent) });
                }
                catch (RpcException error)
                {
                    errors.AddOrUpdate($"{error.StatusCode}: {error.Status.Detail}", 1, (_, n) => n + 1);
                }
            }
        })));
        var putSeconds = started.Elapsed.TotalSeconds;
        var deadline = Stopwatch.StartNew();
        while (Interlocked.Read(ref events) < expected - errors.Values.Sum() * options.Streams * options.WatchersPerStream && deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(50);
        }

        var elapsed = started.Elapsed;
        await stop.CancelAsync();
        await Task.WhenAll(readers);
        foreach (var call in streams)
        {
            call.Dispose();
        }

        var delivered = Interlocked.Read(ref events);
        if (delivered < expected)
        {
            errors.AddOrUpdate($"events missing: {expected - delivered} of {expected}", 1, (_, n) => n + 1);
        }

        var report = new BenchReport("watch", options.Streams * options.WatchersPerStream, delivered, errors, elapsed, latency);
        return (report, [
            new("watchers", options.Streams * options.WatchersPerStream, ""),
            new("puts per second", options.Total / putSeconds, "/s"),
            new("events delivered per second", delivered / elapsed.TotalSeconds, "/s"),
        ]);
    }
}
