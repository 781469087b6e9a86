namespace ActorKv.Node.Raft;

/// <summary>
/// Which peers this node should be hearing from (a leader: every other voter; a follower: its
/// leader) and has not for a while, counted in Raft ticks. Raft heals a silent link on its own or
/// it does not; this only makes the node log say so once when a peer falls silent and once when
/// it is heard again, so that a stuck member can be told apart from a slow one in a chaos run's
/// node logs.
/// </summary>
public sealed class PeerSilence(int silentAfterTicks)
{
    private readonly Dictionary<ulong, long> lastHeard = [];

    /// <summary>The tick each peer was last heard at: only what arrived, not when it became expected.</summary>
    private readonly Dictionary<ulong, long> lastMessage = [];

    /// <summary>Peers reported silent, with the tick they were last heard before it.</summary>
    private readonly Dictionary<ulong, long> reportedSilent = [];
    private HashSet<ulong> expectedBefore = [];
    private long now;

    public void Heard(ulong peer)
    {
        lastHeard[peer] = now;
        lastMessage[peer] = now;
    }

    /// <summary>Whether a message from the peer arrived within the last <paramref name="ticks"/> ticks.</summary>
    public bool HeardWithin(ulong peer, long ticks) => lastMessage.TryGetValue(peer, out var heard) && now - heard < ticks;

    /// <summary>
    /// One tick passed. Returns the peers that have just fallen silent (heard nothing for the
    /// threshold; a peer newly expected counts from now) and those heard again since they were
    /// reported, with how many ticks they were silent.
    /// </summary>
    public (List<ulong> FellSilent, List<(ulong Peer, long SilentTicks)> HeardAgain) Tick(IEnumerable<ulong> expected)
    {
        now++;
        List<ulong> fellSilent = [];
        List<(ulong, long)> heardAgain = [];
        var expectedNow = expected.ToHashSet();
        foreach (var peer in expectedNow)
        {
            if (!expectedBefore.Contains(peer) || !lastHeard.ContainsKey(peer))
            {
                lastHeard[peer] = Math.Max(lastHeard.GetValueOrDefault(peer), now);
            }

            var heard = lastHeard[peer];
            if (reportedSilent.TryGetValue(peer, out var silentSince))
            {
                if (heard > silentSince)
                {
                    reportedSilent.Remove(peer);
                    heardAgain.Add((peer, heard - silentSince));
                }
            }
            else if (now - heard >= silentAfterTicks)
            {
                reportedSilent[peer] = heard;
                fellSilent.Add(peer);
            }
        }

        foreach (var peer in reportedSilent.Keys.Where(peer => !expectedNow.Contains(peer)).ToList())
        {
            reportedSilent.Remove(peer);
        }

        expectedBefore = expectedNow;
        return (fellSilent, heardAgain);
    }
}
