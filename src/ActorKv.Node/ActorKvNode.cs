using ActorKv.Mvcc;
using ActorKv.Node.Apply;
using ActorKv.Node.Configuration;
using ActorKv.Node.Diagnostics;
using ActorKv.Node.Gateway;
using ActorKv.Node.Mapping;
using ActorKv.Node.Membership;
using ActorKv.Node.Raft;
using ActorKv.Protocol;
using ActorKv.Protocol.Log;
using ActorKv.Protocol.Membership;
using Member = Etcdserverpb.Member;
using ActorKv.Storage.Lmdb;
using Akka.Actor;
using Akka.Configuration;
using Etcdserverpb;
using Google.Protobuf;

namespace ActorKv.Node;

/// <summary>
/// One ActorKv node: its LMDB store, its ActorSystem and the etcd KV API over them. The gRPC
/// services are thin wrappers of these methods; tests may call them directly. Methods throw
/// <see cref="Grpc.Core.RpcException"/> with etcd's status and text on bad input.
/// </summary>
public sealed class ActorKvNode : IAsyncDisposable
{
    private readonly LmdbMvccStore store;
    private readonly MvccEngine engine;
    private readonly ProposalWaiters waiters;
    private readonly StorageUsage usage;
    private readonly RequestValidation validation;
    private readonly IActorRef gateway;
    private readonly IActorRef log;
    private readonly RaftStatus raftStatus;
    private readonly IActorRef leases;
    private readonly IActorRef watchHub;
    private readonly ApplyVisibility visibility;
    private readonly WritePathTraceFile? writePathTrace;
    private int disposed;

    private ActorKvNode(ActorKvSettings settings, ActorSystem system, LmdbMvccStore store, MvccEngine engine, ProposalWaiters waiters, StorageUsage usage, IActorRef gateway, IActorRef log, IActorRef leases, IActorRef watchHub, RaftStatus raftStatus, ApplyVisibility visibility, NodeMetrics metrics, WritePathTraceFile? writePathTrace)
    {
        this.writePathTrace = writePathTrace;
        Metrics = metrics;
        this.visibility = visibility;
        this.leases = leases;
        this.watchHub = watchHub;
        this.log = log;
        this.raftStatus = raftStatus;
        Settings = settings;
        System = system;
        this.store = store;
        this.engine = engine;
        this.waiters = waiters;
        this.usage = usage;
        this.gateway = gateway;
        validation = new RequestValidation(settings.MaxTxnOps);
        HeaderStamp = settings.Cluster.Replicated
            ? new ResponseHeaderStamp(ResponseHeaderStamp.For(settings.ClusterToken, settings.NodeName).ClusterId, settings.Cluster.NodeId)
            : ResponseHeaderStamp.For(settings.ClusterToken, settings.NodeName);
    }

    public ActorKvSettings Settings { get; }

    public ActorSystem System { get; }

    public ResponseHeaderStamp HeaderStamp { get; }

    /// <summary>The raft term reported in headers: a single node's log stays in its first term.</summary>
    public ulong RaftTerm => Settings.Cluster.Replicated ? raftStatus.Term : 1;

    /// <summary>What Raft last knew on this node (term, leader, commit, applied).</summary>
    public RaftStatus Raft => raftStatus;

    /// <summary>This node's Prometheus metrics (etcd's names), served at /metrics.</summary>
    public NodeMetrics Metrics { get; }

    /// <summary>How far this node's answered writes are visible to reads of its store.</summary>
    public ApplyVisibility Visibility => visibility;

