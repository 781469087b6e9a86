using ActorKv.Node.Raft;
using Akka.Actor;
using Akka.Event;
using Akka.Remote;
using Akka.TestKit.Xunit2;

namespace ActorKv.Node.Tests;

/// <summary>
/// A snapshot transfer whose link to the receiver is lost fails at once, not after
/// snapshot-timeout: the receiver may have died mid-transfer (chaos/README #23).
/// </summary>
public sealed class SnapshotSenderTests : TestKit, IDisposable
{
    private const ulong Receiver = 2;
    private static readonly Address ReceiverAddress = Address.Parse("akka.tcp://actorkv@127.0.0.1:2");
    private static readonly Address OtherAddress = Address.Parse("akka.tcp://actorkv@127.0.0.1:3");
    private readonly TempStore temp = new();

    public SnapshotSenderTests()
        : base("akka.loglevel = WARNING")
    {
    }

    void IDisposable.Dispose()
    {
        Shutdown();
        temp.Dispose();
    }

    /// <summary>A transfer to member 2 that would wait an hour for its acknowledgements; its parent is the probe.</summary>
    private (Akka.TestKit.TestProbe Parent, IActorRef Sender) StartTransfer()
    {
        var parent = CreateTestProbe();
        var sender = parent.ChildActorOf(SnapshotSender.Props(
            temp.Store, $"{ReceiverAddress}/user/node/raft", clusterId: 1, transferId: 7, from: 1, to: Receiver, term: 1,
            chunkBytes: 4096, window: 4, timeout: TimeSpan.FromHours(1), dispatcher: "akka.actor.default-dispatcher"));
        // Answered after PreStart, where it subscribes and sends its first chunk.
        sender.Tell(new Identify(null), TestActor);
        ExpectMsg<ActorIdentity>();
        return (parent, sender);
    }

    private Address LocalAddress => ((ExtendedActorSystem)Sys).Provider.DefaultAddress;

    private void Publish(object linkEvent) => Sys.EventStream.Publish(linkEvent);

    [Fact]
    public void A_transfer_fails_at_once_when_the_link_to_its_receiver_is_lost_and_not_for_another_members_link()
    {
        var (parent, _) = StartTransfer();

        Publish(new DisassociatedEvent(LocalAddress, OtherAddress, inbound: false));
        parent.ExpectNoMsg(TimeSpan.FromMilliseconds(300));

        Publish(new DisassociatedEvent(LocalAddress, ReceiverAddress, inbound: false));
        var finished = parent.ExpectMsg<SnapshotSender.Finished>(TimeSpan.FromSeconds(5));
        Assert.Equal(Receiver, finished.Peer);
        Assert.False(finished.Succeeded);
    }

    [Fact]
    public void A_transfer_fails_at_once_when_its_receiver_cannot_be_reached()
    {
        var (parent, _) = StartTransfer();

        Publish(new AssociationErrorEvent(
            new InvalidOperationException("Connection refused"), LocalAddress, ReceiverAddress, inbound: false, LogLevel.WarningLevel));

        var finished = parent.ExpectMsg<SnapshotSender.Finished>(TimeSpan.FromSeconds(5));
        Assert.Equal(Receiver, finished.Peer);
        Assert.False(finished.Succeeded);
    }
}
