namespace ActorKv.Raft.Tests;

/// <summary>Each test is a claim of the Raft paper (Ongaro and Ousterhout, 2014) or of etcd's extensions, by section.</summary>
public sealed class RaftPaperTests
{
    [Fact]
    public void Follower_that_hears_no_leader_becomes_candidate_and_asks_every_peer_for_a_vote_5_2()
    {
        var network = new TestNetwork(voters: 3);
        network.Cut(1, 2);
        network.Cut(1, 3);
        network.Tick(1, 20); // at least the randomized timeout, which is below 2 x ElectionTicks

        Assert.Equal(RaftRole.Candidate, network[1].Role);
        Assert.True(network[1].Term >= 1);
        var votes = network.Sent.Where(m => m.Type == MessageType.Vote && m.From == 1).Select(m => m.To).Distinct().Order();
        Assert.Equal([2UL, 3UL], votes);
    }

    [Fact]
    public void Candidate_with_votes_from_a_majority_becomes_leader_and_others_follow_5_2()
    {
        var network = new TestNetwork(voters: 5);
        network.Campaign(1);

        Assert.Equal(RaftRole.Leader, network[1].Role);
        Assert.All(new ulong[] { 2, 3, 4, 5 }, id => Assert.Equal((RaftRole.Follower, 1UL), (network[id].Role, network[id].Lead)));
    }

    [Fact]
    public void A_node_grants_at_most_one_vote_per_term_5_2()
    {
        var network = new TestNetwork(voters: 3);
        var voter = network[3];
        voter.Step(new Message { Type = MessageType.Vote, From = 1, To = 3, Term = 1 });
        voter.Step(new Message { Type = MessageType.Vote, From = 2, To = 3, Term = 1 });
        var responses = voter.GetReady().Messages.Where(m => m.Type == MessageType.VoteResponse).ToList();

        Assert.False(responses.Single(m => m.To == 1).Reject);
        Assert.True(responses.Single(m => m.To == 2).Reject);
    }

    [Fact]
    public void A_voter_denies_a_candidate_whose_log_is_less_up_to_date_5_4_1()
    {
        var network = TestNetwork.WithLeaderAndOneEntry(voters: 3);
        var voter = network[2];
        // A candidate of a later term whose log ends before ours.
        voter.Step(new Message { Type = MessageType.Vote, From = 3, To = 2, Term = 5, Index = 1, LogTerm = 1 });
        var response = voter.GetReady().Messages.Single(m => m.Type == MessageType.VoteResponse);

        Assert.True(response.Reject);
    }

    [Fact]
    public void A_leader_commits_an_entry_of_an_earlier_term_only_with_one_of_its_own_term_5_4_2()
    {
        // Node 1 holds entry 2 of term 2, which never committed; nodes 2 and 3 lack it.
        var network = new TestNetwork(voters: 3);
        network.Storage[1].Append([new Entry(1, 1), new Entry(2, 2, EntryType.Normal, "old"u8.ToArray())]);
        network.Storage[1].SetHardState(new HardState(Term: 3, Vote: 0, Commit: 1));
        network.Storage[2].Append([new Entry(1, 1)]);
        network.Storage[2].SetHardState(new HardState(3, 0, 1));
        network.Storage[3].Append([new Entry(1, 1)]);
        network.Storage[3].SetHardState(new HardState(3, 0, 1));
        var confState = new ConfState([1, 2, 3], []);
        foreach (var id in new ulong[] { 1, 2, 3 })
        {
            network.Nodes[id] = network.NewCore(id, confState, preVote: false, checkQuorum: false);
        }

        network.Cut(1, 3);
        var leader = network[1];
        leader.Campaign();
        leader.GetReady();
        leader.Step(new Message { Type = MessageType.VoteResponse, From = 2, To = 1, Term = 4 });
        Assert.Equal(RaftRole.Leader, leader.Role);

        // Node 2 acknowledges entry 2 (term 2) but not yet the leader's own entry 3 (term 4):
        // entry 2 is on a majority, yet counting replicas must not commit it (Figure 8).
        leader.Step(new Message { Type = MessageType.AppendResponse, From = 2, To = 1, Term = 4, Index = 2 });
        Assert.Equal(1UL, leader.Committed);

        leader.Step(new Message { Type = MessageType.AppendResponse, From = 2, To = 1, Term = 4, Index = 3 });
        Assert.Equal(3UL, leader.Committed);
    }

    [Fact]
    public void Entries_commit_on_a_majority_and_every_follower_applies_them_in_order_5_3()
    {
        var network = new TestNetwork(voters: 3);
        network.Campaign(1);
        network.Cut(1, 3);
        network.Propose(1, "a");
        network.Propose(1, "b");

        Assert.Equal(["a", "b"], network.AppliedData(1));
        Assert.Equal(["a", "b"], network.AppliedData(2));
        Assert.Empty(network.AppliedData(3));

        network.HealAll();
        network.TickAll(1);
        Assert.Equal(["a", "b"], network.AppliedData(3));
    }

    [Fact]
    public void A_leader_cut_off_from_its_quorum_steps_down_CheckQuorum()
    {
        var network = new TestNetwork(voters: 3, checkQuorum: true);
        network.Campaign(1);
        network.Isolate(1);
        network.Tick(1, 25);

        Assert.Equal(RaftRole.Follower, network[1].Role);
    }

