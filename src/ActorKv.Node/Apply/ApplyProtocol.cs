using ActorKv.Protocol.Raft;
using Akka.Actor;

namespace ActorKv.Node.Apply;

public static class ApplyProtocol
{
    /// <summary>Commit the entries waiting now as one batch.</summary>
    public sealed record FlushTick
    {
        public static readonly FlushTick Instance = new();
    }

    /// <summary>Commit the open transaction: the commit interval has passed.</summary>
    public sealed record CommitTick
    {
        public static readonly CommitTick Instance = new();
    }

    /// <summary>A reader waits until every write up to <paramref name="Index"/> is visible (see <see cref="ApplyVisibility"/>).</summary>
    public sealed record MakeVisible(ulong Index, TaskCompletionSource Completion);

    /// <summary>The log has not answered a restarted apply actor: ask again.</summary>
    public sealed record RedeliveryTimeout
    {
        public static readonly RedeliveryTimeout Instance = new();
    }

    /// <summary>Remove the next chunk of compacted history.</summary>
    public sealed record CompactionTick
    {
        public static readonly CompactionTick Instance = new();
    }

    /// <summary>A chunk of a leader's store to install; acknowledgements go to <paramref name="AckTo"/> (the sender).</summary>
    public sealed record InstallSnapshotChunk(SnapshotChunk Chunk, IActorRef AckTo);

    /// <summary>No chunk of the transfer under way has come for the snapshot timeout.</summary>
    public sealed record InstallTimeout(ulong TransferId)
    {
        public const string Key = "install-timeout";
    }
}
