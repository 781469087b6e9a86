using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Snapshot;
using LightningDB;

namespace ActorKv.Storage.Lmdb.Persistence;

/// <summary>An Akka.Persistence snapshot store on LMDB: one record per (persistence id, sequence number).</summary>
public sealed class LmdbSnapshotStore : SnapshotStore
{
    private const string SnapshotsDatabase = "snapshots";

    private readonly LmdbEnvironment environment;

    public LmdbSnapshotStore(Config config)
    {
        environment = new LmdbEnvironment(PersistenceConfig.StoreOptions(config), SnapshotsDatabase);
    }

    private LightningDatabase Snapshots => environment.Databases[SnapshotsDatabase];

    protected override void PostStop()
    {
        environment.Dispose();
        base.PostStop();
    }

    private static bool Matches(SnapshotSelectionCriteria criteria, long sequenceNr, DateTime timestamp) =>
        sequenceNr >= criteria.MinSequenceNr && sequenceNr <= criteria.MaxSequenceNr
        && (criteria.MinTimestamp is null || timestamp >= criteria.MinTimestamp)
        && timestamp <= criteria.MaxTimeStamp;

    protected override Task<SelectedSnapshot?> LoadAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken)
    {
        using var txn = environment.BeginRead();
        foreach (var (sequenceNr, value) in LmdbEnvironment.Scan(txn, Snapshots, persistenceId, criteria.MinSequenceNr, criteria.MaxSequenceNr).Reverse())
        {
            var payload = PersistedPayload.Decode(value);
            var timestamp = new DateTime(payload.Timestamp, DateTimeKind.Utc);
            if (Matches(criteria, sequenceNr, timestamp))
            {
                return Task.FromResult<SelectedSnapshot?>(new SelectedSnapshot(new SnapshotMetadata(persistenceId, sequenceNr, timestamp), payload.Deserialize(Context.System)));
            }
        }

        return Task.FromResult<SelectedSnapshot?>(null);
    }

    protected override Task SaveAsync(SnapshotMetadata metadata, object snapshot, CancellationToken cancellationToken)
    {
        var payload = PersistedPayload.Serialize(Context.System, snapshot, writerGuid: "", metadata.Timestamp.ToUniversalTime().Ticks);
        using var txn = environment.BeginWrite();
        LmdbErrors.Check(txn.Put(Snapshots, LmdbEnvironment.Key(metadata.PersistenceId, metadata.SequenceNr), payload.Encode(), PutOptions.None), "store a snapshot");
        LmdbErrors.Check(txn.Commit(), "commit a snapshot");
        return Task.CompletedTask;
    }

    protected override Task DeleteAsync(SnapshotMetadata metadata, CancellationToken cancellationToken)
    {
        using var txn = environment.BeginWrite();
        var code = txn.Delete(Snapshots, LmdbEnvironment.Key(metadata.PersistenceId, metadata.SequenceNr));
        if (code is not (MDBResultCode.Success or MDBResultCode.NotFound))
        {
            LmdbErrors.Check(code, "delete a snapshot");
        }

        LmdbErrors.Check(txn.Commit(), "commit a snapshot deletion");
        return Task.CompletedTask;
    }

    protected override Task DeleteAsync(string persistenceId, SnapshotSelectionCriteria criteria, CancellationToken cancellationToken)
    {
        using var txn = environment.BeginWrite();
        var doomed = LmdbEnvironment.Scan(txn, Snapshots, persistenceId, criteria.MinSequenceNr, criteria.MaxSequenceNr)
            .Where(s => Matches(criteria, s.SequenceNr, new DateTime(PersistedPayload.Decode(s.Value).Timestamp, DateTimeKind.Utc)))
            .Select(s => s.SequenceNr)
            .ToList();
        foreach (var sequenceNr in doomed)
        {
            LmdbErrors.Check(txn.Delete(Snapshots, LmdbEnvironment.Key(persistenceId, sequenceNr)), "delete a snapshot");
        }

        LmdbErrors.Check(txn.Commit(), "commit snapshot deletions");
        return Task.CompletedTask;
    }
}
