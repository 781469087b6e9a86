using ActorKv.Node;
using Etcdserverpb;
using Grpc.Core;

namespace ActorKv.Gateway;

/// <summary>etcd's Maintenance service: Status, HashKV, MoveLeader and Alarm are served; the other methods are not yet.</summary>
public sealed class MaintenanceService(ActorKvNode node) : Maintenance.MaintenanceBase
{
    public override Task<StatusResponse> Status(StatusRequest request, ServerCallContext context) =>
        Task.FromResult(node.Status());

    public override Task<HashKVResponse> HashKV(HashKVRequest request, ServerCallContext context) =>
        node.HashKVAsync(request);

    public override Task<AlarmResponse> Alarm(AlarmRequest request, ServerCallContext context) =>
        node.AlarmAsync(request);

    public override Task<MoveLeaderResponse> MoveLeader(MoveLeaderRequest request, ServerCallContext context) =>
        node.MoveLeaderAsync(request);
}
