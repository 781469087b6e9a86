using ActorKv.Mvcc;
using ActorKv.Node.Diagnostics;
using ActorKv.Node.Leases;
using ActorKv.Node.Log;
using ActorKv.Node.Watch;
using ActorKv.Node.Mapping;
using ActorKv.Node.Membership;
using ActorKv.Node.Raft;
using ActorKv.Protocol;
using ActorKv.Protocol.Log;
using ActorKv.Protocol.Raft;
using ActorKv.Storage.Lmdb;
using Akka.Actor;
using Akka.Event;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Status = Grpc.Core.Status;

namespace ActorKv.Node.Apply;

/// <summary>
/// Applies committed log entries to the MVCC store. Group commit: entries that arrive while a
/// batch is being made durable wait in the mailbox and form the next batch, so one fsync serves
/// many clients. Each batch's data and applied index go in one LMDB transaction, so replaying
/// the log after a crash is idempotent. On a Raft member the transaction stays open across
/// batches, each batch in a nested transaction of it, and commits once the commit interval has
/// passed or a reader needs it (see <see cref="ApplyVisibility"/>); a single node commits every
/// batch before answering it, its store being its only durable record. Runs on its own pinned
/// thread: every commit blocks. Physical compaction runs here too, in bounded steps between batches.
/// </summary>
public sealed class ApplyActor : ReceiveActor, IWithTimers, IWithUnboundedStash
{
    private readonly LmdbMvccStore store;
    private readonly MvccEngine engine;
    private readonly ProposalWaiters waiters;
    private readonly StorageUsage usage;
    private readonly int batchLimit;
    private readonly TimeSpan batchInterval;
    private readonly int compactionBatchKeys;
    private readonly ILoggingAdapter logger = Context.GetLogger();
    private readonly IActorRef leases;
    private readonly IActorRef watchHub;
    private IActorRef log = ActorRefs.Nobody;

    private readonly List<LogProtocol.LogEntry> pending = [];
    private bool flushScheduled;

    private readonly ApplyVisibility visibility;

    /// <summary>How long applied batches may wait in the open transaction; zero: each commits at once.</summary>
    private readonly TimeSpan commitInterval;

    /// <summary>The write transaction applied batches wait in until it commits; null when none is open.</summary>
    private LmdbWriteView? open;

    /// <summary>What the batches applied since the last commit did; published when they commit.</summary>
    private BatchEffects uncommitted = new();

    /// <summary>The applied index of the last commit, and the applied index known to be on disk.</summary>
    private ulong committedIndex;

    private ulong durableIndex;

    /// <summary>Readers waiting for a commit (<see cref="ApplyVisibility.WaitVisibleAsync"/>).</summary>
    private readonly List<ApplyProtocol.MakeVisible> visibilityWaiters = [];

    private bool DefersCommits => commitInterval > TimeSpan.Zero;

    /// <summary>The highest index applied or queued for the next batch.</summary>
    private ulong lastQueued;

    private static readonly TimeSpan RedeliveryRetry = TimeSpan.FromSeconds(2);

    /// <summary>The membership as of the applied index (the record in the store).</summary>
    private ClusterMembership membership = ClusterMembership.Empty;

    /// <summary>The alarms as of the last applied entry (the record in the store; may run ahead of it inside an uncommitted batch).</summary>
    private IReadOnlyList<AlarmMember> alarms = [];

    public ITimerScheduler Timers { get; set; } = null!;

    public IStash Stash { get; set; } = null!;

    private readonly TimeSpan snapshotTimeout;

    /// <summary>The store being replaced by a leader's snapshot, while its chunks arrive.</summary>
    private (LmdbStoreImport Import, ulong TransferId, ulong NextSequence, int Thread)? install;

    /// <summary>Where the running physical compaction resumes; null when none runs.</summary>
    private byte[]? compactionResumeKey;