    [Fact]
    public void A_partitioned_node_that_rejoins_does_not_disrupt_a_healthy_leader_PreVote()
    {
        var network = new TestNetwork(voters: 3, preVote: true, checkQuorum: true);
        network.Campaign(1);
        var term = network[1].Term;
        network.Isolate(3);
        network.Tick(3, 50); // node 3 times out again and again, but cannot win a pre-vote
        network.HealAll();
        network.TickAll(5);

        Assert.Equal(term, network[3].Term);
        Assert.Equal((RaftRole.Leader, term), (network[1].Role, network[1].Term));
    }

    [Fact]
    public void A_read_index_is_answered_only_after_a_quorum_confirms_the_leader()
    {
        var network = TestNetwork.WithLeaderAndOneEntry(voters: 3);
        network.Isolate(1);
        network[1].ReadIndex("r1"u8.ToArray());
        network.Settle();
        Assert.Empty(network.ReadStates);

        network.HealAll();
        network.TickAll(1); // the next heartbeat round reaches a quorum
        network[1].ReadIndex("r2"u8.ToArray());
        network.Settle();
        var read = Assert.Single(network.ReadStates, r => r.RequestContext.AsSpan().SequenceEqual("r2"u8));
        Assert.Equal(network[1].Committed, read.Index);
    }

    [Fact]
    public void A_follower_forwards_read_index_requests_to_the_leader()
    {
        var network = TestNetwork.WithLeaderAndOneEntry(voters: 3);
        network[2].ReadIndex("from-2"u8.ToArray());
        network.Settle();

        var read = Assert.Single(network.ReadStates);
        Assert.Equal(network[1].Committed, read.Index);
    }

    [Fact]
    public void Leadership_moves_to_an_up_to_date_follower_on_transfer()
    {
        var network = TestNetwork.WithLeaderAndOneEntry(voters: 3);
        network[1].TransferLeader(2);
        network.Settle();

        Assert.Equal(RaftRole.Leader, network[2].Role);
        Assert.Equal(RaftRole.Follower, network[1].Role);
    }

    [Fact]
    public void A_learner_receives_entries_but_never_campaigns_nor_counts_for_a_quorum()
    {
        var network = TestNetwork.WithLeaderAndOneEntry(voters: 1, learners: 1);
        Assert.Equal(["x"], network.AppliedData(2));

        network.Tick(2, 50);
        Assert.Equal(RaftRole.Follower, network[2].Role);
        Assert.Equal(RaftRole.Leader, network[1].Role);
    }

    [Fact]
    public void A_promoted_learner_votes_and_a_removed_node_stops_campaigning()
    {
        var network = new TestNetwork(voters: 1, learners: 1);
        network.Campaign(1);
        network[1].ProposeConfChange(new ConfChange(ConfChangeType.AddNode, 2));
        network.Settle();
        Assert.Equal([1UL, 2UL], network[1].ConfState.Voters);
        Assert.Equal([1UL, 2UL], network[2].ConfState.Voters);

        network[1].ProposeConfChange(new ConfChange(ConfChangeType.RemoveNode, 2));
        network.Settle();
        Assert.Equal([1UL], network[1].ConfState.Voters);
        network.Isolate(2);
        network.Tick(2, 50);
        Assert.NotEqual(RaftRole.Candidate, network[2].Role);
        Assert.NotEqual(RaftRole.PreCandidate, network[2].Role);
    }

    [Fact]
    public void A_second_membership_change_waits_until_the_first_is_applied()
    {
        var network = new TestNetwork(voters: 3);
        network.Campaign(1);
        network.Isolate(1); // the first change cannot commit
        network[1].ProposeConfChange(new ConfChange(ConfChangeType.AddLearnerNode, 4));
        Assert.Throws<ProposalDroppedException>(() => network[1].ProposeConfChange(new ConfChange(ConfChangeType.AddLearnerNode, 5)));
    }

    [Fact]
    public void A_follower_behind_the_compacted_log_catches_up_from_a_snapshot()
    {
        var network = new TestNetwork(voters: 3);
        network.Campaign(1);
        network.Isolate(3);
        for (var i = 0; i < 10; i++)
        {
            network.Propose(1, "v" + i);
        }

        var applied = network[1].Applied;
        network.Storage[1].CreateSnapshot(applied, network[1].ConfState, "state"u8.ToArray());
        network.Storage[1].Compact(applied);
        network.HealAll();
        network.TickAll(3);

        Assert.Equal(applied, network.Storage[3].Snapshot.Metadata.Index);
        Assert.True(network[3].Committed >= applied);
        Assert.Contains(network.Sent, m => m.Type == MessageType.Snapshot && m.To == 3);
    }

    [Fact]
    public void A_leader_that_removes_itself_steps_down_and_the_members_elect_another()
    {
        var network = new TestNetwork(voters: 3, checkQuorum: true, preVote: true);
        network.Campaign(1);
        network[1].ProposeConfChange(new ConfChange(ConfChangeType.RemoveNode, 1));
        network.Settle();

        Assert.NotEqual(RaftRole.Leader, network[1].Role);
        network.TickAll(30);
        Assert.Contains(new ulong[] { 2, 3 }, id => network[id].Role == RaftRole.Leader);
        Assert.Equal([2UL, 3UL], network[2].ConfState.Voters);
    }
}
