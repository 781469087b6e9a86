using ActorKv.Node.Concurrency;
using Grpc.Core;
using V3electionpb;

namespace ActorKv.Gateway;

/// <summary>etcd's v3election service, on the concurrency recipes.</summary>
public sealed class ElectionService(ConcurrencyRecipes recipes) : Election.ElectionBase
{
    public override async Task<CampaignResponse> Campaign(CampaignRequest request, ServerCallContext context)
    {
        var (header, leader) = await recipes.CampaignAsync(request.Name, request.Lease, request.Value, context.CancellationToken);
        return new CampaignResponse { Header = header, Leader = leader };
    }

    public override async Task<ProclaimResponse> Proclaim(ProclaimRequest request, ServerCallContext context) =>
        new() { Header = await recipes.ProclaimAsync(request.Leader, request.Value) };

    public override async Task<LeaderResponse> Leader(LeaderRequest request, ServerCallContext context)
    {
        var (header, leader) = await recipes.LeaderAsync(request.Name);
        return new LeaderResponse { Header = header, Kv = leader };
    }

    public override async Task Observe(LeaderRequest request, IServerStreamWriter<LeaderResponse> responseStream, ServerCallContext context)
    {
        try
        {
            await recipes.ObserveAsync(request.Name, (header, leader) => responseStream.WriteAsync(new LeaderResponse { Header = header, Kv = leader }), context.CancellationToken);
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            // The observer went away.
        }
    }

    public override async Task<ResignResponse> Resign(ResignRequest request, ServerCallContext context) =>
        new() { Header = await recipes.ResignAsync(request.Leader) };
}