    /// <summary>physical=true compactions answer only when their history is gone.</summary>
    private readonly List<(long Revision, ulong Id, CompactionResponse Response)> physicalCompactionWaiters = [];

    public ApplyActor(LmdbMvccStore store, MvccEngine engine, ProposalWaiters waiters, StorageUsage usage, IActorRef leases, IActorRef watchHub, int batchLimit, TimeSpan batchInterval, int compactionBatchKeys, TimeSpan snapshotTimeout, ApplyVisibility visibility, TimeSpan commitInterval)
    {
        this.visibility = visibility;
        this.commitInterval = commitInterval;
        this.leases = leases;
        this.watchHub = watchHub;
        this.snapshotTimeout = snapshotTimeout;
        this.store = store;
        this.engine = engine;
        this.waiters = waiters;
        this.usage = usage;
        this.batchLimit = batchLimit;
        this.batchInterval = batchInterval;
        this.compactionBatchKeys = compactionBatchKeys;
        Applying();
    }

    /// <summary>A commit interval of zero (a single node) commits every batch before answering it: see <see cref="ApplyVisibility"/>.</summary>
    public static Props Props(LmdbMvccStore store, MvccEngine engine, ProposalWaiters waiters, StorageUsage usage, IActorRef leases, IActorRef watchHub, int batchLimit, TimeSpan batchInterval, int compactionBatchKeys, TimeSpan snapshotTimeout, ApplyVisibility visibility, TimeSpan commitInterval, string dispatcher) =>
        Akka.Actor.Props.Create(() => new ApplyActor(store, engine, waiters, usage, leases, watchHub, batchLimit, batchInterval, compactionBatchKeys, snapshotTimeout, visibility, commitInterval))
            .WithDispatcher(dispatcher);

    private void Applying()
    {
        Receive<LogProtocol.CommittedEntries>(committed =>
        {
            // The log (Raft or the single-node log) wants to know how far apply has got.
            log = Sender;
            Enqueue(committed.Entries);
        });
        Receive<ApplyProtocol.FlushTick>(_ => Flush());
        Receive<ApplyProtocol.CommitTick>(_ => { CommitOpen(); });
        Receive<ApplyProtocol.MakeVisible>(request =>
        {
            visibilityWaiters.Add(request);
            if (visibility.Visible < request.Index && open is not null)
            {
                CommitOpen();
            }

            CompleteVisibilityWaiters();
        });
        Receive<ApplyProtocol.CompactionTick>(_ => StepCompaction());
        Receive<ApplyProtocol.InstallSnapshotChunk>(InstallChunk);
    }

    /// <summary>
    /// While a snapshot's chunks arrive the import holds the store's writer: everything else
    /// waits in the stash until the import commits or is given up.
    /// </summary>
    private void Installing()
    {
        Receive<ApplyProtocol.InstallSnapshotChunk>(InstallChunk);
        Receive<ApplyProtocol.InstallTimeout>(timeout => timeout.TransferId == install?.TransferId, timeout =>
        {
            logger.Warning("Snapshot transfer {0:x} stalled; the store stays as it was", timeout.TransferId);
            AbortInstall();
        });
        ReceiveAny(_ => Stash.Stash());
    }

