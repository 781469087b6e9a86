using System.Text;

namespace ActorKv.Raft.Tests.Simulation;

/// <summary>Faults the network and the nodes suffer during the chaos phase.</summary>
public sealed record FaultProfile(
    double DropRate = 0.05,
    double DuplicateRate = 0.03,
    int MaxDelaySteps = 4,
    double CrashRate = 0.003,
    double CrashBeforePersistRate = 0.002,
    double RestartRate = 0.02,
    double PartitionRate = 0.004,
    double HealRate = 0.006,
    double MembershipChangeRate = 0.004);

/// <summary>Thrown when an invariant breaks; the message carries the seed and a trace.</summary>
public sealed class InvariantViolation(string message) : Exception(message);

/// <summary>
/// A whole cluster of <see cref="RaftCore"/>s on one thread, driven by one seeded random source:
/// the same seed replays the same run, step for step. Every step checks the safety invariants;
/// <see cref="AwaitConvergence"/> checks liveness once faults stop.
/// </summary>
public sealed class SimulatedCluster
{
    private const int SnapshotEveryEntries = 30;
    private const int TraceLines = 40;

    private readonly int seed;
    private readonly Random random;
    private readonly FaultProfile faults;
    private readonly Dictionary<ulong, SimulatedNode> nodes = [];
    private readonly List<(long DeliverAt, long Sequence, Message Message)> inFlight = [];
    private readonly HashSet<(ulong From, ulong To)> cutLinks = [];
    private readonly Queue<string> trace = new();
    private long sequence;
    private int proposals;

    // What the invariants compare against.
    private readonly Dictionary<ulong, ulong> leaderOfTerm = [];
    private readonly Dictionary<ulong, (byte[] Digest, Entry Entry)> appliedAt = [];
    private readonly Dictionary<ulong, ulong> highestCommit = [];
    private readonly Dictionary<string, ulong> readLowerBound = [];

    /// <param name="spares">Nodes that run from the start but join only through membership changes.</param>
    public SimulatedCluster(int seed, int voters, FaultProfile faults, int spares = 0)
    {
        this.seed = seed;
        this.faults = faults;
        random = new Random(seed);
        var initial = new ConfState(Enumerable.Range(1, voters).Select(i => (ulong)i).ToList(), []);
        foreach (var id in Enumerable.Range(1, voters + spares).Select(i => (ulong)i))
        {
            nodes[id] = new SimulatedNode(id, new MemoryStorage(), (nodeId, storage) => new RaftConfig
            {
                Id = nodeId,
                Storage = storage,
                // The state machine restarts from the snapshot: entries up to it are applied.
                Applied = storage.Snapshot.Metadata.Index,
                // Deterministic per seed, node and incarnation.
                Random = new Random(HashCode.Combine(seed, nodeId, storage.HardState.Term, sequence)),
                InitialConfState = initial,
                ElectionTicks = 10,
                HeartbeatTicks = 1,
                MaxAppendBytes = 512,
                MaxInflightAppends = 8,
            });
        }
    }

    public long Step { get; private set; }

    public IReadOnlyDictionary<ulong, SimulatedNode> Nodes => nodes;

    public int AppliedMembershipChanges => appliedAt.Values.Count(a => a.Entry.Type == EntryType.ConfChange);

    public int CommittedProposals => appliedAt.Values.Count(a => a.Entry.Data.Length > 0 && a.Entry.Type == EntryType.Normal);

    private void Trace(string line)
    {
        trace.Enqueue($"[{Step}] {line}");
        if (trace.Count > TraceLines)
        {
            trace.Dequeue();
        }
    }

    private InvariantViolation Violation(string what) =>
        new($"seed {seed}, step {Step}: {what}\nlast events:\n{string.Join('\n', trace)}");

    /// <summary>One step of the chaos phase: deliver, maybe tick, maybe inject a fault or a request.</summary>
    public void ChaosStep()
    {
        Step++;
        DeliverDue(faults.CrashBeforePersistRate);
        if (random.NextDouble() < 0.25)
        {
            TickAll();
        }

        if (random.NextDouble() < 0.10)
        {
            ProposeSomewhere();
        }

        if (random.NextDouble() < 0.02)
        {
            ReadIndexSomewhere();
        }

        if (random.NextDouble() < faults.MembershipChangeRate)
        {
            ChangeMembership();
        }

        if (random.NextDouble() < faults.CrashRate)
        {
            CrashSomeone();
        }

        if (random.NextDouble() < faults.RestartRate)
        {
            RestartSomeone();
        }

        if (random.NextDouble() < faults.PartitionRate)
        {
            Partition();
        }

        if (random.NextDouble() < faults.HealRate)
        {
            HealNetwork();
        }

        if (Step % 25 == 0)
        {
            CheckLogMatching();
        }
    }

