namespace ActorKv.Raft.Tests;

/// <summary>
/// The storage keeps entries as slots over byte chunks; these runs check it against a plain list
/// of entries under random appends (with conflicting suffixes), compactions, snapshots and reads
/// bounded in bytes, with data sizes that cross chunk boundaries and exceed a chunk.
/// </summary>
public sealed class MemoryStorageTests
{
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Matches_a_list_of_entries_under_random_operations(int seed)
    {
        var random = new Random(seed);
        var storage = new MemoryStorage();
        var model = new List<Entry> { new(0, 0) }; // model[0]: the placeholder at the snapshot's index
        ulong term = 1;
        for (var step = 0; step < 3000; step++)
        {
            var offset = model[0].Index;
            var last = offset + (ulong)model.Count - 1;
            switch (random.Next(10))
            {
                case < 6:
                {
                    // Append from anywhere after the snapshot up to just past the end: a conflict
                    // replaces the suffix, as a new leader's entries do.
                    var from = last == offset || random.Next(4) > 0 ? last + 1 : offset + 1 + (ulong)random.Next((int)(last - offset));
                    if (random.Next(5) == 0)
                    {
                        term++;
                    }

                    var batch = Enumerable.Range(0, random.Next(1, 20))
                        .Select(i => new Entry(term, from + (ulong)i, random.Next(8) == 0 ? EntryType.ConfChange : EntryType.Normal, RandomData(random)))
                        .ToList();
                    storage.Append(batch);
                    model.RemoveRange((int)(from - offset), model.Count - (int)(from - offset));
                    model.AddRange(batch);
                    break;
                }

                case < 8 when last > offset:
                {
                    var index = offset + 1 + (ulong)random.Next((int)(last - offset));
                    storage.CreateSnapshot(index, new ConfState([1], []), []);
                    storage.Compact(index);
                    model.RemoveRange(0, (int)(index - offset));
                    model[0] = new Entry(model[0].Term, index);
                    break;
                }

                case 8 when random.Next(10) == 0:
                {
                    var index = last + (ulong)random.Next(1, 50);
                    storage.ApplySnapshot(new Snapshot(new SnapshotMetadata(index, term, new ConfState([1], [])), []));
                    model = [new Entry(term, index)];
                    break;
                }

                default:
                    break;
            }

            AssertSame(model, storage, random);
        }
    }

    [Fact]
    public void Reading_compacted_entries_throws_and_terms_stay_readable_at_the_snapshot()
    {
        var storage = new MemoryStorage();
        storage.Append([.. Enumerable.Range(1, 10).Select(i => new Entry(2, (ulong)i, EntryType.Normal, new byte[100]))]);
        storage.CreateSnapshot(6, new ConfState([1], []), []);
        storage.Compact(6);
        Assert.Equal(7UL, storage.FirstIndex);
        Assert.Equal(2UL, storage.Term(6));
        Assert.Throws<LogCompactedException>(() => storage.Entries(6, 8, long.MaxValue));
        Assert.Throws<LogCompactedException>(() => storage.Term(5));
    }

    private static byte[] RandomData(Random random)
    {
        var length = random.Next(1000) switch
        {
            < 10 => 0,
            10 => (1 << 20) + random.Next(1000), // more than a whole chunk of the arena
            < 30 => random.Next(10_000, 200_000),
            _ => random.Next(1, 300),
        };
        var data = new byte[length];
        random.NextBytes(data);
        return data;
    }

    /// <summary>The longest prefix within <paramref name="maxBytes"/>, never empty (Raft's bound on a message).</summary>
    private static List<Entry> WithinBytes(List<Entry> entries, long maxBytes)
    {
        var count = 1;
        var size = entries[0].SizeBytes;
        while (count < entries.Count && (size += entries[count].SizeBytes) <= maxBytes)
        {
            count++;
        }

        return entries.GetRange(0, count);
    }

    private static void AssertSame(List<Entry> model, MemoryStorage storage, Random random)
    {
        var offset = model[0].Index;
        var last = offset + (ulong)model.Count - 1;
        Assert.Equal(offset + 1, storage.FirstIndex);
        Assert.Equal(last, storage.LastIndex);
        Assert.Equal(model[0].Term, storage.Term(offset));
        Assert.Null(storage.Term(last + 1));
        if (last == offset)
        {
            return;
        }

        var lo = offset + 1 + (ulong)random.Next((int)(last - offset));
        var hi = lo + 1 + (ulong)random.Next((int)(last - lo + 1));
        var maxBytes = random.Next(3) == 0 ? long.MaxValue : random.Next(0, 400_000);
        var read = storage.Entries(lo, hi, maxBytes);
        var expected = WithinBytes(model.GetRange((int)(lo - offset), (int)(hi - lo)), maxBytes);
        Assert.Equal(expected.Count, read.Count);
        for (var i = 0; i < read.Count; i++)
        {
            Assert.Equal(expected[i].Index, read[i].Index);
            Assert.Equal(expected[i].Term, read[i].Term);
            Assert.Equal(expected[i].Type, read[i].Type);
            Assert.True(expected[i].Data.AsSpan().SequenceEqual(read[i].Data), $"data of entry {read[i].Index}");
        }
    }
}
