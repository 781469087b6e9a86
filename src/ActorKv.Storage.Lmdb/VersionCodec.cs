using System.Buffers.Binary;
using ActorKv.Mvcc;

namespace ActorKv.Storage.Lmdb;

/// <summary>
/// Byte layouts of the MVCC databases. Revisions are big-endian so that LMDB's byte order is
/// revision order. Changing a layout changes the on-disk format: bump <see cref="FormatVersion"/>.
/// </summary>
internal static class VersionCodec
{
    public const int FormatVersion = 2;

    /// <summary>main (8) + sub (8).</summary>
    public const int RevisionBytes = 16;

    /// <summary>Index duplicate: revision (16) + tombstone flag (1).</summary>
    public const int IndexEntryBytes = RevisionBytes + 1;

    public static void WriteRevision(Span<byte> destination, Revision revision)
    {
        BinaryPrimitives.WriteInt64BigEndian(destination, revision.Main);
        BinaryPrimitives.WriteInt64BigEndian(destination[8..], revision.Sub);
    }

    public static byte[] EncodeRevision(Revision revision)
    {
        var bytes = new byte[RevisionBytes];
        WriteRevision(bytes, revision);
        return bytes;
    }

    public static Revision ReadRevision(ReadOnlySpan<byte> source) =>
        new(BinaryPrimitives.ReadInt64BigEndian(source), BinaryPrimitives.ReadInt64BigEndian(source[8..]));

    public static byte[] EncodeIndexEntry(Revision revision, bool tombstone)
    {
        var bytes = new byte[IndexEntryBytes];
        WriteRevision(bytes, revision);
        bytes[RevisionBytes] = tombstone ? (byte)1 : (byte)0;
        return bytes;
    }

    public static IndexEntry DecodeIndexEntry(byte[] key, ReadOnlySpan<byte> source) =>
        new(key, ReadRevision(source), source[RevisionBytes] != 0);

    /// <summary>
    /// create, version, lease and key length as unsigned LEB128 varints (as protobuf's), then key
    /// and value; the mod revision is the record's own key. Varints keep a record close to etcd's
    /// protobuf KeyValue in size: fixed 8-byte fields cost 22 bytes more for a typical version.
    /// </summary>
    public static byte[] EncodeRecord(KeyValueEntry entry)
    {
        var headerBytes = VarintBytes((ulong)entry.CreateRevision) + VarintBytes((ulong)entry.Version)
            + VarintBytes((ulong)entry.Lease) + VarintBytes((ulong)entry.Key.Length);
        var bytes = new byte[headerBytes + entry.Key.Length + entry.Value.Length];
        var span = bytes.AsSpan();
        var at = WriteVarint(span, (ulong)entry.CreateRevision);
        at += WriteVarint(span[at..], (ulong)entry.Version);
        at += WriteVarint(span[at..], (ulong)entry.Lease);
        at += WriteVarint(span[at..], (ulong)entry.Key.Length);
        entry.Key.CopyTo(span[at..]);
        entry.Value.CopyTo(span[(at + entry.Key.Length)..]);
        return bytes;
    }

    public static KeyValueEntry DecodeRecord(Revision revision, ReadOnlySpan<byte> source)
    {
        var at = 0;
        var create = (long)ReadVarint(source, ref at);
        var version = (long)ReadVarint(source, ref at);
        var lease = (long)ReadVarint(source, ref at);
        var keyLength = checked((int)ReadVarint(source, ref at));
        return new KeyValueEntry(
            Key: source.Slice(at, keyLength).ToArray(),
            CreateRevision: create,
            ModRevision: revision.Main,
            Version: version,
            Value: source[(at + keyLength)..].ToArray(),
            Lease: lease);
    }

    private static int VarintBytes(ulong value) => value == 0 ? 1 : (63 - System.Numerics.BitOperations.LeadingZeroCount(value) + 7) / 7;

    private static int WriteVarint(Span<byte> destination, ulong value)
    {
        var at = 0;
        while (value >= 0x80)
        {
            destination[at++] = (byte)(value | 0x80);
            value >>= 7;
        }

        destination[at++] = (byte)value;
        return at;
    }

    private static ulong ReadVarint(ReadOnlySpan<byte> source, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var next = source[at++];
            value |= (ulong)(next & 0x7F) << shift;
            if (next < 0x80)
            {
                return value;
            }
        }

        throw new InvalidDataException("a version record's varint is longer than 10 bytes");
    }

    private const int MetaBytes = 4 + (8 * 5);

    public static byte[] EncodeMeta(MvccMeta meta)
    {
        var bytes = new byte[MetaBytes];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(span, FormatVersion);
        BinaryPrimitives.WriteInt64LittleEndian(span[4..], meta.CurrentRevision);
        BinaryPrimitives.WriteInt64LittleEndian(span[12..], meta.CompactedRevision);
        BinaryPrimitives.WriteInt64LittleEndian(span[20..], meta.PhysicallyCompactedRevision);
        BinaryPrimitives.WriteUInt64LittleEndian(span[28..], meta.AppliedIndex);
        BinaryPrimitives.WriteUInt64LittleEndian(span[36..], meta.AppliedTerm);
        return bytes;
    }

    public static MvccMeta DecodeMeta(ReadOnlySpan<byte> source)
    {
        var format = BinaryPrimitives.ReadInt32LittleEndian(source);
        if (format != FormatVersion || source.Length != MetaBytes)
        {
            throw new InvalidDataException($"MVCC store format {format} ({source.Length} bytes of meta); this build reads format {FormatVersion} only: run the build that wrote the store, or start on a new data dir");
        }

        return new MvccMeta(
            CurrentRevision: BinaryPrimitives.ReadInt64LittleEndian(source[4..]),
            CompactedRevision: BinaryPrimitives.ReadInt64LittleEndian(source[12..]),
            PhysicallyCompactedRevision: BinaryPrimitives.ReadInt64LittleEndian(source[20..]),
            AppliedIndex: BinaryPrimitives.ReadUInt64LittleEndian(source[28..]),
            AppliedTerm: BinaryPrimitives.ReadUInt64LittleEndian(source[36..]));
    }

    /// <summary>Lease ids big-endian, so that LMDB orders them numerically (ids are positive).</summary>
    public static byte[] EncodeLeaseId(long id)
    {
        var bytes = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, id);
        return bytes;
    }

    public static long DecodeLeaseId(ReadOnlySpan<byte> source) => BinaryPrimitives.ReadInt64BigEndian(source);
}
