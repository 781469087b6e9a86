using System.Buffers.Binary;
using System.Text;
using Akka.Actor;

namespace ActorKv.Storage.Lmdb.Persistence;

/// <summary>
/// A payload as the plugins store it: which Akka serializer wrote it (bound in HOCON; for
/// ActorKv's own messages the protobuf one), its manifest, writer, timestamp and bytes.
/// </summary>
internal sealed record PersistedPayload(int SerializerId, string Manifest, string WriterGuid, long Timestamp, byte[] Bytes)
{
    public static PersistedPayload Serialize(ActorSystem system, object payload, string writerGuid, long timestamp)
    {
        var serializer = system.Serialization.FindSerializerFor(payload);
        var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, payload);
        return new PersistedPayload(serializer.Identifier, manifest, writerGuid, timestamp, serializer.ToBinary(payload));
    }

    public object Deserialize(ActorSystem system) => system.Serialization.Deserialize(Bytes, SerializerId, Manifest);

    public byte[] Encode()
    {
        var manifest = Encoding.UTF8.GetBytes(Manifest);
        var writer = Encoding.UTF8.GetBytes(WriterGuid);
        var bytes = new byte[4 + 2 + manifest.Length + 2 + writer.Length + 8 + Bytes.Length];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(span, SerializerId);
        BinaryPrimitives.WriteUInt16LittleEndian(span[4..], checked((ushort)manifest.Length));
        manifest.CopyTo(span[6..]);
        var at = 6 + manifest.Length;
        BinaryPrimitives.WriteUInt16LittleEndian(span[at..], checked((ushort)writer.Length));
        writer.CopyTo(span[(at + 2)..]);
        at += 2 + writer.Length;
        BinaryPrimitives.WriteInt64LittleEndian(span[at..], Timestamp);
        Bytes.CopyTo(span[(at + 8)..]);
        return bytes;
    }

    public static PersistedPayload Decode(ReadOnlySpan<byte> source)
    {
        var serializerId = BinaryPrimitives.ReadInt32LittleEndian(source);
        var manifestLength = BinaryPrimitives.ReadUInt16LittleEndian(source[4..]);
        var manifest = Encoding.UTF8.GetString(source.Slice(6, manifestLength));
        var at = 6 + manifestLength;
        var writerLength = BinaryPrimitives.ReadUInt16LittleEndian(source[at..]);
        var writer = Encoding.UTF8.GetString(source.Slice(at + 2, writerLength));
        at += 2 + writerLength;
        var timestamp = BinaryPrimitives.ReadInt64LittleEndian(source[at..]);
        return new PersistedPayload(serializerId, manifest, writer, timestamp, source[(at + 8)..].ToArray());
    }
}
