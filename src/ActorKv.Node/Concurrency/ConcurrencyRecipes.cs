using System.Threading.Channels;
using ActorKv.Node.Watch;
using Akka.Actor;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Status = Grpc.Core.Status;

namespace ActorKv.Node.Concurrency;

/// <summary>
/// etcd's concurrency recipes (clientv3/concurrency: Mutex and Election), run inside the server
/// for the v3lock and v3election services, as etcd runs them: built only on leases, txns, ranges
/// and watches, so they behave exactly as a client using the same recipes against this server.
/// A holder's key is <c>name/lease-id-in-hex</c>; the holder is the key with the lowest create
/// revision, and waiters wait for the deletion of the key just before theirs. The create
/// revision of the lock key is a fencing token: it only grows.
/// </summary>
public sealed class ConcurrencyRecipes(ActorKvNode node)
{
    /// <summary>etcd's server-side sessions grant a lease of this TTL when the request names none.</summary>
    private const long DefaultSessionTtlSeconds = 60;

    /// <summary>What a Go error with this text becomes at etcd's gRPC boundary: code Unknown.</summary>
    private static RpcException GoError(string message) => new(new Status(StatusCode.Unknown, message), message);

    public static RpcException NoLeader => GoError("election: no leader");

    public static RpcException NotLeader => GoError("election: not leader");

    public static RpcException MissingLeaderKey => GoError("\"leader\" field must be provided");

    /// <summary>etcd's v3lock Lock: waits until this lease holds the named lock; answers its key.</summary>
    public async Task<(ResponseHeader Header, string Key)> LockAsync(ByteString name, long lease, CancellationToken cancellation)
    {
        lease = await SessionLeaseAsync(lease);
        var prefix = name.ToStringUtf8() + "/";
        var myKey = prefix + lease.ToString("x");
        var txn = await node.TxnAsync(new TxnRequest
        {
            Compare = { CreateRevisionIs(myKey, 0) },
            Success = { Put(myKey, ByteString.Empty, lease), FirstCreated(prefix) },
            Failure = { Get(myKey), FirstCreated(prefix) },
        });
        var myRevision = txn.Succeeded ? txn.Header.Revision : txn.Responses[0].ResponseRange.Kvs[0].CreateRevision;
        var owner = txn.Responses[1].ResponseRange.Kvs;
        if (owner.Count == 0 || owner[0].CreateRevision == myRevision)
        {
            return (txn.Header, myKey);
        }

        try
        {
            return (await WaitDeletesAsync(prefix, myRevision - 1, cancellation), myKey);
        }
        catch
        {
            // Give up the place in the queue, as etcd's Mutex does when its wait fails.
            await node.DeleteRangeAsync(new DeleteRangeRequest { Key = ByteString.CopyFromUtf8(myKey) });
            throw;
        }
    }

    /// <summary>etcd's Election.Campaign: waits until this lease leads the named election.</summary>
    public async Task<(ResponseHeader Header, V3electionpb.LeaderKey Leader)> CampaignAsync(ByteString name, long lease, ByteString value, CancellationToken cancellation)
    {
        lease = await SessionLeaseAsync(lease);
        var prefix = name.ToStringUtf8() + "/";
        var key = prefix + lease.ToString("x");
        var txn = await node.TxnAsync(new TxnRequest
        {
            Compare = { CreateRevisionIs(key, 0) },
            Success = { Put(key, value, lease) },
            Failure = { Get(key) },
        });
        var leader = new V3electionpb.LeaderKey { Name = name, Key = ByteString.CopyFromUtf8(key), Rev = txn.Header.Revision, Lease = lease };
        if (!txn.Succeeded)
        {
            var existing = txn.Responses[0].ResponseRange.Kvs[0];
            leader.Rev = existing.CreateRevision;
            if (existing.Value != value)
            {
                await ProclaimAsync(leader, value);
            }
        }

        try
        {
            await WaitDeletesAsync(prefix, leader.Rev - 1, cancellation);
        }
        catch
        {
            await ResignAsync(leader);
            throw;
        }

        return (txn.Header, leader);
    }