    private void InstallChunk(ApplyProtocol.InstallSnapshotChunk message)
    {
        // The Raft actor forwards chunks and must hear when the store is installed.
        log = Sender;
        var chunk = message.Chunk;
        try
        {
            if (chunk.Sequence == 0)
            {
                AbortInstall();
                // The import needs the writer, and compares with what is applied.
                if (!CommitOpen())
                {
                    return;
                }
                ulong applied;
                using (var view = store.BeginRead())
                {
                    applied = view.Meta.AppliedIndex;
                }

                if (chunk.Metadata.Index <= applied)
                {
                    // Installing it would take the store back to an older state.
                    message.AckTo.Tell(new SnapshotChunkAck { TransferId = chunk.TransferId, Sequence = 0, Refused = true });
                    return;
                }

                logger.Info("Receiving a snapshot at index {0} from member {1:x} (transfer {2:x}); applied here: {3}", chunk.Metadata.Index, chunk.From, chunk.TransferId, applied);
                install = (store.BeginImport(), chunk.TransferId, 0, Environment.CurrentManagedThreadId);
                Become(Installing);
            }

            if (install is not { } current || current.TransferId != chunk.TransferId || current.NextSequence != chunk.Sequence)
            {
                return; // not the transfer under way, or a chunk out of order: its sender times out
            }

            if (current.Thread != Environment.CurrentManagedThreadId)
            {
                // LMDB's write transaction belongs to the thread that began it (the pinned dispatcher keeps one).
                throw new InvalidOperationException("the apply actor moved to another thread during a snapshot install");
            }

            foreach (var record in chunk.Records)
            {
                current.Import.Write(new StoreRecord((int)record.Database, record.Key.ToByteArray(), record.Value.ToByteArray()));
            }

            install = current with { NextSequence = current.NextSequence + 1 };
            Timers.StartSingleTimer(ApplyProtocol.InstallTimeout.Key, new ApplyProtocol.InstallTimeout(chunk.TransferId), snapshotTimeout);
            if (chunk.Last)
            {
                CrashPoints.Reached(CrashPoints.SnapshotInstall);
                current.Import.Commit();
                FinishInstall(chunk);
            }

            message.AckTo.Tell(new SnapshotChunkAck { TransferId = chunk.TransferId, Sequence = chunk.Sequence });
        }
        catch (Exception error)
        {
            logger.Error(error, "Installing snapshot chunk {0} of transfer {1:x} failed; the store stays as it was", chunk.Sequence, chunk.TransferId);
            AbortInstall();
        }
    }

    private void FinishInstall(SnapshotChunk last)
    {
        install!.Value.Import.Dispose();
        install = null;
        Timers.Cancel(ApplyProtocol.InstallTimeout.Key);
        MvccMeta meta;
        using (var view = store.BeginRead())
        {
            meta = view.Meta;
            membership = ClusterMembership.Read(view) ?? ClusterMembership.Empty;
            alarms = AlarmRecord.Read(view);
            usage.UpdateAlarms(alarms);
        }

        logger.Info("Installed the snapshot at index {0} from member {1:x}: revision {2}", meta.AppliedIndex, last.From, meta.CurrentRevision);
        lastQueued = Math.Max(lastQueued, meta.AppliedIndex);
        committedIndex = Math.Max(committedIndex, meta.AppliedIndex);
        durableIndex = Math.Max(durableIndex, meta.AppliedIndex);
        visibility.PublishVisible(meta.AppliedIndex);
        CompleteVisibilityWaiters();
        PublishUsage();
        compactionResumeKey = null;
        if (meta.CompactionPending)
        {
            StartCompaction();
        }
        else
        {
            AnswerPhysicalCompactionWaiters(meta.PhysicallyCompactedRevision);
        }

        log.Tell(new RaftProtocol.SnapshotInstalled(last.From, last.Term, last.Metadata, membership));
        leases.Tell(LeaseProtocol.StoreReplaced.Instance);
        watchHub.Tell(new WatchProtocol.StoreReplaced(meta.CurrentRevision));
        Become(Applying);
        Stash.UnstashAll();
    }

    private void AbortInstall()
    {
        if (install is { } current)
        {
            current.Import.Dispose();
            install = null;
            Timers.Cancel(ApplyProtocol.InstallTimeout.Key);
            Become(Applying);
            Stash.UnstashAll();
        }
    }

    protected override void PostStop()
    {
        // Batches not committed are lost here: the log hands them again (PostRestart), or
        // replays them at the next start.
        open?.Dispose();
        open = null;
        install?.Import.Dispose();
        base.PostStop();
    }

