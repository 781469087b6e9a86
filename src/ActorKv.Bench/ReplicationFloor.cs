using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using HdrHistogram;
using Microsoft.Win32.SafeHandles;

namespace ActorKv.Bench;

/// <summary>
/// The floor of one client's replicated durable write on this machine, with no store, no
/// consensus engine and no framework in the way. --members processes on loopback, the first the
/// leader, each append to a preallocated file with one write and one fdatasync, as a Raft WAL
/// does (ActorKv's and etcd's alike). One client sends --key-size + --val-size bytes to the
/// leader; the leader sends them to every follower, writes them itself, and answers once its own
/// write and a majority's are durable. Blocking sockets and one thread per role, so a write costs
/// only the wake-ups its path forces (leader, follower, leader again, client). A replicated
/// store pays this path and its own work on top; busy polling could save some wake-ups, but not
/// where the processes outnumber the cores. With --members 1 it is the one-node floor.
/// </summary>
public static class ReplicationFloor
{
    /// <summary>The hidden command a member process runs (this same executable).</summary>
    public const string MemberCommand = "replication-floor-member";

    /// <summary>Writes before measuring: connections, page cache and the files' first extents.</summary>
    private const int WarmupWrites = 200;

    private static readonly TimeSpan MemberStartTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How long any one step may wait on a peer before the run is called failed.</summary>
    private static readonly TimeSpan PeerTimeout = TimeSpan.FromSeconds(10);

    public static BenchReport Run(BenchOptions options)
    {
        if (options.Clients != 1)
        {
            throw new BenchUsageException("replication-floor measures one client: --clients must be 1");
        }

        var directory = Path.Combine(options.Directory, $"actorkv-replication-floor-{Environment.ProcessId}");
        Directory.CreateDirectory(directory);
        var members = new List<Process>();
        try
        {
            var followerPorts = new List<int>();
            for (var i = 2; i <= options.Members; i++)
            {
                var (follower, port) = StartMember(Path.Combine(directory, $"member{i}"), followers: []);
                members.Add(follower);
                followerPorts.Add(port);
            }

            var (leader, leaderPort) = StartMember(Path.Combine(directory, "member1"), followerPorts);
            members.Add(leader);
            return MeasureClient(options, leaderPort);
        }
        finally
        {
            foreach (var member in members)
            {
                Stop(member);
            }

            Directory.Delete(directory, recursive: true);
        }
    }

    private static BenchReport MeasureClient(BenchOptions options, int leaderPort)
    {
        using var socket = Connect(leaderPort);
        var payload = new byte[options.KeySize + options.ValueSize];
        Random.Shared.NextBytes(payload);
        var answer = new byte[1];
        for (var i = 0; i < WarmupWrites; i++)
        {
            WriteOnce(socket, payload, answer);
        }

        var histogram = new LongHistogram(3_600_000_000L, 3);
        var started = Stopwatch.GetTimestamp();
        var deadline = options.Duration is { } duration ? started + (long)(duration.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        var limit = options.Duration is null ? options.Total : long.MaxValue;
        long written = 0;
        while (written < limit && Stopwatch.GetTimestamp() < deadline)
        {
            var begin = Stopwatch.GetTimestamp();
            WriteOnce(socket, payload, answer);
            histogram.RecordValue(Math.Max(1, (long)Stopwatch.GetElapsedTime(begin).TotalMicroseconds));
            written++;
        }

        return new BenchReport("replication-floor", 1, written, new Dictionary<string, long>(), Stopwatch.GetElapsedTime(started), histogram);
    }

    private static void WriteOnce(Socket leader, byte[] payload, byte[] answer)
    {
        SendFrame(leader, payload);
        ReceiveExactly(leader, answer);
    }

    /// <summary>The code of a member process: a follower when it has no followers of its own.</summary>
    public static int RunMember(string[] args)
    {
        string? file = null;
        var followerPorts = new List<int>();
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            switch (args[i])
            {
                case "--file":
                    file = args[i + 1];
                    break;
                case "--followers":
                    followerPorts.AddRange(args[i + 1].Split(',', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse));
                    break;
            }
        }

        if (file is null)
        {
            Console.Error.WriteLine($"actorkv-bench {MemberCommand}: --file is required");
            return 2;
        }

        // The parent holds this member's stdin; when the parent goes, however it goes, so does the member.
        new Thread(() =>
        {
            using var input = Console.OpenStandardInput();
            var buffer = new byte[64];
            while (input.Read(buffer) > 0)
            {
            }

            Environment.Exit(0);
        }) { IsBackground = true }.Start();

        using var log = new PreallocatedLog(file);
        var followers = followerPorts.Select(Connect).ToList();
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(1);
        Console.WriteLine($"port {((IPEndPoint)listener.LocalEndPoint!).Port}");
        Console.Out.Flush();
        using var upstream = listener.Accept();
        upstream.NoDelay = true;
        if (followers.Count == 0)
        {
            ServeAsFollower(upstream, log);
        }
        else
        {
            ServeAsLeader(upstream, followers, log);
        }

        return 0;
    }

