using System.Diagnostics;
using System.Text.Json;
using ActorKv.Chaos.Linearizability;
using ActorKv.Chaos.Watches;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Net.Client;

namespace ActorKv.Chaos.Runner;

/// <summary>One run: workload and nemesis for the duration, then heal, converge and judge.</summary>
public sealed class ChaosRun
{
    private static readonly TimeSpan HealTimeout = TimeSpan.FromSeconds(30);

    private readonly List<(string Check, bool Passed, string Detail)> verdicts = [];
    private Workload workload = null!;
    private Nemesis nemesis = null!;
    private CheckResult<KvInput, KvOutput>? linearizability;
    private long runMs;

    public static async Task<ChaosRun> ExecuteAsync(LocalCluster cluster, ChaosOptions options, Random random, Stopwatch clock)
    {
        var workload = new Workload(cluster, options.ClientsPerNode, options.Seed, clock);
        var run = new ChaosRun
        {
            workload = workload,
            nemesis = new Nemesis(cluster, options.Nemeses, options.Combined, random, clock, workload.CompactableRevision),
        };
        using var stopWatchers = new CancellationTokenSource();
        var watchers = run.workload.StartWatchers(stopWatchers.Token).ToList();
        using var stopClients = new CancellationTokenSource(options.Duration);
        var clients = run.workload.StartClients(stopClients.Token).ToList();
        using var stopNemesis = new CancellationTokenSource(options.Duration - TimeSpan.FromSeconds(2));
        await run.nemesis.RunAsync(stopNemesis.Token);
        await Task.WhenAll(clients);
        run.runMs = clock.ElapsedMilliseconds;

        // Liveness and convergence after the last fault is healed.
        var healed = Stopwatch.StartNew();
        var finalRevision = await WriteThroughEveryMemberAsync(cluster, "chaos-final", $"{options.Seed}");
        run.verdicts.Add(("liveness", finalRevision is not null, finalRevision is null
            ? $"a write did not succeed through every member within {HealTimeout.TotalSeconds:F0}s of the heal"
            : $"writes through every member succeeded {healed.Elapsed.TotalSeconds:F1}s after the heal"));
        run.verdicts.Add(await ConvergenceAsync(cluster));

        // Watchers catch up to the end, then their histories are judged.
        var end = finalRevision ?? 0;
        var waited = Stopwatch.StartNew();
        while (cluster.Members.Any(n => run.workload.LastWatched(n) < end) && waited.Elapsed < HealTimeout)
        {
            await Task.Delay(200);
        }

        await stopWatchers.CancelAsync();
        await Task.WhenAll(watchers);
        List<ObservedEvent> longestWatch = [];
        foreach (var node in cluster.Members)
        {
            List<ObservedEvent> events;
            lock (run.workload.WatchedEvents)
            {
                events = [.. run.workload.WatchedEvents[node]];
            }

            List<ProgressNotice> notices;
            lock (run.workload.WatchedEvents)
            {
                notices = [.. run.workload.ProgressNotices[node]];
            }

            var problems = WatchHistoryChecker.Check(events, run.workload.AcknowledgedPuts, firstRevision: 2)
                .Concat(WatchHistoryChecker.CheckProgress(events, notices))
                .Concat(run.workload.WatchProblems[node]).ToList();
            var reachedEnd = events.Count > 0 && events[^1].Revision >= end;
            if (!reachedEnd)
            {
                problems.Add($"the watcher reached revision {(events.Count == 0 ? 0 : events[^1].Revision)}, not the final {end}");
            }

            run.verdicts.Add(($"watch n{node}", problems.Count == 0, problems.Count == 0 ? $"{events.Count} events, revisions 2 to {end} in order, once each; {notices.Count} progress notifications in order" : string.Join("; ", problems.Take(5))));
            if (events.Count > longestWatch.Count)
            {
                longestWatch = events;
            }
        }

        // Serializable and two-key reads: what the key held at the revision the response named.
        var readProblems = RevisionReadChecker.Check(longestWatch, run.workload.RevisionReads);
        run.verdicts.Add(("reads at rev", readProblems.Count == 0, readProblems.Count == 0
            ? $"{run.workload.RevisionReads.Count(r => r.Serializable)} serializable reads and {run.workload.RevisionReads.Count(r => !r.Serializable)} keys of two-key reads match the watch history at their revision"
            : string.Join("; ", readProblems.Take(5))));
        run.verdicts.Add(await LeasesGoneAsync(cluster, run.workload.LeasesGranted));

        // Per key (fast, any length), or the whole store with each two-key txn atomic (short runs).
        run.linearizability = options.WholeStoreModel
            ? LinearizabilityChecker.Check(new StoreModel(), run.workload.History)
            : LinearizabilityChecker.Check(new KeyValueModel(), run.workload.History);
        run.verdicts.Add(("linearizable", run.linearizability.Verdict != Verdict.NotLinearizable, run.linearizability.Verdict switch
        {
            Verdict.Linearizable => options.WholeStoreModel ? "yes: the whole history has a legal order (txns atomic)" : "yes: every key's history has a legal order",
            Verdict.Unknown => "unknown: the search ran out of its budget (neither proven nor refuted)",
            _ => "NO: see the failing fragment in report.json",
        }));

        // A node that shut itself down (its Raft WAL failed) is a finding too, not a nemesis.
        var crashes = cluster.LogFiles()
            .Select(log => (log.Name, Text: File.ReadAllText(log.Path)))
            .Where(log => log.Text.Contains("Unhandled exception", StringComparison.Ordinal) || log.Text.Contains("the node shuts down", StringComparison.Ordinal))
            .Select(log => log.Name).ToList();
        run.verdicts.Add(("node logs", crashes.Count == 0, crashes.Count == 0 ? "no unhandled exception, no node shut itself down" : $"unhandled exception or a node that shut itself down in {string.Join(", ", crashes)}"));
        return run;
    }