    protected override void PreStart()
    {
        using var view = store.BeginRead();
        membership = ClusterMembership.Read(view) ?? ClusterMembership.Empty;
        alarms = AlarmRecord.Read(view);
        usage.UpdateAlarms(alarms);
        lastQueued = view.Meta.AppliedIndex;
        committedIndex = durableIndex = view.Meta.AppliedIndex;
        visibility.Attach(Self);
        visibility.PublishVisible(committedIndex);
        if (view.Meta.CompactionPending)
        {
            // A compaction was cut short by a stop or crash: finish it.
            StartCompaction();
        }

        PublishUsage();
    }

    /// <summary>
    /// A restarted incarnation has lost the entries it had received and not applied; the log
    /// still has them. Until the log has sent them again, later entries wait in the stash, and
    /// their proposers keep waiting: the entries will be applied and answered.
    /// </summary>
    protected override void PostRestart(Exception reason)
    {
        // The last commit may not be on disk yet (no meta sync), and PreStart calls what it
        // finds durable (the store synced itself when it was opened, before the first start).
        store.Sync();
        base.PostRestart(reason);
        logger.Warning("Apply restarted after {0}: asking the log for the entries after index {1}", reason.GetType().Name, lastQueued);
        Become(AwaitingRedelivery);
        AskForRedelivery();
    }

    private void AskForRedelivery()
    {
        Context.Parent.Tell(new LogProtocol.ApplyRestarted(lastQueued));
        Timers.StartSingleTimer(ApplyProtocol.RedeliveryTimeout.Instance, ApplyProtocol.RedeliveryTimeout.Instance, RedeliveryRetry);
    }

    private void AwaitingRedelivery()
    {
        Receive<LogProtocol.Redelivered>(redelivered =>
        {
            log = Sender;
            Timers.Cancel(ApplyProtocol.RedeliveryTimeout.Instance);
            Become(Applying);
            Enqueue(redelivered.Entries);
            Stash.UnstashAll();
        });
        Receive<ApplyProtocol.RedeliveryTimeout>(_ => AskForRedelivery());
        ReceiveAny(_ => Stash.Stash());
    }

    /// <summary>
    /// Queues entries for the next batch, each index once: after a restart of the log or of
    /// this actor, entries come again, and one batch must not apply an entry twice.
    /// </summary>
    private void Enqueue(IReadOnlyList<LogProtocol.LogEntry> entries)
    {
        foreach (var entry in entries)
        {
            if (entry.Index > lastQueued)
            {
                pending.Add(entry);
                lastQueued = entry.Index;
            }
        }

        ScheduleFlush();
    }

    private void ScheduleFlush()
    {
        if (flushScheduled)
        {
            return;
        }

        flushScheduled = true;
        if (batchInterval == TimeSpan.Zero)
        {
            // Behind every message already queued: they all join this batch.
            Self.Tell(ApplyProtocol.FlushTick.Instance);
        }
        else
        {
            Timers.StartSingleTimer(ApplyProtocol.FlushTick.Instance, ApplyProtocol.FlushTick.Instance, batchInterval);
        }
    }

