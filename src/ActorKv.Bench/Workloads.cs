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

    /// <summary>A key of exactly --key-size bytes: the number, zero-padded (or cut from the left).</summary>
    public static ByteString Key(long number, int size)
    {
        var digits = number.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var text = digits.Length >= size ? digits[^size..] : digits.PadLeft(size, '0');
        return ByteString.CopyFromUtf8(text);
    }

    private static Func<int, long, Task> Put(BenchOptions options, IReadOnlyList<KV.KVClient> clients)
    {
        var value = ByteString.CopyFrom(Enumerable.Range(0, options.ValueSize).Select(i => (byte)('a' + (i % 26))).ToArray());
        if (options.KeySpaceSize == 0 && options.KeySize < 19 && Math.Pow(10, options.KeySize) < options.Total)
        {
            throw new BenchUsageException($"--key-size {options.KeySize} cannot hold {options.Total} distinct keys");
        }

        return async (client, index) =>
        {
            var number = options.KeySpaceSize == 0 ? index
                : options.SequentialKeys ? index % options.KeySpaceSize
                : Random.Shared.NextInt64(options.KeySpaceSize);
            await clients[client % clients.Count].PutAsync(new PutRequest { Key = Key(number, options.KeySize), Value = value });
        };
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
