namespace ActorKv.Raft;

/// <summary>
/// Raft's view of the log: what storage holds (persisted) followed by the unstable tail (entries
/// and at most one snapshot not yet persisted), with the commit and applied positions.
/// </summary>
internal sealed class RaftLog
{
    private readonly MemoryStorage storage;
    private readonly long maxCommittedBytesPerReady;

    // The unstable tail: entries from unstableOffset on, and a snapshot still to persist.
    private List<Entry> unstableEntries = [];
    private ulong unstableOffset;
    private Snapshot? unstableSnapshot;

    public RaftLog(MemoryStorage storage, long maxCommittedBytesPerReady)
    {
        this.storage = storage;
        this.maxCommittedBytesPerReady = maxCommittedBytesPerReady;
        unstableOffset = storage.LastIndex + 1;
        Committed = storage.FirstIndex - 1;
        Applied = storage.FirstIndex - 1;
    }

    public ulong Committed { get; private set; }

    public ulong Applied { get; private set; }

    public Snapshot? UnstableSnapshot => unstableSnapshot;

    /// <summary>The last index persisted and still part of this log (0 while a snapshot awaits persisting).</summary>
    public ulong StableLastIndex => unstableSnapshot is null ? unstableOffset - 1 : 0;

    public ulong FirstIndex => unstableSnapshot is { } snapshot ? snapshot.Metadata.Index + 1 : storage.FirstIndex;

    public ulong LastIndex =>
        unstableEntries.Count > 0 ? unstableOffset + (ulong)unstableEntries.Count - 1
        : unstableSnapshot is { } snapshot ? snapshot.Metadata.Index
        : storage.LastIndex;

    public ulong LastTerm => Term(LastIndex) ?? throw new InvalidOperationException("the last entry has no term");

    /// <summary>The term at <paramref name="index"/>; null when outside the log; throws when compacted.</summary>
    public ulong? Term(ulong index)
    {
        var dummyIndex = FirstIndex - 1;
        if (index < dummyIndex || index > LastIndex)
        {
            return null;
        }

        if (index >= unstableOffset && unstableEntries.Count > 0)
        {
            return unstableEntries[(int)(index - unstableOffset)].Term;
        }

        if (unstableSnapshot is { } snapshot && index == snapshot.Metadata.Index)
        {
            return snapshot.Metadata.Term;
        }

        return storage.Term(index);
    }

    /// <summary>The term, or 0 where it is compacted or unknown (etcd's zeroTermOnErrCompacted).</summary>
    public ulong TermOrZero(ulong index)
    {
        try
        {
            return Term(index) ?? 0;
        }
        catch (LogCompactedException)
        {
            return 0;
        }
    }

    public bool MatchTerm(ulong index, ulong term)
    {
        try
        {
            return Term(index) == term;
        }
        catch (LogCompactedException)
        {
            return false;
        }
    }

    public bool IsUpToDate(ulong lastIndex, ulong term) => term > LastTerm || (term == LastTerm && lastIndex >= LastIndex);

    /// <summary>A follower's append: if the entry before them matches, takes the entries and the leader's commit.</summary>
    public ulong? MaybeAppend(ulong index, ulong logTerm, ulong committed, IReadOnlyList<Entry> entries)
    {
        if (!MatchTerm(index, logTerm))
        {
            return null;
        }

        var lastNewIndex = index + (ulong)entries.Count;
        var conflict = FindConflict(entries);
        if (conflict != 0)
        {
            if (conflict <= Committed)
            {
                throw new InvalidOperationException($"entry {conflict} conflicts with committed entry (committed {Committed})");
            }

            Append(entries.Skip((int)(conflict - (index + 1))).ToList());
        }

        CommitTo(Math.Min(committed, lastNewIndex));
        return lastNewIndex;
    }

    public ulong Append(IReadOnlyList<Entry> entries)
    {
        if (entries.Count == 0)
        {
            return LastIndex;
        }

        var after = entries[0].Index - 1;
        if (after < Committed)
        {
            throw new InvalidOperationException($"appending after {after} would overwrite committed entries (committed {Committed})");
        }

        var first = entries[0].Index;
        if (first == unstableOffset + (ulong)unstableEntries.Count)
        {
            unstableEntries.AddRange(entries);
        }
        else if (first <= unstableOffset)
        {
            // Replaces the whole unstable tail (and, once persisted, storage's entries from there on).
            unstableOffset = first;
            unstableEntries = [.. entries];
        }
        else
        {
            unstableEntries = [.. unstableEntries.Take((int)(first - unstableOffset)), .. entries];
        }

        return LastIndex;
    }

    /// <summary>The first entry that is new or conflicts with ours, or 0 if all are already here.</summary>
    private ulong FindConflict(IReadOnlyList<Entry> entries)
    {
        foreach (var entry in entries)
        {
            if (!MatchTerm(entry.Index, entry.Term))
            {
                return entry.Index;
            }
        }

        return 0;
    }