    public static async Task<ActorKvNode> StartAsync(Config config)
    {
        var settings = ActorKvSettings.FromConfig(config);
        // A Raft member's WAL holds every committed entry the store has not durably applied, so
        // its store syncs once a commit, not twice; a single node's store is its only copy.
        var metrics = new NodeMetrics();
        var store = new LmdbMvccStore(new LmdbStoreOptions(settings.MvccDirectory, settings.MapSizeBytes, settings.MaxReaders, settings.Fsync, SyncMeta: !settings.Cluster.Replicated, CommitObserved: metrics.ObserveBackendCommit));
        ActorSystem? system = null;
        WritePathTraceFile? writePathTrace = null;
        try
        {
            writePathTrace = settings.WritePathTraceFile is { } tracePath ? new WritePathTraceFile(tracePath, settings.Cluster.NodeId) : null;
            // A store or WAL this build cannot read (another format), or data of the other lone-node
            // mode, is refused here with its reason, rather than by an actor failing to start.
            using (var view = store.BeginRead())
            {
                RefuseDataOfTheOtherMode(settings, view.Meta.AppliedIndex, Membership.ClusterMembership.Read(view) is not null);
            }

            if (settings.Cluster.Replicated)
            {
                ActorKv.Storage.Lmdb.Wal.SegmentLog.RefuseForeignFormat(settings.WalDirectory);
            }

            var engine = new MvccEngine();
            var waiters = new ProposalWaiters(settings.Cluster.NodeId);
            var usage = new StorageUsage();
            var raftStatus = new RaftStatus();
            var visibility = new ApplyVisibility();
            metrics.TrackState(settings.Cluster.Replicated, settings.Cluster.NodeId, raftStatus, store);
            // DotNetty (Akka.Remote's transport where a member names it instead of ActorKv's own)
            // samples one buffer in 128 for leak reports by taking a stack trace; a profile of a
            // 3-node cluster under load found it on the event loops' read and write paths.
            // Akka.Remote releases its buffers itself.
            DotNetty.Common.ResourceLeakDetector.Level = DotNetty.Common.ResourceLeakDetector.DetectionLevel.Disabled;
            system = ActorSystem.Create("actorkv", settings.Cluster.Replicated ? ReplicationConfig(settings, config).WithFallback(config) : config);
            var guardian = system.ActorOf(NodeGuardian.Props(settings, store, engine, waiters, usage, raftStatus, visibility, metrics), "node");
            var gateway = await guardian.Ask<IActorRef>(NodeGuardian.GetGateway.Instance, TimeSpan.FromSeconds(30));
            var log = await guardian.Ask<IActorRef>(NodeGuardian.GetLog.Instance, TimeSpan.FromSeconds(30));
            var leases = await guardian.Ask<IActorRef>(NodeGuardian.GetLeases.Instance, TimeSpan.FromSeconds(30));
            var watchHub = await guardian.Ask<IActorRef>(NodeGuardian.GetWatchHub.Instance, TimeSpan.FromSeconds(30));
            return new ActorKvNode(settings, system, store, engine, waiters, usage, gateway, log, leases, watchHub, raftStatus, visibility, metrics, writePathTrace);
        }
        catch
        {
            // The actors use the store: they stop first.
            if (system is not null)
            {
                await system.Terminate();
            }

            store.Dispose();
            writePathTrace?.Dispose();
            throw;
        }
    }

    /// <summary>
    /// A lone node runs with Raft (a one-member cluster, the default) or without (node-id 0), and
    /// its data is laid out for the one it was created in: a plain node's store has no WAL behind
    /// it and no member list, a Raft member's store is only part of its data. Opened in the other
    /// mode, the first would wait for a leader for ever and the second would lose its WAL's writes,
    /// so either is refused here with what to do.
    /// </summary>
    private static void RefuseDataOfTheOtherMode(ActorKvSettings settings, ulong appliedIndex, bool hasMembership)
    {
        var hasWal = Directory.Exists(settings.WalDirectory) && Directory.EnumerateFileSystemEntries(settings.WalDirectory).Any();
        if (settings.Cluster.Replicated && !hasWal && appliedIndex > 0 && !hasMembership)
        {
            throw new InvalidDataException(
                $"the data dir {settings.DataDirectory} was written by a node without Raft (actorkv.cluster.node-id = 0, hocon/single-plain.conf); "
                + "start it that way again, or start this member on a new data dir");
        }

        if (!settings.Cluster.Replicated && (hasWal || hasMembership))
        {
            throw new InvalidDataException(
                $"the data dir {settings.DataDirectory} belongs to a Raft member (it has a Raft WAL or a member list); "
                + "start it with its actorkv.cluster settings (node-id and initial-members, as hocon/single.conf), or start this node on a new data dir");
        }
    }

