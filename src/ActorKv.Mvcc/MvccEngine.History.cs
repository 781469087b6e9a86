namespace ActorKv.Mvcc;

public sealed partial class MvccEngine
{
    /// <summary>
    /// The events of revisions [<paramref name="fromMainRevision"/>, <paramref name="toMainRevision"/>]
    /// on keys in the range, oldest first, stopping after about <paramref name="maxEvents"/> events
    /// but never inside a revision (all events of one revision go together, as watchers need).
    /// The range end is null for a single key and empty for every key from the start key on.
    /// Throws <see cref="MvccError.Compacted"/> if that history is compacted (etcd keeps the
    /// compaction revision itself).
    /// </summary>
    public static HistoryChunk History(IMvccReadView view, byte[] key, byte[]? rangeEnd, long fromMainRevision, long toMainRevision, int maxEvents)
    {
        if (fromMainRevision < view.Meta.CompactedRevision)
        {
            throw new MvccException(MvccError.Compacted);
        }

        var events = new List<MvccEvent>();
        // Versions looked at, matching or not: bounds the work of one call on a busy store.
        var scanned = 0;
        var maxScanned = Math.Max(maxEvents, 1) * 16;
        long lastRevision = 0;
        foreach (var (revision, entry) in view.ScanVersions(fromMainRevision))
        {
            if (revision.Main > toMainRevision)
            {
                break;
            }

            if ((events.Count >= maxEvents || scanned >= maxScanned) && revision.Main != lastRevision)
            {
                return new HistoryChunk(events, lastRevision);
            }

            lastRevision = revision.Main;
            scanned++;
            if (InRange(entry.Key, key, rangeEnd))
            {
                events.Add(new MvccEvent(entry.Version == 0 ? MvccEventType.Delete : MvccEventType.Put, entry, revision));
            }
        }

        return new HistoryChunk(events, toMainRevision);
    }

    /// <summary>The newest version of a key before <paramref name="mainRevision"/> (a watcher's prev_kv), or null.</summary>
    public static KeyValueEntry? VersionBefore(IMvccReadView view, byte[] key, long mainRevision) =>
        Latest(view, key, mainRevision - 1);

    /// <summary>Whether <paramref name="candidate"/> falls in a watch or range request's key range.</summary>
    public static bool InRange(byte[] candidate, byte[] key, byte[]? rangeEnd)
    {
        if (rangeEnd is null)
        {
            return candidate.AsSpan().SequenceEqual(key);
        }

        return candidate.AsSpan().SequenceCompareTo(key) >= 0
            && (rangeEnd.Length == 0 || candidate.AsSpan().SequenceCompareTo(rangeEnd) < 0);
    }
}

/// <summary>History events, and the main revision up to which the store was read (all of it when it equals the asked end).</summary>
public sealed record HistoryChunk(IReadOnlyList<MvccEvent> Events, long ReadThrough);
