using System.Net;
using ActorKv.Node.Configuration;
using ActorKv.Protocol;
using ActorKv.Protocol.Membership;
using ActorKv.Raft;
using ActorKv.Storage.Lmdb;
using Google.Protobuf;
using Grpc.Core;

namespace ActorKv.Node.Membership;

/// <summary>
/// The cluster's members as the applied log defines them (etcd's RaftCluster), and the one place
/// that decides whether a membership change is valid. The apply actor is the only writer: it
/// validates each committed change against the membership before it, records the result in the
/// MVCC store in the same transaction as the applied index, and only then does Raft see the
/// change, so every member makes the same decision at the same index (etcd does the same).
/// Immutable: a change gives a new instance.
/// </summary>
public sealed class ClusterMembership
{
    /// <summary>The name of the record in the MVCC store.</summary>
    public const string RecordName = "members";

    /// <summary>etcd 3.4 allows one learner at a time.</summary>
    public const int MaxLearners = 1;

    private readonly ActorKv.Protocol.Membership.Membership state;

    private ClusterMembership(ActorKv.Protocol.Membership.Membership state)
    {
        this.state = state;
    }

    public static ClusterMembership Empty { get; } = new(new ActorKv.Protocol.Membership.Membership());

    public IReadOnlyList<Member> Members => state.Members;

    public IReadOnlyCollection<ulong> Removed => state.Removed;

    public Member? Find(ulong id) => state.Members.FirstOrDefault(m => m.Id == id);

    public ConfState ConfState => new(
        state.Members.Where(m => !m.IsLearner).Select(m => m.Id).Order().ToList(),
        state.Members.Where(m => m.IsLearner).Select(m => m.Id).Order().ToList());

    /// <summary>The member as HOCON's initial-members lists it, started (named) already.</summary>
    public static Member FromSettings(MemberSettings member) => new()
    {
        Id = member.Id,
        Name = member.Name,
        PeerUrls = { PeerUrl(member.Peer) },
        ClientUrls = { member.Client.ToString() },
    };

    /// <summary>etcd's form of a peer URL.</summary>
    public static string PeerUrl(IPEndPoint peer) => $"http://{peer}";

    /// <summary>The Akka.Remote endpoint of a member: its first peer URL.</summary>
    public static IPEndPoint? PeerEndpoint(Member member) =>
        member.PeerUrls.Count > 0 && TryParseUrl(member.PeerUrls[0], out var endpoint) ? endpoint : null;

    /// <summary>http://ip:port or ip:port; Akka.Remote needs an IP address.</summary>
    public static bool TryParseUrl(string url, out IPEndPoint endpoint)
    {
        var text = url.StartsWith("http://", StringComparison.Ordinal) ? url["http://".Length..] : url;
        return IPEndPoint.TryParse(text.TrimEnd('/'), out endpoint!) && endpoint.Port != 0;
    }

    public static ClusterMembership? Read(LmdbReadView view) =>
        view.ReadRecord(RecordName) is { } bytes ? new ClusterMembership(ActorKv.Protocol.Membership.Membership.Parser.ParseFrom(bytes)) : null;

    public void Write(LmdbWriteView view) => view.WriteRecord(RecordName, state.ToByteArray());

    /// <summary>A copy of the record, as the answer to a membership change.</summary>
    public ActorKv.Protocol.Membership.Membership ToProto() => state.Clone();

    public static ClusterMembership FromProto(ActorKv.Protocol.Membership.Membership membership) => new(membership.Clone());

    /// <summary>
    /// etcd's ValidateConfigurationChange: null when the change may be applied, else the error its
    /// proposer gets. Also checked before proposing, for an early answer; the apply-time check decides.
    /// </summary>
    public RpcException? Validate(MembershipChange change)
    {
        var id = change.Member?.Id ?? 0;
        if (id == 0)
        {
            return EtcdErrors.MemberNotFound;
        }

        if (state.Removed.Contains(id))
        {
            return EtcdErrors.MemberNotFound;
        }

        var existing = Find(id);
        switch (change.Kind)
        {
            case MembershipChange.Types.Kind.Add or MembershipChange.Types.Kind.AddLearner:
                if (existing is not null)
                {
                    return EtcdErrors.MemberExist;
                }

                if (!HasValidPeerUrls(change.Member!))
                {
                    return EtcdErrors.MemberBadUrls;
                }

                if (PeerUrlTaken(change.Member!.PeerUrls, exceptId: 0))
                {
                    return EtcdErrors.PeerUrlExist;
                }

                if (change.Kind == MembershipChange.Types.Kind.AddLearner && state.Members.Count(m => m.IsLearner) + 1 > MaxLearners)
                {
                    return EtcdErrors.TooManyLearners;
                }

                return null;
            case MembershipChange.Types.Kind.Promote:
                return existing is null ? EtcdErrors.MemberNotFound
                    : !existing.IsLearner ? EtcdErrors.MemberNotLearner
                    : null;
            case MembershipChange.Types.Kind.Remove:
                return existing is null ? EtcdErrors.MemberNotFound
                    // Raft cannot remove its last voter; etcd's raft panics, ActorKv refuses.
                    : !existing.IsLearner && ConfState.Voters.Count == 1 ? EtcdErrors.MemberNotEnoughStarted
                    : null;
            case MembershipChange.Types.Kind.UpdatePeerUrls:
                if (existing is null)
                {
                    return EtcdErrors.MemberNotFound;
                }

                if (!HasValidPeerUrls(change.Member!))
                {
                    return EtcdErrors.MemberBadUrls;
                }

                return PeerUrlTaken(change.Member!.PeerUrls, exceptId: id) ? EtcdErrors.PeerUrlExist : null;
            case MembershipChange.Types.Kind.PublishAttributes:
                return existing is null ? EtcdErrors.MemberNotFound : null;
            default:
                return new RpcException(new Status(StatusCode.InvalidArgument, "actorkv: unknown membership change"));
        }
    }

