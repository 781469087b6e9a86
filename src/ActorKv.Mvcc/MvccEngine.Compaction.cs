namespace ActorKv.Mvcc;

public sealed partial class MvccEngine
{
    /// <summary>
    /// Logical compaction, as etcd's <c>updateCompactRev</c>: from now on reads below
    /// <paramref name="revision"/> fail. The history itself is removed by <see cref="CompactStep"/>,
    /// in bounded steps, so that a large compaction never stalls the write path.
    /// </summary>
    public CompactResult Compact(IMvccWriteView view, long revision)
    {
        var meta = view.Meta;
        if (revision <= meta.CompactedRevision)
        {
            throw new MvccException(MvccError.Compacted);
        }

        if (revision > meta.CurrentRevision)
        {
            throw new MvccException(MvccError.FutureRevision);
        }

        view.WriteMeta(meta with { CompactedRevision = revision });
        return new CompactResult(meta.CurrentRevision);
    }

    /// <summary>
    /// Removes, for at most <paramref name="maxKeys"/> keys from <paramref name="fromKey"/> on, the
    /// versions no read at or after the compacted revision C can see: every entry below the newest
    /// one at or below C, and that one too when it is a tombstone. Returns the key to resume from,
    /// or null once every key is done (the physically compacted revision is then C).
    /// </summary>
    public static byte[]? CompactStep(IMvccWriteView view, byte[] fromKey, int maxKeys)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxKeys, 1);
        var target = view.Meta.CompactedRevision;
        var histories = view.ReadHistories(fromKey, maxKeys);
        foreach (var (key, entries) in histories)
        {
            var newestAtOrBelow = -1;
            for (var i = 0; i < entries.Count && entries[i].Revision.Main <= target; i++)
            {
                newestAtOrBelow = i;
            }

            if (newestAtOrBelow < 0)
            {
                continue;
            }

            var removeThrough = entries[newestAtOrBelow].Tombstone ? newestAtOrBelow : newestAtOrBelow - 1;
            for (var i = 0; i <= removeThrough; i++)
            {
                view.RemoveVersion(entries[i]);
            }
        }

        if (histories.Count < maxKeys)
        {
            view.WriteMeta(view.Meta with { PhysicallyCompactedRevision = target });
            return null;
        }

        // The smallest key after the last one done.
        return [.. histories[^1].Key, 0];
    }
}
