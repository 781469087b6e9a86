namespace ActorKv.Storage.Lmdb;

/// <summary>How an LMDB environment is opened.</summary>
/// <param name="Directory">Where data.mdb and lock.mdb live; created if missing.</param>
/// <param name="MapSizeBytes">The most the environment may grow to; writes past it fail as "space exceeded".</param>
/// <param name="MaxReaders">Concurrent read transactions allowed.</param>
/// <param name="Fsync">
/// True: a commit returns only once it is on disk. False trades durability of the latest commits
/// for speed (LMDB's NOSYNC; the store stays consistent, recent commits may be lost on power loss).
/// </param>
public sealed record LmdbStoreOptions(string Directory, long MapSizeBytes, int MaxReaders = 512, bool Fsync = true);
