namespace ActorKv.Raft.Tests;

/// <summary>
/// A read index asked at a follower: where the leader and that follower are a quorum, the index
/// comes in the leader's heartbeat; otherwise, and when the requester's answer is missing, in a
/// response after the acknowledgements. Safety under faults is the simulation's (stale reads).
/// </summary>
public sealed class FollowerReadTests
{
    private static readonly byte[] Context = "read-at-2"u8.ToArray();

    /// <summary>A read index asked at node 2 of a settled network; its one read state, at the leader's commit index.</summary>
    private static (TestNetwork Network, ReadState Read) ReadAtNodeTwo(int voters)
    {
        var network = TestNetwork.WithLeaderAndOneEntry(voters);
        network.Sent.Clear();
        network[2].ReadIndex(Context);
        network.Settle();
        var read = Assert.Single(network.ReadStates);
        Assert.Equal(network[1].Committed, read.Index);
        return (network, read);
    }

    [Fact]
    public void With_three_voters_the_requesting_follower_takes_its_index_from_the_heartbeat_and_no_response_is_sent()
    {
        var (network, read) = ReadAtNodeTwo(voters: 3);

        var carried = Assert.Single(network.Sent, m => m.Type == MessageType.Heartbeat && m.Index > 0);
        Assert.Equal((1UL, 2UL, read.Index), (carried.From, carried.To, carried.Index));
        Assert.DoesNotContain(network.Sent, m => m.Type == MessageType.ReadIndexResponse);
    }

    [Fact]
    public void With_five_voters_the_follower_waits_for_the_leaders_response()
    {
        var (network, _) = ReadAtNodeTwo(voters: 5);

        Assert.DoesNotContain(network.Sent, m => m.Type == MessageType.Heartbeat && m.Index > 0);
        Assert.Single(network.Sent, m => m.Type == MessageType.ReadIndexResponse && m.To == 2);
    }

    [Fact]
    public void A_deposed_leader_of_five_cannot_serve_the_one_follower_still_with_it_a_stale_index()
    {
        var network = TestNetwork.WithLeaderAndOneEntry(voters: 5);
        foreach (var a in new ulong[] { 1, 2 })
        {
            foreach (var b in new ulong[] { 3, 4, 5 })
            {
                network.Cut(a, b);
            }
        }

        // The majority elects a leader of its own and commits a write that 1 and 2 never see.
        network.Campaign(3);
        network.Propose(3, "w");
        Assert.Equal(RaftRole.Leader, network[3].Role);
        Assert.Equal(RaftRole.Leader, network[1].Role);

        network[2].ReadIndex(Context);
        network.Settle();

        // 1 and 2 are two of five: not a quorum, so no index, however long they agree.
        Assert.Empty(network.ReadStates);
    }

    [Fact]
    public void When_the_requesters_heartbeat_is_lost_the_leader_answers_it_after_the_other_follower_confirms()
    {
        var network = TestNetwork.WithLeaderAndOneEntry(voters: 3);
        var leader = network[1];
        network.Sent.Clear();

        // The request has reached the leader; then the link between them fails.
        leader.Step(new Message { Type = MessageType.ReadIndex, From = 2, To = 1, Term = leader.Term, Entries = [new Entry(0, 0, EntryType.Normal, Context)] });
        network.Cut(1, 2);
        network.Settle();

        Assert.Empty(network.ReadStates);
        var response = Assert.Single(network.Sent, m => m.Type == MessageType.ReadIndexResponse);
        Assert.Equal((2UL, leader.Committed), (response.To, response.Index));
    }

    [Fact]
    public void A_learner_that_asks_gets_a_response_not_an_index_in_its_heartbeat()
    {
        var network = TestNetwork.WithLeaderAndOneEntry(voters: 2, learners: 1);
        network.Sent.Clear();

        network[3].ReadIndex(Context);
        network.Settle();

        Assert.Single(network.ReadStates);
        Assert.DoesNotContain(network.Sent, m => m.Type == MessageType.Heartbeat && m.Index > 0);
        Assert.Single(network.Sent, m => m.Type == MessageType.ReadIndexResponse && m.To == 3);
    }

    [Theory]
    [InlineData(1UL)] // the leader's own read
    [InlineData(2UL)] // a follower's, which takes its index from the heartbeat
    public void A_request_asked_again_after_its_heartbeat_round_was_lost_gets_a_new_round(ulong asker)
    {
        var network = TestNetwork.WithLeaderAndOneEntry(voters: 3);
        network.Lose = m => m.Type == MessageType.Heartbeat && m.Context is not null;
        network[asker].ReadIndex(Context);
        network.Settle();
        Assert.Empty(network.ReadStates);

        // As the Raft actor asks a request again when its retry interval passes unanswered, with the same context.
        network.Lose = _ => false;
        network[asker].ReadIndex(Context);
        network.Settle();

        var read = Assert.Single(network.ReadStates);
        Assert.Equal(network[1].Committed, read.Index);
    }
}
