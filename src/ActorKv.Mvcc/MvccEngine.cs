namespace ActorKv.Mvcc;

/// <summary>
/// etcd's MVCC semantics over any <see cref="IMvccReadView"/>: pure logic, no I/O of its own, no
/// clock, no threads. Reads take a read view; each write request takes the write view of the batch
/// it belongs to and either changes the store as etcd would or throws <see cref="MvccException"/>
/// having changed nothing.
/// </summary>
/// <remarks>
/// How a key's history is kept (etcd's <c>key_index.go</c> calls these generations):
/// <code>
/// put a@2, put a@3, delete a@4, put a@5      index of a: 2, 3, 4(tombstone), 5
///   read a at 3 -> version stored at 3 (version 2, create 2)
///   read a at 4 -> newest entry at or below 4 is a tombstone: a does not exist
///   read a at 5 -> version 1, create 5: a new generation began after the tombstone
/// compact at 4  -> entries below 4 go, and 4 itself goes because it is a tombstone;
///                  reads at 4 and later answer exactly as before.
/// </code>
/// </remarks>
public sealed partial class MvccEngine
{

    /// <summary>
    /// The write state of one request (Put, DeleteRange, Txn): every change it makes gets the
    /// same main revision, <c>BeginRevision + 1</c>, and sub-revisions in order.
    /// </summary>
    private sealed class WriteContext(IMvccWriteView view)
    {
        public IMvccWriteView View { get; } = view;
        public long BeginRevision { get; } = view.Meta.CurrentRevision;
        public List<MvccEvent> Changes { get; } = [];

        /// <summary>Reads inside the request see its own earlier changes, as etcd's write txn does.</summary>
        public long ReadRevision => Changes.Count > 0 ? BeginRevision + 1 : BeginRevision;

        public Revision NextRevision() => new(BeginRevision + 1, Changes.Count);

        /// <summary>Publishes the new current revision if anything changed.</summary>
        public void End()
        {
            if (Changes.Count > 0)
            {
                View.WriteMeta(View.Meta with { CurrentRevision = BeginRevision + 1 });
            }
        }
    }

    private static int CompareBytes(byte[] left, byte[] right) => left.AsSpan().SequenceCompareTo(right);
}