    /// <summary>Akka.Remote, its transport (the first enabled one) on this member's peer address.</summary>
    private static Config ReplicationConfig(ActorKvSettings settings, Config config)
    {
        var transport = config.GetStringList("akka.remote.enabled-transports").FirstOrDefault()
            ?? throw new ConfigurationException("akka.remote.enabled-transports names no transport");
        return ConfigurationFactory.ParseString($$"""
            akka.actor.provider = remote
            {{transport}} {
              hostname = "{{settings.Cluster.Self().Peer.Address}}"
              port = {{settings.Cluster.Self().Peer.Port}}
            }
            """);
    }

    /// <summary>
    /// Waits until this node has applied everything committed when the read was asked, as the
    /// leader confirms it through Raft's read index; a local read then is linearizable.
    /// </summary>
    private async Task AwaitReadIndexAsync()
    {
        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        log.Tell(new RaftProtocol.ReadIndex(completion));
        try
        {
            await completion.Task.WaitAsync(Settings.RequestTimeout);
        }
        catch (TimeoutException)
        {
            throw EtcdErrors.Timeout;
        }
    }

    /// <summary>
    /// A read transaction that sees every write this member has answered: on a Raft member
    /// applied writes may wait, answered, in the store's open transaction (see ApplyVisibility).
    /// </summary>
    private async Task<LmdbReadView> BeginVisibleReadAsync()
    {
        await WaitAnsweredWritesVisibleAsync();
        return store.BeginRead();
    }

    /// <summary>
    /// Completes once every write this member has answered is committed in its store, so that
    /// reads, and watchers starting "now", come after them.
    /// </summary>
    public async Task WaitAnsweredWritesVisibleAsync()
    {
        try
        {
            await visibility.WaitVisibleAsync().WaitAsync(Settings.RequestTimeout);
        }
        catch (TimeoutException)
        {
            throw EtcdErrors.Timeout;
        }
    }

    /// <summary>The revision committed in the store (watchers are told of what is committed; a header stamped with it never runs ahead of them).</summary>
    public long CurrentRevision
    {
        get
        {
            using var view = store.BeginRead();
            return view.Meta.CurrentRevision;
        }
    }

    /// <summary>
    /// Reads in a read-only LMDB transaction of their own, never waiting for the writer. On one
    /// node every read is linearizable this way: a write is acknowledged only after it commits,
    /// so any read that starts later sees it.
    /// </summary>
    public async Task<RangeResponse> RangeAsync(RangeRequest request)
    {
        validation.Check(request);
        if (Settings.Cluster.Replicated && !request.Serializable)
        {
            await AwaitReadIndexAsync();
        }

        using var view = await BeginVisibleReadAsync();
        var response = Read(() => engine.Range(view, request.ToQuery()).ToProto());
        Stamp(response.Header, view.Meta.CurrentRevision);
        return response;
    }

    public Task<PutResponse> PutAsync(PutRequest request)
    {
        validation.Check(request);
        return ProposeAsync<PutResponse>(new WriteRequest { Put = request }, consumesSpace: true, r => r.Header);
    }

    public Task<DeleteRangeResponse> DeleteRangeAsync(DeleteRangeRequest request)
    {
        validation.Check(request);
        return ProposeAsync<DeleteRangeResponse>(new WriteRequest { DeleteRange = request }, consumesSpace: false, r => r.Header);
    }

    public async Task<TxnResponse> TxnAsync(TxnRequest request)
    {
        validation.Check(request);
        var command = request.ToCommand();
        if (!command.IsReadOnly)
        {
            return await ProposeAsync<TxnResponse>(new WriteRequest { Txn = request }, consumesSpace: true, r => r.Header);
        }

        // As etcd, a txn that cannot write is served as a read, without the log; it is
        // linearizable unless every range in it asks for a serializable read.
        if (Settings.Cluster.Replicated && !AllRangesSerializable(request))
        {
            await AwaitReadIndexAsync();
        }

        using var view = await BeginVisibleReadAsync();
        var response = Read(() => engine.Txn(view, command).ToProto());
        Stamp(response.Header, view.Meta.CurrentRevision);
        return response;
    }