    private static void ServeAsFollower(Socket leader, PreallocatedLog log)
    {
        var ack = new byte[1];
        var buffer = new byte[64 * 1024];
        while (TryReceiveFrame(leader, ref buffer, out var length))
        {
            log.Append(buffer.AsSpan(0, length));
            leader.Send(ack);
        }
    }

    private static void ServeAsLeader(Socket client, List<Socket> followers, PreallocatedLog log)
    {
        // A majority of the members counting the leader: this many followers' writes besides its own.
        var followersNeeded = (followers.Count + 1) / 2;
        var acked = new long[followers.Count];
        var ackBuffer = new byte[256];
        var waitingOn = new List<Socket>(followers.Count);
        var answer = new byte[1];
        var buffer = new byte[64 * 1024];
        long sequence = 0;
        while (TryReceiveFrame(client, ref buffer, out var length))
        {
            sequence++;
            var frame = buffer.AsSpan(0, length);
            foreach (var follower in followers)
            {
                SendFrame(follower, frame);
            }

            log.Append(frame);
            while (CountAtLeast(acked, sequence) < followersNeeded)
            {
                // Acks already arrived are taken without waiting; otherwise sleep until one does
                // (Select leaves in the list the sockets that became readable; the next pass reads them).
                var took = false;
                for (var i = 0; i < followers.Count; i++)
                {
                    if (followers[i].Available > 0)
                    {
                        acked[i] += followers[i].Receive(ackBuffer);
                        took = true;
                    }
                }

                if (!took)
                {
                    waitingOn.Clear();
                    waitingOn.AddRange(followers);
                    Socket.Select(waitingOn, null, null, PeerTimeout);
                    if (waitingOn.Count == 0)
                    {
                        throw new TimeoutException($"no follower answered within {PeerTimeout}");
                    }

                    if (waitingOn.Any(follower => follower.Available == 0))
                    {
                        throw new IOException("a follower closed its connection");
                    }
                }
            }

            client.Send(answer);
        }
    }

    private static int CountAtLeast(long[] values, long floor)
    {
        var count = 0;
        foreach (var value in values)
        {
            count += value >= floor ? 1 : 0;
        }

        return count;
    }

    private static (Process Member, int Port) StartMember(string file, IReadOnlyList<int> followers)
    {
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("the executable's path is unknown");
        var start = new ProcessStartInfo(host) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(host) == "dotnet")
        {
            start.ArgumentList.Add(typeof(ReplicationFloor).Assembly.Location);
        }

        foreach (var argument in new[] { MemberCommand, "--file", file, "--followers", string.Join(',', followers) })
        {
            start.ArgumentList.Add(argument);
        }

