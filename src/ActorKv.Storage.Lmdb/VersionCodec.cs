using System.Buffers.Binary;
using ActorKv.Mvcc;

namespace ActorKv.Storage.Lmdb;

/// <summary>
/// Byte layouts of the MVCC databases. Revisions are big-endian so that LMDB's byte order is
/// revision order. Changing a layout changes the on-disk format: bump <see cref="FormatVersion"/>.
/// </summary>
internal static class VersionCodec
{
    public const int FormatVersion = 1;

    /// <summary>main (8) + sub (8).</summary>
    public const int RevisionBytes = 16;

    /// <summary>Index duplicate: revision (16) + tombstone flag (1).</summary>
    public const int IndexEntryBytes = RevisionBytes + 1;

    private const int RecordHeaderBytes = 8 + 8 + 8 + 4;

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

    /// <summary>create (8) version (8) lease (8) key length (4) key value; the mod revision is the record's own key.</summary>
    public static byte[] EncodeRecord(KeyValueEntry entry)
    {
        var bytes = new byte[RecordHeaderBytes + entry.Key.Length + entry.Value.Length];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteInt64LittleEndian(span, entry.CreateRevision);
        BinaryPrimitives.WriteInt64LittleEndian(span[8..], entry.Version);
        BinaryPrimitives.WriteInt64LittleEndian(span[16..], entry.Lease);
        BinaryPrimitives.WriteInt32LittleEndian(span[24..], entry.Key.Length);
        entry.Key.CopyTo(span[RecordHeaderBytes..]);
        entry.Value.CopyTo(span[(RecordHeaderBytes + entry.Key.Length)..]);
        return bytes;
    }

    public static KeyValueEntry DecodeRecord(Revision revision, ReadOnlySpan<byte> source)
    {
        var keyLength = BinaryPrimitives.ReadInt32LittleEndian(source[24..]);
        return new KeyValueEntry(
            Key: source.Slice(RecordHeaderBytes, keyLength).ToArray(),
            CreateRevision: BinaryPrimitives.ReadInt64LittleEndian(source),
            ModRevision: revision.Main,
            Version: BinaryPrimitives.ReadInt64LittleEndian(source[8..]),
            Value: source[(RecordHeaderBytes + keyLength)..].ToArray(),
            Lease: BinaryPrimitives.ReadInt64LittleEndian(source[16..]));
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
            throw new InvalidDataException($"MVCC store format {format} ({source.Length} bytes of meta); this build reads format {FormatVersion}");
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
