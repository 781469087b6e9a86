using ActorKv.Node;
using Etcdserverpb;
using Grpc.Core;

namespace ActorKv.Gateway;

/// <summary>etcd's Cluster service: MemberList is served; membership changes are not yet.</summary>
public sealed class ClusterService(ActorKvNode node) : Cluster.ClusterBase
{
    public override Task<MemberListResponse> MemberList(MemberListRequest request, ServerCallContext context) =>
        Task.FromResult(node.MemberList());
}
