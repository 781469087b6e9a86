using ActorKv.Protocol.Raft;
using Google.Protobuf;
using CoreEntry = ActorKv.Raft.Entry;
using CoreMessage = ActorKv.Raft.Message;
using CoreSnapshot = ActorKv.Raft.Snapshot;

namespace ActorKv.Node.Raft;

/// <summary>Raft core types to their protobuf wire and WAL form and back; one place for both directions.</summary>
public static class RaftWire
{
    public static RaftEntry ToWire(this CoreEntry entry) =>
        new() { Term = entry.Term, Index = entry.Index, Type = (uint)entry.Type, Data = UnsafeByteOperations.UnsafeWrap(entry.Data) };

    public static CoreEntry FromWire(this RaftEntry entry) =>
        new(entry.Term, entry.Index, (ActorKv.Raft.EntryType)entry.Type, entry.Data.ToByteArray());

    public static RaftConfState ToWire(this ActorKv.Raft.ConfState confState)
    {
        var wire = new RaftConfState();
        wire.Voters.AddRange(confState.Voters);
        wire.Learners.AddRange(confState.Learners);
        return wire;
    }

    public static ActorKv.Raft.ConfState FromWire(this RaftConfState? confState) =>
        confState is null ? ActorKv.Raft.ConfState.Empty : new ActorKv.Raft.ConfState(confState.Voters.ToList(), confState.Learners.ToList());

    public static RaftSnapshot ToWire(this CoreSnapshot snapshot) =>
        new()
        {
            Index = snapshot.Metadata.Index,
            Term = snapshot.Metadata.Term,
            ConfState = snapshot.Metadata.ConfState.ToWire(),
            Data = UnsafeByteOperations.UnsafeWrap(snapshot.Data),
        };

    public static CoreSnapshot FromWire(this RaftSnapshot snapshot) =>
        new(new ActorKv.Raft.SnapshotMetadata(snapshot.Index, snapshot.Term, snapshot.ConfState.FromWire()), snapshot.Data.ToByteArray());

    public static RaftHardState ToWire(this ActorKv.Raft.HardState hardState) =>
        new() { Term = hardState.Term, Vote = hardState.Vote, Commit = hardState.Commit };

    public static ActorKv.Raft.HardState FromWire(this RaftHardState hardState) =>
        new(hardState.Term, hardState.Vote, hardState.Commit);

    public static RaftMessage ToWire(this CoreMessage message)
    {
        var wire = new RaftMessage
        {
            Type = (uint)message.Type,
            To = message.To,
            From = message.From,
            Term = message.Term,
            LogTerm = message.LogTerm,
            Index = message.Index,
            Commit = message.Commit,
            Snapshot = message.Snapshot?.ToWire(),
            Reject = message.Reject,
            RejectHint = message.RejectHint,
        };
        wire.Entries.AddRange(message.Entries.Select(ToWire));
        if (message.Context is { } context)
        {
            wire.Context = UnsafeByteOperations.UnsafeWrap(context);
        }

        return wire;
    }

    public static CoreMessage FromWire(this RaftMessage wire) =>
        new()
        {
            Type = (ActorKv.Raft.MessageType)wire.Type,
            To = wire.To,
            From = wire.From,
            Term = wire.Term,
            LogTerm = wire.LogTerm,
            Index = wire.Index,
            Entries = wire.Entries.Select(FromWire).ToList(),
            Commit = wire.Commit,
            Snapshot = wire.Snapshot?.FromWire(),
            Reject = wire.Reject,
            RejectHint = wire.RejectHint,
            Context = wire.HasContext ? wire.Context.ToByteArray() : null,
        };
}
