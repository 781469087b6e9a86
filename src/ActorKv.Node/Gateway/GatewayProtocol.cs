using ActorKv.Protocol.Log;
using Google.Protobuf;

namespace ActorKv.Node.Gateway;

public static class GatewayProtocol
{
    /// <summary>A validated client write; <paramref name="Completion"/> gets the etcd response or an RpcException.</summary>
    public sealed record ProposeWrite(WriteRequest Request, TaskCompletionSource<IMessage> Completion);
}
