using ActorKv.Node;
using Etcdserverpb;
using Grpc.Core;

namespace ActorKv.Gateway;

/// <summary>etcd's Cluster service: membership, as the node applies and changes it through Raft.</summary>
public sealed class ClusterService(ActorKvNode node) : Cluster.ClusterBase
{
    public override Task<MemberListResponse> MemberList(MemberListRequest request, ServerCallContext context) =>
        Task.FromResult(node.MemberList());

    public override Task<MemberAddResponse> MemberAdd(MemberAddRequest request, ServerCallContext context) =>
        node.MemberAddAsync(request);

    public override Task<MemberRemoveResponse> MemberRemove(MemberRemoveRequest request, ServerCallContext context) =>
        node.MemberRemoveAsync(request);

    public override Task<MemberUpdateResponse> MemberUpdate(MemberUpdateRequest request, ServerCallContext context) =>
        node.MemberUpdateAsync(request);

    public override Task<MemberPromoteResponse> MemberPromote(MemberPromoteRequest request, ServerCallContext context) =>
        node.MemberPromoteAsync(request);
}
