using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Journal;
using LightningDB;

namespace ActorKv.Storage.Lmdb.Persistence;

/// <summary>
/// An Akka.Persistence journal on LMDB, the Raft WAL: every batch of atomic writes handed over
/// at once is ONE write transaction and one commit (one fsync pair), each atomic write in a
/// nested transaction so that one that cannot be serialized fails alone. Runs synchronously on
/// its pinned plugin dispatcher.
/// </summary>
public sealed class LmdbJournal : AsyncWriteJournal
{
    private const string JournalDatabase = "journal";
    private const string HighestDatabase = "highest";

    private readonly LmdbEnvironment environment;

    public LmdbJournal(Config config)
    {
        environment = new LmdbEnvironment(LmdbPersistenceConfig.StoreOptions(config), JournalDatabase, HighestDatabase);
    }

    private LightningDatabase Journal => environment.Databases[JournalDatabase];

    private LightningDatabase Highest => environment.Databases[HighestDatabase];

    protected override void PostStop()
    {
        environment.Dispose();
        base.PostStop();
    }

    protected override Task<IImmutableList<Exception?>> WriteMessagesAsync(IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken)
    {
        var results = ImmutableList.CreateBuilder<Exception?>();
        using var txn = environment.BeginWrite();
        foreach (var write in messages)
        {
            using var nested = txn.BeginTransaction(TransactionBeginFlags.None);
            try
            {
                foreach (var representation in (IImmutableList<IPersistentRepresentation>)write.Payload)
                {
                    var payload = PersistedPayload.Serialize(Context.System, representation.Payload, representation.WriterGuid, representation.Timestamp);
                    LmdbErrors.Check(nested.Put(Journal, LmdbEnvironment.Key(representation.PersistenceId, representation.SequenceNr), payload.Encode(), PutOptions.None), "write a journal entry");
                }

                LmdbErrors.Check(nested.Put(Highest, System.Text.Encoding.UTF8.GetBytes(write.PersistenceId), BitConverter.GetBytes(write.HighestSequenceNr), PutOptions.None), "record the highest sequence number");
                LmdbErrors.Check(nested.Commit(), "commit an atomic write");
                results.Add(null);
            }
            catch (Exception error) when (error is not StorageFullException and not IOException)
            {
                // This write cannot be stored (say, its payload will not serialize): it alone fails.
                nested.Abort();
                results.Add(error);
            }
        }

        // Storage failures fail every write of the call: the base class then stops the writers.
        CrashPoints.Reached(CrashPoints.WalBeforeCommit);
        LmdbErrors.Check(txn.Commit(), "commit the journal batch");
        CrashPoints.Reached(CrashPoints.WalAfterCommit);
        return Task.FromResult<IImmutableList<Exception?>>(results.ToImmutable());
    }

    public override Task ReplayMessagesAsync(IActorContext context, string persistenceId, long fromSequenceNr, long toSequenceNr, long max, Action<IPersistentRepresentation> recoveryCallback)
    {
        using var txn = environment.BeginRead();
        long replayed = 0;
        foreach (var (sequenceNr, value) in LmdbEnvironment.Scan(txn, Journal, persistenceId, fromSequenceNr, toSequenceNr))
        {
            if (replayed++ >= max)
            {
                break;
            }

            var payload = PersistedPayload.Decode(value);
            recoveryCallback(new Persistent(payload.Deserialize(context.System), sequenceNr, persistenceId, payload.Manifest, false, ActorRefs.NoSender, payload.WriterGuid, payload.Timestamp));
        }

        return Task.CompletedTask;
    }

    public override Task<long> ReadHighestSequenceNrAsync(string persistenceId, long fromSequenceNr, CancellationToken cancellationToken)
    {
        using var txn = environment.BeginRead();
        var (code, _, value) = txn.Get(Highest, System.Text.Encoding.UTF8.GetBytes(persistenceId));
        return Task.FromResult(code == MDBResultCode.Success ? BitConverter.ToInt64(value.AsSpan()) : 0L);
    }

    protected override Task DeleteMessagesToAsync(string persistenceId, long toSequenceNr, CancellationToken cancellationToken)
    {
        // The highest sequence number stays: a persistent actor must never reuse one.
        using var txn = environment.BeginWrite();
        var doomed = LmdbEnvironment.Scan(txn, Journal, persistenceId, 0, toSequenceNr).Select(e => e.SequenceNr).ToList();
        foreach (var sequenceNr in doomed)
        {
            LmdbErrors.Check(txn.Delete(Journal, LmdbEnvironment.Key(persistenceId, sequenceNr)), "delete a journal entry");
        }

        LmdbErrors.Check(txn.Commit(), "commit journal deletions");
        return Task.CompletedTask;
    }
}
