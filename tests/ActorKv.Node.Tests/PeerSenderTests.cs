using ActorKv.Node.Raft;
using ActorKv.Protocol.Raft;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using Google.Protobuf;

namespace ActorKv.Node.Tests;

/// <summary>A peer sender batches what it is given, in order, and keeps batches under Akka.Remote's frame size.</summary>
public sealed class PeerSenderTests : TestKit
{
    private static RaftMessage Append(ulong index, int dataBytes = 1) => new()
    {
        Type = 2, To = 2, From = 1, Term = 3, Index = index,
        Entries = { new RaftEntry { Term = 3, Index = index + 1, Data = ByteString.CopyFrom(new byte[dataBytes]) } },
    };

    private (IActorRef Sender, Akka.TestKit.TestProbe Peer) Start()
    {
        var peer = CreateTestProbe();
        var sender = Sys.ActorOf(PeerSender.Props(peer.Ref.Path.ToString()));
        return (sender, peer);
    }

    [Fact]
    public void One_readys_messages_travel_as_one_batch_in_order_and_a_lone_message_alone()
    {
        var (sender, peer) = Start();
        sender.Tell(new PeerSender.Send([Append(1), Append(2), Append(3)]));
        var batch = peer.ExpectMsg<RaftMessageBatch>();
        Assert.Equal([1UL, 2UL, 3UL], batch.Messages.Select(m => m.Index));

        sender.Tell(new PeerSender.Send([Append(4)]));
        Assert.Equal(4UL, peer.ExpectMsg<RaftMessage>().Index);
        peer.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public void A_batch_is_cut_before_it_passes_a_mebibyte()
    {
        var (sender, peer) = Start();
        sender.Tell(new PeerSender.Send([.. Enumerable.Range(1, 5).Select(i => Append((ulong)i, dataBytes: 300_000))]));
        var first = peer.ExpectMsg<RaftMessageBatch>();
        var rest = peer.ExpectMsg<RaftMessageBatch>();
        Assert.Equal([1UL, 2UL, 3UL], first.Messages.Select(m => m.Index));
        Assert.Equal([4UL, 5UL], rest.Messages.Select(m => m.Index));
        Assert.InRange(first.CalculateSize(), 900_000, 1 << 20);
    }
}