    /// <summary>
    /// etcd's --strict-reconfig-check (on by default): a change must leave enough started
    /// members for a quorum. Checked by the leader before proposing.
    /// </summary>
    public RpcException? CheckQuorumAfter(MembershipChange change)
    {
        var voters = state.Members.Where(m => !m.IsLearner).ToList();
        int members, started;
        switch (change.Kind)
        {
            case MembershipChange.Types.Kind.Add:
                members = voters.Count + 1;
                started = voters.Count(IsStarted);
                if (started == 1 && members == 2)
                {
                    return null; // growing a one-member cluster, as etcd allows
                }

                break;
            case MembershipChange.Types.Kind.Promote:
                members = voters.Count + 1;
                started = voters.Count(IsStarted) + 1;
                break;
            case MembershipChange.Types.Kind.Remove when Find(change.Member.Id) is { IsLearner: false }:
                var remaining = voters.Where(m => m.Id != change.Member.Id).ToList();
                members = remaining.Count;
                started = remaining.Count(IsStarted);
                break;
            default:
                return null;
        }

        return started < (members / 2) + 1 ? EtcdErrors.MemberNotEnoughStarted : null;
    }

    /// <summary>
    /// etcd's other strict reconfiguration check (mayRemoveMember): removing a voter that is up
    /// must leave a quorum of voters that are up, or the cluster would stop on the spot; a voter
    /// that is down is safe to remove. "Up" is this leader or a member it heard from recently.
    /// </summary>
    public RpcException? CheckActiveQuorumAfter(MembershipChange change, ulong self, Func<ulong, bool> recentlyHeard)
    {
        if (change.Kind != MembershipChange.Types.Kind.Remove || Find(change.Member.Id) is not { IsLearner: false })
        {
            return null;
        }

        if (change.Member.Id != self && !recentlyHeard(change.Member.Id))
        {
            return null;
        }

        var voters = state.Members.Where(m => !m.IsLearner).ToList();
        var up = voters.Count(m => m.Id == self || recentlyHeard(m.Id));
        var quorumAfter = ((voters.Count - 1) / 2) + 1;
        return up - 1 < quorumAfter ? EtcdErrors.Unhealthy : null;
    }

    /// <summary>At least one peer URL, and every one usable (etcd: "given member URLs are invalid").</summary>
    private static bool HasValidPeerUrls(Member member) =>
        member.PeerUrls.Count > 0 && member.PeerUrls.All(u => TryParseUrl(u, out _));

    /// <summary>A member that has started and published its name (etcd's IsStarted).</summary>
    public static bool IsStarted(Member member) => member.Name.Length > 0;

    /// <summary>The membership after a change that <see cref="Validate"/> accepted.</summary>
    public ClusterMembership Apply(MembershipChange change)
    {
        var next = state.Clone();
        var id = change.Member.Id;
        var member = next.Members.FirstOrDefault(m => m.Id == id);
        switch (change.Kind)
        {
            case MembershipChange.Types.Kind.Add or MembershipChange.Types.Kind.AddLearner:
                next.Members.Add(new Member
                {
                    Id = id,
                    Name = change.Member.Name,
                    PeerUrls = { change.Member.PeerUrls },
                    ClientUrls = { change.Member.ClientUrls },
                    IsLearner = change.Kind == MembershipChange.Types.Kind.AddLearner,
                });
                break;
            case MembershipChange.Types.Kind.Promote:
                member!.IsLearner = false;
                break;
            case MembershipChange.Types.Kind.Remove:
                next.Members.Remove(member!);
                next.Removed.Add(id);
                break;
            case MembershipChange.Types.Kind.UpdatePeerUrls:
                member!.PeerUrls.Clear();
                member.PeerUrls.Add(change.Member.PeerUrls);
                break;
            case MembershipChange.Types.Kind.PublishAttributes:
                member!.Name = change.Member.Name;
                member.ClientUrls.Clear();
                member.ClientUrls.Add(change.Member.ClientUrls);
                break;
        }

        var ordered = next.Members.OrderBy(m => m.Id).ToList();
        next.Members.Clear();
        next.Members.Add(ordered);
        return new ClusterMembership(next);
    }

    /// <summary>What Raft needs to know of a change.</summary>
    public static ConfChange ToConfChange(MembershipChange change) => new(
        change.Kind switch
        {
            MembershipChange.Types.Kind.Add or MembershipChange.Types.Kind.Promote => ConfChangeType.AddNode,
            MembershipChange.Types.Kind.AddLearner => ConfChangeType.AddLearnerNode,
            MembershipChange.Types.Kind.Remove => ConfChangeType.RemoveNode,
            _ => ConfChangeType.UpdateNode,
        },
        change.Member.Id,
        change.ToByteArray());

    private bool PeerUrlTaken(IEnumerable<string> urls, ulong exceptId)
    {
        var taken = state.Members.Where(m => m.Id != exceptId).SelectMany(m => m.PeerUrls).ToHashSet();
        return urls.Any(taken.Contains);
    }
}
