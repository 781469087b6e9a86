using ActorKv.Node;
using Etcdserverpb;
using Grpc.Core;

namespace ActorKv.Gateway;

/// <summary>etcd's KV service: protobuf in, the node's answer out.</summary>
public sealed class KvService(ActorKvNode node) : KV.KVBase
{
    public override Task<RangeResponse> Range(RangeRequest request, ServerCallContext context) =>
        node.RangeAsync(request);

    public override Task<PutResponse> Put(PutRequest request, ServerCallContext context) => node.PutAsync(request);

    public override Task<DeleteRangeResponse> DeleteRange(DeleteRangeRequest request, ServerCallContext context) =>
        node.DeleteRangeAsync(request);

    public override Task<TxnResponse> Txn(TxnRequest request, ServerCallContext context) => node.TxnAsync(request);

    public override Task<CompactionResponse> Compact(CompactionRequest request, ServerCallContext context) =>
        node.CompactAsync(request);
}
