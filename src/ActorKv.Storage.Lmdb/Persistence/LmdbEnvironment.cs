using System.Buffers.Binary;
using System.Text;
using LightningDB;

namespace ActorKv.Storage.Lmdb.Persistence;

/// <summary>
/// One LMDB environment with named databases, for the persistence plugins. Keys are
/// persistence id, a zero byte, then a big-endian sequence number, so that one id's records are
/// contiguous and in sequence order.
/// </summary>
internal sealed class LmdbEnvironment : IDisposable
{
    private readonly LightningEnvironment environment;

    public LmdbEnvironment(LmdbStoreOptions options, params string[] databaseNames)
    {
        Directory.CreateDirectory(options.Directory);
        environment = new LightningEnvironment(options.Directory, new EnvironmentConfiguration
        {
            MapSize = options.MapSizeBytes,
            MaxDatabases = databaseNames.Length,
            MaxReaders = options.MaxReaders,
        });
        var flags = EnvironmentOpenFlags.NoThreadLocalStorage;
        if (!options.Fsync)
        {
            flags |= EnvironmentOpenFlags.NoSync;
        }

        environment.Open(flags);
        using var txn = environment.BeginTransaction();
        Databases = databaseNames.ToDictionary(name => name, name => txn.OpenDatabase(name, new DatabaseConfiguration { Flags = DatabaseOpenFlags.Create }));
        LmdbErrors.Check(txn.Commit(), "create the persistence databases");
    }

    public IReadOnlyDictionary<string, LightningDatabase> Databases { get; }

    public LightningTransaction BeginRead() => environment.BeginTransaction(TransactionBeginFlags.ReadOnly);

    public LightningTransaction BeginWrite() => environment.BeginTransaction();

    public static byte[] Key(string persistenceId, long sequenceNr)
    {
        var id = Encoding.UTF8.GetBytes(persistenceId);
        if (id.Contains((byte)0))
        {
            throw new ArgumentException("a persistence id must not contain a zero byte", nameof(persistenceId));
        }

        var key = new byte[id.Length + 1 + 8];
        id.CopyTo(key, 0);
        BinaryPrimitives.WriteInt64BigEndian(key.AsSpan(id.Length + 1), sequenceNr);
        return key;
    }

    public static long SequenceNrOf(ReadOnlySpan<byte> key) => BinaryPrimitives.ReadInt64BigEndian(key[^8..]);

    /// <summary>The keys of one id from <paramref name="from"/> to <paramref name="to"/>, in order, with their values.</summary>
    public static IEnumerable<(long SequenceNr, byte[] Value)> Scan(LightningTransaction txn, LightningDatabase database, string persistenceId, long from, long to)
    {
        var prefix = Key(persistenceId, 0).AsSpan(0, Encoding.UTF8.GetByteCount(persistenceId) + 1).ToArray();
        using var cursor = txn.CreateCursor(database);
        var code = cursor.SetRange(Key(persistenceId, Math.Max(from, 0)));
        while (code == MDBResultCode.Success)
        {
            var (_, key, value) = cursor.GetCurrent();
            var keySpan = key.AsSpan();
            if (keySpan.Length != prefix.Length + 8 || !keySpan.StartsWith(prefix))
            {
                yield break;
            }

            var sequenceNr = SequenceNrOf(keySpan);
            if (sequenceNr > to)
            {
                yield break;
            }

            yield return (sequenceNr, value.CopyToNewArray());
            code = cursor.Next().resultCode;
        }
    }

    public void Dispose()
    {
        foreach (var database in Databases.Values)
        {
            database.Dispose();
        }

        environment.Dispose();
    }
}
