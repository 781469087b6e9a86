using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Etcdserverpb;

namespace ActorKv.Node.Mapping;

/// <summary>
/// Fills what etcd's gRPC layer adds to every top-level response header (<c>header.fill</c>):
/// cluster id, member id, raft term, and the current revision where the response has none.
/// </summary>
public sealed class ResponseHeaderStamp(ulong clusterId, ulong memberId)
{
    public ulong ClusterId { get; } = clusterId;

    public ulong MemberId { get; } = memberId;

    /// <summary>Ids derived from names, so that they are stable across restarts (etcd hashes URLs and a token likewise).</summary>
    public static ResponseHeaderStamp For(string clusterToken, string nodeName) =>
        new(ClusterIdFor(clusterToken), Hash(clusterToken + "/" + nodeName));

    /// <summary>The cluster id of every member started with this cluster token.</summary>
    public static ulong ClusterIdFor(string clusterToken) => Hash(clusterToken);

    public ResponseHeader Fill(ResponseHeader header, ulong raftTerm, long currentRevision)
    {
        header.ClusterId = ClusterId;
        header.MemberId = MemberId;
        header.RaftTerm = raftTerm;
        if (header.Revision == 0)
        {
            header.Revision = currentRevision;
        }

        return header;
    }

    private static ulong Hash(string text) => BinaryPrimitives.ReadUInt64BigEndian(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
