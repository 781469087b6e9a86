namespace ActorKv.Mvcc;

public sealed partial class MvccEngine
{
    /// <summary>A read at the view's current revision or at <see cref="RangeQuery.Revision"/>.</summary>
    public RangeResult Range(IMvccReadView view, RangeQuery query) =>
        RangeAt(view, query, view.Meta.CurrentRevision);

    /// <summary>
    /// etcd's <c>applierV3backend.Range</c> over <c>rangeKeys</c>: the count covers every live key
    /// in the range (before filters and limit); filters, sorting and the limit apply afterwards.
    /// </summary>
    private static RangeResult RangeAt(IMvccReadView view, RangeQuery query, long currentRevision)
    {
        var revision = query.Revision;
        if (revision > currentRevision)
        {
            throw new MvccException(MvccError.FutureRevision);
        }

        if (revision <= 0)
        {
            revision = currentRevision;
        }

        if (revision < view.Meta.CompactedRevision)
        {
            throw new MvccException(MvccError.Compacted);
        }

        var filtered = query.SortOrder != SortOrder.None
            || query.MinModRevision != 0 || query.MaxModRevision != 0
            || query.MinCreateRevision != 0 || query.MaxCreateRevision != 0;
        // One more than asked, to know whether there is more.
        var fetchLimit = filtered || query.Limit <= 0 ? long.MaxValue : query.Limit + 1;

        var kvs = new List<KeyValueEntry>();
        long count = 0;
        foreach (var entry in view.ScanLatest(query.Key, query.RangeEnd, revision))
        {
            if (entry.Tombstone)
            {
                continue;
            }

            count++;
            if (!query.CountOnly && kvs.Count < fetchLimit)
            {
                kvs.Add(view.ReadVersion(entry.Revision));
            }
        }

        IEnumerable<KeyValueEntry> selected = kvs;
        if (query.MaxModRevision != 0)
        {
            selected = selected.Where(kv => kv.ModRevision <= query.MaxModRevision);
        }

        if (query.MinModRevision != 0)
        {
            selected = selected.Where(kv => kv.ModRevision >= query.MinModRevision);
        }

        if (query.MaxCreateRevision != 0)
        {
            selected = selected.Where(kv => kv.CreateRevision <= query.MaxCreateRevision);
        }

        if (query.MinCreateRevision != 0)
        {
            selected = selected.Where(kv => kv.CreateRevision >= query.MinCreateRevision);
        }

        var sortOrder = query.SortOrder;
        if (query.SortTarget != SortTarget.Key && sortOrder == SortOrder.None)
        {
            // The scan is already in ascending key order; any other target sorts ascending by default.
            sortOrder = SortOrder.Ascend;
        }

        selected = Sort(selected, query.SortTarget, sortOrder);

        var result = selected.ToList();
        var more = false;
        if (query.Limit > 0 && result.Count > query.Limit)
        {
            result.RemoveRange((int)query.Limit, result.Count - (int)query.Limit);
            more = true;
        }

        if (query.KeysOnly)
        {
            for (var i = 0; i < result.Count; i++)
            {
                result[i] = result[i] with { Value = [] };
            }
        }

        return new RangeResult(result, more, count, currentRevision);
    }

    /// <summary>Stable sorts: equal elements stay in key order (Go's sort agrees for small results).</summary>
    private static IEnumerable<KeyValueEntry> Sort(IEnumerable<KeyValueEntry> kvs, SortTarget target, SortOrder order)
    {
        if (order == SortOrder.None || (order == SortOrder.Ascend && target == SortTarget.Key))
        {
            return kvs;
        }

        Comparison<KeyValueEntry> compare = target switch
        {
            SortTarget.Key => (a, b) => CompareBytes(a.Key, b.Key),
            SortTarget.Version => (a, b) => a.Version.CompareTo(b.Version),
            SortTarget.Create => (a, b) => a.CreateRevision.CompareTo(b.CreateRevision),
            SortTarget.Mod => (a, b) => a.ModRevision.CompareTo(b.ModRevision),
            SortTarget.Value => (a, b) => CompareBytes(a.Value, b.Value),
            _ => throw new ArgumentOutOfRangeException(nameof(target), target, "unknown sort target"),
        };
        var comparer = Comparer<KeyValueEntry>.Create(compare);
        return order == SortOrder.Ascend ? kvs.OrderBy(kv => kv, comparer) : kvs.OrderByDescending(kv => kv, comparer);
    }
}
