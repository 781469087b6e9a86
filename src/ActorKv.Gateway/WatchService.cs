using System.Threading.Channels;
using ActorKv.Node;
using ActorKv.Node.Watch;
using Akka.Actor;
using Etcdserverpb;
using Grpc.Core;

namespace ActorKv.Gateway;

/// <summary>etcd's Watch service: one <see cref="WatchStream"/> actor per gRPC stream.</summary>
public sealed class WatchService(ActorKvNode node) : Watch.WatchBase
{
    public override async Task Watch(IAsyncStreamReader<WatchRequest> requestStream, IServerStreamWriter<WatchResponse> responseStream, ServerCallContext context)
    {
        var outbox = Channel.CreateUnbounded<WatchResponse>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var pending = new WatchOutboxCounter();
        var stream = node.OpenWatchStream(outbox.Writer, pending);
        var sending = SendAsync(outbox.Reader, pending, responseStream, context.CancellationToken);
        try
        {
            await foreach (var request in requestStream.ReadAllAsync(context.CancellationToken))
            {
                if (request.CreateRequest is { StartRevision: 0 })
                {
                    // A watch from "now" starts after every write this member has answered; the
                    // hub learns of writes as they commit.
                    await node.WaitAnsweredWritesVisibleAsync();
                }

                stream.Tell(new WatchStream.ClientRequest(request));
            }

            // The client closed its side: like etcd, the stream ends once what is queued is sent.
        }
        catch (OperationCanceledException)
        {
            // The client went away.
        }
        finally
        {
            stream.Tell(PoisonPill.Instance);
        }

        try
        {
            await sending;
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static async Task SendAsync(ChannelReader<WatchResponse> outbox, WatchOutboxCounter pending, IServerStreamWriter<WatchResponse> responseStream, CancellationToken cancellation)
    {
        // Responses already queued behind this one are written with a buffer hint and flushed
        // with the last: one HTTP/2 write for a burst instead of one per response (as gRPC-Go's
        // writer coalesces for etcd).
        var buffered = new WriteOptions(WriteFlags.BufferHint);
        while (await outbox.WaitToReadAsync(cancellation))
        {
            if (!outbox.TryRead(out var response))
            {
                continue;
            }

            while (response is not null)
            {
                outbox.TryRead(out var next);
                responseStream.WriteOptions = next is not null ? buffered : null;
                await responseStream.WriteAsync(response, cancellation);
                if (response.Events.Count > 0)
                {
                    pending.Decrement();
                }

                response = next;
            }
        }
    }
}
