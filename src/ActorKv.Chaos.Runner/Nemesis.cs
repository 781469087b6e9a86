using System.Diagnostics;
using ActorKv.Protocol.Chaos;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Net.Client;

namespace ActorKv.Chaos.Runner;

/// <summary>One injected fault: when it started and was healed (run clock, ms), and what it was.</summary>
public sealed record Fault(long StartMs, long EndMs, string Kind, string Description);

/// <summary>
/// Injects faults drawn from the enabled nemeses with the run's seed: a quiet spell, a fault on
/// the leader (half the time) or a random member, held for a while, healed; in combined mode two
/// faults of different kinds at once (membership changes stay alone).
///   kill-node    kill -9 the member (one time in five a quorum, one in ten every member),
///                restart it from its data dir
///   pause-node   SIGSTOP the member past several election timeouts, then SIGCONT
///   partition    cut every Akka.Remote link between the member (with a minority of others on
///                five or more nodes) and the rest, both ways, then heal
///   one-way      cut only what the member sends the others, or only what they send it
///   link-drop    drop 20 to 60% of the frames on every link of the member, both ways
///   link-delay   delay every frame on the member's links by 20 to 300 ms, both ways
///   kill-actor   Akka Kill of one of the member's actors (raft, apply, watch, leases, gateway,
///                peer senders) through the chaos service; supervision restarts it
///   crash-point  arm a crash point around a durable step (before/after the WAL commit, the
///                MVCC apply commit or an MVCC compaction, a snapshot chunk sent or installed)
///                to fire on a random pass; the member kills itself there and is restarted
///                (disarmed if not reached). For the snapshot points a follower is first kept
///                down 10 s so that it needs a snapshot.
///   disk-full    fill the store to its quota (hocon/chaos*.conf: 48 MiB) with 1 MiB values
///                until writes are refused with NOSPACE and the alarm is raised; hold; then
///                delete the filler, compact past it, disarm the alarm (it compacts no further
///                than the workload's compactableRevision: below what every watcher has seen)
///   membership   replace a member (remove it, wipe it, add it back empty as a learner, promote
///                it once caught up) or add a spare member and remove it again
/// </summary>
public sealed class Nemesis(LocalCluster cluster, IReadOnlyList<string> kinds, bool combined, Random random, Stopwatch clock, Func<long> compactableRevision)
{
    private static readonly string[] Actors = ["raft", "apply", "watch", "leases", "gateway", "peers"];

    /// <summary>The node's crash points (ActorKv.Storage.Lmdb.CrashPoints, named as the chaos service takes them).</summary>
    private static readonly string[] CrashPoints = ["wal-before-commit", "wal-after-commit", "apply-before-commit", "apply-after-commit", "compact-before-commit", "compact-after-commit", "snapshot-send", "snapshot-install"];

    /// <summary>How long an armed crash point may take to be reached before it is disarmed.</summary>
    private static readonly TimeSpan CrashPointWait = TimeSpan.FromSeconds(8);

    /// <summary>How long a member stays down so that the log is compacted past it (the chaos configs compact every 300 entries).</summary>
    private static readonly TimeSpan SnapshotProvokingDowntime = TimeSpan.FromSeconds(10);

    /// <summary>How long a new learner may take to catch up and be promoted.</summary>
    private static readonly TimeSpan PromoteWithin = TimeSpan.FromSeconds(40);

    /// <summary>Whether the nemesis needs the link-fault transport adapter (hocon/chaos-links.conf).</summary>
    public static bool CutsLinks(string kind) => kind is "partition" or "one-way" or "link-drop" or "link-delay";

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

            var leader = await cluster.LeaderAsync();
            var first = kinds[random.Next(kinds.Count)];
            var pair = combined && first != "membership" ? kinds.Where(k => k != first && k != "membership").ToList() : [];
            var faults = new List<(string Kind, int Target, TimeSpan Hold)> { (first, PickTarget(leader), Hold()) };
            if (pair.Count > 0)
            {
                var second = 1 + ((faults[0].Target + random.Next(cluster.Nodes - 1)) % cluster.Nodes);
                faults.Add((pair[random.Next(pair.Count)], second, Hold()));
            }

