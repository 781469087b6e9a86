using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;
using Akka.Remote.Transport;

namespace ActorKv.Node.Remoting;

/// <summary>
/// An Akka.Remote transport (scheme tcp) over plain sockets, for the members' Raft traffic.
/// Akka's DotNetty transport hands every frame between threads on both sides: a write is queued
/// to DotNetty's event loop, which sends it; a read completes on .NET's socket-event thread,
/// which wakes the event loop, which decodes and delivers it. Each crossing of a replicated
/// write paid those wake-ups (docs/benchmarks.md, sessions 16 and 21). Here a write is sent by
/// the thread that writes it (a non-blocking send; only what the socket does not take at once
/// goes to a flusher thread), and each connection has a thread of its own that sleeps in the
/// kernel until bytes arrive and hands each frame to Akka at once.
/// Frames are those of Akka's DotNetty transport (a 4-byte little-endian length, then the
/// payload; no TLS), so a member on either transport talks to one on the other: a cluster can
/// move from one to the other a member at a time.
/// HOCON: <c>akka.remote.enabled-transports = ["akka.remote.peer-tcp"]</c> (the reference config).
/// </summary>
public sealed class PeerSocketTransport : Transport
{
    private readonly PeerSocketSettings settings;
    private readonly ILoggingAdapter log;
    // By reference: AssociationHandle's own equality compares addresses.
    private readonly ConcurrentDictionary<PeerSocketHandle, byte> handles = new(ReferenceEqualityComparer.Instance);
    private readonly TaskCompletionSource<IAssociationEventListener> associationListener = new();
    private Socket? listener;
    private Address? listenAddress;
    private volatile bool stopping;

    /// <summary>Made by Akka.Remote from the transport's HOCON section.</summary>
    public PeerSocketTransport(ActorSystem system, Config config)
    {
        System = system;
        Config = config;
        settings = PeerSocketSettings.From(config);
        SchemeIdentifier = "tcp";
        MaximumPayloadBytes = settings.MaximumFrameBytes;
        log = Logging.GetLogger(system, typeof(PeerSocketTransport));
    }

    /// <inheritdoc />
    public override Task<(Address, TaskCompletionSource<IAssociationEventListener>)> Listen()
    {
        var bindAddress = ResolveHost(settings.Hostname);
        var socket = new Socket(bindAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            // A restarted member binds its port again while its old connections are in TIME_WAIT.
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(bindAddress, settings.Port));
            socket.Listen(settings.AcceptBacklog);
            socket.Blocking = false;
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        listener = socket;
        var port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        listenAddress = new Address(SchemeIdentifier, System.Name, settings.PublicHostname, port);
        new Thread(AcceptConnections) { IsBackground = true, Name = $"actorkv.peer-accept:{port}" }.Start();
        return Task.FromResult((listenAddress, associationListener));
    }

    /// <inheritdoc />
    public override bool IsResponsibleFor(Address remote) => true;

    /// <inheritdoc />
    public override Task<AssociationHandle> Associate(Address remoteAddress)
    {
        if (remoteAddress.Host is not { } host || remoteAddress.Port is not { } port)
        {
            return Task.FromException<AssociationHandle>(new InvalidAssociationException($"{remoteAddress} names no host and port"));
        }

        // Connecting may wait (a name to resolve, a host that does not answer): not on Akka's threads.
        return Task.Factory.StartNew(
            () => (AssociationHandle)Connect(remoteAddress, host, port),
            CancellationToken.None,
            TaskCreationOptions.LongRunning,
            TaskScheduler.Default);
    }

    /// <inheritdoc />
    public override Task<bool> Shutdown()
    {
        stopping = true;
        listener?.Dispose();
        foreach (var handle in handles.Keys)
        {
            handle.Close();
        }

        // Not joined: Akka may call this on an actor's thread. The accept thread sees the closed
        // listener, or the stop flag within IdleWait, and ends.
        return Task.FromResult(true);
    }

    internal void Forget(PeerSocketHandle handle) => handles.TryRemove(handle, out _);

