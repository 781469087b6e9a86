using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using ActorKv.Node.Remoting;
using Akka.Actor;
using Akka.Configuration;
using Akka.Remote;
using Akka.Remote.Transport;
using Akka.TestKit.Xunit2;
using Google.Protobuf;

namespace ActorKv.Node.Tests;

/// <summary>
/// ActorKv's Akka.Remote transport: frames cross whole and in order however the socket splits
/// them, a write the socket cannot take waits in a bounded backlog, a broken or lying peer ends the
/// association, and two actor systems talk over it.
/// </summary>
public sealed class PeerSocketTransportTests : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    public PeerSocketTransportTests()
        : base("akka.loglevel = WARNING")
    {
    }

    private PeerSocketTransport NewTransport(string extraHocon = "") =>
        new(Sys, ConfigurationFactory.ParseString(extraHocon).WithFallback(ConfigurationFactory.ParseString("""
            hostname = "127.0.0.1"
            port = 0
            maximum-frame-size = 1MiB
            """)));

    private static byte[] Frame(byte[] payload)
    {
        var frame = new byte[4 + payload.Length];
        BinaryPrimitives.WriteInt32LittleEndian(frame, payload.Length);
        payload.CopyTo(frame, 4);
        return frame;
    }

    private static byte[] Payload(int sequence, int bytes)
    {
        var payload = new byte[Math.Max(bytes, 4)];
        new Random(sequence).NextBytes(payload);
        BinaryPrimitives.WriteInt32LittleEndian(payload, sequence);
        return payload;
    }

    [Fact]
    public async Task Frames_from_a_peer_reach_Akka_whole_and_in_order_however_the_socket_splits_them()
    {
        var transport = NewTransport();
        try
        {
            var (address, listening) = await transport.Listen();
            var associations = new RecordingAssociationListener();
            listening.SetResult(associations);

            using var peer = new TcpClient();
            await peer.ConnectAsync(IPAddress.Loopback, address.Port!.Value);
            var inbound = await associations.Inbound.Reader.ReadAsync().AsTask().WaitAsync(Wait);
            var events = new RecordingHandleListener();
            inbound.ReadHandlerSource.SetResult(events);

            var payloads = new[] { 0, 1, 100, 70_000, 300_000, 5 }.Select((size, i) => Payload(i, size)).ToList();
            payloads[0] = [];
            var stream = peer.GetStream();
            var bytes = payloads.SelectMany(Frame).ToArray();
            // Odd pieces, so that headers and payloads are split across reads.
            var random = new Random(7);
            for (var offset = 0; offset < bytes.Length;)
            {
                var piece = Math.Min(random.Next(1, 50_000), bytes.Length - offset);
                await stream.WriteAsync(bytes.AsMemory(offset, piece));
                await stream.FlushAsync();
                offset += piece;
                if (random.Next(4) == 0)
                {
                    await Task.Delay(2);
                }
            }

            foreach (var expected in payloads)
            {
                var received = await events.Events.Reader.ReadAsync().AsTask().WaitAsync(Wait);
                Assert.Equal(expected, Assert.IsType<InboundPayload>(received).Payload.ToByteArray());
            }

            // A length over maximum-frame-size ends the association: the peer sees its socket closed.
            var header = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(header, 2 * 1024 * 1024);
            await stream.WriteAsync(header);
            Assert.IsType<Disassociated>(await events.Events.Reader.ReadAsync().AsTask().WaitAsync(Wait));
            var buffer = new byte[16];
            Assert.Equal(0, await stream.ReadAsync(buffer).AsTask().WaitAsync(Wait));
        }
        finally
        {
            await transport.Shutdown();
        }
    }

    [Fact]
    public async Task Writes_a_peer_does_not_read_wait_in_a_bounded_backlog_and_all_arrive_in_order_once_it_reads()
    {
        // Small socket buffers and a small backlog bound, so that both fill quickly.
        var transport = NewTransport("""
            send-buffer-size = 64KiB
            receive-buffer-size = 64KiB
            maximum-frame-size = 256KiB
            send-backlog-max = 1MiB
            """);
        using var server = new TcpListener(IPAddress.Loopback, 0);
        server.Server.ReceiveBufferSize = 64 * 1024;
        server.Start();
        try
        {
            var port = ((IPEndPoint)server.LocalEndpoint).Port;
            var accepting = server.AcceptTcpClientAsync();
            var handle = await transport.Associate(new Address("tcp", "peer", "127.0.0.1", port)).WaitAsync(Wait);
            handle.ReadHandlerSource.SetResult(new RecordingHandleListener());
            using var peer = await accepting.WaitAsync(Wait);

            // Nobody reads: the socket's buffers fill, then the backlog, then writes are refused.
            const int FrameCount = 60;
            const int PayloadBytes = 100_000;
            var written = 0;
            while (written < FrameCount && handle.Write(ByteString.CopyFrom(Payload(written, PayloadBytes))))
            {
                written++;
            }

            Assert.InRange(written, 1, FrameCount - 1);

            // The peer reads now; the rest is written as the transport takes it, refused ones again.
            var reading = Task.Run(async () =>
            {
                var stream = peer.GetStream();
                var header = new byte[4];
                for (var sequence = 0; sequence < FrameCount; sequence++)
                {
                    await stream.ReadExactlyAsync(header);
                    var payload = new byte[BinaryPrimitives.ReadInt32LittleEndian(header)];
                    await stream.ReadExactlyAsync(payload);
                    Assert.Equal(Payload(sequence, PayloadBytes), payload);
                }
            });
            var deadline = DateTime.UtcNow + Wait;
            while (written < FrameCount && DateTime.UtcNow < deadline)
            {
                if (handle.Write(ByteString.CopyFrom(Payload(written, PayloadBytes))))
                {
                    written++;
                }
                else
                {
                    await Task.Delay(5);
                }
            }

            Assert.Equal(FrameCount, written);
            await reading.WaitAsync(Wait);
        }
        finally
        {
            server.Stop();
            await transport.Shutdown();
        }
    }

    [Fact]
    public async Task A_peer_that_closes_its_socket_ends_the_association_and_later_writes_are_refused()
    {
        var transport = NewTransport();
        using var server = new TcpListener(IPAddress.Loopback, 0);
        server.Start();
        try
        {
            var accepting = server.AcceptTcpClientAsync();
            var handle = await transport.Associate(new Address("tcp", "peer", "127.0.0.1", ((IPEndPoint)server.LocalEndpoint).Port)).WaitAsync(Wait);
            var events = new RecordingHandleListener();
            handle.ReadHandlerSource.SetResult(events);
            (await accepting.WaitAsync(Wait)).Dispose();

            Assert.IsType<Disassociated>(await events.Events.Reader.ReadAsync().AsTask().WaitAsync(Wait));
            Assert.False(handle.Write(ByteString.CopyFromUtf8("late")));
        }
        finally
        {
            server.Stop();
            await transport.Shutdown();
        }
    }

    [Fact]
    public async Task Associating_with_a_port_nobody_listens_on_fails_with_an_invalid_association()
    {
        var transport = NewTransport();
        try
        {
            var port = FreePort();
            var error = await Assert.ThrowsAsync<InvalidAssociationException>(
                () => transport.Associate(new Address("tcp", "peer", "127.0.0.1", port)).WaitAsync(Wait));
            Assert.Contains($"127.0.0.1:{port}", error.Message);
        }
        finally
        {
            await transport.Shutdown();
        }
    }

    private const string OnPeerTcp = """
        akka.loglevel = WARNING
        akka.actor.provider = remote
        akka.remote.enabled-transports = ["akka.remote.peer-tcp"]
        akka.remote.peer-tcp {
          transport-class = "ActorKv.Node.Remoting.PeerSocketTransport, ActorKv.Node"
          applied-adapters = []
          transport-protocol = tcp
          hostname = "127.0.0.1"
          port = 0
          maximum-frame-size = 1MiB
        }
        """;

    private const string OnDotNetty = """
        akka.loglevel = WARNING
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp {
          hostname = "127.0.0.1"
          port = 0
          batching.enabled = false
          maximum-frame-size = 1MiB
        }
        """;

    /// <summary>Both on this transport, and one on it with one on Akka's DotNetty transport (a cluster moving from one to the other).</summary>
    [Theory]
    [InlineData(OnPeerTcp, OnPeerTcp)]
    [InlineData(OnPeerTcp, OnDotNetty)]
    [InlineData(OnDotNetty, OnPeerTcp)]
    public async Task Two_actor_systems_talk_over_it_and_one_sees_the_other_go(string firstHocon, string secondHocon)
    {
        var first = ActorSystem.Create("peers", firstHocon);
        var second = ActorSystem.Create("peers", secondHocon);
        try
        {
            second.ActorOf(Props.Create(() => new Echo()), "echo");
            var secondAddress = ((ExtendedActorSystem)second).Provider.DefaultAddress;
            Assert.Equal("akka.tcp", secondAddress.Protocol);
            var echo = await first.ActorSelection($"{secondAddress}/user/echo").ResolveOne(Wait);

            var big = new string('x', 500_000);
            Assert.Equal("hello", await echo.Ask<string>("hello", Wait));
            Assert.Equal(big, await echo.Ask<string>(big, Wait));

            var gone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var watcher = first.ActorOf(Props.Create(() => new DisassociationWatcher(secondAddress, gone)));
            await watcher.Ask<ActorIdentity>(new Identify(null), Wait);
            await second.Terminate().WaitAsync(Wait);
            await gone.Task.WaitAsync(Wait);
        }
        finally
        {
            await Task.WhenAll(first.Terminate(), second.Terminate()).WaitAsync(Wait);
        }
    }

    private static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }

    private sealed class RecordingAssociationListener : IAssociationEventListener
    {
        public Channel<AssociationHandle> Inbound { get; } = Channel.CreateUnbounded<AssociationHandle>();

        public void Notify(IAssociationEvent ev)
        {
            if (ev is InboundAssociation inbound)
            {
                Inbound.Writer.TryWrite(inbound.Association);
            }
        }
    }

    private sealed class RecordingHandleListener : IHandleEventListener
    {
        public Channel<IHandleEvent> Events { get; } = Channel.CreateUnbounded<IHandleEvent>();

        public void Notify(IHandleEvent ev) => Events.Writer.TryWrite(ev);
    }

    private sealed class Echo : ReceiveActor
    {
        public Echo() => ReceiveAny(message => Sender.Tell(message));
    }

    private sealed class DisassociationWatcher : ReceiveActor
    {
        public DisassociationWatcher(Address peer, TaskCompletionSource gone)
        {
            Context.System.EventStream.Subscribe(Self, typeof(DisassociatedEvent));
            Receive<DisassociatedEvent>(e => e.RemoteAddress == peer, _ => gone.TrySetResult());
            Receive<Identify>(_ => Sender.Tell(new ActorIdentity(null, Self)));
        }
    }
}
