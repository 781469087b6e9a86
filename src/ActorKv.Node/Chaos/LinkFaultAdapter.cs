using System.Collections.Concurrent;
using System.Threading.Channels;
using Akka.Actor;
using Akka.Remote.Transport;
using Google.Protobuf;

namespace ActorKv.Node.Chaos;

/// <summary>What a node does to what it sends one peer: drop all of it, drop a share, delay it.</summary>
public sealed record LinkFault(bool Cut, double DropProbability, TimeSpan Delay)
{
    public static readonly LinkFault None = new(false, 0, TimeSpan.Zero);
}

/// <summary>The management command that sets (or, with <see cref="LinkFault.None"/>, clears) the fault on the link to a peer's listening address.</summary>
public sealed record SetLinkFault(string Host, int Port, LinkFault Fault);

/// <summary>Registered in HOCON as akka.remote.adapters.faults; applied with applied-adapters = [faults].</summary>
public sealed class LinkFaultAdapterProvider : ITransportAdapterProvider
{
    public Transport Create(Transport wrappedTransport, ExtendedActorSystem system) => new LinkFaultAdapter(wrappedTransport);
}

/// <summary>
/// An Akka.Remote transport adapter (scheme "faults") for chaos runs: drops or delays what this
/// node sends to a peer, per Akka protocol frame, as set by <see cref="SetLinkFault"/>.
/// Faults act on the sending side only: an inbound association's remote address is the peer's
/// ephemeral port, which names no member, while with use-passive-connections off every node
/// sends on associations it opened, whose remote address is the peer's listening address. A
/// link cut both ways is cut on both members; a one-way cut on one.
/// It keeps no per-association state beyond a delay queue: Akka's own throttler (trttl) tracks
/// associations in a manager actor, and under it a restarted member could stay deaf to its leader
/// (chaos/README track record #13, #14; akka.net issue 8433).
/// </summary>
public sealed class LinkFaultAdapter(Transport wrappedTransport) : AbstractTransportAdapter(wrappedTransport)
{
    public const string Scheme = "faults";

    private static readonly SchemeAugmenter Augmenter = new(Scheme);

    private readonly ConcurrentDictionary<(string Host, int Port), LinkFault> faults = new();

    protected override SchemeAugmenter SchemeAugmenter => Augmenter;

    public override Task<bool> ManagementCommand(object message)
    {
        if (message is not SetLinkFault set)
        {
            return WrappedTransport.ManagementCommand(message);
        }

        if (set.Fault == LinkFault.None)
        {
            faults.TryRemove((set.Host, set.Port), out _);
        }
        else
        {
            faults[(set.Host, set.Port)] = set.Fault;
        }

        return Task.FromResult(true);
    }

    internal LinkFault FaultFor(Address remote) =>
        remote.Host is { } host && remote.Port is { } port && faults.TryGetValue((host, port), out var fault) ? fault : LinkFault.None;

    protected override Task<IAssociationEventListener> InterceptListen(Address listenAddress, Task<IAssociationEventListener> listenerTask) =>
        Task.FromResult<IAssociationEventListener>(new InboundListener(listenerTask, this));

    protected override void InterceptAssociate(Address remoteAddress, TaskCompletionSource<AssociationHandle> statusPromise)
    {
        if (FaultFor(remoteAddress).Cut)
        {
            statusPromise.TrySetException(new InvalidAssociationException($"the link to {remoteAddress} is cut by the chaos service"));
            return;
        }

        WrappedTransport.Associate(remoteAddress).ContinueWith(
            associated =>
            {
                if (associated.IsCompletedSuccessfully)
                {
                    statusPromise.TrySetResult(new LinkFaultHandle(associated.Result, this));
                }
                else
                {
                    statusPromise.TrySetException(associated.Exception?.InnerException ?? new InvalidAssociationException($"association to {remoteAddress} canceled"));
                }
            },
            TaskContinuationOptions.ExecuteSynchronously);
    }

    /// <summary>Wraps inbound associations (they pass unfiltered) once the layer above listens.</summary>
    private sealed class InboundListener(Task<IAssociationEventListener> upstream, LinkFaultAdapter adapter) : IAssociationEventListener
    {
        public void Notify(IAssociationEvent ev)
        {
            var wrapped = ev is InboundAssociation inbound ? new InboundAssociation(new LinkFaultHandle(inbound.Association, adapter)) : ev;
            upstream.ContinueWith(listener => listener.Result.Notify(wrapped), TaskContinuationOptions.ExecuteSynchronously | TaskContinuationOptions.OnlyOnRanToCompletion);
        }
    }
}

/// <summary>One association under <see cref="LinkFaultAdapter"/>: writes go through the link's fault; reads pass.</summary>
internal sealed class LinkFaultHandle : AbstractTransportAdapterHandle
{
    private readonly LinkFaultAdapter adapter;

    /// <summary>Frames held back by a delay, in order; while any wait, later frames queue behind them.</summary>
    private readonly Channel<(long DueTicks, ByteString Payload)> delayed = Channel.CreateUnbounded<(long, ByteString)>(new UnboundedChannelOptions { SingleReader = true });
    private int queued;
    private int pumping;

    public LinkFaultHandle(AssociationHandle wrappedHandle, LinkFaultAdapter adapter)
        : base(wrappedHandle, LinkFaultAdapter.Scheme)
    {
        this.adapter = adapter;
        ReadHandlerSource.Task.ContinueWith(
            listener => WrappedHandle.ReadHandlerSource.TrySetResult(listener.Result),
            TaskContinuationOptions.ExecuteSynchronously | TaskContinuationOptions.OnlyOnRanToCompletion);
    }

    public override bool Write(ByteString payload)
    {
        var fault = adapter.FaultFor(WrappedHandle.RemoteAddress);
        if (fault.Cut || (fault.DropProbability > 0 && Random.Shared.NextDouble() < fault.DropProbability))
        {
            return true;
        }

        if (fault.Delay <= TimeSpan.Zero && Volatile.Read(ref queued) == 0)
        {
            return WrappedHandle.Write(payload);
        }

        Interlocked.Increment(ref queued);
        delayed.Writer.TryWrite((Environment.TickCount64 + (long)fault.Delay.TotalMilliseconds, payload));
        if (Interlocked.Exchange(ref pumping, 1) == 0)
        {
            _ = Task.Run(PumpAsync);
        }

        return true;
    }

    private async Task PumpAsync()
    {
        await foreach (var (due, payload) in delayed.Reader.ReadAllAsync())
        {
            var wait = due - Environment.TickCount64;
            if (wait > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(wait));
            }

            // The transport refuses a write while its buffer is full: try again shortly, bounded.
            for (var attempt = 0; attempt < 100 && !WrappedHandle.Write(payload); attempt++)
            {
                await Task.Delay(10);
            }

            Interlocked.Decrement(ref queued);
        }
    }

    // Akka's Disassociate(reason, log) logs, then calls this one (obsolete only for callers).
    [Obsolete("Called through AssociationHandle.Disassociate(reason, log)")]
    public override void Disassociate()
    {
        delayed.Writer.TryComplete();
#pragma warning disable CS0618 // the wrapped handle has no reason to log: the caller logged it
        WrappedHandle.Disassociate();
#pragma warning restore CS0618
    }
}