    /// <summary>
    /// Fast backtracking: the largest index at or below <paramref name="index"/> whose term is at
    /// most <paramref name="term"/>; entries above it cannot match a log whose entry there has that term.
    /// </summary>
    public ulong FindConflictByTerm(ulong index, ulong term)
    {
        while (index > 0)
        {
            ulong? ourTerm;
            try
            {
                ourTerm = Term(index);
            }
            catch (LogCompactedException)
            {
                return index;
            }

            if (ourTerm is null || ourTerm <= term)
            {
                return index;
            }

            index--;
        }

        return index;
    }

    public IReadOnlyList<Entry> UnstableEntries => unstableEntries.ToList();

    public bool HasUnstableEntries => unstableEntries.Count > 0;

    /// <summary>Committed entries not yet applied (bounded in bytes).</summary>
    public IReadOnlyList<Entry> NextCommittedEntries()
    {
        var from = Math.Max(Applied + 1, FirstIndex);
        return Committed + 1 > from ? Slice(from, Committed + 1, maxCommittedBytesPerReady) : [];
    }

    public bool HasNextCommittedEntries => Committed + 1 > Math.Max(Applied + 1, FirstIndex);

    public Snapshot Snapshot => unstableSnapshot ?? storage.Snapshot;

    public void CommitTo(ulong index)
    {
        if (Committed >= index)
        {
            return;
        }

        if (LastIndex < index)
        {
            throw new InvalidOperationException($"commit {index} is past the last index {LastIndex}");
        }

        Committed = index;
    }

    public void AppliedTo(ulong index)
    {
        if (index == 0)
        {
            return;
        }

        if (Committed < index || index < Applied)
        {
            throw new InvalidOperationException($"applied {index} is outside [{Applied}, {Committed}]");
        }

        Applied = index;
    }

    /// <summary>The application has persisted entries up to (index, term): they leave the unstable tail.</summary>
    public void StableTo(ulong index, ulong term)
    {
        if (index < unstableOffset || unstableEntries.Count == 0)
        {
            return;
        }

        var position = index - unstableOffset;
        if (position >= (ulong)unstableEntries.Count || unstableEntries[(int)position].Term != term)
        {
            return; // replaced by newer entries meanwhile
        }

        unstableEntries = unstableEntries.Skip((int)position + 1).ToList();
        unstableOffset = index + 1;
    }

    public void StableSnapshotTo(ulong index)
    {
        if (unstableSnapshot is { } snapshot && snapshot.Metadata.Index == index)
        {
            unstableSnapshot = null;
        }
    }

    public bool MaybeCommit(ulong index, ulong term)
    {
        if (index > Committed && TermOrZero(index) == term)
        {
            CommitTo(index);
            return true;
        }

        return false;
    }

    public void Restore(Snapshot snapshot)
    {
        Committed = snapshot.Metadata.Index;
        unstableOffset = snapshot.Metadata.Index + 1;
        unstableEntries = [];
        unstableSnapshot = snapshot;
    }

    /// <summary>Entries from <paramref name="index"/> to the end, at most <paramref name="maxBytes"/>; throws if compacted.</summary>
    public IReadOnlyList<Entry> EntriesFrom(ulong index, long maxBytes) =>
        index > LastIndex ? [] : Slice(index, LastIndex + 1, maxBytes);

    /// <summary>Entries [lo, hi) from storage and the unstable tail; throws if compacted.</summary>
    public IReadOnlyList<Entry> Slice(ulong lo, ulong hi, long maxBytes)
    {
        if (lo > hi)
        {
            throw new InvalidOperationException($"invalid slice [{lo}, {hi})");
        }

        if (lo < FirstIndex)
        {
            throw new LogCompactedException(lo);
        }

        if (hi > LastIndex + 1)
        {
            throw new InvalidOperationException($"slice [{lo}, {hi}) reaches past the last index {LastIndex}");
        }

        if (lo == hi)
        {
            return [];
        }

        var result = new List<Entry>();
        if (lo < unstableOffset)
        {
            var stored = storage.Entries(lo, Math.Min(hi, unstableOffset), maxBytes);
            if ((ulong)stored.Count < Math.Min(hi, unstableOffset) - lo)
            {
                return stored; // limited by size
            }

            result.AddRange(stored);
        }

        if (hi > unstableOffset)
        {
            var from = Math.Max(lo, unstableOffset);
            result.AddRange(unstableEntries.GetRange((int)(from - unstableOffset), (int)(hi - from)));
        }

        return LimitSize(result, maxBytes);
    }

    /// <summary>A prefix of the entries within <paramref name="maxBytes"/>, but never empty.</summary>
    public static IReadOnlyList<Entry> LimitSize(IReadOnlyList<Entry> entries, long maxBytes)
    {
        if (entries.Count == 0)
        {
            return entries;
        }

        long size = entries[0].SizeBytes;
        var count = 1;
        while (count < entries.Count)
        {
            size += entries[count].SizeBytes;
            if (size > maxBytes)
            {
                break;
            }

            count++;
        }

        return count == entries.Count ? entries : entries.Take(count).ToList();
    }
}
