using System.Buffers;
using System.Buffers.Binary;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Event;
using Akka.Remote.Transport;
using Google.Protobuf;

namespace ActorKv.Node.Remoting;

/// <summary>
/// One connection of <see cref="PeerSocketTransport"/>. The socket is non-blocking. A write is
/// sent on the writer's thread under a lock (Akka's endpoint writer and its protocol actor's
/// heartbeats both write); what the socket does not take at once is queued, in order, for a
/// flusher thread that waits until the socket can take more, and later writes queue behind it
/// until it has caught up. A reader thread waits in poll() for bytes, splits them into frames and
/// hands each to Akka's listener on the same thread. Either side's failure closes the connection;
/// the reader then tells Akka it is disassociated.
/// </summary>
internal sealed class PeerSocketHandle : AssociationHandle
{
    private const int FrameHeaderBytes = 4;
    private const int ReceiveBufferBytes = 64 * 1024;
    private static readonly TimeSpan ListenerWaitMax = TimeSpan.FromSeconds(60);

    private readonly Socket socket;
    private readonly PeerSocketSettings settings;
    private readonly PeerSocketTransport transport;
    private readonly ILoggingAdapter log;

    // A monitor, not a System.Threading.Lock: the flusher waits on it.
    private readonly object sendLock = new();
    /// <summary>Frames waiting for the flusher, in order; the first may be partly sent.</summary>
    private readonly Queue<byte[]> sendBacklog = new();
    private int sendBacklogHeadSentBytes;
    private long sendBacklogBytes;
    /// <summary>While set the flusher owns the socket's sends, and writes queue behind it.</summary>
    private bool flushing;
    private Thread? flusher;

    private readonly TaskCompletionSource closedSignal = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int closed;

    public PeerSocketHandle(Address localAddress, Address remoteAddress, Socket socket, PeerSocketSettings settings, PeerSocketTransport transport, ILoggingAdapter log)
        : base(localAddress, remoteAddress)
    {
        this.socket = socket;
        this.settings = settings;
        this.transport = transport;
        this.log = log;
        ReadHandlerSource = new TaskCompletionSource<IHandleEventListener>();
    }

    private bool IsClosed => Volatile.Read(ref closed) != 0;

    public void Start() =>
        new Thread(ReceiveFrames) { IsBackground = true, Name = $"actorkv.peer-read:{RemoteAddress.Host}:{RemoteAddress.Port}" }.Start();

    /// <inheritdoc />
    public override bool Write(ByteString payload)
    {
        var frameBytes = FrameHeaderBytes + payload.Length;
        lock (sendLock)
        {
            if (IsClosed)
            {
                return false;
            }

            if (flushing)
            {
                // Akka backs off and writes again when a transport says no: a bound on what waits.
                if (sendBacklogBytes + frameBytes > settings.SendBacklogBytesMax)
                {
                    return false;
                }

                var queued = new byte[frameBytes];
                Frame(payload, queued);
                Enqueue(queued);
                return true;
            }

            var frame = ArrayPool<byte>.Shared.Rent(frameBytes);
            try
            {
                Frame(payload, frame);
                var sent = SendNow(frame, 0, frameBytes);
                if (sent < 0)
                {
                    // The reader sees the closed socket and tells Akka.
                    CloseLocked();
                    return true;
                }

                if (sent < frameBytes)
                {
                    Enqueue(frame.AsSpan(sent, frameBytes - sent).ToArray());
                    flushing = true;
                    flusher ??= StartFlusher();
                    Monitor.PulseAll(sendLock);
                }

                return true;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(frame);
            }
        }
    }

    // Akka's Disassociate(reason, log) logs, then calls this one (obsolete only for callers).
    /// <inheritdoc />
    [Obsolete("Called through AssociationHandle.Disassociate(reason, log)")]
    public override void Disassociate() => Close();

    /// <summary>Closes the socket; the reader thread then ends and tells Akka. Idempotent.</summary>
    public void Close()
    {
        lock (sendLock)
        {
            CloseLocked();
        }
    }

    private void CloseLocked()
    {
        if (Interlocked.Exchange(ref closed, 1) != 0)
        {
            return;
        }

        try
        {
            // Wakes a thread in poll() on this socket; closing the descriptor alone would not.
            socket.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Already reset by the peer.
        }

        socket.Dispose();
        sendBacklog.Clear();
        sendBacklogHeadSentBytes = 0;
        sendBacklogBytes = 0;
        Monitor.PulseAll(sendLock);
        closedSignal.TrySetResult();
        transport.Forget(this);
    }

    private static void Frame(ByteString payload, byte[] frame)
    {
        BinaryPrimitives.WriteInt32LittleEndian(frame, payload.Length);
        payload.Span.CopyTo(frame.AsSpan(FrameHeaderBytes));
    }