    /// <summary>etcd's Election.Proclaim: a new value, only while the key still leads (same create revision).</summary>
    public async Task<ResponseHeader> ProclaimAsync(V3electionpb.LeaderKey? leader, ByteString value)
    {
        if (leader is null)
        {
            throw MissingLeaderKey;
        }

        var key = leader.Key.ToStringUtf8();
        var txn = await node.TxnAsync(new TxnRequest
        {
            Compare = { CreateRevisionIs(key, leader.Rev) },
            Success = { Put(key, value, leader.Lease) },
        });
        return txn.Succeeded ? txn.Header : throw NotLeader;
    }

    /// <summary>etcd's Election.Resign: deletes the key if it still leads; no error otherwise.</summary>
    public async Task<ResponseHeader> ResignAsync(V3electionpb.LeaderKey? leader)
    {
        if (leader is null)
        {
            throw MissingLeaderKey;
        }

        var key = leader.Key.ToStringUtf8();
        var txn = await node.TxnAsync(new TxnRequest
        {
            Compare = { CreateRevisionIs(key, leader.Rev) },
            Success = { new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = ByteString.CopyFromUtf8(key) } } },
        });
        return txn.Header;
    }

    /// <summary>etcd's Election.Leader: the key with the lowest create revision under the name.</summary>
    public async Task<(ResponseHeader Header, Mvccpb.KeyValue Leader)> LeaderAsync(ByteString name)
    {
        var response = await node.RangeAsync(FirstCreated(name.ToStringUtf8() + "/").RequestRange);
        return response.Kvs.Count == 0 ? throw NoLeader : (response.Header, response.Kvs[0]);
    }

    /// <summary>
    /// etcd's Election.Observe: the leader now (or, with none, the first to come), then every
    /// change of its value, and the next leader when it goes; until cancelled.
    /// </summary>
    public async Task ObserveAsync(ByteString name, Func<ResponseHeader, Mvccpb.KeyValue, Task> send, CancellationToken cancellation)
    {
        var prefix = name.ToStringUtf8() + "/";
        while (!cancellation.IsCancellationRequested)
        {
            var first = await node.RangeAsync(FirstCreated(prefix).RequestRange);
            ResponseHeader header = first.Header;
            Mvccpb.KeyValue leader;
            if (first.Kvs.Count > 0)
            {
                leader = first.Kvs[0];
            }
            else
            {
                // No leader yet: the first put under the name is the next one.
                var (putHeader, put) = await NextEventAsync(prefix, prefixRange: true, first.Header.Revision + 1, Mvccpb.Event.Types.EventType.Put, cancellation);
                header = putHeader;
                leader = put.Kv;
            }

            await send(header, leader);
            // Follow the leader's key: new values are sent, its deletion ends its term.
            var fromRevision = leader.ModRevision + 1;
            while (true)
            {
                var (changeHeader, change) = await NextEventAsync(leader.Key.ToStringUtf8(), prefixRange: false, fromRevision, type: null, cancellation);
                if (change.Type == Mvccpb.Event.Types.EventType.Delete)
                {
                    break;
                }

                leader = change.Kv;
                fromRevision = leader.ModRevision + 1;
                await send(changeHeader, leader);
            }
        }
    }

    /// <summary>etcd's waitDeletes: until no key under the prefix has a create revision up to the bound.</summary>
    private async Task<ResponseHeader> WaitDeletesAsync(string prefix, long maxCreateRevision, CancellationToken cancellation)
    {
        while (true)
        {
            var last = await node.RangeAsync(new RangeRequest
            {
                Key = ByteString.CopyFromUtf8(prefix),
                RangeEnd = PrefixEnd(prefix),
                SortOrder = RangeRequest.Types.SortOrder.Descend,
                SortTarget = RangeRequest.Types.SortTarget.Create,
                Limit = 1,
                MaxCreateRevision = maxCreateRevision,
            });
            if (last.Kvs.Count == 0)
            {
                return last.Header;
            }

            await NextEventAsync(last.Kvs[0].Key.ToStringUtf8(), prefixRange: false, last.Header.Revision, Mvccpb.Event.Types.EventType.Delete, cancellation);
        }
    }

    /// <summary>Watches from a revision until an event of the type (any, if null) comes; answers it with its header.</summary>
    private async Task<(ResponseHeader Header, Mvccpb.Event Event)> NextEventAsync(string key, bool prefixRange, long fromRevision, Mvccpb.Event.Types.EventType? type, CancellationToken cancellation)
    {
        var outbox = Channel.CreateUnbounded<WatchResponse>();
        var pending = new WatchOutboxCounter();
        var stream = node.OpenWatchStream(outbox.Writer, pending);
        try
        {
            var create = new WatchCreateRequest { Key = ByteString.CopyFromUtf8(key), StartRevision = fromRevision };
            if (prefixRange)
            {
                create.RangeEnd = PrefixEnd(key);
            }

            stream.Tell(new WatchStream.ClientRequest(new WatchRequest { CreateRequest = create }));
            await foreach (var response in outbox.Reader.ReadAllAsync(cancellation))
            {
                if (response.Events.Count > 0)
                {
                    pending.Decrement();
                }

                if (response.CompactRevision != 0)
                {
                    throw ActorKv.Protocol.EtcdErrors.Compacted;
                }

                foreach (var change in response.Events.Where(e => type is null || e.Type == type))
                {
                    return (response.Header, change);
                }
            }

            cancellation.ThrowIfCancellationRequested();
            throw GoError("lost watcher waiting for delete");
        }
        finally
        {
            stream.Tell(PoisonPill.Instance);
        }
    }

    /// <summary>etcd's NewSession: the given lease, or a new 60 s one (which nobody keeps alive: etcd orphans it too).</summary>
    private async Task<long> SessionLeaseAsync(long lease) =>
        lease != 0 ? lease : (await node.LeaseGrantAsync(new LeaseGrantRequest { TTL = DefaultSessionTtlSeconds })).ID;

    private static Compare CreateRevisionIs(string key, long revision) => new()
    {
        Key = ByteString.CopyFromUtf8(key),
        Target = Compare.Types.CompareTarget.Create,
        Result = Compare.Types.CompareResult.Equal,
        CreateRevision = revision,
    };

    private static RequestOp Put(string key, ByteString value, long lease) =>
        new() { RequestPut = new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = value, Lease = lease } };

    private static RequestOp Get(string key) => new() { RequestRange = new RangeRequest { Key = ByteString.CopyFromUtf8(key) } };

    /// <summary>The first key created under the prefix (etcd's WithFirstCreate).</summary>
    private static RequestOp FirstCreated(string prefix) => new()
    {
        RequestRange = new RangeRequest
        {
            Key = ByteString.CopyFromUtf8(prefix),
            RangeEnd = PrefixEnd(prefix),
            SortOrder = RangeRequest.Types.SortOrder.Ascend,
            SortTarget = RangeRequest.Types.SortTarget.Create,
            Limit = 1,
        },
    };

    /// <summary>The range end that covers every key with the prefix (etcd's GetPrefixRangeEnd).</summary>
    private static ByteString PrefixEnd(string prefix)
    {
        var end = System.Text.Encoding.UTF8.GetBytes(prefix);
        for (var i = end.Length - 1; i >= 0; i--)
        {
            if (end[i] < 0xff)
            {
                end[i]++;
                return ByteString.CopyFrom(end, 0, i + 1);
            }
        }

        return ByteString.CopyFrom(0);
    }
}