    private void Flush()
    {
        flushScheduled = false;
        var count = Math.Min(pending.Count, batchLimit);
        var batch = pending.GetRange(0, count);
        pending.RemoveRange(0, count);
        if (batch.Count > 0)
        {
            var outcomes = ApplyBatch(batch, uncommitted);
            TraceWritesApplied(batch);
            uncommitted.LastIndex = batch[^1].Index;
            uncommitted.Entries += batch.Count;
            visibility.PublishAnswered(batch[^1].Index);
            foreach (var outcome in outcomes)
            {
                // The sweepers learn of leases as they are applied, on every member.
                if (outcome.Response is LeaseGrantResponse granted)
                {
                    leases.Tell(new LeaseProtocol.Granted(granted.ID, granted.TTL));
                }
                else if (outcome.RevokedLease != 0)
                {
                    leases.Tell(new LeaseProtocol.Revoked(outcome.RevokedLease));
                }
            }

            if (MustCommitNow())
            {
                // Committed before answered, as a single node always does: whoever reads the
                // store directly after the answer (the member list after a membership change)
                // sees the batch without waiting for visibility.
                CommitOpen();
                Answer(outcomes);
            }
            else
            {
                Answer(outcomes);
                // Reads waiting for this index may go on; they wait for visibility next.
                log.Tell(new RaftProtocol.Applied(batch[^1].Index, durableIndex));
                if (!Timers.IsTimerActive(ApplyProtocol.CommitTick.Instance))
                {
                    Timers.StartSingleTimer(ApplyProtocol.CommitTick.Instance, ApplyProtocol.CommitTick.Instance, commitInterval);
                }
            }
        }

        if (pending.Count > 0)
        {
            ScheduleFlush();
        }
    }

    /// <summary>
    /// A single node commits every batch (it has no other durable record); a Raft member when a
    /// reader waits, a membership change must reach Raft, watchers wait for events, or the open
    /// transaction holds a batch limit of entries.
    /// </summary>
    private bool MustCommitNow() =>
        !DefersCommits
        || visibilityWaiters.Count > 0
        || uncommitted.MembershipChanges.Count > 0
        || (uncommitted.Events.Count > 0 && visibility.HasWatchers)
        || uncommitted.Entries >= batchLimit;

    /// <summary>
    /// Commits the open transaction (if any: a single node's batches committed as they were
    /// applied) and publishes what its batches did: events to the watchers, membership changes
    /// and the applied index to the log, visibility to the readers.
    /// </summary>
    /// <returns>False when the commit failed and the node is shutting down.</returns>
    private bool CommitOpen()
    {
        Timers.Cancel(ApplyProtocol.CommitTick.Instance);
        if (open is { } transaction)
        {
            open = null;
            try
            {
                CrashPoints.Reached(CrashPoints.ApplyBeforeCommit);
                transaction.Commit();
                CrashPoints.Reached(CrashPoints.ApplyAfterCommit);
            }
            catch (Exception error)
            {
                // Its writes were answered; only the Raft log holds them now, and a restart
                // replays them from there.
                StorageFailed.ShutDownNode(Context, logger, error, $"committing the entries applied up to index {uncommitted.LastIndex} failed");
                Become(Failed);
                return false;
            }
            finally
            {
                transaction.Dispose();
            }
        }

        var effects = uncommitted;
        uncommitted = new BatchEffects();
        if (effects.LastIndex == 0)
        {
            CompleteVisibilityWaiters();
            return true;
        }

        // Without meta sync this commit's sync carries every earlier commit to disk, itself not
        // yet (see LmdbStoreOptions.SyncMeta).
        durableIndex = store.Options.SyncMeta ? effects.LastIndex : committedIndex;
        committedIndex = effects.LastIndex;
        // Watchers see batches once they are committed, and only what was committed.
        watchHub.Tell(new WatchProtocol.Applied(effects.Events, effects.Revision));
        PublishUsage();
        foreach (var change in effects.MembershipChanges)
        {
            log.Tell(change);
        }

        log.Tell(new RaftProtocol.Applied(effects.LastIndex, durableIndex));
        visibility.PublishVisible(effects.LastIndex);
        CompleteVisibilityWaiters();
        return true;
    }

    private void CompleteVisibilityWaiters()
    {
        var visible = visibility.Visible;
        visibilityWaiters.RemoveAll(waiter =>
        {
            if (waiter.Index > visible)
            {
                return false;
            }

            waiter.Completion.TrySetResult();
            return true;
        });
    }

    /// <summary>A commit of answered writes failed and the node shuts down: nothing more is applied.</summary>
    private void Failed() => ReceiveAny(_ => { });