    /// <summary>One write through each member, retried until it succeeds or the heal timeout; the last one's revision.</summary>
    private static async Task<long?> WriteThroughEveryMemberAsync(LocalCluster cluster, string key, string value)
    {
        long revision = 0;
        var deadline = Stopwatch.StartNew();
        foreach (var node in cluster.Members)
        {
            while (true)
            {
                try
                {
                    using var channel = GrpcChannel.ForAddress(cluster.Url(node));
                    var put = await new KV.KVClient(channel).PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value) }, deadline: DateTime.UtcNow.AddSeconds(2));
                    revision = put.Header.Revision;
                    break;
                }
                catch (Grpc.Core.RpcException) when (deadline.Elapsed < HealTimeout)
                {
                    await Task.Delay(200);
                }
                catch (Grpc.Core.RpcException)
                {
                    return null;
                }
            }
        }

        return revision;
    }

    /// <summary>
    /// Every lease the clients granted is revoked or expires (TTLs of 2 and 10 s; a new leader
    /// restarts them): within the heal timeout no key of a lease cycle is left.
    /// </summary>
    private static async Task<(string, bool, string)> LeasesGoneAsync(LocalCluster cluster, int granted)
    {
        var deadline = Stopwatch.StartNew();
        var left = "";
        while (deadline.Elapsed < HealTimeout)
        {
            try
            {
                using var channel = GrpcChannel.ForAddress(cluster.Url(1 + (int)(deadline.ElapsedMilliseconds / 1000 % cluster.Nodes)));
                var keys = await new KV.KVClient(channel).RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("lease-c"), RangeEnd = ByteString.CopyFromUtf8("lease-d"), KeysOnly = true }, deadline: DateTime.UtcNow.AddSeconds(2));
                if (keys.Kvs.Count == 0)
                {
                    return ("leases", true, $"{granted} leases granted; no lease key left {deadline.Elapsed.TotalSeconds:F1}s after the heal");
                }

                left = string.Join(", ", keys.Kvs.Select(kv => $"{kv.Key.ToStringUtf8()} (lease {kv.Lease:x})"));
            }
            catch (Grpc.Core.RpcException error)
            {
                left = $"{error.Status.StatusCode} {error.Status.Detail}";
            }

            await Task.Delay(500);
        }

        return ("leases", false, $"lease keys still there {HealTimeout.TotalSeconds:F0}s after the heal: {left}");
    }

    /// <summary>Every member reaches the same revision and the same HashKV.</summary>
    private static async Task<(string, bool, string)> ConvergenceAsync(LocalCluster cluster)
    {
        var deadline = Stopwatch.StartNew();
        var last = "";
        while (deadline.Elapsed < HealTimeout)
        {
            try
            {
                var states = new List<(long Revision, uint Hash)>();
                var raft = new List<string>();
                foreach (var node in cluster.Members)
                {
                    using var channel = GrpcChannel.ForAddress(cluster.Url(node));
                    var maintenance = new Maintenance.MaintenanceClient(channel);
                    var hash = await maintenance.HashKVAsync(new HashKVRequest(), deadline: DateTime.UtcNow.AddSeconds(2));
                    states.Add((hash.Header.Revision, hash.Hash));
                    // Who each member follows and how far its log is: a member cut off from the
                    // leader and one whose Raft stopped look alike by revision alone.
                    var status = await maintenance.StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(2));
                    raft.Add($"leader {status.Leader:x}, term {status.RaftTerm}, committed {status.RaftIndex}, applied {status.RaftAppliedIndex}");
                }

                last = string.Join(", ", states.Select((s, i) => $"n{i + 1} rev {s.Revision} hash {s.Hash:x8} ({raft[i]})"));
                if (states.Distinct().Count() == 1)
                {
                    return ("convergence", true, $"every member at revision {states[0].Revision}, HashKV {states[0].Hash:x8}");
                }
            }
            catch (Grpc.Core.RpcException error)
            {
                last = error.Status.Detail;
            }

            await Task.Delay(500);
        }

        return ("convergence", false, $"members differ after {HealTimeout.TotalSeconds:F0}s: {last}");
    }

    /// <summary>Prints the verdict table, writes report.json and timeline.html; 1 if anything failed.</summary>
    public int Report(ChaosOptions options)
    {
        var history = workload.History;
        var completed = history.Count(o => !o.OutcomeUnknown);
        var unknown = history.Count - completed;
        var writes = workload.WriteSuccesses.Order().ToList();
        var longestGapMs = writes.Count < 2 ? runMs : writes.Zip(writes.Skip(1), (a, b) => b - a).Max();
        Console.WriteLine();
        Console.WriteLine($"seed {options.Seed}: {history.Count} operations ({completed} completed, {unknown} unknown), {nemesis.Timeline.Count} faults, longest time without a successful write {longestGapMs / 1000.0:F1}s");
        Console.WriteLine($"{"check",-14} {"verdict",-8} detail");
        foreach (var (check, passed, detail) in verdicts)
        {
            Console.WriteLine($"{check,-14} {(passed ? "ok" : "FAILED"),-8} {detail}");
        }

        Directory.CreateDirectory(options.ReportDirectory);
        var failing = FailingWindow()?.Select(Describe).ToList();
        var report = new
        {
            options.Seed,
            options.Nodes,
            DurationSeconds = options.Duration.TotalSeconds,
            options.Nemeses,
            Operations = history.Count,
            RevisionReads = workload.RevisionReads.Count,
            workload.Compactions,
            workload.LeasesGranted,
            Completed = completed,
            Unknown = unknown,
            Faults = nemesis.Timeline,
            LongestUnavailabilitySeconds = longestGapMs / 1000.0,
            Verdicts = verdicts.Select(v => new { v.Check, v.Passed, v.Detail }),
            FailingFragment = failing,
            FailingKeyOperations = linearizability?.FailingPartition?.Count,
            LongestLinearizedPrefix = linearizability?.LongestLinearizedPrefix?.Count,
        };
        File.WriteAllText(Path.Combine(options.ReportDirectory, "report.json"), JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true }));
        File.WriteAllText(Path.Combine(options.ReportDirectory, "timeline.html"), Timeline.Html(options, history, nemesis.Timeline, runMs, FailingWindow()?.ToHashSet()));
        Console.WriteLine($"report: {Path.Combine(options.ReportDirectory, "report.json")}, timeline: {Path.Combine(options.ReportDirectory, "timeline.html")}");
        return verdicts.All(v => v.Passed) ? 0 : 1;
    }

    /// <summary>
    /// The part of a non-linearizable key's history to read first: the operations of that key
    /// that overlap the second before the earliest operation the checker could not order after
    /// its longest linearizable prefix (the whole key's history is in the checker's result).
    /// </summary>
    private List<Operation<KvInput, KvOutput>>? FailingWindow()
    {
        if (linearizability?.FailingPartition is not { } partition)
        {
            return null;
        }

        var ordered = (linearizability.LongestLinearizedPrefix ?? []).ToHashSet();
        var stuck = partition.Where(o => !ordered.Contains(o)).MinBy(o => o.Call);
        if (stuck is null)
        {
            return [.. partition];
        }

        var from = stuck.Call - Stopwatch.Frequency;
        return [.. partition.Where(o => o.Call <= stuck.Call + Stopwatch.Frequency / 10 && (o.OutcomeUnknown || o.Return >= from)).OrderBy(o => o.Call)];
    }

    private static string Describe(Operation<KvInput, KvOutput> operation) =>
        $"client {operation.Client} {operation.Input} -> {(operation.OutcomeUnknown ? "unknown" : operation.Output!.ToString())} [{TicksToMs(operation.Call):F1} ms, {(operation.OutcomeUnknown ? "..." : $"{TicksToMs(operation.Return):F1} ms")}]";

    public static double TicksToMs(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;
}
