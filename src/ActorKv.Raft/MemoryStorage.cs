namespace ActorKv.Raft;

/// <summary>The entries asked for are gone into a snapshot.</summary>
public sealed class LogCompactedException(ulong index) : Exception($"log entry {index} is compacted");

/// <summary>
/// The log as the application has persisted it, in memory (etcd's MemoryStorage): the
/// application appends each Ready's entries and hard state here after making them durable, and
/// Raft reads from it. Slot 0 is a placeholder at the snapshot's index and term.
/// Not thread-safe: owned by the one thread that drives the core.
/// </summary>
/// <remarks>
/// Entries are kept as value-type slots over large byte chunks (<see cref="EntryArena"/>), not as
/// objects, and read out as new <see cref="Entry"/> objects. The log keeps thousands of entries for
/// slow followers (snapshot-count); as objects, every one of them outlived the young generations and
/// died old, and the collections that promoted them were the tail of a busy member's latency.
/// </remarks>
public sealed class MemoryStorage
{
    private readonly List<Slot> slots = [new Slot(0, EntryType.Normal, 0, 0, 0)];
    private readonly EntryArena arena = new();
    private ulong offset;

    public HardState HardState { get; private set; }

    public Snapshot Snapshot { get; private set; } = Snapshot.Empty;

    public ulong FirstIndex => offset + 1;

    public ulong LastIndex => offset + (ulong)slots.Count - 1;

    public void SetHardState(HardState hardState) => HardState = hardState;

    /// <summary>The term of entry <paramref name="index"/>; throws if compacted, null if not yet written.</summary>
    public ulong? Term(ulong index)
    {
        if (index < offset)
        {
            throw new LogCompactedException(index);
        }

        return index - offset >= (ulong)slots.Count ? null : slots[(int)(index - offset)].Term;
    }

    /// <summary>Entries [lo, hi), at most <paramref name="maxBytes"/> of them (always at least one).</summary>
    public IReadOnlyList<Entry> Entries(ulong lo, ulong hi, long maxBytes)
    {
        if (lo <= offset)
        {
            throw new LogCompactedException(lo);
        }

        if (hi > LastIndex + 1)
        {
            throw new InvalidOperationException($"entries [{lo}, {hi}) reach past the last index {LastIndex}");
        }

        // The same bound as RaftLog.LimitSize, taken before the data is copied out.
        var result = new List<Entry>((int)Math.Min(hi - lo, 1024));
        long size = 0;
        for (var index = lo; index < hi; index++)
        {
            var slot = slots[(int)(index - offset)];
            size += slot.Length + Entry.OverheadBytes;
            if (result.Count > 0 && size > maxBytes)
            {
                break;
            }

            result.Add(new Entry(slot.Term, index, slot.Type, arena.Copy(slot.Chunk, slot.Position, slot.Length)));
        }

        return result;
    }

    /// <summary>Appends entries, replacing any existing entries from the first new index on.</summary>
    public void Append(IReadOnlyList<Entry> newEntries)
    {
        if (newEntries.Count == 0)
        {
            return;
        }

        var first = FirstIndex;
        var last = newEntries[^1].Index;
        if (last < first)
        {
            return; // all already compacted
        }

        var skip = 0;
        while (newEntries[skip].Index < first)
        {
            skip++;
        }

        var start = newEntries[skip].Index - offset;
        if ((ulong)slots.Count > start)
        {
            // A conflicting suffix goes; its bytes stay in the arena until compaction drops them.
            slots.RemoveRange((int)start, slots.Count - (int)start);
        }
        else if ((ulong)slots.Count < start)
        {
            throw new InvalidOperationException($"missing log entries before {newEntries[skip].Index} (last {LastIndex})");
        }

        for (var i = skip; i < newEntries.Count; i++)
        {
            var entry = newEntries[i];
            var (chunk, position) = arena.Add(entry.Data);
            slots.Add(new Slot(entry.Term, entry.Type, chunk, position, entry.Data.Length));
        }
    }

    /// <summary>Replaces the whole log by a snapshot received from the leader.</summary>
    public void ApplySnapshot(Snapshot snapshot)
    {
        if (snapshot.Metadata.Index <= Snapshot.Metadata.Index)
        {
            return; // out of date
        }

        Snapshot = snapshot;
        slots.Clear();
        arena.Clear();
        offset = snapshot.Metadata.Index;
        slots.Add(new Slot(snapshot.Metadata.Term, EntryType.Normal, 0, 0, 0));
    }

