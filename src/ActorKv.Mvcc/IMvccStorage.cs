namespace ActorKv.Mvcc;

/// <summary>A key's index entry: the revision of one of its versions and whether it is a tombstone.</summary>
public readonly record struct IndexEntry(byte[] Key, Revision Revision, bool Tombstone);

/// <summary>
/// One consistent, read-only snapshot of the store. What the MVCC engine needs from storage and
/// nothing more; the LMDB backend implements it, and so could any ordered key-value store.
/// A view is used by one thread at a time and must be disposed.
/// </summary>
public interface IMvccReadView : IDisposable
{
    MvccMeta Meta { get; }

    /// <summary>
    /// The distinct keys in the range, in ascending byte order, each with its newest index entry
    /// whose main revision is at or below <paramref name="atMainRevision"/>; keys with no such
    /// entry are skipped. Tombstones are returned (the caller skips them) so that one scan serves
    /// both reads and writes.
    /// </summary>
    /// <param name="key">The first key.</param>
    /// <param name="rangeEnd">Null: the single key. Empty: no upper bound. Otherwise exclusive end.</param>
    /// <param name="atMainRevision">The revision to read at.</param>
    IEnumerable<IndexEntry> ScanLatest(byte[] key, byte[]? rangeEnd, long atMainRevision);

    /// <summary>The version stored at <paramref name="revision"/>; it must exist (an index entry names it).</summary>
    KeyValueEntry ReadVersion(Revision revision);

    /// <summary>
    /// Every index entry of every key from <paramref name="fromKey"/> on (inclusive), oldest first
    /// per key, at most <paramref name="maxKeys"/> keys. For compaction and consistency checks.
    /// </summary>
    IReadOnlyList<(byte[] Key, IReadOnlyList<IndexEntry> Entries)> ReadHistories(byte[] fromKey, int maxKeys);

    /// <summary>
    /// Every stored version (tombstones too: version 0) from main revision <paramref name="fromMainRevision"/>
    /// on, in revision order: the store's history as watchers replay it.
    /// </summary>
    IEnumerable<(Revision Revision, KeyValueEntry Entry)> ScanVersions(long fromMainRevision);

    /// <summary>A granted lease, or null.</summary>
    LeaseRecord? ReadLease(long id);

    /// <summary>Every granted lease, by id.</summary>
    IEnumerable<LeaseRecord> ReadLeases();

    /// <summary>The keys attached to a lease, in byte order.</summary>
    IEnumerable<byte[]> ReadLeaseKeys(long id);
}

/// <summary>
/// A write transaction: reads see its own earlier writes. Nothing is visible to other views
/// until the owner commits it; disposing without commit discards everything.
/// </summary>
public interface IMvccWriteView : IMvccReadView
{
    /// <summary>Stores a new version (or tombstone) of <see cref="KeyValueEntry.Key"/> at <paramref name="revision"/>.</summary>
    void WriteVersion(KeyValueEntry entry, Revision revision, bool tombstone);

    /// <summary>Removes one version of a key: its index entry and its stored value.</summary>
    void RemoveVersion(IndexEntry entry);

    void WriteMeta(MvccMeta meta);

    void WriteLease(LeaseRecord lease);

    /// <summary>Removes a lease; its keys must have been detached.</summary>
    void RemoveLease(long id);

    void AttachKey(long lease, byte[] key);

    void DetachKey(long lease, byte[] key);
}
