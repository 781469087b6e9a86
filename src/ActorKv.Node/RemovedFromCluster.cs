using Akka.Actor;
using Akka.Event;

namespace ActorKv.Node;

/// <summary>
/// Why a node stopped itself: the cluster has removed it. It stops as an etcd member does, once
/// it has applied its own removal, or at once when a member that has applied it turns its link
/// probe away (etcd's peers answer a removed member with 410 Gone). Its data dir must not serve
/// again; as etcd's, the server process exits 0.
/// </summary>
public sealed class RemovedFromCluster(string detail) : CoordinatedShutdown.Reason
{
    /// <summary>etcd's words (rafthttp's errMemberRemoved).</summary>
    public const string Text = "the member has been permanently removed from the cluster";

    public override int ExitCode => 0;

    public override string ToString() => $"{detail}: {Text}; the data dir used by this member must be removed";

    /// <summary>Logs why (<paramref name="detail"/> says how it learnt it) and shuts the node down.</summary>
    public static void StopNode(IActorContext context, ILoggingAdapter log, string detail)
    {
        var reason = new RemovedFromCluster(detail);
        log.Warning("{0}; the node stops", reason);
        CoordinatedShutdown.Get(context.System).Run(reason);
    }
}
