using ActorKv.Mvcc;
using LightningDB;

namespace ActorKv.Storage.Lmdb;

/// <summary>A snapshot of the MVCC databases in one LMDB transaction.</summary>
public class LmdbReadView : IMvccReadView
{
    private static readonly byte[] MetaKey = "m"u8.ToArray();

    private protected readonly LightningTransaction Txn;
    private protected readonly LightningDatabase Index;
    private protected readonly LightningDatabase Revisions;
    private protected readonly LightningDatabase MetaDatabase;
    private protected readonly LightningDatabase Leases;
    private protected readonly LightningDatabase LeaseKeys;
    private readonly bool ownsTransaction;
    private MvccMeta meta;

    internal LmdbReadView(LightningTransaction txn, StoreDatabases databases, bool ownsTransaction = true)
    {
        Txn = txn;
        this.ownsTransaction = ownsTransaction;
        Index = databases.Index;
        Revisions = databases.Revisions;
        MetaDatabase = databases.Meta;
        Leases = databases.Leases;
        LeaseKeys = databases.LeaseKeys;
        try
        {
            var (code, _, value) = txn.Get(MetaDatabase, MetaKey);
            meta = code == MDBResultCode.Success ? VersionCodec.DecodeMeta(value.AsSpan()) : MvccMeta.Empty;
        }
        catch when (ownsTransaction)
        {
            // Nobody else can end it (a store of another format): an open transaction would make
            // closing the environment throw, on whichever thread finalizes it.
            txn.Dispose();
            throw;
        }
    }

    public MvccMeta Meta
    {
        get => meta;
        private protected set => meta = value;
    }

    private protected static byte[] MetaRecordKey => MetaKey;

    /// <summary>
    /// A record the store's owner keeps beside the MVCC data (the cluster membership, say), under
    /// a name of its choosing; null when absent. Read in this view's transaction.
    /// </summary>
    public byte[]? ReadRecord(string name)
    {
        var (code, _, value) = Txn.Get(MetaDatabase, RecordKey(name));
        return code == MDBResultCode.Success ? value.CopyToNewArray() : null;
    }

    public IEnumerable<(Revision Revision, KeyValueEntry Entry)> ScanVersions(long fromMainRevision)
    {
        using var cursor = Txn.CreateCursor(Revisions);
        if (cursor.SetRange(VersionCodec.EncodeRevision(new Revision(fromMainRevision, 0))) != MDBResultCode.Success)
        {
            yield break;
        }

        var (code, key, value) = cursor.GetCurrent();
        while (code == MDBResultCode.Success)
        {
            var revision = VersionCodec.ReadRevision(key.AsSpan());
            yield return (revision, VersionCodec.DecodeRecord(revision, value.AsSpan()));
            (code, key, value) = cursor.Next();
        }
    }

    public LeaseRecord? ReadLease(long id)
    {
        var (code, _, value) = Txn.Get(Leases, VersionCodec.EncodeLeaseId(id));
        return code == MDBResultCode.Success ? new LeaseRecord(id, System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(value.AsSpan())) : null;
    }

    public IEnumerable<LeaseRecord> ReadLeases()
    {
        using var cursor = Txn.CreateCursor(Leases);
        var (code, key, value) = cursor.First();
        while (code == MDBResultCode.Success)
        {
            yield return new LeaseRecord(VersionCodec.DecodeLeaseId(key.AsSpan()), System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(value.AsSpan()));
            (code, key, value) = cursor.Next();
        }
    }

    public IEnumerable<byte[]> ReadLeaseKeys(long id)
    {
        using var cursor = Txn.CreateCursor(LeaseKeys);
        var leaseKey = VersionCodec.EncodeLeaseId(id);
        if (cursor.Set(leaseKey) != MDBResultCode.Success)
        {
            yield break;
        }

        var (code, _, value) = cursor.GetCurrent();
        while (code == MDBResultCode.Success)
        {
            yield return value.CopyToNewArray();
            (code, _, value) = cursor.NextDuplicate();
        }
    }

    /// <summary>Owner records live in the meta database under "r/" + name, apart from the MVCC meta record.</summary>
    private protected static byte[] RecordKey(string name) => System.Text.Encoding.UTF8.GetBytes("r/" + name);