    /// <summary>
    /// Faults stop: every node restarts, links heal, nothing is dropped. Within
    /// <paramref name="maxTicks"/> a new proposal must commit and every node must apply it.
    /// </summary>
    public void AwaitConvergence(int maxTicks)
    {
        HealNetwork();
        foreach (var node in nodes.Values.Where(n => !n.Up))
        {
            node.Restart();
            Trace($"restart {node.Id} (heal)");
        }

        var marker = Encoding.UTF8.GetBytes($"converged-{seed}");
        ulong? markerIndex = null;
        for (var tick = 0; tick < maxTicks; tick++)
        {
            for (var i = 0; i < 4; i++)
            {
                Step++;
                DeliverDue(crashBeforePersistRate: 0, reliable: true);
            }

            TickAll();
            markerIndex ??= appliedAt.FirstOrDefault(a => a.Value.Entry.Data.AsSpan().SequenceEqual(marker)).Key is var found && found != 0 ? found : null;
            if (markerIndex is null && tick % 10 == 0)
            {
                var leader = nodes.Values.FirstOrDefault(n => n.Core!.Role == RaftRole.Leader);
                if (leader is not null && leader.Core!.LeadTransferee == RaftCore.None)
                {
                    try
                    {
                        leader.Core.Propose(marker);
                        HandleReady(leader, crashBeforePersistRate: 0);
                    }
                    catch (ProposalDroppedException)
                    {
                    }
                }
            }

            if (markerIndex is { } index && Members().All(n => n.AppliedIndex >= index))
            {
                CheckLogMatching();
                return;
            }
        }

        var states = string.Join(", ", nodes.Values.Select(n => $"{n.Id}:{n.Core!.Role} t{n.Core.Term} lead{n.Core.Lead} applied{n.AppliedIndex} last{n.Core.LastIndex}"));
        throw Violation($"no convergence within {maxTicks} ticks after healing ({states})");
    }

    private void DeliverDue(double crashBeforePersistRate, bool reliable = false)
    {
        var due = inFlight.Where(m => m.DeliverAt <= Step).OrderBy(m => m.DeliverAt).ThenBy(m => m.Sequence).ToList();
        inFlight.RemoveAll(m => m.DeliverAt <= Step);
        foreach (var (_, _, message) in due)
        {
            if (!nodes.TryGetValue(message.To, out var node) || !node.Up)
            {
                continue;
            }

            try
            {
                node.Core!.Step(message);
            }
            catch (ProposalDroppedException)
            {
                // A forwarded proposal or read that found no leader: the client would retry.
            }

            if (!reliable && random.NextDouble() < crashBeforePersistRate)
            {
                // Crash after the core took the message but before anything it produced was
                // persisted or sent: all of that is lost.
                node.Crash();
                Trace($"crash {node.Id} before persisting");
                continue;
            }

            HandleReady(node, crashBeforePersistRate);
        }
    }

    private void Send(IEnumerable<Message> messages, bool reliable)
    {
        foreach (var message in messages)
        {
            var lost = cutLinks.Contains((message.From, message.To)) || (!reliable && random.NextDouble() < faults.DropRate);
            if (message.Type == MessageType.Snapshot)
            {
                // The transport tells the sender how a snapshot send ended (etcd's ReportSnapshot);
                // without it a leader would wait for a lost snapshot forever.
                var target = nodes.GetValueOrDefault(message.To);
                var failed = lost || target is null || !target.Up;
                inFlight.Add((Step + 1, sequence++, new Message { Type = MessageType.SnapshotStatus, From = message.To, To = message.From, Reject = failed }));
            }

            if (lost)
            {
                continue;
            }

            var copies = !reliable && random.NextDouble() < faults.DuplicateRate ? 2 : 1;
            for (var i = 0; i < copies; i++)
            {
                var delay = reliable ? random.Next(0, 2) : random.Next(0, faults.MaxDelaySteps + 1);
                inFlight.Add((Step + delay, sequence++, message));
            }
        }
    }

    private void TickAll()
    {
        foreach (var node in nodes.Values.Where(n => n.Up).ToList())
        {
            node.Core!.Tick();
            HandleReady(node, crashBeforePersistRate: 0);
        }
    }