    private void Enqueue(byte[] bytes)
    {
        sendBacklog.Enqueue(bytes);
        sendBacklogBytes += bytes.Length;
    }

    /// <summary>Sends what the socket takes now: the count sent (maybe 0), or -1 if the connection failed.</summary>
    private int SendNow(byte[] buffer, int offset, int count)
    {
        var sent = 0;
        while (sent < count)
        {
            int n;
            SocketError error;
            try
            {
                n = socket.Send(buffer, offset + sent, count - sent, SocketFlags.None, out error);
            }
            catch (ObjectDisposedException)
            {
                return -1;
            }

            if (error == SocketError.WouldBlock)
            {
                return sent;
            }

            if (error != SocketError.Success)
            {
                log.Debug("peer transport: sending to {0} failed: {1}", RemoteAddress, error);
                return -1;
            }

            sent += n;
        }

        return sent;
    }

    private Thread StartFlusher()
    {
        var thread = new Thread(FlushBacklog) { IsBackground = true, Name = $"actorkv.peer-flush:{RemoteAddress.Host}:{RemoteAddress.Port}" };
        thread.Start();
        return thread;
    }

    /// <summary>
    /// Sends the backlog as the socket takes it. Only this thread sends while <see cref="flushing"/>
    /// is set, so it sends outside the lock; it clears the flag, under the lock, once the backlog
    /// is empty.
    /// </summary>
    private void FlushBacklog()
    {
        while (true)
        {
            byte[] head;
            int headSent;
            lock (sendLock)
            {
                while (!IsClosed && sendBacklog.Count == 0)
                {
                    flushing = false;
                    Monitor.Wait(sendLock, settings.IdleWait);
                }

                if (IsClosed)
                {
                    return;
                }

                head = sendBacklog.Peek();
                headSent = sendBacklogHeadSentBytes;
            }

            try
            {
                if (!socket.Poll(settings.IdleWait, SelectMode.SelectWrite))
                {
                    continue;
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                Close();
                return;
            }

            var sent = SendNow(head, headSent, head.Length - headSent);
            lock (sendLock)
            {
                if (sent < 0)
                {
                    CloseLocked();
                    return;
                }

                if (IsClosed)
                {
                    return;
                }

                sendBacklogBytes -= sent;
                sendBacklogHeadSentBytes += sent;
                if (sendBacklogHeadSentBytes == head.Length)
                {
                    sendBacklog.Dequeue();
                    sendBacklogHeadSentBytes = 0;
                }
            }
        }
    }

    private void ReceiveFrames()
    {
        IHandleEventListener? listener = null;
        try
        {
            // Akka gives the connection its listener as soon as its protocol layer takes the
            // connection up; one it never takes up is closed after a bound.
            var ready = Task.WaitAny([ReadHandlerSource.Task, closedSignal.Task], ListenerWaitMax);
            if (ready != 0 || !ReadHandlerSource.Task.IsCompletedSuccessfully)
            {
                return;
            }

            listener = ReadHandlerSource.Task.Result;
            var buffer = new byte[ReceiveBufferBytes];
            var filled = 0;
            while (!IsClosed)
            {
                if (!socket.Poll(settings.IdleWait, SelectMode.SelectRead))
                {
                    continue;
                }

                var n = socket.Receive(buffer, filled, buffer.Length - filled, SocketFlags.None, out var error);
                if (error == SocketError.WouldBlock)
                {
                    continue;
                }

                if (error != SocketError.Success || n == 0)
                {
                    return;
                }

                filled += n;
                var start = 0;
                while (filled - start >= FrameHeaderBytes)
                {
                    var length = BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(start));
                    if (length < 0 || length > settings.MaximumFrameBytes)
                    {
                        log.Warning("peer transport: a frame of {0} bytes from {1} (at most {2}); closing the connection", length, RemoteAddress, settings.MaximumFrameBytes);
                        return;
                    }

                    if (filled - start - FrameHeaderBytes < length)
                    {
                        break;
                    }

                    listener.Notify(new InboundPayload(ByteString.CopyFrom(buffer, start + FrameHeaderBytes, length)));
                    start += FrameHeaderBytes + length;
                }

                // What is left is the start of a frame: to the front, in a buffer it fits in.
                var pending = filled - start;
                var needed = pending >= FrameHeaderBytes ? FrameHeaderBytes + BinaryPrimitives.ReadInt32LittleEndian(buffer.AsSpan(start)) : FrameHeaderBytes;
                var target = needed > buffer.Length ? new byte[needed] : buffer;
                Buffer.BlockCopy(buffer, start, target, 0, pending);
                buffer = target;
                filled = pending;
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // Closed under the reader, or reset by the peer.
        }
        catch (Exception e)
        {
            log.Error(e, "peer transport: reading from {0} failed", RemoteAddress);
        }
        finally
        {
            Close();
            listener?.Notify(new Disassociated(DisassociateInfo.Unknown));
        }
    }
}