    private PeerSocketHandle Connect(Address remoteAddress, string host, int port)
    {
        var address = ResolveHost(host);
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            Configure(socket);
            try
            {
                socket.Connect(new IPEndPoint(address, port));
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
            {
                if (!socket.Poll(settings.ConnectTimeout, SelectMode.SelectWrite))
                {
                    throw new InvalidAssociationException($"connecting to {host}:{port} timed out after {settings.ConnectTimeout.TotalSeconds:0.#} s");
                }
            }

            if (socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error) is int error and not 0)
            {
                throw new InvalidAssociationException($"connecting to {host}:{port} failed: {(SocketError)error}");
            }

            var local = (IPEndPoint)socket.LocalEndPoint!;
            var handle = new PeerSocketHandle(
                new Address(SchemeIdentifier, System.Name, settings.PublicHostname, local.Port), remoteAddress, socket, settings, this, log);
            Start(handle);
            return handle;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            socket.Dispose();
            throw new InvalidAssociationException($"connecting to {host}:{port} failed: {e.Message}", e);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private void AcceptConnections()
    {
        while (!stopping)
        {
            Socket accepted;
            try
            {
                // Bounded, so that the thread sees the transport stop even if the close does not wake it.
                if (!listener!.Poll(settings.IdleWait, SelectMode.SelectRead))
                {
                    continue;
                }

                accepted = listener.Accept();
            }
            catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.ConnectionAborted or SocketError.ConnectionReset)
            {
                continue;
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                if (!stopping)
                {
                    log.Error(e, "peer transport: the listening socket failed; no more inbound associations");
                }

                return;
            }

            try
            {
                Configure(accepted);
                var remote = (IPEndPoint)accepted.RemoteEndPoint!;
                var handle = new PeerSocketHandle(
                    listenAddress!, new Address(SchemeIdentifier, System.Name, remote.Address.ToString(), remote.Port), accepted, settings, this, log);
                Start(handle);
                associationListener.Task.ContinueWith(
                    listening => listening.Result.Notify(new InboundAssociation(handle)),
                    CancellationToken.None,
                    TaskContinuationOptions.ExecuteSynchronously | TaskContinuationOptions.OnlyOnRanToCompletion,
                    TaskScheduler.Default);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                // The peer went away between connect and accept.
                accepted.Dispose();
            }
        }
    }

    private void Start(PeerSocketHandle handle)
    {
        handles[handle] = 0;
        if (stopping)
        {
            handle.Close();
            return;
        }

        handle.Start();
    }

    private void Configure(Socket socket)
    {
        socket.NoDelay = true;
        socket.SendBufferSize = settings.SendBufferBytes;
        socket.ReceiveBufferSize = settings.ReceiveBufferBytes;
        // Sends and receives never block in the kernel: a thread waits in poll() for the socket.
        socket.Blocking = false;
    }

    private static IPAddress ResolveHost(string host) =>
        IPAddress.TryParse(host, out var address)
            ? address
            : Dns.GetHostAddresses(host).OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).FirstOrDefault()
              ?? throw new InvalidAssociationException($"{host} resolves to no address");
}

/// <summary>The keys of a <see cref="PeerSocketTransport"/>'s HOCON section (akka.remote.peer-tcp).</summary>
internal sealed record PeerSocketSettings(
    string Hostname,
    string PublicHostname,
    int Port,
    int MaximumFrameBytes,
    int SendBufferBytes,
    int ReceiveBufferBytes,
    long SendBacklogBytesMax,
    TimeSpan ConnectTimeout,
    int AcceptBacklog)
{
    /// <summary>How long a waiting thread sleeps before it looks again whether its socket was closed.</summary>
    public TimeSpan IdleWait { get; init; } = TimeSpan.FromSeconds(1);

    public static PeerSocketSettings From(Config config)
    {
        var hostname = config.GetString("hostname", "127.0.0.1");
        var publicHostname = config.GetString("public-hostname", "");
        var settings = new PeerSocketSettings(
            hostname,
            string.IsNullOrEmpty(publicHostname) ? hostname : publicHostname,
            config.GetInt("port", 0),
            checked((int)(config.GetByteSize("maximum-frame-size", null) ?? 4 * 1024 * 1024)),
            checked((int)(config.GetByteSize("send-buffer-size", null) ?? 4 * 1024 * 1024)),
            checked((int)(config.GetByteSize("receive-buffer-size", null) ?? 4 * 1024 * 1024)),
            config.GetByteSize("send-backlog-max", null) ?? 64L * 1024 * 1024,
            config.GetTimeSpan("connect-timeout", TimeSpan.FromSeconds(15)),
            config.GetInt("accept-backlog", 128));
        if (settings.Port is < 0 or > 65535 || settings.MaximumFrameBytes <= 0 || settings.SendBacklogBytesMax < settings.MaximumFrameBytes)
        {
            throw new ConfigurationException(
                $"peer transport: port must be 0-65535 (is {settings.Port}), maximum-frame-size above 0 and send-backlog-max at least maximum-frame-size");
        }

        return settings;
    }
}