    private static bool AllRangesSerializable(TxnRequest request) =>
        request.Success.Concat(request.Failure).All(op => op.RequestCase switch
        {
            RequestOp.RequestOneofCase.RequestRange => op.RequestRange.Serializable,
            RequestOp.RequestOneofCase.RequestTxn => AllRangesSerializable(op.RequestTxn),
            _ => true,
        });

    public Task<CompactionResponse> CompactAsync(CompactionRequest request) =>
        ProposeAsync<CompactionResponse>(new WriteRequest { Compaction = request }, consumesSpace: false, r => r.Header);

    /// <summary>etcd's LeaseGrant: the id is the client's or a new one; the TTL at least the minimum (etcd's).</summary>
    public Task<LeaseGrantResponse> LeaseGrantAsync(LeaseGrantRequest request)
    {
        if (request.TTL > MaxLeaseTtlSeconds)
        {
            throw EtcdErrors.LeaseTtlTooLarge;
        }

        var grant = new LeaseGrantRequest
        {
            // etcd's ids are positive 63-bit numbers chosen by the member that proposes the grant.
            ID = request.ID != 0 ? request.ID : Random.Shared.NextInt64(1, long.MaxValue),
            TTL = Math.Max(request.TTL, Settings.Leases.MinTtlSeconds),
        };
        return ProposeAsync<LeaseGrantResponse>(new WriteRequest { LeaseGrant = grant }, consumesSpace: false, r => r.Header);
    }

    /// <summary>etcd's largest lease TTL, in seconds.</summary>
    public const long MaxLeaseTtlSeconds = 9_000_000_000;

    /// <summary>etcd's LeaseRevoke: deletes every key attached to the lease, in one revision.</summary>
    public Task<LeaseRevokeResponse> LeaseRevokeAsync(LeaseRevokeRequest request) =>
        ProposeAsync<LeaseRevokeResponse>(new WriteRequest { LeaseRevoke = request }, consumesSpace: false, r => r.Header);

    /// <summary>One keep-alive: the lease's TTL when renewed, 0 when it is gone or expired (etcd's answer).</summary>
    public async Task<LeaseKeepAliveResponse> LeaseKeepAliveAsync(LeaseKeepAliveRequest request)
    {
        // Stamped before the renewal, as etcd does: a lease revoked at revision r is never
        // seen renewed at a later revision.
        var header = new ResponseHeader();
        Stamp(header, CurrentRevision);
        var response = await AskLeaderSweeper<LeaseKeepAliveResponse>(request);
        response.Header = header;
        return response;
    }

    /// <summary>etcd's LeaseTimeToLive: remaining and granted TTL, keys if asked; TTL -1 for an unknown lease.</summary>
    public async Task<LeaseTimeToLiveResponse> LeaseTimeToLiveAsync(LeaseTimeToLiveRequest request)
    {
        var response = await AskLeaderSweeper<LeaseTimeToLiveResponse>(request);
        response.Header = new ResponseHeader();
        Stamp(response.Header, CurrentRevision);
        return response;
    }

    /// <summary>etcd's LeaseLeases: every granted lease, as this member has applied them.</summary>
    public async Task<LeaseLeasesResponse> LeaseLeasesAsync()
    {
        using var view = await BeginVisibleReadAsync();
        var response = new LeaseLeasesResponse { Header = new ResponseHeader() };
        response.Leases.Add(view.ReadLeases().Select(lease => new LeaseStatus { ID = lease.Id }));
        Stamp(response.Header, view.Meta.CurrentRevision);
        return response;
    }

    /// <summary>The leader's sweeper keeps lease time; this member's forwards to it if it does not lead.</summary>
    private async Task<T> AskLeaderSweeper<T>(IMessage request)
    {
        object answer;
        try
        {
            answer = await leases.Ask<object>(request, Settings.RequestTimeout);
        }
        catch (AskTimeoutException)
        {
            throw EtcdErrors.Timeout;
        }

        return answer switch
        {
            T response => response,
            ActorKv.Protocol.Lease.LeaseRefused refused => throw EtcdErrors.Error((Grpc.Core.StatusCode)refused.Code, refused.Message),
            _ => throw new InvalidOperationException($"the lease sweeper answered {answer.GetType()}"),
        };
    }

