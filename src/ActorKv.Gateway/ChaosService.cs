using ActorKv.Node.Chaos;
using ActorKv.Protocol.Chaos;
using ActorKv.Storage.Lmdb;
using Grpc.Core;

namespace ActorKv.Gateway;

/// <summary>The chaos service (mapped only when actorkv.chaos.enabled is on).</summary>
public sealed class ChaosService(ChaosControl control) : Chaos.ChaosBase
{
    public override async Task<KillActorResponse> KillActor(KillActorRequest request, ServerCallContext context)
    {
        try
        {
            return new KillActorResponse { Killed = { await control.KillActorAsync(request.Actor) } };
        }
        catch (ArgumentException unknown)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, unknown.Message));
        }
    }

    public override Task<ArmCrashPointResponse> ArmCrashPoint(ArmCrashPointRequest request, ServerCallContext context)
    {
        try
        {
            CrashPoints.Arm(request.Point, (int)Math.Min(request.AfterHits, int.MaxValue));
            return Task.FromResult(new ArmCrashPointResponse());
        }
        catch (ArgumentException unknown)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, unknown.Message));
        }
    }

    public override async Task<SetPeerLinkResponse> SetPeerLink(SetPeerLinkRequest request, ServerCallContext context)
    {
        try
        {
            await control.SetPeerLinkAsync(request.MemberId, new LinkFault(request.Cut, request.DropPercent / 100.0, TimeSpan.FromMilliseconds(request.DelayMs)));
            return new SetPeerLinkResponse();
        }
        catch (ArgumentException refused)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, refused.Message));
        }
        catch (InvalidOperationException noAdapter)
        {
            throw new RpcException(new Status(StatusCode.FailedPrecondition, noAdapter.Message));
        }
    }
}