    /// <summary>
    /// What applying one entry produced for its proposer: a response, or the error to answer with;
    /// and the lease it revoked, if any, for the sweepers (etcd's response does not name it).
    /// </summary>
    private readonly record struct Outcome(ulong Proposer, ulong Id, IMessage? Response, RpcException? Error, long RevokedLease = 0);

    /// <summary>What applied batches did besides answering their proposers, until they commit.</summary>
    private sealed class BatchEffects
    {
        /// <summary>The last log index applied.</summary>
        public ulong LastIndex { get; set; }

        /// <summary>Log entries applied (answered or not).</summary>
        public int Entries { get; set; }

        public List<RaftProtocol.MembershipApplied> MembershipChanges { get; } = [];

        public List<MvccEvent> Events { get; } = [];

        /// <summary>The store's revision after the batches.</summary>
        public long Revision { get; set; }
    }

    /// <summary>
    /// Applies a batch in one transaction: a nested one of the open transaction on a Raft
    /// member, else a transaction committed here. Its membership changes and events are added to
    /// <paramref name="effects"/> once it has committed (into the open one).
    /// </summary>
    private List<Outcome> ApplyBatch(List<LogProtocol.LogEntry> batch, BatchEffects effects)
    {
        LmdbWriteView? view = null;
        try
        {
            var compacted = false;
            var membershipAfter = membership;
            var changes = new List<RaftProtocol.MembershipApplied>();
            var events = new List<MvccEvent>();
            open ??= store.BeginWrite();
            view = DefersCommits ? open.BeginNested() : open;
            var outcomes = new List<Outcome>(batch.Count);
            foreach (var entry in batch)
            {
                // Entries at or below the applied index are already in the store (a replay
                // after a restart): applying them again would change it twice.
                if (entry.Index <= view.Meta.AppliedIndex)
                {
                    continue;
                }

                if (entry.Request is { } request)
                {
                    outcomes.Add(ApplyEntry(view, request, events, ref compacted));
                }
                else if (entry.Membership is { } change)
                {
                    var refused = membershipAfter.Validate(change);
                    if (refused is null)
                    {
                        membershipAfter = membershipAfter.Apply(change);
                        membershipAfter.Write(view);
                    }
                    else
                    {
                        logger.Info("Membership change {0} of member {1:x} at index {2} refused: {3}", change.Kind, change.Member?.Id ?? 0, entry.Index, refused.Status.Detail);
                    }

                    changes.Add(new RaftProtocol.MembershipApplied(entry.Index, refused is null ? ClusterMembership.ToConfChange(change) : null, membershipAfter));
                    outcomes.Add(new Outcome(change.Proposer, change.RequestId, refused is null ? membershipAfter.ToProto() : null, refused));
                }
            }

            var last = batch[^1];
            if (last.Index > view.Meta.AppliedIndex)
            {
                view.WriteMeta(view.Meta with { AppliedIndex = last.Index, AppliedTerm = last.Term });
            }

            var revisionAfter = view.Meta.CurrentRevision;
            if (DefersCommits)
            {
                // Into the open transaction, which CommitOpen makes durable.
                view.Commit();
            }
            else
            {
                open = null;
                CrashPoints.Reached(CrashPoints.ApplyBeforeCommit);
                view.Commit();
                CrashPoints.Reached(CrashPoints.ApplyAfterCommit);
            }

            view.Dispose();
            view = null;
            membership = membershipAfter;
            usage.UpdateAlarms(alarms);
            effects.MembershipChanges.AddRange(changes);
            effects.Events.AddRange(events);
            effects.Revision = revisionAfter;
            if (compacted)
            {
                StartCompaction();
            }

            return outcomes;
        }
        catch (Exception error) when (batch.Count > 1)
        {
            // Nothing of the batch was committed. Apply the entries one by one, so that only the
            // entry that cannot be applied fails.
            DiscardBatch(view);
            ReloadAlarms();
            logger.Warning(error, "A batch of {0} entries failed to commit; applying them one at a time", batch.Count);
            return batch.SelectMany(entry => ApplyBatch([entry], effects)).ToList();
        }
        catch (StorageFullException error)
        {
            DiscardBatch(view);
            ReloadAlarms();
            logger.Error(error, "Entry {0} does not fit in the store", batch[0].Index);
            return batch[0].Request is { } full ? [new Outcome(full.Proposer, full.Id, null, EtcdErrors.NoSpace)] : [];
        }
        catch (Exception error)
        {
            DiscardBatch(view);
            ReloadAlarms();
            logger.Error(error, "Entry {0} failed to apply", batch[0].Index);
            var failure = new RpcException(new Status(StatusCode.Internal, "actorkv: failed to apply the request: " + error.Message));
            return batch[0].Request is { } failed ? [new Outcome(failed.Proposer, failed.Id, null, failure)] : [];
        }
    }