    /// <summary>
    /// Starts one Watch stream: its actor takes the client's requests (tell it
    /// <see cref="Watch.WatchStream.ClientRequest"/>) and writes responses to
    /// <paramref name="outbox"/>; the caller sends them and counts event responses out of
    /// <paramref name="pending"/>. Stop the actor when the stream ends.
    /// </summary>
    public IActorRef OpenWatchStream(System.Threading.Channels.ChannelWriter<WatchResponse> outbox, Watch.WatchOutboxCounter pending) =>
        System.ActorOf(Watch.WatchStream.Props(watchHub, outbox, pending, Settings.Watch.MaxPendingEventResponses, Settings.MaxRequestBytes + Settings.GrpcOverheadBytes, HeaderStamp, () => RaftTerm, () => CurrentRevision));

    /// <summary>The version this node reports: the etcd API version it speaks, for clients that check it.</summary>
    public const string EtcdApiVersion = "3.4.23";

    /// <summary>etcd's Maintenance.Status of this member.</summary>
    public StatusResponse Status()
    {
        long revision;
        ulong applied;
        using (var view = store.BeginRead())
        {
            revision = view.Meta.CurrentRevision;
            applied = view.Meta.AppliedIndex;
        }

        var replicated = Settings.Cluster.Replicated;
        var response = new StatusResponse
        {
            Header = new ResponseHeader(),
            Version = EtcdApiVersion,
            DbSize = usage.SizeBytes,
            DbSizeInUse = usage.InUseBytes,
            Leader = replicated ? raftStatus.Lead : HeaderStamp.MemberId,
            RaftIndex = replicated ? raftStatus.Committed : applied,
            RaftTerm = RaftTerm,
            RaftAppliedIndex = applied,
            Errors = { usage.Alarms.Select(AlarmRecord.Describe) },
        };
        Stamp(response.Header, revision);
        return response;
    }

    /// <summary>
    /// etcd's Cluster.MemberList: the membership this node has applied. Client URLs are listed as
    /// etcd lists them, http://host:port (the membership keeps host:port). etcdctl's "--cluster"
    /// commands put such a URL in the HTTP/2 authority, which the server's authority scrubber
    /// empties before Kestrel would refuse it.
    /// </summary>
    public MemberListResponse MemberList()
    {
        var response = new MemberListResponse { Header = new ResponseHeader() };
        if (Settings.Cluster.Replicated)
        {
            response.Members.Add(AppliedMembership().Members.Select(ToEtcdMember));
        }
        else
        {
            response.Members.Add(new Member
            {
                ID = HeaderStamp.MemberId,
                Name = Settings.NodeName,
                ClientURLs = { ClientUrl(Settings.ClientEndpoint.ToString()) },
            });
        }

        Stamp(response.Header, CurrentRevision);
        return response;
    }

    /// <summary>etcd's Cluster.MemberAdd: a new member (voter or learner) with a fresh id; it starts unnamed.</summary>
    public async Task<MemberAddResponse> MemberAddAsync(MemberAddRequest request)
    {
        var id = NewMemberId();
        var kind = request.IsLearner ? MembershipChange.Types.Kind.AddLearner : MembershipChange.Types.Kind.Add;
        var (after, header) = await ChangeMembershipAsync(kind, new ActorKv.Protocol.Membership.Member { Id = id, PeerUrls = { request.PeerURLs } });
        return new MemberAddResponse { Header = header, Member = ToEtcdMember(after.Find(id)!), Members = { after.Members.Select(ToEtcdMember) } };
    }

    /// <summary>etcd's Cluster.MemberRemove.</summary>
    public async Task<MemberRemoveResponse> MemberRemoveAsync(MemberRemoveRequest request)
    {
        var (after, header) = await ChangeMembershipAsync(MembershipChange.Types.Kind.Remove, new ActorKv.Protocol.Membership.Member { Id = request.ID });
        return new MemberRemoveResponse { Header = header, Members = { after.Members.Select(ToEtcdMember) } };
    }

