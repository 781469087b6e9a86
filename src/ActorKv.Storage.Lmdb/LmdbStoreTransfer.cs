using LightningDB;

namespace ActorKv.Storage.Lmdb;

/// <summary>One key/value pair of one of the store's databases (by ordinal), as exported.</summary>
public readonly record struct StoreRecord(int Database, byte[] Key, byte[] Value)
{
    /// <summary>Roughly what the record costs on the wire, for chunk bounds.</summary>
    public int SizeBytes => Key.Length + Value.Length + 8;
}

/// <summary>
/// Walks every database of the store in one read transaction: database by database, key by key,
/// duplicates in order. The order is the databases' own, so an import can append.
/// </summary>
public sealed class LmdbStoreExport : IDisposable
{
    private readonly LightningTransaction txn;
    private readonly IReadOnlyList<LightningDatabase> databases;
    private int database;
    private LightningCursor? cursor;
    private bool started;

    internal LmdbStoreExport(LightningTransaction txn, StoreDatabases storeDatabases)
    {
        this.txn = txn;
        databases = storeDatabases.All;
        View = new LmdbReadView(txn, storeDatabases, ownsTransaction: false);
    }

    /// <summary>The store as this export sees it (its meta and records), in the export's transaction.</summary>
    public LmdbReadView View { get; }

    public bool Finished => database >= databases.Count;

    /// <summary>Adds the next records to <paramref name="into"/>, at least one and about <paramref name="maxBytes"/> at most; false once none are left.</summary>
    public bool ReadChunk(List<StoreRecord> into, int maxBytes)
    {
        var bytes = 0;
        var any = false;
        while (!Finished && (bytes < maxBytes || !any))
        {
            cursor ??= txn.CreateCursor(databases[database]);
            var (code, key, value) = started ? cursor.Next() : cursor.First();
            started = true;
            if (code != MDBResultCode.Success)
            {
                cursor.Dispose();
                cursor = null;
                started = false;
                database++;
                continue;
            }

            var record = new StoreRecord(database, key.CopyToNewArray(), value.CopyToNewArray());
            into.Add(record);
            bytes += record.SizeBytes;
            any = true;
        }

        return any;
    }

    public void Dispose()
    {
        cursor?.Dispose();
        txn.Dispose();
    }
}

/// <summary>
/// Replaces the store's contents with imported records in one write transaction (see
/// <see cref="LmdbMvccStore.BeginImport"/>); nothing changes unless <see cref="Commit"/> is called.
/// </summary>
public sealed class LmdbStoreImport : IDisposable
{
    private readonly LightningTransaction txn;
    private readonly IReadOnlyList<LightningDatabase> databases;
    private readonly Action sync;
    private bool committed;

    internal LmdbStoreImport(LightningTransaction txn, IReadOnlyList<LightningDatabase> databases, Action sync)
    {
        this.txn = txn;
        this.databases = databases;
        this.sync = sync;
        foreach (var db in databases)
        {
            LmdbErrors.Check(txn.TruncateDatabase(db), "empty a database for an import");
        }
    }

    public void Write(StoreRecord record)
    {
        if (record.Database < 0 || record.Database >= databases.Count)
        {
            throw new ArgumentException($"no database {record.Database} in the store", nameof(record));
        }

        LmdbErrors.Check(txn.Put(databases[record.Database], record.Key, record.Value, PutOptions.None), "import a record");
    }

    /// <summary>
    /// Makes the imported store durable, meta page included, and visible, replacing the old one:
    /// the Raft log of a member that installs a snapshot begins after it, so it must never be undone.
    /// </summary>
    public void Commit()
    {
        LmdbErrors.Check(txn.Commit(), "commit an import");
        committed = true;
        sync();
    }

    public void Dispose()
    {
        if (!committed)
        {
            txn.Abort();
        }

        txn.Dispose();
    }
}
