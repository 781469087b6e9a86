using Akka.Actor;
using Akka.Event;

namespace ActorKv.Node;

/// <summary>
/// Why a node shut itself down: it could not make durable what it must (its Raft WAL, or the
/// store's commit of writes it had already answered). Its state in memory may be ahead of the
/// disk, so it must not go on; as etcd exits when it cannot save, the node shuts down and the
/// server process exits non-zero, to be restarted from what is on disk.
/// </summary>
public sealed class StorageFailed(string detail) : CoordinatedShutdown.Reason
{
    public override int ExitCode => 1;

    public override string ToString() => detail;

    /// <summary>Logs the failure ("...; the node shuts down", which the chaos runner looks for) and shuts the node down.</summary>
    public static void ShutDownNode(IActorContext context, ILoggingAdapter log, Exception cause, string what)
    {
        var reason = new StorageFailed($"{what}: {cause.Message}");
        log.Error(cause, "{0}; the node shuts down", reason);
        CoordinatedShutdown.Get(context.System).Run(reason);
    }
}
