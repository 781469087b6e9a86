using System.Diagnostics;
using ActorKv.Protocol.Chaos;
using Grpc.Net.Client;

namespace ActorKv.Chaos.Runner;

/// <summary>One injected fault: when it started and was healed (run clock, ms), and what it was.</summary>
public sealed record Fault(long StartMs, long EndMs, string Kind, string Description);

/// <summary>
/// Injects one fault at a time, drawn from the enabled nemeses with the run's seed: a quiet
/// spell, a fault on the leader (half the time) or a random member, held for a while, healed.
///   kill-node   kill -9 the member (one time in five a quorum, one in ten every member),
///               restart it from its data dir
///   pause-node  SIGSTOP the member past several election timeouts, then SIGCONT
///   partition   cut every Akka.Remote link of the member (both sides, trttl blackhole), then heal
///   kill-actor  Akka Kill of one of the member's actors (raft, apply, watch, leases, gateway,
///               peer senders) through the chaos service; supervision restarts it
///   crash-point arm a crash point around a durable step (before/after the WAL commit or the
///               MVCC apply commit, a snapshot chunk sent or installed) to fire on a random pass
///               of it; the member kills itself there and is restarted (disarmed if not reached).
///               For snapshot-send a follower is first kept down 10 s so that it needs a snapshot.
/// </summary>
public sealed class Nemesis(LocalCluster cluster, IReadOnlyList<string> kinds, Random random, Stopwatch clock)
{
    private static readonly string[] Actors = ["raft", "apply", "watch", "leases", "gateway", "peers"];

    /// <summary>The node's crash points (ActorKv.Storage.Lmdb.CrashPoints, named as the chaos service takes them).</summary>
    private static readonly string[] CrashPoints = ["wal-before-commit", "wal-after-commit", "apply-before-commit", "apply-after-commit", "snapshot-send", "snapshot-install"];

    /// <summary>How long an armed crash point may take to be reached before it is disarmed.</summary>
    private static readonly TimeSpan CrashPointWait = TimeSpan.FromSeconds(8);

    /// <summary>How long a member stays down so that the log is compacted past it (the chaos configs compact every 300 entries).</summary>
    private static readonly TimeSpan SnapshotProvokingDowntime = TimeSpan.FromSeconds(10);

    public List<Fault> Timeline { get; } = [];

