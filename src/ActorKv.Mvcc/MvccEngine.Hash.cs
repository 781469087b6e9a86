using System.Buffers.Binary;
using System.Security.Cryptography;

namespace ActorKv.Mvcc;

public sealed partial class MvccEngine
{
    private const int HashPageKeys = 1000;

    /// <summary>
    /// A digest of the store's history up to <paramref name="revision"/> (0: current), for
    /// comparing members (etcd's HashKV): every version in (compacted, revision], plus the version
    /// each key keeps at the compacted revision, so the hash is the same whether or not physical
    /// compaction has run yet. Returns the hash and the compacted revision it starts from.
    /// </summary>
    public static (uint Hash, long CompactRevision) HashKV(IMvccReadView view, long revision)
    {
        var meta = view.Meta;
        if (revision > meta.CurrentRevision)
        {
            throw new MvccException(MvccError.FutureRevision);
        }

        if (revision <= 0)
        {
            revision = meta.CurrentRevision;
        }

        if (revision < meta.CompactedRevision)
        {
            throw new MvccException(MvccError.Compacted);
        }

        var compacted = meta.CompactedRevision;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> number = stackalloc byte[8];
        byte[] from = [];
        while (true)
        {
            var page = view.ReadHistories(from, HashPageKeys);
            foreach (var (_, entries) in page)
            {
                var keptAtCompaction = entries.LastOrDefault(e => e.Revision.Main <= compacted);
                foreach (var entry in entries)
                {
                    var visible = entry.Revision.Main <= revision
                        && (entry.Revision.Main > compacted || (entry == keptAtCompaction && !entry.Tombstone));
                    if (!visible)
                    {
                        continue;
                    }

                    var version = view.ReadVersion(entry.Revision);
                    foreach (var value in new[] { entry.Revision.Main, entry.Revision.Sub, version.CreateRevision, version.Version, version.Lease, entry.Tombstone ? 1 : 0, version.Key.Length })
                    {
                        BinaryPrimitives.WriteInt64LittleEndian(number, value);
                        hash.AppendData(number);
                    }

                    hash.AppendData(version.Key);
                    hash.AppendData(version.Value);
                }
            }

            if (page.Count < HashPageKeys)
            {
                break;
            }

            from = [.. page[^1].Key, 0];
        }

        return (BinaryPrimitives.ReadUInt32LittleEndian(hash.GetHashAndReset()), compacted);
    }
}
