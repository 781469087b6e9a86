namespace ActorKv.Mvcc;

/// <summary>
/// One version of a key, as etcd's <c>mvccpb.KeyValue</c>. <see cref="Version"/> counts puts since
/// the key was (re)created; a tombstone has version 0 and marks the end of a generation.
/// Byte arrays are never mutated after construction: owners may share them.
/// </summary>
public sealed record KeyValueEntry(
    byte[] Key,
    long CreateRevision,
    long ModRevision,
    long Version,
    byte[] Value,
    long Lease);

/// <summary>A change made by a write, in revision order; the feed for watchers.</summary>
public sealed record MvccEvent(MvccEventType Type, KeyValueEntry Kv, Revision Revision);

public enum MvccEventType
{
    Put = 0,
    Delete = 1,
}

/// <summary>
/// A granted lease as the store keeps it: its id and the TTL it was granted with, in seconds.
/// When it expires is not state: the leader decides that from its own clock (etcd's lessor).
/// </summary>
public sealed record LeaseRecord(long Id, long Ttl);
