using ActorKv.Node.Apply;
using ActorKv.Node.Log;
using ActorKv.Protocol;
using ActorKv.Protocol.Lease;
using ActorKv.Protocol.Log;
using ActorKv.Storage.Lmdb;
using Akka.Actor;
using Akka.Event;
using Etcdserverpb;

namespace ActorKv.Node.Leases;

/// <summary>
/// etcd's lessor, the part that keeps time. Leases themselves are replicated state (granted and
/// revoked through the log, stored in LMDB); when they expire is decided only by the leader's
/// sweeper, from its own clock: a priority queue of expiry times, checked every sweep interval,
/// each expired lease becoming a revoke proposal. Revokes are rate-limited so that an expiry storm
/// leaves room for client writes. A member that becomes leader gives every lease its full TTL
/// again (etcd's Promote), so a leader's death never expires leases en masse. Keep-alives and
/// time-to-live questions are answered by the leader; other members forward them.
/// </summary>
public sealed class LeaseSweeper : ReceiveActor, IWithTimers, IWithUnboundedStash
{
    /// <summary>How long a promotion waits for the store to show every applied lease before it reads it anyway.</summary>
    private static readonly TimeSpan PromoteVisibilityWait = TimeSpan.FromSeconds(10);

    private readonly LmdbMvccStore store;
    private readonly ApplyVisibility visibility;
    private readonly ActorSelection log;
    private readonly ulong memberId;
    private readonly LeaseSettings settings;
    private readonly ILoggingAdapter logger = Context.GetLogger();
    private readonly System.Diagnostics.Stopwatch clock = System.Diagnostics.Stopwatch.StartNew();

    /// <summary>Granted TTL and expiry (ms on <see cref="clock"/>) of every lease, while leading.</summary>
    private readonly Dictionary<long, (long Ttl, long ExpiresAt)> leases = [];

    /// <summary>Leases by expiry; stale entries (renewed or revoked since) are skipped when popped.</summary>
    private readonly PriorityQueue<long, long> byExpiry = new();

    /// <summary>Expired leases whose revoke is proposed, with when to propose again if it did not apply.</summary>
    private readonly Dictionary<long, long> revoking = [];
    private bool leading;
    private string? leaderSweeperPath;

    /// <summary>The promotion under way (its wait for visibility), or null.</summary>
    private object? promotion;

    /// <summary>Proposals (revokes) go to the sibling named <paramref name="logName"/>: the Raft actor or the single-node log.</summary>
    public LeaseSweeper(LmdbMvccStore store, ApplyVisibility visibility, string logName, ulong memberId, LeaseSettings settings)
    {
        this.store = store;
        this.visibility = visibility;
        log = Context.ActorSelection("../" + logName);
        this.memberId = memberId;
        this.settings = settings;
        Serving();
    }

    private void Serving()
    {
        Receive<LeaseProtocol.Granted>(granted =>
        {
            if (leading)
            {
                Track(granted.Id, granted.Ttl);
            }
        });
        Receive<LeaseProtocol.Revoked>(revoked =>
        {
            leases.Remove(revoked.Id);
            revoking.Remove(revoked.Id);
        });
        Receive<LeaseProtocol.StoreReplaced>(_ =>
        {
            if (leading)
            {
                BeginPromote();
            }
        });
        Receive<LeaseProtocol.LeadershipChanged>(changed =>
        {
            leaderSweeperPath = changed.LeaderSweeperPath;
            if (changed.IsLeader && !leading)
            {
                leading = true;
                BeginPromote();
            }
            else if (!changed.IsLeader && leading)
            {
                leading = false;
                leases.Clear();
                byExpiry.Clear();
                revoking.Clear();
            }
        });
        Receive<LeaseProtocol.SweepTick>(_ => Sweep());
        Receive<LeaseKeepAliveRequest>(request => Lead(request, () =>
        {
            // An expired lease is not renewed: its revoke is on its way (etcd answers TTL 0).
            if (!leases.TryGetValue(request.ID, out var lease) || lease.ExpiresAt <= Now)
            {
                return new LeaseKeepAliveResponse { ID = request.ID, TTL = 0 };
            }

            Track(request.ID, lease.Ttl);
            return new LeaseKeepAliveResponse { ID = request.ID, TTL = lease.Ttl };
        }));
        Receive<LeaseTimeToLiveRequest>(request => Lead(request, () =>
        {
            if (!leases.TryGetValue(request.ID, out var lease))
            {
                return new LeaseTimeToLiveResponse { ID = request.ID, TTL = -1 };
            }

            var response = new LeaseTimeToLiveResponse
            {
                ID = request.ID,
                // etcd truncates the remaining time to whole seconds.
                TTL = Math.Max(0, (lease.ExpiresAt - Now) / 1000),
                GrantedTTL = lease.Ttl,
            };
            if (!request.Keys)
            {
                return response;
            }

            WithKeysWhenVisible(response).PipeTo(Sender);
            return null;
        }));
        // A promotion given up for a newer one.
        Receive<LeaseProtocol.PromoteReady>(_ => { });
    }

    /// <summary>Until the promotion's wait is over, everything else waits too.</summary>
    private void Promoting()
    {
        Receive<LeaseProtocol.PromoteReady>(ready => ReferenceEquals(ready.Promotion, promotion), ready =>
        {
            if (!ready.Visible)
            {
                logger.Warning("Leading: the store did not show every applied lease within {0}; reading it as it is", PromoteVisibilityWait);
            }

            promotion = null;
            Promote();
            Become(Serving);
            Stash.UnstashAll();
        });
        ReceiveAny(_ => Stash.Stash());
    }

