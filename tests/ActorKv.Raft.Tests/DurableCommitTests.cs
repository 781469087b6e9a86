using System.Text;

namespace ActorKv.Raft.Tests;

/// <summary>
/// A follower that, with the leader, makes a quorum commits what both hold durably, on the
/// leader's word (RaftCore.DurableCommit). Safety under faults is also the simulation's.
/// </summary>
public sealed class DurableCommitTests
{
    [Fact]
    public void Followers_of_three_commit_an_entry_whose_acknowledgements_never_reach_the_leader()
    {
        var network = TestNetwork.WithLeaderAndOneEntry(voters: 3);
        network.Lose = m => m.Type == MessageType.AppendResponse;

        network.Propose(1, "y");

        var y = network[1].LastIndex;
        Assert.True(network[1].Committed < y);
        Assert.Equal(["x", "y"], network.AppliedData(2));
        Assert.Equal(["x", "y"], network.AppliedData(3));
    }

    [Fact]
    public void A_read_index_at_the_leader_covers_what_followers_committed_before_it_heard()
    {
        var network = TestNetwork.WithLeaderAndOneEntry(voters: 3);
        network.Lose = m => m.Type == MessageType.AppendResponse;
        network.Propose(1, "y");
        Assert.Contains("y", network.AppliedData(2));

        network[1].ReadIndex("after-y"u8.ToArray());
        network.Settle();

        // y was applied (and could have been answered) at a follower: the read must not miss it.
        Assert.Equal(network[1].LastIndex, Assert.Single(network.ReadStates).Index);
    }

    [Fact]
    public void With_five_voters_followers_wait_for_the_leader_to_commit()
    {
        var network = TestNetwork.WithLeaderAndOneEntry(voters: 5);
        network.Lose = m => m.Type == MessageType.AppendResponse;

        network.Propose(1, "y");

        Assert.DoesNotContain(network.Sent, m => m.Type == MessageType.LeaderDurable);
        Assert.All(new ulong[] { 2, 3, 4, 5 }, id => Assert.Equal(["x"], network.AppliedData(id)));
    }

    [Fact]
    public void The_leader_announces_only_what_it_has_persisted_and_a_follower_commits_only_what_it_has_persisted()
    {
        var network = TestNetwork.WithLeaderAndOneEntry(voters: 3);
        var leader = network[1];
        var follower = network[2];

        leader.Propose(Encoding.UTF8.GetBytes("y"));
        var y = leader.LastIndex;
        var leaderReady = leader.GetReady();
        Assert.DoesNotContain(leaderReady.Messages, m => m.Type == MessageType.LeaderDurable);
        leader.Propose(Encoding.UTF8.GetBytes("z")); // stepped while y is being written
        network.Storage[1].Append(leaderReady.Entries);
        leader.Advance(leaderReady);
        var notice = Assert.Single(leader.GetReady().Messages, m => m.Type == MessageType.LeaderDurable && m.To == 2);
        Assert.Equal(y, notice.Index);

        foreach (var message in leaderReady.Messages.Where(m => m.To == 2).Append(notice))
        {
            follower.Step(message);
        }

        var followerReady = follower.GetReady();
        Assert.DoesNotContain(followerReady.CommittedEntries, e => e.Index == y);
        network.Storage[2].Append(followerReady.Entries);
        follower.Advance(followerReady);
        Assert.Contains(follower.GetReady().CommittedEntries, e => e.Index == y);
        Assert.True(leader.Committed < y);
    }

    [Fact]
    public void A_follower_does_not_commit_on_the_notice_its_own_entry_of_an_older_term()
    {
        // Entries 1-3 of term 1 on disk, never committed; a leader of term 2 says its log is
        // durable through 3 (its own entries there are of term 2, still on their way).
        var storage = new MemoryStorage();
        storage.Append([new Entry(1, 1, EntryType.Normal, []), new Entry(1, 2, EntryType.Normal, []), new Entry(1, 3, EntryType.Normal, [])]);
        storage.SetHardState(new HardState(2, 0, 0));
        var follower = new RaftCore(new RaftConfig
        {
            Id = 2,
            Storage = storage,
            Random = new Random(2),
            InitialConfState = new ConfState([1, 2, 3], []),
            ElectionTicks = 10,
            HeartbeatTicks = 1,
        });

        follower.Step(new Message { Type = MessageType.Heartbeat, From = 3, To = 2, Term = 2, Commit = 1 });
        follower.Step(new Message { Type = MessageType.LeaderDurable, From = 3, To = 2, Term = 2, Index = 3 });

        Assert.Equal(1UL, follower.Committed);
    }
}