    /// <summary>etcd's Cluster.MemberUpdate: new peer URLs.</summary>
    public async Task<MemberUpdateResponse> MemberUpdateAsync(MemberUpdateRequest request)
    {
        var (after, header) = await ChangeMembershipAsync(MembershipChange.Types.Kind.UpdatePeerUrls, new ActorKv.Protocol.Membership.Member { Id = request.ID, PeerUrls = { request.PeerURLs } });
        return new MemberUpdateResponse { Header = header, Members = { after.Members.Select(ToEtcdMember) } };
    }

    /// <summary>etcd's Cluster.MemberPromote: a learner that is in sync with the leader becomes a voter.</summary>
    public async Task<MemberPromoteResponse> MemberPromoteAsync(MemberPromoteRequest request)
    {
        var (after, header) = await ChangeMembershipAsync(MembershipChange.Types.Kind.Promote, new ActorKv.Protocol.Membership.Member { Id = request.ID });
        return new MemberPromoteResponse { Header = header, Members = { after.Members.Select(ToEtcdMember) } };
    }

    private ClusterMembership AppliedMembership()
    {
        using var view = store.BeginRead();
        return ClusterMembership.Read(view) ?? ClusterMembership.Empty;
    }

    /// <summary>
    /// Checks a change against the membership applied here (for an early answer), then has it
    /// proposed through the leader and waits until it is applied here.
    /// </summary>
    private async Task<(ClusterMembership After, ResponseHeader Header)> ChangeMembershipAsync(MembershipChange.Types.Kind kind, ActorKv.Protocol.Membership.Member member)
    {
        var change = new MembershipChange { Kind = kind, Member = member };
        if (!Settings.Cluster.Replicated)
        {
            throw EtcdErrors.Error(Grpc.Core.StatusCode.FailedPrecondition, "actorkv: membership changes need a replicated node (actorkv.cluster.node-id set)");
        }

        if (AppliedMembership().Validate(change) is { } refused)
        {
            throw refused;
        }

        var completion = new TaskCompletionSource<IMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        change.RequestId = waiters.Register(completion);
        change.Proposer = waiters.MemberId;
        log.Tell(new RaftProtocol.ProposeMembership(change));
        try
        {
            var after = ClusterMembership.FromProto((ActorKv.Protocol.Membership.Membership)await completion.Task.WaitAsync(Settings.RequestTimeout));
            return (after, Stamp(new ResponseHeader(), CurrentRevision));
        }
        catch (TimeoutException)
        {
            waiters.Forget(change.RequestId);
            throw EtcdErrors.Timeout;
        }
    }

    /// <summary>A random id, as etcd gives new members; never 0 (Raft's "none") nor one used before.</summary>
    private ulong NewMemberId()
    {
        var membership = AppliedMembership();
        while (true)
        {
            var id = (ulong)Random.Shared.NextInt64(1, long.MaxValue);
            if (membership.Find(id) is null && !membership.Removed.Contains(id))
            {
                return id;
            }
        }
    }

    private static Member ToEtcdMember(ActorKv.Protocol.Membership.Member member) => new()
    {
        ID = member.Id,
        Name = member.Name,
        PeerURLs = { member.PeerUrls },
        ClientURLs = { member.ClientUrls.Select(ClientUrl) },
        IsLearner = member.IsLearner,
    };

    /// <summary>A client URL as etcd lists it: http://host:port for the host:port ActorKv keeps.</summary>
    public static string ClientUrl(string endpoint) => endpoint.Contains("://", StringComparison.Ordinal) ? endpoint : "http://" + endpoint;

    /// <summary>etcd's Maintenance.HashKV: equal on every member at the same revision.</summary>
    public async Task<HashKVResponse> HashKVAsync(HashKVRequest request)
    {
        using var view = await BeginVisibleReadAsync();
        var (hash, compactRevision) = Read(() => MvccEngine.HashKV(view, request.Revision));
        var response = new HashKVResponse { Header = new ResponseHeader(), Hash = hash, CompactRevision = compactRevision };
        Stamp(response.Header, view.Meta.CurrentRevision);
        return response;
    }

