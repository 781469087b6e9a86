using ActorKv.Mvcc;
using LightningDB;

namespace ActorKv.Storage.Lmdb;

/// <summary>
/// The one write transaction of an <see cref="LmdbMvccStore"/>. Many client requests share it
/// (group commit); <see cref="Commit"/> makes all of them durable with one fsync.
/// </summary>
public sealed class LmdbWriteView : LmdbReadView, IMvccWriteView
{
    private readonly StoreDatabases databases;
    private readonly Action<TimeSpan>? commitObserved;
    private bool metaChanged;
    private bool committed;

    // commitObserved is told each commit's duration; null for a nested view (its commit does no I/O).
    internal LmdbWriteView(LightningTransaction txn, StoreDatabases databases, Action<TimeSpan>? commitObserved)
        : base(txn, databases)
    {
        this.databases = databases;
        this.commitObserved = commitObserved;
    }

    /// <summary>
    /// A transaction nested in this one (LMDB's child transaction): it sees this one's writes;
    /// its <see cref="Commit"/> hands its own to this one (no disk I/O), its disposal without
    /// commit discards only them. Use it on this view's thread, and dispose it before this view
    /// is committed or disposed.
    /// </summary>
    public LmdbWriteView BeginNested() => new(Txn.BeginTransaction(), databases, commitObserved: null);

    public void WriteVersion(KeyValueEntry entry, Revision revision, bool tombstone)
    {
        if (entry.Key.Length is 0 or > LmdbMvccStore.MaxKeyBytes)
        {
            throw new ArgumentException($"a key must have 1 to {LmdbMvccStore.MaxKeyBytes} bytes, not {entry.Key.Length}", nameof(entry));
        }

        // Revisions only grow, so each goes at the end of its database: LMDB's append then fills
        // pages whole instead of splitting them (a failing append means a revision not above the
        // newest, which must never be written).
        LmdbErrors.Check(Txn.Put(Revisions, VersionCodec.EncodeRevision(revision), VersionCodec.EncodeRecord(entry), PutOptions.AppendData), "store a version");
        LmdbErrors.Check(Txn.Put(Index, entry.Key, VersionCodec.EncodeIndexEntry(revision, tombstone), PutOptions.None), "index a version");
    }

    public void RemoveVersion(IndexEntry entry)
    {
        LmdbErrors.Check(Txn.Delete(Index, entry.Key, VersionCodec.EncodeIndexEntry(entry.Revision, entry.Tombstone)), "remove an index entry");
        LmdbErrors.Check(Txn.Delete(Revisions, VersionCodec.EncodeRevision(entry.Revision)), "remove a version");
    }

    /// <summary>Stores an owner record (see <see cref="LmdbReadView.ReadRecord"/>) in this transaction.</summary>
    public void WriteRecord(string name, byte[] value) =>
        LmdbErrors.Check(Txn.Put(MetaDatabase, RecordKey(name), value, PutOptions.None), "store the record " + name);

    public void WriteLease(LeaseRecord lease)
    {
        var ttl = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(ttl, lease.Ttl);
        LmdbErrors.Check(Txn.Put(Leases, VersionCodec.EncodeLeaseId(lease.Id), ttl, PutOptions.None), "store a lease");
    }

    public void RemoveLease(long id)
    {
        var code = Txn.Delete(Leases, VersionCodec.EncodeLeaseId(id));
        if (code != MDBResultCode.NotFound)
        {
            LmdbErrors.Check(code, "remove a lease");
        }
    }

    public void AttachKey(long lease, byte[] key) =>
        LmdbErrors.Check(Txn.Put(LeaseKeys, VersionCodec.EncodeLeaseId(lease), key, PutOptions.None), "attach a key to a lease");

    public void DetachKey(long lease, byte[] key)
    {
        var code = Txn.Delete(LeaseKeys, VersionCodec.EncodeLeaseId(lease), key);
        if (code != MDBResultCode.NotFound)
        {
            LmdbErrors.Check(code, "detach a key from a lease");
        }
    }

    public void WriteMeta(MvccMeta meta)
    {
        Meta = meta;
        metaChanged = true;
    }

    /// <summary>
    /// Makes everything written durable (fsync unless the store was opened without it); for a
    /// nested view, hands it to the enclosing transaction.
    /// </summary>
    public void Commit()
    {
        if (metaChanged)
        {
            LmdbErrors.Check(Txn.Put(MetaDatabase, MetaRecordKey, VersionCodec.EncodeMeta(Meta), PutOptions.None), "store the meta record");
        }

        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        LmdbErrors.Check(Txn.Commit(), "commit");
        committed = true;
        commitObserved?.Invoke(System.Diagnostics.Stopwatch.GetElapsedTime(started));
    }

    public override void Dispose()
    {
        if (!committed)
        {
            Txn.Abort();
        }

        base.Dispose();
    }
}