    /// <summary>What an owner of a core does with each Ready, in the order Raft requires, checking invariants on the way.</summary>
    private void HandleReady(SimulatedNode node, double crashBeforePersistRate)
    {
        var core = node.Core!;
        var reliable = crashBeforePersistRate == 0;
        for (var rounds = 0; core.HasReady; rounds++)
        {
            if (rounds > 1000)
            {
                throw Violation($"node {node.Id} produces Ready forever");
            }

            var ready = core.GetReady();

            // 1. Persist: snapshot, entries, hard state.
            if (ready.Snapshot is { } snapshot)
            {
                node.Storage.ApplySnapshot(snapshot);
                node.RestoreState(snapshot);
                Trace($"{node.Id} restores snapshot @{snapshot.Metadata.Index}");
            }

            node.Storage.Append(ready.Entries);
            if (ready.HardState is { } hardState)
            {
                var before = highestCommit.GetValueOrDefault(node.Id);
                if (hardState.Commit < before)
                {
                    throw Violation($"node {node.Id} commit went back from {before} to {hardState.Commit}");
                }

                highestCommit[node.Id] = hardState.Commit;
                node.Storage.SetHardState(hardState);
            }

            if (ready.SoftState is { Role: RaftRole.Leader })
            {
                OnBecameLeader(node, core.Term);
                Trace($"{node.Id} leads term {core.Term}");
            }

            // 2. Send.
            Send(ready.Messages, reliable);

            // 3. Apply.
            foreach (var entry in ready.CommittedEntries)
            {
                node.ApplyEntry(entry);
                CheckApplied(node, entry);
                if (entry.Type == EntryType.ConfChange)
                {
                    core.ApplyConfChange(ConfChange.Decode(entry.Data));
                }
            }

            foreach (var read in ready.ReadStates)
            {
                var context = Convert.ToHexString(read.RequestContext);
                if (readLowerBound.TryGetValue(context, out var lowerBound) && read.Index < lowerBound)
                {
                    throw Violation($"read index {read.Index} on {node.Id} is behind {lowerBound}, committed before the read was asked: a stale read");
                }
            }

            core.Advance(ready);

            // Compact the log now and then, so that lagging followers need snapshots.
            if (node.AppliedIndex >= node.Storage.Snapshot.Metadata.Index + SnapshotEveryEntries)
            {
                node.Storage.CreateSnapshot(node.AppliedIndex, core.ConfState, node.EncodeState());
                node.Storage.Compact(node.AppliedIndex - (ulong)random.Next(0, 5));
            }
        }
    }

    private void OnBecameLeader(SimulatedNode node, ulong term)
    {
        if (leaderOfTerm.TryGetValue(term, out var other) && other != node.Id)
        {
            throw Violation($"two leaders in term {term}: {other} and {node.Id}");
        }

        leaderOfTerm[term] = node.Id;

        // Leader completeness: every entry committed so far is in the new leader's log.
        var snapshotIndex = node.Storage.Snapshot.Metadata.Index;
        foreach (var (index, (_, entry)) in appliedAt)
        {
            if (index <= snapshotIndex)
            {
                continue;
            }

            ulong? termHeld;
            try
            {
                termHeld = index <= node.Storage.LastIndex ? node.Storage.Term(index) : null;
            }
            catch (LogCompactedException)
            {
                continue;
            }

            if (termHeld != entry.Term)
            {
                throw Violation($"leader {node.Id} of term {term} lacks committed entry {index} (term {entry.Term}); it has term {termHeld?.ToString() ?? "none"}");
            }
        }
    }

    private void CheckApplied(SimulatedNode node, Entry entry)
    {
        if (appliedAt.TryGetValue(entry.Index, out var first))
        {
            if (!first.Digest.AsSpan().SequenceEqual(node.StateDigest))
            {
                throw Violation($"node {node.Id} applied a different entry at {entry.Index}: term {entry.Term} vs {first.Entry.Term}");
            }
        }
        else
        {
            appliedAt[entry.Index] = (node.StateDigest, entry);
        }
    }

    /// <summary>Log matching: where two logs hold an entry of the same term at an index, they agree up to it.</summary>
    public void CheckLogMatching()
    {
        var list = nodes.Values.ToList();
        for (var a = 0; a < list.Count; a++)
        {
            for (var b = a + 1; b < list.Count; b++)
            {
                var left = list[a].Storage;
                var right = list[b].Storage;
                var from = Math.Max(left.FirstIndex, right.FirstIndex);
                var to = Math.Min(left.LastIndex, right.LastIndex);
                ulong highestMatch = 0;
                for (var i = to; i >= from && i > 0; i--)
                {
                    if (left.Term(i) == right.Term(i))
                    {
                        highestMatch = i;
                        break;
                    }
                }

                for (var i = from; i <= highestMatch; i++)
                {
                    var l = left.Entries(i, i + 1, long.MaxValue)[0];
                    var r = right.Entries(i, i + 1, long.MaxValue)[0];
                    if (l.Term != r.Term || !l.Data.AsSpan().SequenceEqual(r.Data))
                    {
                        throw Violation($"logs of {list[a].Id} and {list[b].Id} match at {highestMatch} but differ at {i}");
                    }
                }
            }
        }
    }

