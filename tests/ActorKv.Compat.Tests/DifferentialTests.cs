using ActorKv.Compat.Tests.Fixtures;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>
/// The same seeded operations against real etcd 3.4 and ActorKv; every response must be equal
/// field by field (cluster id, member id and raft term aside), errors by status code and text.
/// </summary>
public sealed class DifferentialTests(ITestOutputHelper output)
{
    private const int OperationsPerSeed = 250;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    public async Task Random_operations_answer_as_etcd_does(int seed)
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var actorKv = await ActorKvInProcess.StartAsync(log: output);
        using var etcdChannel = GrpcChannel.ForAddress(etcd.Url);
        using var actorKvChannel = GrpcChannel.ForAddress(actorKv.Url);
        var expectedKv = new KV.KVClient(etcdChannel);
        var actualKv = new KV.KVClient(actorKvChannel);

        var requests = new RandomEtcdRequests(seed);
        long revision = 1;
        var errors = 0;
        for (var i = 0; i < OperationsPerSeed; i++)
        {
            var request = requests.Next(revision);
            var expected = await Call(expectedKv, request);
            var actual = await Call(actualKv, request);
            if (expected != actual)
            {
                output.WriteLine($"seed {seed}, operation {i}: {request.GetType().Name} {Truncate(request.ToString() ?? "")}");
            }

            Assert.Equal(expected, actual);
            revision = Math.Max(revision, RevisionOf(expected));
            errors += expected.StartsWith('{') ? 0 : 1;
        }

        // The run must have exercised both writes and refusals, or it proves little.
        output.WriteLine($"seed {seed}: final revision {revision}, {errors} errors of {OperationsPerSeed}");
        Assert.InRange(revision, OperationsPerSeed / 5, OperationsPerSeed + 1);
        Assert.InRange(errors, 1, OperationsPerSeed / 2);
    }

    private static string Truncate(string text) => text.Length > 2000 ? text[..2000] + "..." : text;

    private static long RevisionOf(string response) =>
        response.StartsWith('{') ? (long)(System.Text.Json.JsonDocument.Parse(response).RootElement
            .GetProperty("header").TryGetProperty("revision", out var r) ? long.Parse(r.GetString()!) : 0) : 0;

    /// <summary>The response as JSON without member-specific header fields, or the error as "code: text".</summary>
    private static async Task<string> Call(KV.KVClient kv, IMessage request)
    {
        try
        {
            IMessage response = request switch
            {
                RangeRequest range => await kv.RangeAsync(range),
                PutRequest put => await kv.PutAsync(put),
                DeleteRangeRequest delete => await kv.DeleteRangeAsync(delete),
                TxnRequest txn => await kv.TxnAsync(txn),
                CompactionRequest compaction => await kv.CompactAsync(compaction),
                _ => throw new ArgumentException("unknown request " + request.GetType()),
            };
            var header = (ResponseHeader)response.Descriptor.FindFieldByName("header").Accessor.GetValue(response);
            header.ClusterId = 0;
            header.MemberId = 0;
            header.RaftTerm = 0;
            return JsonFormatter.Default.Format(response);
        }
        catch (RpcException error)
        {
            return $"{error.StatusCode}: {error.Status.Detail}";
        }
    }
}