    /// <summary>Discards a batch's transaction that failed (the open one too on a single node, where they are one).</summary>
    private void DiscardBatch(LmdbWriteView? view)
    {
        if (view is null)
        {
            return;
        }

        if (ReferenceEquals(view, open))
        {
            open = null;
        }

        view.Dispose();
    }

    /// <summary>
    /// Applies one request into the batch's transaction. A refused request (MvccException) has
    /// written nothing; any other exception aborts the whole transaction.
    /// </summary>
    private Outcome ApplyEntry(LmdbWriteView view, WriteRequest request, List<MvccEvent> events, ref bool compacted)
    {
        try
        {
            // etcd's capped applier: under a NOSPACE alarm, what costs space is refused on every member alike.
            if (AlarmRecord.CostsSpace(request) && alarms.Any(a => a.Alarm == AlarmType.Nospace))
            {
                return new Outcome(request.Proposer, request.Id, null, EtcdErrors.NoSpace);
            }

            IMessage response;
            switch (request.RequestCase)
            {
                case WriteRequest.RequestOneofCase.Put:
                    response = engine.Put(view, request.Put.ToCommand(), events).ToProto();
                    break;
                case WriteRequest.RequestOneofCase.DeleteRange:
                    response = engine.Delete(view, request.DeleteRange.ToCommand(), events).ToProto();
                    break;
                case WriteRequest.RequestOneofCase.Txn:
                    response = engine.Txn(view, request.Txn.ToCommand(), events).ToProto();
                    break;
                case WriteRequest.RequestOneofCase.LeaseGrant:
                    MvccEngine.GrantLease(view, new LeaseRecord(request.LeaseGrant.ID, request.LeaseGrant.TTL));
                    response = new LeaseGrantResponse
                    {
                        Header = new ResponseHeader { Revision = view.Meta.CurrentRevision },
                        ID = request.LeaseGrant.ID,
                        TTL = request.LeaseGrant.TTL,
                    };
                    break;
                case WriteRequest.RequestOneofCase.LeaseRevoke:
                    var revoked = MvccEngine.RevokeLease(view, request.LeaseRevoke.ID, events);
                    return new Outcome(request.Proposer, request.Id, new LeaseRevokeResponse { Header = new ResponseHeader { Revision = revoked.Revision } }, null, request.LeaseRevoke.ID);
                case WriteRequest.RequestOneofCase.Alarm:
                    var (after, answer) = AlarmRecord.Apply(alarms, request.Alarm);
                    if (request.Alarm.Action != AlarmRequest.Types.AlarmAction.Get)
                    {
                        AlarmRecord.Write(view, after);
                        if (after.Count != alarms.Count)
                        {
                            logger.Warning("Alarm {0} {1} by member {2:x}", request.Alarm.Alarm, after.Count > alarms.Count ? "raised" : "cleared", request.Alarm.MemberID);
                        }

                        alarms = after;
                    }

                    answer.Header = new ResponseHeader { Revision = view.Meta.CurrentRevision };
                    response = answer;
                    break;
                case WriteRequest.RequestOneofCase.Compaction:
                    var result = engine.Compact(view, request.Compaction.Revision);
                    compacted = true;
                    var compactionResponse = new CompactionResponse { Header = new ResponseHeader { Revision = result.Revision } };
                    if (request.Compaction.Physical)
                    {
                        if (waiters.IsMine(request.Proposer))
                        {
                            physicalCompactionWaiters.Add((request.Compaction.Revision, request.Id, compactionResponse));
                        }

                        return new Outcome(request.Proposer, request.Id, null, null);
                    }

                    response = compactionResponse;
                    break;
                default:
                    return new Outcome(request.Proposer, request.Id, null, new RpcException(new Status(StatusCode.InvalidArgument, "actorkv: empty write request")));
            }

            return new Outcome(request.Proposer, request.Id, response, null);
        }
        catch (MvccException refused)
        {
            return new Outcome(request.Proposer, request.Id, null, refused.Error.ToRpc());
        }
    }