    /// <summary>The members as the node that applied the most entries knows them; removed nodes are not waited for.</summary>
    private IEnumerable<SimulatedNode> Members()
    {
        var mostApplied = nodes.Values.Where(n => n.Up).MaxBy(n => n.AppliedIndex)!;
        var confState = mostApplied.Core!.ConfState;
        return confState.Voters.Concat(confState.Learners).Select(id => nodes[id]);
    }

    private readonly HashSet<ulong> removedNodes = [];

    /// <summary>On the leader: add a spare as learner, promote a learner, or remove a voter (never below 3, never re-adding a removed id).</summary>
    private void ChangeMembership()
    {
        var leader = nodes.Values.FirstOrDefault(n => n.Up && n.Core!.Role == RaftRole.Leader);
        if (leader is null)
        {
            return;
        }

        var confState = leader.Core!.ConfState;
        var spares = nodes.Keys.Where(id => !confState.Voters.Contains(id) && !confState.Learners.Contains(id) && !removedNodes.Contains(id)).ToList();
        ConfChange? change = random.Next(3) switch
        {
            0 when spares.Count > 0 => new ConfChange(ConfChangeType.AddLearnerNode, spares[random.Next(spares.Count)]),
            1 when confState.Learners.Count > 0 => new ConfChange(ConfChangeType.AddNode, confState.Learners[random.Next(confState.Learners.Count)]),
            2 when confState.Voters.Count > 3 => new ConfChange(ConfChangeType.RemoveNode, confState.Voters[random.Next(confState.Voters.Count)]),
            _ => null,
        };
        if (change is null)
        {
            return;
        }

        try
        {
            leader.Core.ProposeConfChange(change);
            if (change.Type == ConfChangeType.RemoveNode)
            {
                removedNodes.Add(change.NodeId);
            }

            Trace($"{leader.Id} proposes {change.Type} {change.NodeId}");
        }
        catch (ProposalDroppedException)
        {
        }

        HandleReady(leader, faults.CrashBeforePersistRate);
    }

    private SimulatedNode? RandomNode(Func<SimulatedNode, bool> which)
    {
        var candidates = nodes.Values.Where(which).ToList();
        return candidates.Count == 0 ? null : candidates[random.Next(candidates.Count)];
    }

    private void ProposeSomewhere()
    {
        if (RandomNode(n => n.Up) is not { } node)
        {
            return;
        }

        try
        {
            node.Core!.Propose(Encoding.UTF8.GetBytes($"p{seed}-{proposals++}"));
        }
        catch (ProposalDroppedException)
        {
        }

        HandleReady(node, faults.CrashBeforePersistRate);
    }

    private void ReadIndexSomewhere()
    {
        if (RandomNode(n => n.Up) is not { } node)
        {
            return;
        }

        // Whatever any node has applied was committed before this read was asked.
        var context = Encoding.UTF8.GetBytes($"r{seed}-{proposals++}");
        readLowerBound[Convert.ToHexString(context)] = appliedAt.Count == 0 ? 0 : appliedAt.Keys.Max();
        try
        {
            node.Core!.ReadIndex(context);
        }
        catch (ProposalDroppedException)
        {
        }

        HandleReady(node, faults.CrashBeforePersistRate);
    }

    private void CrashSomeone()
    {
        if (RandomNode(n => n.Up) is { } node)
        {
            node.Crash();
            Trace($"crash {node.Id}");
        }
    }

    private void RestartSomeone()
    {
        if (RandomNode(n => !n.Up) is { } node)
        {
            node.Restart();
            Trace($"restart {node.Id}");
        }
    }

    private void Partition()
    {
        var ids = nodes.Keys.ToList();
        if (random.Next(3) == 0)
        {
            // One-way: a hears nothing from b, but b hears a.
            var a = ids[random.Next(ids.Count)];
            var b = ids[random.Next(ids.Count)];
            if (a != b)
            {
                cutLinks.Add((b, a));
                Trace($"cut {b} -> {a}");
            }

            return;
        }

        var side = ids.Where(_ => random.Next(2) == 0).ToHashSet();
        foreach (var a in ids)
        {
            foreach (var b in ids.Where(b => side.Contains(a) != side.Contains(b)))
            {
                cutLinks.Add((a, b));
            }
        }

        Trace($"partition {{{string.Join(",", side)}}} from the rest");
    }

    private void HealNetwork()
    {
        if (cutLinks.Count > 0)
        {
            cutLinks.Clear();
            Trace("heal");
        }
    }
}
