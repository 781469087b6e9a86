using ActorKv.Protocol.Log;

namespace ActorKv.Node.Gateway;

public static class GatewayProtocol
{
    /// <summary>A validated client write, its waiter already registered under <see cref="WriteRequest.Id"/>.</summary>
    public sealed record ProposeWrite(WriteRequest Request);
}
