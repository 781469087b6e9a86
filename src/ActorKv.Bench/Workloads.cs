using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace ActorKv.Bench;

/// <summary>The etcd v3 requests each workload sends; nothing ActorKv-specific.</summary>
public static class Workloads
{
    public static Func<int, long, Task> Create(BenchOptions options, IReadOnlyList<KV.KVClient> clients) =>
        options.Workload switch
        {
            "put" => Put(options, clients),
            "range" => Range(options, clients),
            "txn-put" => TxnPut(options, clients),
            "txn-mixed" => TxnMixed(options, clients),
            _ => throw new BenchUsageException($"unknown workload '{options.Workload}'"),
        };

    /// <summary>One KV client per connection, connections spread over the endpoints.</summary>
    public static IReadOnlyList<GrpcChannel> Connect(BenchOptions options) =>
        Enumerable.Range(0, options.Connections)
            .Select(i => GrpcChannel.ForAddress("http://" + options.Endpoints[i % options.Endpoints.Count], new GrpcChannelOptions
            {
                MaxReceiveMessageSize = null,
                HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = false },
            }))
            .ToList();

    /// <summary>Fails with a clear message unless every endpoint answers a read within 5 seconds.</summary>
    public static async Task CheckReachable(BenchOptions options, IReadOnlyList<KV.KVClient> clients)
    {
        for (var i = 0; i < Math.Min(clients.Count, options.Endpoints.Count); i++)
        {
            try
            {
                await clients[i].RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("actorkv-bench/probe"), Serializable = true }, deadline: DateTime.UtcNow.AddSeconds(5));
            }
            catch (RpcException error)
            {
                throw new BenchUsageException($"cannot reach {options.Endpoints[i]}: {error.StatusCode} {error.Status.Detail}");
            }
        }
    }

    /// <summary>
    /// The endpoint of the Raft leader: the one whose Status names itself as leader (etcd's
    /// benchmark --target-leader does the same).
    /// </summary>
    public static async Task<string> FindLeader(BenchOptions options)
    {
        foreach (var endpoint in options.Endpoints)
        {
            using var channel = GrpcChannel.ForAddress("http://" + endpoint);
            var status = await new Maintenance.MaintenanceClient(channel).StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(5));
            if (status.Leader != 0 && status.Leader == status.Header.MemberId)
            {
                return endpoint;
            }
        }

        throw new BenchUsageException($"--target-leader: no leader among {string.Join(",", options.Endpoints)}");
    }

    /// <summary>A key of exactly --key-size bytes: the number, zero-padded (or cut from the left).</summary>
    public static ByteString Key(long number, int size)
    {
        var digits = number.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var text = digits.Length >= size ? digits[^size..] : digits.PadLeft(size, '0');
        return ByteString.CopyFromUtf8(text);
    }

    private static Func<int, long, Task> Put(BenchOptions options, IReadOnlyList<KV.KVClient> clients)
    {
        var value = Value(options);
        CheckDistinctKeysFit(options, options.Total);
        return async (client, index) =>
            await clients[client % clients.Count].PutAsync(new PutRequest { Key = Key(KeyNumber(options, index), options.KeySize), Value = value });
    }

    /// <summary>
    /// etcd's txn-put: one txn of --txn-ops puts and no compare per request; every op writes its
    /// own key (distinct over the run unless --key-space-size is set).
    /// </summary>
    private static Func<int, long, Task> TxnPut(BenchOptions options, IReadOnlyList<KV.KVClient> clients)
    {
        var value = Value(options);
        CheckDistinctKeysFit(options, options.Total * options.TxnOps);
        return async (client, index) =>
        {
            var txn = new TxnRequest();
            for (var op = 0; op < options.TxnOps; op++)
            {
                var key = Key(KeyNumber(options, (index * options.TxnOps) + op), options.KeySize);
                txn.Success.Add(new RequestOp { RequestPut = new PutRequest { Key = key, Value = value } });
            }

            await clients[client % clients.Count].TxnAsync(txn);
        };
    }

    /// <summary>
    /// etcd's txn-mixed: each request is a txn holding one range (a read) or one put (a write),
    /// reads and writes in the ratio --rw-ratio, on keys drawn from --key-space-size (default
    /// 1000). Reads are linearizable unless --consistency s.
    /// </summary>
    private static Func<int, long, Task> TxnMixed(BenchOptions options, IReadOnlyList<KV.KVClient> clients)
    {
        var value = Value(options);
        var keySpace = options.KeySpaceSize == 0 ? 1000 : options.KeySpaceSize;
        var readShare = options.RwRatio / (options.RwRatio + 1);
        return async (client, _) =>
        {
            var key = Key(Random.Shared.NextInt64(keySpace), options.KeySize);
            var kv = clients[client % clients.Count];
            if (Random.Shared.NextDouble() < readShare)
            {
                // A txn is linearizable in etcd; a serializable read is a plain serializable range.
                if (options.Consistency == "s")
                {
                    await kv.RangeAsync(new RangeRequest { Key = key, Serializable = true });
                }
                else
                {
                    await kv.TxnAsync(new TxnRequest { Success = { new RequestOp { RequestRange = new RangeRequest { Key = key } } } });
                }
            }
            else
            {
                await kv.TxnAsync(new TxnRequest { Success = { new RequestOp { RequestPut = new PutRequest { Key = key, Value = value } } } });
            }
        };
    }

    public static ByteString Value(BenchOptions options) =>
        ByteString.CopyFrom(Enumerable.Range(0, options.ValueSize).Select(i => (byte)('a' + (i % 26))).ToArray());

    /// <summary>The key number of request (or op) <paramref name="index"/>: distinct, cycled or random per the options.</summary>
    private static long KeyNumber(BenchOptions options, long index) =>
        options.KeySpaceSize == 0 ? index
        : options.SequentialKeys ? index % options.KeySpaceSize
        : Random.Shared.NextInt64(options.KeySpaceSize);

    private static void CheckDistinctKeysFit(BenchOptions options, long keys)
    {
        if (options.KeySpaceSize == 0 && options.KeySize < 19 && Math.Pow(10, options.KeySize) < keys)
        {
            throw new BenchUsageException($"--key-size {options.KeySize} cannot hold {keys} distinct keys");
        }
    }

    private static Func<int, long, Task> Range(BenchOptions options, IReadOnlyList<KV.KVClient> clients)
    {
        var key = Key(0, options.KeySize);
        var request = new RangeRequest
        {
            Key = options.Prefix ? ByteString.CopyFromUtf8("0") : key,
            RangeEnd = options.Prefix ? ByteString.CopyFromUtf8("1") : ByteString.Empty,
            Limit = options.Limit,
            Serializable = options.Consistency == "s",
        };
        return async (client, _) => await clients[client % clients.Count].RangeAsync(request);
    }
}
