using ActorKv.Node.Raft;

namespace ActorKv.Node.Tests;

public sealed class PeerSilenceTests
{
    [Fact]
    public void A_peer_is_reported_once_when_it_falls_silent_and_once_when_heard_again()
    {
        var silence = new PeerSilence(silentAfterTicks: 3);
        ulong[] voters = [2, 3];
        var reports = new List<string>();
        for (var tick = 1; tick <= 10; tick++)
        {
            // Member 2 is heard up to tick 3, then at 9; member 3 every tick but 5.
            if (tick <= 3 || tick == 9)
            {
                silence.Heard(2);
            }

            if (tick != 5)
            {
                silence.Heard(3);
            }

            var (fellSilent, heardAgain) = silence.Tick(voters);
            reports.AddRange(fellSilent.Select(peer => $"{tick}: {peer} silent"));
            reports.AddRange(heardAgain.Select(again => $"{tick}: {again.Peer} again after {again.SilentTicks}"));
        }

        Assert.Equal(["5: 2 silent", "9: 2 again after 6"], reports);
    }

    [Fact]
    public void A_newly_expected_peer_counts_from_now_and_a_peer_no_longer_expected_is_forgotten()
    {
        var silence = new PeerSilence(silentAfterTicks: 2);
        silence.Heard(1);
        Assert.Empty(silence.Tick([]).FellSilent);
        for (var tick = 0; tick < 5; tick++)
        {
            silence.Tick([]);
        }

        // Heard long ago, expected only now (a new leader): not silent yet.
        Assert.Empty(silence.Tick([1]).FellSilent);
        Assert.Empty(silence.Tick([1]).FellSilent);
        Assert.Equal([1UL], silence.Tick([1]).FellSilent);
        Assert.Empty(silence.Tick([1]).FellSilent);
        silence.Tick([]);
        silence.Heard(1);
        var (fellSilent, heardAgain) = silence.Tick([1]);
        Assert.Empty(fellSilent);
        Assert.Empty(heardAgain);
    }
}