    /// <summary>Records a snapshot of the state machine at <paramref name="index"/> (applied), for followers that fall behind.</summary>
    public void CreateSnapshot(ulong index, ConfState confState, byte[] data)
    {
        if (index <= Snapshot.Metadata.Index)
        {
            return;
        }

        if (index > LastIndex)
        {
            throw new InvalidOperationException($"snapshot index {index} is past the last index {LastIndex}");
        }

        Snapshot = new Snapshot(new SnapshotMetadata(index, slots[(int)(index - offset)].Term, confState), data);
    }

    /// <summary>Drops entries up to <paramref name="compactIndex"/>; it must be covered by the snapshot.</summary>
    public void Compact(ulong compactIndex)
    {
        if (compactIndex <= offset)
        {
            return;
        }

        if (compactIndex > LastIndex)
        {
            throw new InvalidOperationException($"compact index {compactIndex} is past the last index {LastIndex}");
        }

        var dropped = (int)(compactIndex - offset);
        var placeholder = slots[dropped];
        slots.RemoveRange(0, dropped);
        // The placeholder keeps only its term: its data is compacted.
        slots[0] = new Slot(placeholder.Term, EntryType.Normal, placeholder.Chunk, 0, 0);
        offset = compactIndex;
        arena.DropBefore(slots.Count > 1 ? slots[1].Chunk : arena.TailChunk);
    }

    /// <summary>All entries after the snapshot (for checks and tests).</summary>
    public IReadOnlyList<Entry> AllEntries => LastIndex >= FirstIndex ? Entries(FirstIndex, LastIndex + 1, long.MaxValue) : [];

    /// <summary>One stored entry: its term and type, and where its data lies in the arena.</summary>
    private readonly record struct Slot(ulong Term, EntryType Type, long Chunk, int Position, int Length);
}

/// <summary>
/// Bytes of log entries, appended one after another into large chunks that are dropped whole once
/// compaction has passed every entry in them. Chunks are numbered in the order they were opened, so
/// an entry's position survives the dropping of older chunks. Not thread-safe.
/// </summary>
internal sealed class EntryArena
{
    /// <summary>Past the large-object threshold: a full chunk is allocated once, never copied by the GC.</summary>
    internal const int MaxChunkBytes = 1 << 20;

    private const int FirstChunkBytes = 4096;

    private readonly List<byte[]> chunks = [];
    private long firstChunk;
    private int tailUsed;
    private int nextChunkBytes = FirstChunkBytes;
    private byte[]? spare;

    /// <summary>The number of the chunk being filled (one before the first when none is open yet).</summary>
    public long TailChunk => firstChunk + chunks.Count - 1;

    public (long Chunk, int Position) Add(ReadOnlySpan<byte> data)
    {
        if (data.Length == 0)
        {
            return (TailChunk, 0);
        }

        if (chunks.Count == 0 || tailUsed + data.Length > chunks[^1].Length)
        {
            chunks.Add(NewChunk(data.Length));
            tailUsed = 0;
        }

        var position = tailUsed;
        data.CopyTo(chunks[^1].AsSpan(position));
        tailUsed += data.Length;
        return (TailChunk, position);
    }

    public byte[] Copy(long chunk, int position, int length) =>
        length == 0 ? [] : chunks[(int)(chunk - firstChunk)].AsSpan(position, length).ToArray();

    /// <summary>Drops every chunk numbered before <paramref name="chunk"/>, except the one being filled.</summary>
    public void DropBefore(long chunk)
    {
        while (firstChunk < chunk && chunks.Count > 1)
        {
            if (chunks[0].Length == MaxChunkBytes)
            {
                spare = chunks[0];
            }

            chunks.RemoveAt(0);
            firstChunk++;
        }
    }

    public void Clear()
    {
        firstChunk += chunks.Count;
        chunks.Clear();
        tailUsed = 0;
    }

    private byte[] NewChunk(int atLeast)
    {
        if (atLeast <= MaxChunkBytes && spare is { } reused && nextChunkBytes == MaxChunkBytes)
        {
            spare = null;
            return reused;
        }

        var size = Math.Max(nextChunkBytes, atLeast);
        nextChunkBytes = Math.Min(nextChunkBytes * 2, MaxChunkBytes);
        return GC.AllocateUninitializedArray<byte>(size);
    }
}
