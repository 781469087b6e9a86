namespace ActorKv.Storage.Lmdb;

/// <summary>How an LMDB environment is opened.</summary>
/// <param name="Directory">Where data.mdb and lock.mdb live; created if missing.</param>
/// <param name="MapSizeBytes">The most the environment may grow to; writes past it fail as "space exceeded".</param>
/// <param name="MaxReaders">Concurrent read transactions allowed.</param>
/// <param name="Fsync">
/// True: a commit returns only once it is on disk. False trades durability of the latest commits
/// for speed (LMDB's NOSYNC; the store stays consistent, recent commits may be lost on power loss).
/// </param>
/// <param name="SyncMeta">
/// True: every commit syncs twice, its pages and then its meta page (LMDB's default). False
/// (LMDB's NOMETASYNC): one sync a commit; the meta page goes to disk with the next commit's sync,
/// so a power loss can undo the latest commit, never corrupt. Only for a store whose latest
/// commits can be replayed from elsewhere (a Raft member's log); see <see cref="LmdbMvccStore.Sync"/>.
/// </param>
/// <param name="CommitObserved">Told how long each commit of a write transaction took (its disk writes and syncs); for metrics.</param>
public sealed record LmdbStoreOptions(string Directory, long MapSizeBytes, int MaxReaders = 512, bool Fsync = true, bool SyncMeta = true, Action<TimeSpan>? CommitObserved = null);