    public async Task RunAsync(CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            await DelayAsync(TimeSpan.FromMilliseconds(random.Next(2000, 4000)), stop);
            if (stop.IsCancellationRequested)
            {
                return;
            }

            var kind = kinds[random.Next(kinds.Count)];
            var leader = await cluster.LeaderAsync();
            var target = leader != 0 && random.Next(2) == 0 ? leader : 1 + random.Next(cluster.Nodes);
            var hold = TimeSpan.FromMilliseconds(random.Next(2000, 5000));
            var role = target == leader ? "leader " : "";
            var started = clock.ElapsedMilliseconds;
            string description;
            switch (kind)
            {
                case "kill-node":
                    var victims = KillVictims(target);
                    var which = victims.Count == 1 ? $"{role}n{target}" : victims.Count == cluster.Nodes ? "every member" : $"a quorum ({string.Join(", ", victims.Select(v => $"n{v}"))})";
                    description = $"kill -9 {which}, restart after {hold.TotalSeconds:F1}s";
                    foreach (var victim in victims)
                    {
                        await cluster.SignalAsync(victim, "KILL");
                    }

                    await DelayAsync(hold, CancellationToken.None);
                    foreach (var victim in victims)
                    {
                        await cluster.RestartAsync(victim);
                    }

                    break;
                case "pause-node":
                    description = $"SIGSTOP {role}n{target} for {hold.TotalSeconds:F1}s";
                    await cluster.SignalAsync(target, "STOP");
                    await DelayAsync(hold, CancellationToken.None);
                    await cluster.SignalAsync(target, "CONT");
                    break;
                case "partition":
                    description = $"isolate {role}n{target} for {hold.TotalSeconds:F1}s";
                    await IsolateAsync(target, cut: true);
                    await DelayAsync(hold, CancellationToken.None);
                    await IsolateAsync(target, cut: false);
                    break;
                case "crash-point":
                    description = await CrashAtPointAsync(target, leader, role, hold);
                    break;
                default:
                    var actor = Actors[random.Next(Actors.Length)];
                    using (var channel = GrpcChannel.ForAddress(cluster.Url(target)))
                    {
                        var killed = await new Protocol.Chaos.Chaos.ChaosClient(channel).KillActorAsync(new KillActorRequest { Actor = actor }, deadline: DateTime.UtcNow.AddSeconds(10));
                        description = $"kill actor {actor} on {role}n{target} ({killed.Killed.Count} killed)";
                    }

                    await DelayAsync(TimeSpan.FromSeconds(1), CancellationToken.None);
                    break;
            }

            Timeline.Add(new Fault(started, clock.ElapsedMilliseconds, kind, description));
            Console.WriteLine($"[{started / 1000.0,7:F1}s] {description}");
        }
    }

    /// <summary>
    /// Who a kill-node fault kills: usually the target alone; one time in five a quorum (the
    /// target and enough others for a majority), one in ten every member.
    /// </summary>
    private List<int> KillVictims(int target)
    {
        var draw = random.Next(10);
        var count = draw == 0 ? cluster.Nodes : draw <= 2 ? (cluster.Nodes / 2) + 1 : 1;
        return [target, .. cluster.Members.Where(m => m != target).OrderBy(_ => random.Next()).Take(count - 1)];
    }

    /// <summary>
    /// Arms a random crash point on the member to fire on a random pass (1 to 20); waits for the
    /// process to die there, holds it down, restarts it. A point not reached in time is disarmed.
    /// </summary>
    private async Task<string> CrashAtPointAsync(int target, int leader, string role, TimeSpan hold)
    {
        var point = CrashPoints[random.Next(CrashPoints.Length)];
        var pass = random.Next(1, 21);
        var provoked = "";
        if (point == "snapshot-send" && leader != 0)
        {
            // A leader sends its store to a member that comes back behind the compacted log: keep
            // one down long enough for a compaction to pass it, then arm the leader's first chunk.
            var behind = cluster.Members.Where(m => m != leader).OrderBy(_ => random.Next()).First();
            await cluster.SignalAsync(behind, "KILL");
            await DelayAsync(SnapshotProvokingDowntime, CancellationToken.None);
            (target, role, pass) = (leader, "leader ", 1);
            await ArmAsync(target, point, pass);
            await cluster.RestartAsync(behind);
            provoked = $" (n{behind} killed {SnapshotProvokingDowntime.TotalSeconds:F0}s before and restarted to need a snapshot)";
        }
        else
        {
            await ArmAsync(target, point, pass);
        }

        var pid = cluster.Pid(target);
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < CrashPointWait && pid is { } alive && IsAlive(alive))
        {
            await Task.Delay(50);
        }

        if (pid is { } stillAlive && IsAlive(stillAlive))
        {
            await ArmAsync(target, "", 0);
            return $"crash point {point} (pass {pass}) on {role}n{target} not reached in {CrashPointWait.TotalSeconds:F0}s; disarmed{provoked}";
        }

        var reachedAfter = waited.Elapsed;
        await DelayAsync(hold, CancellationToken.None);
        await cluster.RestartAsync(target);
        return $"crash {role}n{target} at {point} (pass {pass}) {reachedAfter.TotalSeconds:F1}s after arming, restart after {hold.TotalSeconds:F1}s{provoked}";
    }

    private async Task ArmAsync(int target, string point, int pass)
    {
        using var channel = GrpcChannel.ForAddress(cluster.Url(target));
        await new Protocol.Chaos.Chaos.ChaosClient(channel).ArmCrashPointAsync(new ArmCrashPointRequest { Point = point, AfterHits = (uint)pass }, deadline: DateTime.UtcNow.AddSeconds(5));
    }

    /// <summary>
    /// Whether the process runs: a killed node whose parent is gone may stay a zombie until init
    /// reaps it, so the state in /proc counts, not the PID's existence.
    /// </summary>
    private static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].FirstOrDefault();
            return state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>Cuts (or heals) every link between the member and the others, on both sides.</summary>
    private async Task IsolateAsync(int target, bool cut)
    {
        foreach (var other in cluster.Members.Where(m => m != target))
        {
            foreach (var (from, to) in new[] { (target, other), (other, target) })
            {
                // Healing must reach every side: retry a member that is briefly busy.
                for (var attempt = 0; ; attempt++)
                {
                    try
                    {
                        using var channel = GrpcChannel.ForAddress(cluster.Url(from));
                        await new Protocol.Chaos.Chaos.ChaosClient(channel).SetPeerLinkAsync(new SetPeerLinkRequest { MemberId = (ulong)to, Cut = cut }, deadline: DateTime.UtcNow.AddSeconds(5));
                        break;
                    }
                    catch (Grpc.Core.RpcException) when (attempt < 5)
                    {
                        await Task.Delay(500);
                    }
                }
            }
        }
    }

    private static async Task DelayAsync(TimeSpan delay, CancellationToken stop)
    {
        try
        {
            await Task.Delay(delay, stop);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
