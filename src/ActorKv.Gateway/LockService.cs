using ActorKv.Node.Concurrency;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using V3lockpb;

namespace ActorKv.Gateway;

/// <summary>etcd's v3lock service, on the concurrency recipes.</summary>
public sealed class LockService(ConcurrencyRecipes recipes, ActorKv.Node.ActorKvNode node) : V3lockpb.Lock.LockBase
{
    public override async Task<LockResponse> Lock(LockRequest request, ServerCallContext context)
    {
        var (header, key) = await recipes.LockAsync(request.Name, request.Lease, context.CancellationToken);
        return new LockResponse { Header = header, Key = ByteString.CopyFromUtf8(key) };
    }

    public override async Task<UnlockResponse> Unlock(UnlockRequest request, ServerCallContext context)
    {
        var deleted = await node.DeleteRangeAsync(new DeleteRangeRequest { Key = request.Key });
        return new UnlockResponse { Header = deleted.Header };
    }
}