    private void TraceWritesApplied(List<LogProtocol.LogEntry> batch)
    {
        if (!WritePathEvents.Log.IsEnabled())
        {
            return;
        }

        foreach (var entry in batch)
        {
            if (entry.Request is { } request && waiters.IsMine(request.Proposer))
            {
                WritePathEvents.Log.WriteApplied((long)waiters.MemberId, (long)request.Id, (long)entry.Index);
            }
        }
    }

    private void Answer(List<Outcome> outcomes)
    {
        foreach (var outcome in outcomes.Where(o => waiters.IsMine(o.Proposer)))
        {
            if (outcome.Response is not null)
            {
                waiters.Complete(outcome.Id, outcome.Response);
            }
            else if (outcome.Error is not null)
            {
                waiters.Fail(outcome.Id, outcome.Error);
            }
        }
    }

    private void StartCompaction()
    {
        // From the first key again: a newer target applies to keys an older run already passed.
        var running = compactionResumeKey is not null;
        compactionResumeKey = [];
        if (!running)
        {
            Self.Tell(ApplyProtocol.CompactionTick.Instance);
        }
    }

    private void StepCompaction()
    {
        if (compactionResumeKey is null)
        {
            return;
        }

        // The step needs the writer.
        if (!CommitOpen())
        {
            return;
        }
        long physicallyCompacted;
        using (var view = store.BeginWrite())
        {
            compactionResumeKey = MvccEngine.CompactStep(view, compactionResumeKey, compactionBatchKeys);
            physicallyCompacted = view.Meta.PhysicallyCompactedRevision;
            CrashPoints.Reached(CrashPoints.CompactBeforeCommit);
            view.Commit();
            CrashPoints.Reached(CrashPoints.CompactAfterCommit);
        }

        if (compactionResumeKey is not null)
        {
            // Behind the client entries already queued, so that a large compaction never starves them.
            Self.Tell(ApplyProtocol.CompactionTick.Instance);
            return;
        }

        PublishUsage();
        AnswerPhysicalCompactionWaiters(physicallyCompacted);
    }

    private void AnswerPhysicalCompactionWaiters(long physicallyCompacted) =>
        physicalCompactionWaiters.RemoveAll(waiter =>
        {
            if (waiter.Revision > physicallyCompacted)
            {
                return false;
            }

            waiters.Complete(waiter.Id, waiter.Response);
            return true;
        });

    private void ReloadAlarms()
    {
        if (open is not null)
        {
            alarms = AlarmRecord.Read(open);
            return;
        }

        using var view = store.BeginRead();
        alarms = AlarmRecord.Read(view);
    }

    private void PublishUsage() => usage.Update(store.SizeBytes, store.SizeInUseBytes);
}
