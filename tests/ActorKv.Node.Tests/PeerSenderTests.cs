using ActorKv.Node.Raft;
using ActorKv.Protocol.Raft;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using Google.Protobuf;

namespace ActorKv.Node.Tests;

/// <summary>
/// A peer sender batches what it is given, in order, and keeps batches under Akka.Remote's frame
/// size; it times the link to its peer with probes that the peer's responder answers, unless the
/// peer has removed the prober.
/// </summary>
public sealed class PeerSenderTests : TestKit
{
    private const ulong ClusterId = 0xc1;

    private static RaftMessage Append(ulong index, int dataBytes = 1) => new()
    {
        Type = 2, To = 2, From = 1, Term = 3, Index = index,
        Entries = { new RaftEntry { Term = 3, Index = index + 1, Data = ByteString.CopyFrom(new byte[dataBytes]) } },
    };

    private (IActorRef Sender, Akka.TestKit.TestProbe Peer) Start()
    {
        var peer = CreateTestProbe();
        // Probes (to a responder that does not exist here) are not what these tests look at.
        var sender = Sys.ActorOf(PeerSender.Props(peer.Ref.Path.ToString(), peerId: 2, selfId: 1, ClusterId, probeInterval: TimeSpan.FromHours(1), observeRoundTrip: (_, _) => { }));
        return (sender, peer);
    }

    [Fact]
    public void Probes_answered_by_the_responder_beside_the_peers_raft_actor_are_timed_for_that_peer()
    {
        var timed = new System.Collections.Concurrent.ConcurrentQueue<(ulong Peer, TimeSpan RoundTrip)>();
        var raftPath = Sys.ActorOf(Props.Empty, "raft").Path.ToString();
        Sys.ActorOf(PeerProbeResponder.Props(selfId: 0x2a, ClusterId, new RaftStatus()), PeerProbeResponder.Name);
        Sys.ActorOf(PeerSender.Props(raftPath, peerId: 0x2a, selfId: 1, ClusterId, probeInterval: TimeSpan.FromMilliseconds(50), observeRoundTrip: (peer, roundTrip) => timed.Enqueue((peer, roundTrip))));

        AwaitCondition(() => timed.Count >= 3, TimeSpan.FromSeconds(5));
        Assert.All(timed, probe =>
        {
            Assert.Equal(0x2aUL, probe.Peer);
            Assert.True(probe.RoundTrip > TimeSpan.Zero);
        });
    }

    [Fact]
    public void A_probe_answer_that_this_process_did_not_send_is_not_timed()
    {
        var timed = new System.Collections.Concurrent.ConcurrentQueue<TimeSpan>();
        var sender = Sys.ActorOf(PeerSender.Props("akka://test/user/nobody/raft", peerId: 2, selfId: 1, ClusterId, probeInterval: TimeSpan.FromHours(1), observeRoundTrip: (_, roundTrip) => timed.Enqueue(roundTrip)));

        sender.Tell(new PeerProbe { SentTimestamp = System.Diagnostics.Stopwatch.GetTimestamp() + System.Diagnostics.Stopwatch.Frequency * 3600 });
        sender.Tell(new PeerProbe { SentTimestamp = System.Diagnostics.Stopwatch.GetTimestamp() });
        // The answers are handled in order: once the second is timed, the first was handled.
        AwaitCondition(() => timed.Any(roundTrip => roundTrip >= TimeSpan.Zero), TimeSpan.FromSeconds(5));
        Assert.Single(timed);
    }

    [Fact]
    public void The_responder_turns_away_a_probe_from_a_member_of_its_cluster_that_it_knows_as_removed()
    {
        var status = new RaftStatus();
        status.PublishRemoved([7]);
        var responder = Sys.ActorOf(PeerProbeResponder.Props(selfId: 1, ClusterId, status));

        responder.Tell(new PeerProbe { SentTimestamp = 5, From = 7, ClusterId = ClusterId });
        Assert.Equal(new MemberRemoved { Member = 7, By = 1 }, ExpectMsg<MemberRemoved>());
        // Another member, or a member 7 of another cluster, is answered as always.
        responder.Tell(new PeerProbe { SentTimestamp = 6, From = 8, ClusterId = ClusterId });
        Assert.Equal(6, ExpectMsg<PeerProbe>().SentTimestamp);
        responder.Tell(new PeerProbe { SentTimestamp = 7, From = 7, ClusterId = ClusterId + 1 });
        Assert.Equal(7, ExpectMsg<PeerProbe>().SentTimestamp);
    }

    [Fact]
    public void A_sender_whose_peer_says_this_member_is_removed_tells_its_raft_actor()
    {
        var sender = ChildActorOf(PeerSender.Props("akka://test/user/nobody/raft", peerId: 2, selfId: 7, ClusterId, probeInterval: TimeSpan.FromHours(1), observeRoundTrip: (_, _) => { }));
        sender.Tell(new MemberRemoved { Member = 7, By = 2 });
        Assert.Equal(7UL, ExpectMsg<MemberRemoved>().Member);
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