            var started = clock.ElapsedMilliseconds;
            var descriptions = await Task.WhenAll(faults.Select(f => InjectOrReportAsync(f.Kind, f.Target, leader, f.Hold)));
            await RestartTheDeadAsync();
            for (var i = 0; i < faults.Count; i++)
            {
                Timeline.Add(new Fault(started, clock.ElapsedMilliseconds, faults[i].Kind, descriptions[i]));
                Console.WriteLine($"[{started / 1000.0,7:F1}s] {descriptions[i]}");
            }
        }
    }

    private int PickTarget(int leader) => leader != 0 && random.Next(2) == 0 ? leader : 1 + random.Next(cluster.Nodes);

    private TimeSpan Hold() => TimeSpan.FromMilliseconds(random.Next(2000, 5000));

    /// <summary>
    /// A fault whose injection failed (combined faults can get in each other's way: a member
    /// killed by one is not there to be armed by the other) is logged as such, not fatal.
    /// </summary>
    private async Task<string> InjectOrReportAsync(string kind, int target, int leader, TimeSpan hold)
    {
        try
        {
            return await InjectAsync(kind, target, leader, hold);
        }
        catch (Exception failed) when (failed is Grpc.Core.RpcException or InvalidOperationException or TimeoutException)
        {
            return $"{kind} on n{target} could not be injected: {failed.Message.Split('\n')[0]}";
        }
    }

    /// <summary>A member left dead by a fault that could not finish is started again on its data.</summary>
    private async Task RestartTheDeadAsync()
    {
        foreach (var node in cluster.Members)
        {
            if (cluster.Pid(node) is not { } pid || !LocalCluster.IsAlive(pid))
            {
                Console.WriteLine($"[{clock.ElapsedMilliseconds / 1000.0,7:F1}s] n{node} found dead after the fault; restarting it");
                try
                {
                    await cluster.RestartAsync(node);
                }
                catch (InvalidOperationException failed)
                {
                    // Left to the checks: liveness and convergence fail without it.
                    Console.WriteLine($"[{clock.ElapsedMilliseconds / 1000.0,7:F1}s] n{node} could not be restarted: {failed.Message.Split('\n')[0]}");
                }
            }
        }
    }

    /// <summary>One fault, held and healed; what it was.</summary>
    private async Task<string> InjectAsync(string kind, int target, int leader, TimeSpan hold)
    {
        var role = target == leader ? "leader " : "";
        switch (kind)
        {
            case "kill-node":
                var victims = KillVictims(target);
                var which = victims.Count == 1 ? $"{role}n{target}" : victims.Count == cluster.Nodes ? "every member" : $"a quorum ({string.Join(", ", victims.Select(v => $"n{v}"))})";
                foreach (var victim in victims)
                {
                    await cluster.SignalAsync(victim, "KILL");
                }

                await DelayAsync(hold, CancellationToken.None);
                foreach (var victim in victims)
                {
                    await cluster.RestartAsync(victim);
                }

                return $"kill -9 {which}, restart after {hold.TotalSeconds:F1}s";
            case "pause-node":
                await cluster.SignalAsync(target, "STOP");
                await DelayAsync(hold, CancellationToken.None);
                await cluster.SignalAsync(target, "CONT");
                return $"SIGSTOP {role}n{target} for {hold.TotalSeconds:F1}s";
            case "partition":
                var side = new List<int> { target };
                side.AddRange(cluster.Members.Where(m => m != target).OrderBy(_ => random.Next()).Take(random.Next((cluster.Nodes - 1) / 2)));
                var rest = cluster.Members.Except(side).ToList();
                var cut = new SetPeerLinkRequest { Cut = true };
                var links = side.SelectMany(a => rest.SelectMany(b => new[] { (a, b), (b, a) })).ToList();
                await SetLinksAsync(links, cut);
                await DelayAsync(hold, CancellationToken.None);
                await SetLinksAsync(links, new SetPeerLinkRequest());
                return $"partition {string.Join(",", side.Select(n => n == leader ? $"leader n{n}" : $"n{n}"))} | {string.Join(",", rest.Select(n => $"n{n}"))} for {hold.TotalSeconds:F1}s";
            case "one-way":
                var outbound = random.Next(2) == 0;
                var oneWay = cluster.Members.Where(m => m != target).Select(other => outbound ? (target, other) : (other, target)).ToList();
                await SetLinksAsync(oneWay, new SetPeerLinkRequest { Cut = true });
                await DelayAsync(hold, CancellationToken.None);
                await SetLinksAsync(oneWay, new SetPeerLinkRequest());
                return $"cut what {(outbound ? $"{role}n{target} sends the others" : $"the others send {role}n{target}")} for {hold.TotalSeconds:F1}s";
            case "link-drop":
            case "link-delay":
                var fault = kind == "link-drop" ? new SetPeerLinkRequest { DropPercent = (uint)random.Next(20, 61) } : new SetPeerLinkRequest { DelayMs = (uint)random.Next(20, 301) };
                var both = cluster.Members.Where(m => m != target).SelectMany(other => new[] { (target, other), (other, target) }).ToList();
                await SetLinksAsync(both, fault);
                await DelayAsync(hold, CancellationToken.None);
                await SetLinksAsync(both, new SetPeerLinkRequest());
                return kind == "link-drop"
                    ? $"drop {fault.DropPercent}% of frames on {role}n{target}'s links for {hold.TotalSeconds:F1}s"
                    : $"delay {role}n{target}'s links by {fault.DelayMs} ms for {hold.TotalSeconds:F1}s";
            case "crash-point":
                return await CrashAtPointAsync(target, leader, role, hold);
            case "membership":
                return await ChangeMembershipAsync(target, role, hold);
            case "disk-full":
                return await FillDiskAsync(target, role, hold);
            default:
                var actor = Actors[random.Next(Actors.Length)];
                using (var channel = GrpcChannel.ForAddress(cluster.Url(target)))
                {
                    var killed = await new Protocol.Chaos.Chaos.ChaosClient(channel).KillActorAsync(new KillActorRequest { Actor = actor }, deadline: DateTime.UtcNow.AddSeconds(10));
                    await DelayAsync(TimeSpan.FromSeconds(1), CancellationToken.None);
                    return $"kill actor {actor} on {role}n{target} ({killed.Killed.Count} killed)";
                }
        }
    }

    /// <summary>
    /// Fills the store through the member until a write is refused with NOSPACE, checks that the
    /// alarm is raised, holds, then frees the space (delete the filler, compact past the delete
    /// once every watcher has seen it) and disarms every alarm, as an operator would.
    /// </summary>
    private async Task<string> FillDiskAsync(int target, string role, TimeSpan hold)
    {
        using var channel = GrpcChannel.ForAddress(cluster.Url(target));
        var kv = new KV.KVClient(channel);
        var maintenance = new Maintenance.MaintenanceClient(channel);
        var filler = ByteString.CopyFrom(new byte[1024 * 1024]);
        var written = 0;
        string? refusal = null;
        for (var i = 0; i < 200 && refusal is null; i++)
        {
            try
            {
                await kv.PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8($"fill/{i:D3}"), Value = filler }, deadline: DateTime.UtcNow.AddSeconds(10));
                written++;
            }
            catch (Grpc.Core.RpcException error) when (error.StatusCode == Grpc.Core.StatusCode.ResourceExhausted)
            {
                refusal = error.Status.Detail;
            }
        }

        var raised = (await maintenance.AlarmAsync(new AlarmRequest(), deadline: DateTime.UtcNow.AddSeconds(10))).Alarms;
        await DelayAsync(hold, CancellationToken.None);

        // Free the space: the filler's history goes with a compaction past its delete, which
        // waits until every watcher has seen the delete (a watcher resuming below a compacted
        // revision would be canceled).
        var deleted = await kv.DeleteRangeAsync(new DeleteRangeRequest { Key = ByteString.CopyFromUtf8("fill/"), RangeEnd = ByteString.CopyFromUtf8("fill0") }, deadline: DateTime.UtcNow.AddSeconds(10));
        var waited = Stopwatch.StartNew();
        while (compactableRevision() < deleted.Header.Revision && waited.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(100);
        }

        var compactedAt = Math.Min(compactableRevision(), deleted.Header.Revision);
        try
        {
            await kv.CompactAsync(new CompactionRequest { Revision = compactedAt, Physical = true }, deadline: DateTime.UtcNow.AddSeconds(30));
        }
        catch (Grpc.Core.RpcException error) when (error.Status.Detail.Contains("compacted", StringComparison.Ordinal))
        {
            // The workload's compactor got there first.
        }

        var alarms = (await maintenance.AlarmAsync(new AlarmRequest(), deadline: DateTime.UtcNow.AddSeconds(10))).Alarms;
        foreach (var alarm in alarms)
        {
            await maintenance.AlarmAsync(new AlarmRequest { Action = AlarmRequest.Types.AlarmAction.Deactivate, MemberID = alarm.MemberID, Alarm = alarm.Alarm }, deadline: DateTime.UtcNow.AddSeconds(10));
        }

        var outcome = refusal is null ? "never refused" : $"refused ({refusal})";
        return $"fill the store through {role}n{target}: {written} x 1 MiB, then {outcome}, alarms {string.Join(",", raised.Select(a => $"{a.Alarm} of {a.MemberID:x}"))}; "
            + $"{hold.TotalSeconds:F1}s later deleted {deleted.Deleted}, compacted at {compactedAt} (delete at {deleted.Header.Revision}), disarmed {alarms.Count}";
    }

    /// <summary>
    /// Replaces the member (half the time) or adds the spare slot as a member and removes it
    /// again. A new member joins as a learner, empty, and is promoted once it has caught up.
    /// </summary>
    private async Task<string> ChangeMembershipAsync(int target, string role, TimeSpan hold)
    {
        var replace = random.Next(2) == 0;
        var slot = replace ? target : cluster.SpareSlot;
        var step = Stopwatch.StartNew();
        var removedIn = TimeSpan.Zero;
        if (replace)
        {
            await cluster.RemoveAsync(slot);
            removedIn = step.Elapsed;
            await DelayAsync(hold, CancellationToken.None);
        }

        step.Restart();
        await cluster.JoinAsync(slot);
        var joinedIn = step.Elapsed;
        var promoted = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await cluster.PromoteAsync(slot);
                break;
            }
            catch (InvalidOperationException) when (promoted.Elapsed < PromoteWithin)
            {
                // etcd refuses to promote a learner that is not in sync with its leader yet.
                await Task.Delay(500);
            }
        }

        var promotedAfter = promoted.Elapsed;
        if (replace)
        {
            return $"replace {role}n{target}: removed and stopped in {removedIn.TotalSeconds:F1}s, {hold.TotalSeconds:F1}s later added back empty as member {cluster.MemberId(slot):x} (started in {joinedIn.TotalSeconds:F1}s), promoted {promotedAfter.TotalSeconds:F1}s after";
        }

        await DelayAsync(hold, CancellationToken.None);
        step.Restart();
        await cluster.RemoveAsync(slot);
        return $"add n{slot} (started in {joinedIn.TotalSeconds:F1}s, promoted {promotedAfter.TotalSeconds:F1}s after), remove it {hold.TotalSeconds:F1}s later (removed and stopped in {step.Elapsed.TotalSeconds:F1}s)";
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
        // Compactions come every few seconds (the workload's compactor): an early pass.
        var pass = point.StartsWith("compact", StringComparison.Ordinal) ? random.Next(1, 3) : random.Next(1, 21);
        var provoked = "";
        if (point is "snapshot-send" or "snapshot-install" && leader != 0)
        {
            // A leader sends its store to a member that comes back behind the compacted log: keep
            // one down long enough for a compaction to pass it, then arm the leader's first
            // chunk (send) or, as soon as it is back, the member's commit of the store (install).
            var behind = cluster.Members.Where(m => m != leader).OrderBy(_ => random.Next()).First();
            await cluster.SignalAsync(behind, "KILL");
            await DelayAsync(SnapshotProvokingDowntime, CancellationToken.None);
            pass = 1;
            if (point == "snapshot-send")
            {
                (target, role) = (leader, "leader ");
                await ArmAsync(target, point, pass);
                await cluster.RestartAsync(behind);
            }
            else
            {
                (target, role) = (behind, "");
                await cluster.RestartAsync(behind);
                await ArmAsync(target, point, pass);
            }

            provoked = $" (n{behind} killed {SnapshotProvokingDowntime.TotalSeconds:F0}s before and restarted to need a snapshot)";
        }
        else
        {
            await ArmAsync(target, point, pass);
        }

        var pid = cluster.Pid(target);
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < CrashPointWait && pid is { } alive && LocalCluster.IsAlive(alive))
        {
            await Task.Delay(50);
        }

        if (pid is { } stillAlive && LocalCluster.IsAlive(stillAlive))
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
    /// Sets the fault on each link (from, to): what from sends to. Healing (an empty fault) must
    /// reach every side: a busy member is retried; a member that is down lost its faults anyway.
    /// </summary>
    private async Task SetLinksAsync(IEnumerable<(int From, int To)> links, SetPeerLinkRequest fault)
    {
        foreach (var (from, to) in links)
        {
            var request = fault.Clone();
            request.MemberId = cluster.MemberId(to);
            for (var attempt = 0; ; attempt++)
            {
                try
                {
                    using var channel = GrpcChannel.ForAddress(cluster.Url(from));
                    await new Protocol.Chaos.Chaos.ChaosClient(channel).SetPeerLinkAsync(request, deadline: DateTime.UtcNow.AddSeconds(5));
                    break;
                }
                catch (Grpc.Core.RpcException) when (attempt < 5)
                {
                    await Task.Delay(500);
                }
                catch (Grpc.Core.RpcException)
                {
                    break;
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