    /// <summary>The lease's keys, read once every write answered so far is visible (a key attached just before must be there).</summary>
    private async Task<LeaseTimeToLiveResponse> WithKeysWhenVisible(LeaseTimeToLiveResponse response)
    {
        await visibility.WaitVisibleAsync();
        using var view = store.BeginRead();
        response.Keys.AddRange(view.ReadLeaseKeys(response.ID).Select(Google.Protobuf.ByteString.CopyFrom));
        return response;
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public IStash Stash { get; set; } = null!;

    public static Props Props(LmdbMvccStore store, ApplyVisibility visibility, string logName, ulong memberId, LeaseSettings settings) =>
        Akka.Actor.Props.Create(() => new LeaseSweeper(store, visibility, logName, memberId, settings));

    /// <summary>A member's sweeper, beside its Raft actor.</summary>
    public static string PathBeside(string raftActorPath) => NodeGuardian.PathBeside(raftActorPath, "leases");

    protected override void PreStart() =>
        Timers.StartPeriodicTimer(LeaseProtocol.SweepTick.Instance, LeaseProtocol.SweepTick.Instance, settings.SweepInterval);

    /// <summary>
    /// A restarted sweeper starts as a follower with no leases tracked: it asks who leads, so that
    /// on the leader expiry goes on (found by the chaos sweep: after a kill of the leader's sweeper
    /// no lease expired until the next election).
    /// </summary>
    protected override void PostRestart(Exception reason)
    {
        base.PostRestart(reason);
        log.Tell(LeaseProtocol.LeadershipQuery.Instance);
    }

    private long Now => clock.ElapsedMilliseconds;

    /// <summary>
    /// Answers on the leader (an answer of null is sent later by whoever made it); elsewhere
    /// forwards to the leader's sweeper, keeping the asker.
    /// </summary>
    private void Lead(object request, Func<object?> answer)
    {
        if (leading)
        {
            if (answer() is { } answered)
            {
                Sender.Tell(answered);
            }
        }
        else if (leaderSweeperPath is not null && Sender.Path.Address.HasLocalScope)
        {
            Context.ActorSelection(leaderSweeperPath).Tell(request, Sender);
        }
        else
        {
            // No leader known, or a forward that reached a member that no longer leads.
            var error = leaderSweeperPath is null ? EtcdErrors.NoLeader : EtcdErrors.NotLeader;
            Sender.Tell(new LeaseRefused { Code = (int)error.StatusCode, Message = error.Status.Detail });
        }
    }

    /// <summary>
    /// This member leads now, or its store was replaced. Leases applied here may still wait in
    /// the store's open transaction (see <see cref="ApplyVisibility"/>): once they are visible,
    /// <see cref="Promote"/> reads them all.
    /// </summary>
    private void BeginPromote()
    {
        var current = new object();
        promotion = current;
        visibility.WaitVisibleAsync()
            .WaitAsync(PromoteVisibilityWait)
            .ContinueWith(wait => new LeaseProtocol.PromoteReady(current, wait.IsCompletedSuccessfully), TaskScheduler.Default)
            .PipeTo(Self);
        Become(Promoting);
    }

    /// <summary>This member leads now: every lease in the store starts a full TTL.</summary>
    private void Promote()
    {
        leases.Clear();
        byExpiry.Clear();
        revoking.Clear();
        using var view = store.BeginRead();
        var count = 0;
        foreach (var lease in view.ReadLeases())
        {
            Track(lease.Id, lease.Ttl);
            count++;
        }

        logger.Info("Leading: {0} leases get their full TTL again", count);
    }

    private void Track(long id, long ttl)
    {
        var expiresAt = Now + (ttl * 1000);
        leases[id] = (ttl, expiresAt);
        byExpiry.Enqueue(id, expiresAt);
    }

    /// <summary>Proposes revokes of expired leases, at most revoke-rate a second.</summary>
    private void Sweep()
    {
        if (!leading)
        {
            return;
        }

        var now = Now;
        var budget = Math.Max(1, (int)(settings.RevokeRate * settings.SweepInterval.TotalSeconds));
        foreach (var (id, retryAt) in revoking.Where(r => r.Value <= now).ToList())
        {
            if (budget-- <= 0)
            {
                return;
            }

            ProposeRevoke(id, now);
        }

        while (budget > 0 && byExpiry.TryPeek(out var id, out var expiresAt) && expiresAt <= now)
        {
            byExpiry.Dequeue();
            if (!leases.TryGetValue(id, out var lease) || lease.ExpiresAt != expiresAt || revoking.ContainsKey(id))
            {
                continue; // renewed, revoked, or already being revoked
            }

            ProposeRevoke(id, now);
            budget--;
        }
    }

    private void ProposeRevoke(long id, long now)
    {
        revoking[id] = now + (long)settings.RevokeRetry.TotalMilliseconds;
        log.Tell(new LogProtocol.Propose(new WriteRequest { Proposer = memberId, LeaseRevoke = new LeaseRevokeRequest { ID = id } }));
    }
}

/// <summary>The actorkv.leases section.</summary>
public sealed record LeaseSettings(TimeSpan SweepInterval, int RevokeRate, TimeSpan RevokeRetry, long MinTtlSeconds);
