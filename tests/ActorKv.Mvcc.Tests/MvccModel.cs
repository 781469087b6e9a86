using System.Text;

namespace ActorKv.Mvcc.Tests;

/// <summary>
/// The simplest store with etcd's semantics that we could write: every version of every key in
/// a list, reads by linear search. The engine must agree with it on every answer.
/// </summary>
public sealed class MvccModel
{
    private readonly List<(string Key, long Main, KeyValueEntry? Kv)> history = [];

    public long Current { get; private set; } = 1;

    public long Compacted { get; private set; }

    private static string K(byte[] key) => Encoding.Latin1.GetString(key);

    private static byte[] B(string key) => Encoding.Latin1.GetBytes(key);

    private static bool InRange(string key, string start, string? end) =>
        end is null ? key == start : string.CompareOrdinal(key, start) >= 0 && (end.Length == 0 || string.CompareOrdinal(key, end) < 0);

    public List<KeyValueEntry> Live(byte[] start, byte[]? end, long atRevision)
    {
        var startKey = K(start);
        var endKey = end is null ? null : K(end);
        return history
            .Where(h => h.Main <= atRevision && InRange(h.Key, startKey, endKey))
            .GroupBy(h => h.Key)
            .Select(g => g.Last().Kv)
            .Where(kv => kv is not null)
            .Select(kv => kv!)
            .OrderBy(kv => K(kv.Key), StringComparer.Ordinal)
            .ToList();
    }

    public (List<KeyValueEntry> Kvs, long Count, bool More) Range(byte[] start, byte[]? end, long revision, long limit)
    {
        if (revision > Current)
        {
            throw new MvccException(MvccError.FutureRevision);
        }

        var at = revision <= 0 ? Current : revision;
        if (at < Compacted)
        {
            throw new MvccException(MvccError.Compacted);
        }

        var all = Live(start, end, at);
        var kvs = limit > 0 ? all.Take((int)limit).ToList() : all;
        return (kvs, all.Count, limit > 0 && all.Count > limit);
    }

    /// <summary>Applies puts and deletes as one request: one new main revision if anything changed.</summary>
    public long Write(IEnumerable<(byte[] Key, byte[]? Value, byte[]? DeleteEnd, bool IsDelete)> changes)
    {
        var main = Current + 1;
        var changed = false;
        foreach (var change in changes)
        {
            if (change.IsDelete)
            {
                foreach (var kv in Live(change.Key, change.DeleteEnd, main))
                {
                    history.Add((K(kv.Key), main, null));
                    changed = true;
                }
            }
            else
            {
                var previous = Live(change.Key, null, main).SingleOrDefault();
                history.Add((K(change.Key), main, new KeyValueEntry(
                    change.Key, previous?.CreateRevision ?? main, main, (previous?.Version ?? 0) + 1, change.Value!, 0)));
                changed = true;
            }
        }

        if (changed)
        {
            Current = main;
        }

        return Current;
    }

    public void Compact(long revision)
    {
        if (revision <= Compacted)
        {
            throw new MvccException(MvccError.Compacted);
        }

        if (revision > Current)
        {
            throw new MvccException(MvccError.FutureRevision);
        }

        Compacted = revision;
    }

    public static byte[] Bytes(string text) => B(text);
}
