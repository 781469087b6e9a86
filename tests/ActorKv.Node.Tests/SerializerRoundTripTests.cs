using ActorKv.Node.Configuration;
using ActorKv.Node.Raft;
using ActorKv.Node.Serialization;
using ActorKv.Protocol.Log;
using ActorKv.Protocol.Membership;
using ActorKv.Protocol.Raft;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using Etcdserverpb;
using Google.Protobuf;
using CoreMessage = ActorKv.Raft.Message;

namespace ActorKv.Node.Tests;

/// <summary>
/// Every message that crosses Akka.Remote or the Raft WAL is bound to the protobuf serializer by
/// the reference configuration, and survives a round trip through Akka's serialization.
/// </summary>
public sealed class SerializerRoundTripTests() : TestKit(ActorKvSettings.Reference)
{
    public static TheoryData<IMessage> Messages => new()
    {
        new CoreMessage
        {
            Type = ActorKv.Raft.MessageType.Append, To = 2, From = 1, Term = 7, LogTerm = 6, Index = 41, Commit = 40,
            Entries = [new ActorKv.Raft.Entry(7, 42, ActorKv.Raft.EntryType.Normal, [1, 2, 3]), new ActorKv.Raft.Entry(7, 43, ActorKv.Raft.EntryType.ConfChange, new ActorKv.Raft.ConfChange(ActorKv.Raft.ConfChangeType.AddLearnerNode, 4).Encode())],
        }.ToWire(),
        new CoreMessage { Type = ActorKv.Raft.MessageType.HeartbeatResponse, To = 1, From = 3, Term = 7, Context = [] }.ToWire(),
        new RaftMessageBatch
        {
            Messages =
            {
                new CoreMessage { Type = ActorKv.Raft.MessageType.Propose, To = 1, From = 2, Term = 7, Entries = [new ActorKv.Raft.Entry(0, 0, ActorKv.Raft.EntryType.Normal, [5])] }.ToWire(),
                new CoreMessage { Type = ActorKv.Raft.MessageType.AppendResponse, To = 1, From = 2, Term = 7, Index = 44 }.ToWire(),
            },
        },
        new CoreMessage { Type = ActorKv.Raft.MessageType.AppendResponse, To = 1, From = 3, Term = 7, Reject = true, RejectHint = 12, LogTerm = 5 }.ToWire(),
        new CoreMessage
        {
            Type = ActorKv.Raft.MessageType.Snapshot, To = 2, From = 1, Term = 3,
            Snapshot = new ActorKv.Raft.Snapshot(new ActorKv.Raft.SnapshotMetadata(100, 3, new ActorKv.Raft.ConfState([1, 2, 3], [4])), [9, 9]),
        }.ToWire(),
        new WriteRequest { Id = 77, Proposer = 3, Put = new PutRequest { Key = ByteString.CopyFromUtf8("k"), Value = ByteString.CopyFromUtf8("v"), PrevKv = true } },
        new MembershipProposal
        {
            Change = new MembershipChange
            {
                Kind = MembershipChange.Types.Kind.AddLearner,
                Member = new ActorKv.Protocol.Membership.Member { Id = 0xfeed, PeerUrls = { "http://127.0.0.1:2410" } },
                Proposer = 2,
                RequestId = 99,
            },
        },
        new MembershipRefused { RequestId = 99, Code = 9, Message = "etcdserver: can only promote a learner member" },
        new SnapshotChunk
        {
            TransferId = 5, Sequence = 2, From = 1, To = 4, Term = 3, Last = true,
            Metadata = new RaftSnapshot { Index = 150, Term = 3, ConfState = new RaftConfState { Voters = { 1, 2, 3 }, Learners = { 4 } } },
            Records = { new SnapshotRecord { Database = 1, Key = ByteString.CopyFrom(1, 2), Value = ByteString.CopyFromUtf8("v") } },
        },
        new SnapshotChunkAck { TransferId = 5, Sequence = 2, Refused = true },
        new PeerProbe { SentTimestamp = 123_456_789_012, From = 0xbeef, ClusterId = 0xc1 },
        new MemberRemoved { Member = 0xbeef, By = 2 },
    };

    [Theory]
    [MemberData(nameof(Messages))]
    public void A_message_round_trips_through_the_protobuf_serializer(IMessage message)
    {
        var serialization = Sys.Serialization;
        var serializer = serialization.FindSerializerFor(message);
        Assert.IsType<ActorKvProtobufSerializer>(serializer);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, message);
        var copy = serialization.Deserialize(serializer.ToBinary(message), serializer.Identifier, manifest);
        Assert.Equal(message, copy);
    }

    [Fact]
    public void The_wire_form_keeps_every_field_of_a_raft_message()
    {
        var original = new CoreMessage
        {
            Type = ActorKv.Raft.MessageType.ReadIndexResponse, To = 5, From = 4, Term = 9, LogTerm = 8, Index = 77, Commit = 70,
            Reject = true, RejectHint = 3, Context = [7], Entries = [new ActorKv.Raft.Entry(9, 78, ActorKv.Raft.EntryType.Normal, [5])],
        };
        var back = original.ToWire().FromWire();
        Assert.Equal(original.ToString(), back.ToString());
        Assert.Equal(original.Context, back.Context);
        Assert.Equal(original.Entries[0].Data, back.Entries[0].Data);
        Assert.Null(new CoreMessage { Type = ActorKv.Raft.MessageType.Heartbeat }.ToWire().FromWire().Context);
    }

    [Fact]
    public void No_actorkv_message_falls_back_to_a_default_serializer()
    {
        var unbound = new object();
        Assert.IsNotType<ActorKvProtobufSerializer>(Sys.Serialization.FindSerializerFor(unbound));
        Assert.Throws<ArgumentException>(() => new ActorKvProtobufSerializer((ExtendedActorSystem)Sys).Manifest(unbound));
    }
}
