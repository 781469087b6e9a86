using ActorKv.Node;
using Etcdserverpb;
using Grpc.Core;

namespace ActorKv.Gateway;

/// <summary>etcd's Maintenance service: Status is served; the other methods are not yet.</summary>
public sealed class MaintenanceService(ActorKvNode node) : Maintenance.MaintenanceBase
{
    public override Task<StatusResponse> Status(StatusRequest request, ServerCallContext context) =>
        Task.FromResult(node.Status());
}