    public IEnumerable<IndexEntry> ScanLatest(byte[] key, byte[]? rangeEnd, long atMainRevision)
    {
        using var cursor = Txn.CreateCursor(Index);
        if (rangeEnd is null)
        {
            if (cursor.Set(key) == MDBResultCode.Success && LatestOfCurrentKey(cursor, key, atMainRevision) is { } single)
            {
                yield return single;
            }

            yield break;
        }

        if (rangeEnd.Length > 0 && key.AsSpan().SequenceCompareTo(rangeEnd) >= 0)
        {
            yield break;
        }

        // LMDB cannot seek to a key longer than it can store; seek to its longest prefix and skip forward.
        var code = cursor.SetRange(key.Length > LmdbMvccStore.MaxKeyBytes ? key[..LmdbMvccStore.MaxKeyBytes] : key);
        while (code == MDBResultCode.Success)
        {
            var (_, currentKey, _) = cursor.GetCurrent();
            if (rangeEnd.Length > 0 && currentKey.AsSpan().SequenceCompareTo(rangeEnd) >= 0)
            {
                yield break;
            }

            if (currentKey.AsSpan().SequenceCompareTo(key) < 0)
            {
                code = cursor.NextNoDuplicate().resultCode;
                continue;
            }

            var keyBytes = currentKey.CopyToNewArray();
            if (LatestOfCurrentKey(cursor, keyBytes, atMainRevision) is { } latest)
            {
                yield return latest;
            }

            code = cursor.NextNoDuplicate().resultCode;
        }
    }

    /// <summary>
    /// With the cursor on <paramref name="key"/>: its newest entry at or below the revision. Reads
    /// at the current revision (the common case) take one step; history reads seek.
    /// </summary>
    private static IndexEntry? LatestOfCurrentKey(LightningCursor cursor, byte[] key, long atMainRevision)
    {
        var (code, _, newest) = cursor.LastDuplicate();
        LmdbErrors.Check(code, "read a key's newest version");
        var newestEntry = VersionCodec.DecodeIndexEntry(key, newest.AsSpan());
        if (newestEntry.Revision.Main <= atMainRevision)
        {
            return newestEntry;
        }

        // Some entries are newer: find the first one above the revision, then step back one.
        var above = VersionCodec.EncodeIndexEntry(new Revision(atMainRevision + 1, 0), tombstone: false);
        LmdbErrors.Check(cursor.GetBothRange(key, above), "seek a key's history");
        var (previousCode, _, previous) = cursor.PreviousDuplicate();
        if (previousCode != MDBResultCode.Success)
        {
            return null; // the key did not exist yet at that revision
        }

        return VersionCodec.DecodeIndexEntry(key, previous.AsSpan());
    }

    public KeyValueEntry ReadVersion(Revision revision)
    {
        var (code, _, value) = Txn.Get(Revisions, VersionCodec.EncodeRevision(revision));
        if (code != MDBResultCode.Success)
        {
            throw new InvalidDataException($"the index names revision {revision} but no version is stored there ({code})");
        }

        return VersionCodec.DecodeRecord(revision, value.AsSpan());
    }

    public IReadOnlyList<(byte[] Key, IReadOnlyList<IndexEntry> Entries)> ReadHistories(byte[] fromKey, int maxKeys)
    {
        var histories = new List<(byte[], IReadOnlyList<IndexEntry>)>();
        using var cursor = Txn.CreateCursor(Index);
        var code = fromKey.Length == 0 ? cursor.First().resultCode : cursor.SetRange(fromKey);
        while (code == MDBResultCode.Success && histories.Count < maxKeys)
        {
            var (_, currentKey, first) = cursor.GetCurrent();
            var key = currentKey.CopyToNewArray();
            var entries = new List<IndexEntry> { VersionCodec.DecodeIndexEntry(key, first.AsSpan()) };
            for (var (next, _, value) = cursor.NextDuplicate(); next == MDBResultCode.Success; (next, _, value) = cursor.NextDuplicate())
            {
                entries.Add(VersionCodec.DecodeIndexEntry(key, value.AsSpan()));
            }

            histories.Add((key, entries));
            code = cursor.NextNoDuplicate().resultCode;
        }

        return histories;
    }

    public virtual void Dispose()
    {
        if (ownsTransaction)
        {
            Txn.Dispose();
        }

        GC.SuppressFinalize(this);
    }
}
