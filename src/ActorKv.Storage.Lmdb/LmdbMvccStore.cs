using ActorKv.Mvcc;
using LightningDB;

namespace ActorKv.Storage.Lmdb;

/// <summary>
/// The MVCC state in one LMDB environment, three databases:
/// <list type="bullet">
/// <item><c>index</c>: user key -> sorted duplicates (revision, tombstone flag): each key's history, newest last;</item>
/// <item><c>revisions</c>: revision -> the version stored at it (create revision, version, lease, key, value);</item>
/// <item><c>meta</c>: current, compacted and applied positions (<see cref="MvccMeta"/>), and owner records;</item>
/// <item><c>leases</c>: lease id -> its granted TTL;</item>
/// <item><c>lease-keys</c>: lease id -> sorted duplicates: the keys attached to it.</item>
/// </list>
/// Any number of threads may read at once, each in its own read-only transaction that never
/// waits for the writer. There is one writer at a time, on one thread (LMDB's rule): the owner
/// of the store serialises <see cref="BeginWrite"/>.
/// </summary>
public sealed class LmdbMvccStore : IDisposable
{
    /// <summary>LMDB's key size limit (Debian's liblmdb is built with 511): user keys longer than this cannot be stored.</summary>
    public const int MaxKeyBytes = 511;

    private const string IndexName = "index";
    private const string RevisionsName = "revisions";
    private const string MetaName = "meta";
    private const string LeasesName = "leases";
    private const string LeaseKeysName = "lease-keys";

    private readonly LightningEnvironment environment;
    private readonly LightningDatabase index;
    private readonly LightningDatabase revisions;
    private readonly LightningDatabase meta;
    private readonly LightningDatabase leases;
    private readonly LightningDatabase leaseKeys;

    public LmdbMvccStore(LmdbStoreOptions options)
    {
        Options = options;
        Directory.CreateDirectory(options.Directory);
        environment = new LightningEnvironment(options.Directory, new EnvironmentConfiguration
        {
            MapSize = options.MapSizeBytes,
            MaxDatabases = 8,
            MaxReaders = options.MaxReaders,
        });
        var flags = EnvironmentOpenFlags.NoThreadLocalStorage | EnvironmentOpenFlags.NoReadAhead;
        if (!options.Fsync)
        {
            flags |= EnvironmentOpenFlags.NoSync;
        }

        if (!options.SyncMeta)
        {
            flags |= EnvironmentOpenFlags.NoMetaSync;
        }

        environment.Open(flags);
        using var txn = environment.BeginTransaction();
        index = txn.OpenDatabase(IndexName, new DatabaseConfiguration
        {
            Flags = DatabaseOpenFlags.Create | DatabaseOpenFlags.DuplicatesSort | DatabaseOpenFlags.DuplicatesFixed,
        });
        revisions = txn.OpenDatabase(RevisionsName, new DatabaseConfiguration { Flags = DatabaseOpenFlags.Create });
        meta = txn.OpenDatabase(MetaName, new DatabaseConfiguration { Flags = DatabaseOpenFlags.Create });
        leases = txn.OpenDatabase(LeasesName, new DatabaseConfiguration { Flags = DatabaseOpenFlags.Create });
        leaseKeys = txn.OpenDatabase(LeaseKeysName, new DatabaseConfiguration { Flags = DatabaseOpenFlags.Create | DatabaseOpenFlags.DuplicatesSort });
        LmdbErrors.Check(txn.Commit(), "create the MVCC databases");
        // What a previous run committed may still sit unsynced in the page cache: from here on,
        // the applied index read at start is durable.
        Sync();
    }

    /// <summary>
    /// Forces every commit so far to disk, meta page included. Blocks on fsync: call it on the
    /// storage thread. Without meta sync, a commit makes every earlier commit durable, itself not yet.
    /// </summary>
    public void Sync()
    {
        if (Options.Fsync)
        {
            environment.Flush(force: true);
        }
    }

    public LmdbStoreOptions Options { get; }

    private StoreDatabases Databases => new(index, revisions, meta, leases, leaseKeys);

    /// <summary>Bytes of the data file LMDB has used so far (its high-water mark; freed pages are reused, not returned).</summary>
    public long SizeBytes => (environment.Info.LastPageNumber + 1) * environment.EnvironmentStats.PageSize;

    /// <summary>Bytes held by live pages of the three databases (what a compacted copy would need).</summary>
    public long SizeInUseBytes
    {
        get
        {
            using var txn = environment.BeginTransaction(TransactionBeginFlags.ReadOnly);
            long pages = 0;
            foreach (var database in Databases.All)
            {
                var stats = txn.GetStats(database);
                pages += stats.BranchPages + stats.LeafPages + stats.OverflowPages;
            }

            return pages * environment.EnvironmentStats.PageSize;
        }
    }

    /// <summary>LMDB's count of committed write transactions: how many commits (and fsyncs) the store has made.</summary>
    public long LastTransactionId => environment.Info.LastTransactionId;

    public LmdbReadView BeginRead() =>
        new(environment.BeginTransaction(TransactionBeginFlags.ReadOnly), Databases);

    /// <summary>
    /// Reads the whole store, as of now, record by record in bounded chunks (to send it to a
    /// member that is too far behind). Holds one read transaction until disposed.
    /// </summary>
    public LmdbStoreExport BeginExport() =>
        new(environment.BeginTransaction(TransactionBeginFlags.ReadOnly), Databases);

    /// <summary>
    /// Replaces the whole store with records from an export, in ONE write transaction: readers
    /// see the old store until it commits, then the new one. It holds the writer lock until
    /// committed or disposed, on the thread that began it.
    /// </summary>
    public LmdbStoreImport BeginImport() =>
        new(environment.BeginTransaction(), Databases.All, Sync);

    /// <summary>Starts the single write transaction. Commit or dispose it on the thread that began it.</summary>
    public LmdbWriteView BeginWrite() =>
        new(environment.BeginTransaction(), Databases, Options.CommitObserved);

    public void Dispose()
    {
        foreach (var database in Databases.All)
        {
            database.Dispose();
        }

        environment.Dispose();
    }
}

/// <summary>The store's databases; <see cref="All"/> in a fixed order (exports number them so).</summary>
internal sealed record StoreDatabases(LightningDatabase Index, LightningDatabase Revisions, LightningDatabase Meta, LightningDatabase Leases, LightningDatabase LeaseKeys)
{
    public IReadOnlyList<LightningDatabase> All => [Index, Revisions, Meta, Leases, LeaseKeys];
}
