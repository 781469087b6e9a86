using ActorKv.Protocol.Log;
using ActorKv.Protocol.Membership;
using ActorKv.Protocol.Raft;
using Akka.Actor;
using Akka.Serialization;
using Google.Protobuf;

namespace ActorKv.Node.Serialization;

/// <summary>
/// The serializer for every ActorKv message that crosses Akka.Remote or is persisted in the Raft
/// WAL: protobuf, with a short manifest per type (bound in actorkv.conf). Never JSON.
/// </summary>
public sealed class ActorKvProtobufSerializer(ExtendedActorSystem system) : SerializerWithStringManifest(system)
{
    /// <summary>Stable forever: it is stored with every journal record.</summary>
    public const int SerializerId = 4711;

    private static readonly Dictionary<Type, string> ManifestByType = new()
    {
        [typeof(RaftMessage)] = "RM",
        [typeof(RaftMessageBatch)] = "RB",
        [typeof(WriteRequest)] = "WR",
        [typeof(MembershipProposal)] = "MP",
        [typeof(MembershipRefused)] = "MF",
        [typeof(SnapshotChunk)] = "SC",
        [typeof(SnapshotChunkAck)] = "SA",
        [typeof(PeerProbe)] = "PP",
        [typeof(MemberRemoved)] = "PR",
        [typeof(Etcdserverpb.LeaseKeepAliveRequest)] = "LK",
        [typeof(Etcdserverpb.LeaseKeepAliveResponse)] = "Lk",
        [typeof(Etcdserverpb.LeaseTimeToLiveRequest)] = "LT",
        [typeof(Etcdserverpb.LeaseTimeToLiveResponse)] = "Lt",
        [typeof(ActorKv.Protocol.Lease.LeaseRefused)] = "LR",
    };

    private static readonly Dictionary<string, MessageParser> ParserByManifest = new()
    {
        ["RM"] = RaftMessage.Parser,
        ["RB"] = RaftMessageBatch.Parser,
        ["WR"] = WriteRequest.Parser,
        ["MP"] = MembershipProposal.Parser,
        ["MF"] = MembershipRefused.Parser,
        ["SC"] = SnapshotChunk.Parser,
        ["SA"] = SnapshotChunkAck.Parser,
        ["PP"] = PeerProbe.Parser,
        ["PR"] = MemberRemoved.Parser,
        ["LK"] = Etcdserverpb.LeaseKeepAliveRequest.Parser,
        ["Lk"] = Etcdserverpb.LeaseKeepAliveResponse.Parser,
        ["LT"] = Etcdserverpb.LeaseTimeToLiveRequest.Parser,
        ["Lt"] = Etcdserverpb.LeaseTimeToLiveResponse.Parser,
        ["LR"] = ActorKv.Protocol.Lease.LeaseRefused.Parser,
    };

    public override int Identifier => SerializerId;

    public override string Manifest(object o) =>
        ManifestByType.TryGetValue(o.GetType(), out var manifest)
            ? manifest
            : throw new ArgumentException($"ActorKv's protobuf serializer does not handle {o.GetType()}; bind it to another serializer");

    public override byte[] ToBinary(object obj) => ((IMessage)obj).ToByteArray();

    public override object FromBinary(byte[] bytes, string manifest) =>
        ParserByManifest.TryGetValue(manifest, out var parser)
            ? parser.ParseFrom(bytes)
            : throw new System.Runtime.Serialization.SerializationException($"unknown ActorKv message manifest '{manifest}'");
}