        var member = Process.Start(start) ?? throw new InvalidOperationException($"could not start {host}");
        try
        {
            var line = member.StandardOutput.ReadLineAsync().WaitAsync(MemberStartTimeout).GetAwaiter().GetResult();
            if (line is null || !line.StartsWith("port ", StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"a replication-floor member did not start (it said '{line}')");
            }

            return (member, int.Parse(line["port ".Length..]));
        }
        catch
        {
            Stop(member);
            throw;
        }
    }

    private static void Stop(Process member)
    {
        try
        {
            member.StandardInput.Close();
            if (!member.WaitForExit(TimeSpan.FromSeconds(5)))
            {
                member.Kill(entireProcessTree: true);
                member.WaitForExit(TimeSpan.FromSeconds(5));
            }
        }
        finally
        {
            member.Dispose();
        }
    }

    private static Socket Connect(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        socket.Connect(new IPEndPoint(IPAddress.Loopback, port));
        socket.ReceiveTimeout = (int)PeerTimeout.TotalMilliseconds;
        return socket;
    }

    private static void SendFrame(Socket socket, ReadOnlySpan<byte> payload)
    {
        // One send, so that the peer wakes once per frame.
        Span<byte> frame = payload.Length <= 1024 ? stackalloc byte[4 + payload.Length] : new byte[4 + payload.Length];
        BinaryPrimitives.WriteInt32LittleEndian(frame, payload.Length);
        payload.CopyTo(frame[4..]);
        while (!frame.IsEmpty)
        {
            frame = frame[socket.Send(frame)..];
        }
    }

    /// <summary>False when the peer closed the connection between frames.</summary>
    private static bool TryReceiveFrame(Socket socket, ref byte[] buffer, out int length)
    {
        Span<byte> header = stackalloc byte[4];
        length = 0;
        var first = socket.Receive(header);
        if (first == 0)
        {
            return false;
        }

        ReceiveExactly(socket, header[first..]);
        length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (length > buffer.Length)
        {
            buffer = new byte[length];
        }

        ReceiveExactly(socket, buffer.AsSpan(0, length));
        return true;
    }

    private static void ReceiveExactly(Socket socket, Span<byte> into)
    {
        while (!into.IsEmpty)
        {
            var received = socket.Receive(into);
            if (received == 0)
            {
                throw new IOException("the peer closed its connection mid-frame");
            }

            into = into[received..];
        }
    }

    /// <summary>
    /// Appends in preallocated space (posix_fallocate), one write and one fdatasync each, and
    /// starts a new file when one is full: the durable write of a Raft WAL, ActorKv's and etcd's.
    /// </summary>
    private sealed class PreallocatedLog : IDisposable
    {
        private const long FileBytes = 64L * 1024 * 1024;
        private readonly string path;
        private SafeFileHandle handle;
        private long end;
        private int files;

        public PreallocatedLog(string path)
        {
            this.path = path;
            handle = Allocate();
        }

        public void Append(ReadOnlySpan<byte> bytes)
        {
            if (end + bytes.Length > FileBytes)
            {
                handle.Dispose();
                File.Delete(FileName(files - 1));
                handle = Allocate();
            }

            RandomAccess.Write(handle, bytes, end);
            Check(fdatasync((int)handle.DangerousGetHandle()), "fdatasync");
            end += bytes.Length;
        }

        public void Dispose() => handle.Dispose();

        private string FileName(int number) => $"{path}.{number}";

        private SafeFileHandle Allocate()
        {
            var file = File.OpenHandle(FileName(files++), FileMode.CreateNew, FileAccess.ReadWrite);
            var error = posix_fallocate((int)file.DangerousGetHandle(), 0, FileBytes);
            if (error != 0)
            {
                file.Dispose();
                throw new IOException($"posix_fallocate failed: {Marshal.GetPInvokeErrorMessage(error)} ({error})");
            }

            Check(fsync((int)file.DangerousGetHandle()), "fsync");
            end = 0;
            return file;
        }

        private static void Check(int result, string call)
        {
            if (result != 0)
            {
                throw new IOException($"{call} failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
            }
        }

        [DllImport("libc", SetLastError = true)]
        private static extern int fdatasync(int fd);

        [DllImport("libc", SetLastError = true)]
        private static extern int fsync(int fd);

        [DllImport("libc")]
        private static extern int posix_fallocate(int fd, long offset, long length);
    }
}
