using System.Diagnostics.Tracing;
using ActorKv.Protocol.Raft;
using ActorKv.Raft;

namespace ActorKv.Node.Diagnostics;

/// <summary>
/// One event at each step of a client write, so that where a write's time goes can be measured
/// instead of guessed: received, appended to the leader's log, each WAL write, each append and
/// acknowledgement handed to or taken from Akka.Remote, committed, applied, answered. Events name
/// the Raft node that wrote them (0 for a node without Raft) and the request id or the log
/// indexes they concern; <see cref="WriteApplied"/> ties a request id to its index. That is what
/// joins them across members (<c>scripts/trace-writes.py</c>). Off unless a listener enables the
/// source: a <see cref="WritePathTraceFile"/> (<c>actorkv.diagnostics.write-path-trace-file</c>),
/// or an EventPipe tool such as dotnet-trace (provider <c>ActorKv-WritePath</c>; not tried here).
/// Disabled, each costs one flag check.
/// Ids are payloads of type long: node and request ids stay below 2^63 (member ids are drawn below
/// long.MaxValue, request ids start at the clock's ticks).
/// </summary>
[EventSource(Name = SourceName)]
public sealed class WritePathEvents : EventSource
{
    public const string SourceName = "ActorKv-WritePath";

    public static readonly WritePathEvents Log = new();

    private WritePathEvents()
    {
    }

    /// <summary>A client write reached this node and waits for its entry to be applied here.</summary>
    [Event(1)]
    public void WriteReceived(long node, long requestId) => WriteEvent(1, node, requestId);

    /// <summary>The leader (or the log of a node without Raft) gave the write its log index.</summary>
    [Event(2)]
    public void ProposalAppended(long node, long requestId, long index) => WriteEvent(2, node, requestId, index);

    /// <summary>A Ready's entries go to the WAL (one write, one fdatasync).</summary>
    [Event(3)]
    public void WalWriteStarted(long node, long firstIndex, long lastIndex) => WriteEvent(3, node, firstIndex, lastIndex);

    /// <summary>The Ready's WAL write returned: its entries are durable here.</summary>
    [Event(4)]
    public void WalWriteFinished(long node, long firstIndex, long lastIndex) => WriteEvent(4, node, firstIndex, lastIndex);

    /// <summary>An append with entries is handed to Akka.Remote for a peer.</summary>
    [Event(5)]
    public void AppendSent(long node, long peer, long lastIndex) => WriteEvent(5, node, peer, lastIndex);

    /// <summary>An append with entries from a peer reached the Raft actor.</summary>
    [Event(6)]
    public void AppendReceived(long node, long peer, long lastIndex) => WriteEvent(6, node, peer, lastIndex);

    /// <summary>An acknowledgement of the log up to an index is handed to Akka.Remote for a peer.</summary>
    [Event(7)]
    public void AppendResponseSent(long node, long peer, long index) => WriteEvent(7, node, peer, index);

    /// <summary>A peer's acknowledgement of its log up to an index reached the Raft actor.</summary>
    [Event(8)]
    public void AppendResponseReceived(long node, long peer, long index) => WriteEvent(8, node, peer, index);

    /// <summary>Committed entries are handed to the apply actor.</summary>
    [Event(9)]
    public void EntriesCommitted(long node, long firstIndex, long lastIndex) => WriteEvent(9, node, firstIndex, lastIndex);

    /// <summary>The apply actor applied this node's write, at this index, to the store (its answer goes out next).</summary>
    [Event(10)]
    public void WriteApplied(long node, long requestId, long index) => WriteEvent(10, node, requestId, index);

    /// <summary>The client's request resumed with its answer (the gRPC response follows).</summary>
    [Event(11)]
    public void WriteAnswered(long node, long requestId) => WriteEvent(11, node, requestId);

    /// <summary>Appends with entries and successful acknowledgements; other Raft messages are not traced.</summary>
    [NonEvent]
    public void RaftMessageSent(RaftMessage message) => TraceRaftMessage(message, sent: true);

    /// <inheritdoc cref="RaftMessageSent"/>
    [NonEvent]
    public void RaftMessageReceived(RaftMessage message) => TraceRaftMessage(message, sent: false);

    [NonEvent]
    private void TraceRaftMessage(RaftMessage message, bool sent)
    {
        if (!IsEnabled())
        {
            return;
        }

        var (node, peer) = sent ? ((long)message.From, (long)message.To) : ((long)message.To, (long)message.From);
        switch ((MessageType)message.Type)
        {
            case MessageType.Append when message.Entries.Count > 0:
                var lastIndex = (long)message.Entries[^1].Index;
                if (sent)
                {
                    AppendSent(node, peer, lastIndex);
                }
                else
                {
                    AppendReceived(node, peer, lastIndex);
                }

                break;
            case MessageType.AppendResponse when !message.Reject:
                if (sent)
                {
                    AppendResponseSent(node, peer, (long)message.Index);
                }
                else
                {
                    AppendResponseReceived(node, peer, (long)message.Index);
                }

                break;
        }
    }
}
