using System.Text;

namespace ActorKv.Raft.Tests;

/// <summary>What the core sends for a load of proposals: a claim about cost, not about safety.</summary>
public sealed class ReplicationBatchingTests
{
    [Fact]
    public void Proposals_stepped_before_a_Ready_go_to_each_follower_in_one_append()
    {
        var network = new TestNetwork(voters: 3);
        network.Campaign(1);
        var leader = network[1];

        leader.Propose(Encoding.UTF8.GetBytes("a"));
        leader.Propose(Encoding.UTF8.GetBytes("b"));
        leader.Step(new Message { Type = MessageType.Propose, From = 2, To = 1, Entries = [new Entry(0, 0, EntryType.Normal, Encoding.UTF8.GetBytes("c"))] });
        var appends = leader.GetReady().Messages.Where(m => m.Type == MessageType.Append).ToList();

        Assert.Equal([2UL, 3UL], appends.Select(m => m.To).Order());
        Assert.All(appends, append => Assert.Equal(["a", "b", "c"], append.Entries.Select(e => Encoding.UTF8.GetString(e.Data))));
    }
}