    /// <summary>etcd's Maintenance.MoveLeader: only the leader accepts it; answers once the target leads.</summary>
    public async Task<MoveLeaderResponse> MoveLeaderAsync(MoveLeaderRequest request)
    {
        if (!Settings.Cluster.Replicated)
        {
            // A single node has no one to hand leadership to.
            throw EtcdErrors.BadLeaderTransferee;
        }

        var completion = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        log.Tell(new RaftProtocol.TransferLeadership(request.TargetID, completion));
        try
        {
            await completion.Task.WaitAsync(Settings.RequestTimeout);
        }
        catch (TimeoutException)
        {
            throw EtcdErrors.LeaderTransferTimeout;
        }

        var response = new MoveLeaderResponse { Header = new ResponseHeader() };
        Stamp(response.Header, CurrentRevision);
        return response;
    }

    private static T Read<T>(Func<T> read)
    {
        try
        {
            return read();
        }
        catch (MvccException refused)
        {
            throw refused.Error.ToRpc();
        }
    }

    private async Task<TResponse> ProposeAsync<TResponse>(WriteRequest request, bool consumesSpace, Func<TResponse, ResponseHeader> header)
        where TResponse : IMessage
    {
        var size = request.CalculateSize();
        if (size > Settings.MaxRequestBytes)
        {
            throw EtcdErrors.RequestTooLarge;
        }

        // etcd's quota: refuse what would grow the store past its quota, and raise the NOSPACE
        // alarm (through the log: every member then refuses writes that cost space until an
        // operator disarms it); deletes and compactions free space.
        if (consumesSpace && usage.InUseBytes + size > Settings.EffectiveQuotaBytes)
        {
            await RaiseNoSpaceAlarmAsync();
            throw EtcdErrors.NoSpace;
        }

        var completion = new TaskCompletionSource<IMessage>(TaskCreationOptions.RunContinuationsAsynchronously);
        request.Id = waiters.Register(completion);
        request.Proposer = waiters.MemberId;
        WritePathEvents.Log.WriteReceived((long)waiters.MemberId, (long)request.Id);
        gateway.Tell(new GatewayProtocol.ProposeWrite(request));
        IMessage answer;
        try
        {
            answer = await completion.Task.WaitAsync(Settings.RequestTimeout);
        }
        catch (TimeoutException)
        {
            // The write may still be applied later (as in etcd); nobody waits for its answer.
            waiters.Forget(request.Id);
            throw EtcdErrors.Timeout;
        }

        WritePathEvents.Log.WriteAnswered((long)waiters.MemberId, (long)request.Id);
        var response = (TResponse)answer;
        Stamp(header(response), revision: 0);
        return response;
    }

    private async Task RaiseNoSpaceAlarmAsync()
    {
        if (usage.Alarms.Any(a => a.Alarm == AlarmType.Nospace && a.MemberID == HeaderStamp.MemberId))
        {
            return;
        }

        try
        {
            await AlarmAsync(new AlarmRequest { Action = AlarmRequest.Types.AlarmAction.Activate, MemberID = HeaderStamp.MemberId, Alarm = AlarmType.Nospace });
        }
        catch (Grpc.Core.RpcException)
        {
            // The client hears NOSPACE either way; the next refused write raises it again.
        }
    }

    /// <summary>etcd's Maintenance.Alarm: get, raise or clear alarms, through the log (GET too, as etcd 3.4 does).</summary>
    public Task<AlarmResponse> AlarmAsync(AlarmRequest request) =>
        ProposeAsync<AlarmResponse>(new WriteRequest { Alarm = request }, consumesSpace: false, r => r.Header);

    private ResponseHeader Stamp(ResponseHeader header, long revision) => HeaderStamp.Fill(header, RaftTerm, revision);

    /// <summary>
    /// Stops the actors, then the store. Every acknowledged write was committed before its
    /// acknowledgement, so stopping loses none; writes still in flight fail as "server stopped".
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 1)
        {
            return;
        }

        await CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ClrExitReason.Instance);
        waiters.FailAll(EtcdErrors.Stopped);
        store.Dispose();
        writePathTrace?.Dispose();
    }
}
