using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;

namespace ActorKv.Storage.Lmdb.Wal;

/// <summary>How a segment log is opened.</summary>
/// <param name="Directory">Where the segment files live; created if missing.</param>
/// <param name="SegmentBytes">Each segment's preallocated size; a batch that does not fit starts the next one.</param>
/// <param name="MaxBytes">The most disk all segments may take; a write past it fails, as on a full disk.</param>
/// <param name="Fsync">True: a write returns only once it is on disk (one fdatasync). False is for tests only.</param>
/// <param name="SyncObserved">Told how long each fdatasync took; for metrics.</param>
public sealed record SegmentLogOptions(string Directory, long SegmentBytes, long MaxBytes, bool Fsync = true, Action<TimeSpan>? SyncObserved = null);

/// <summary>One atomic write: events of one stream with their encoded payloads, all stored or none.</summary>
public sealed record SegmentLogWrite(string StreamId, IReadOnlyList<(long SequenceNr, byte[] Payload)> Events);

/// <summary>
/// The Raft WAL's files, laid out as etcd's WAL: append-only segment files, preallocated so that
/// an append changes no file size, each batch written at once and made durable by ONE fdatasync
/// (an LMDB commit makes two device flushes: its pages, then its meta page). It holds named
/// streams of events, each numbered upwards (the Raft WAL's two: Readys and snapshots).
/// <para>
/// A frame is [body length u32][CRC-32C u32][body]. The CRC chains from the frame before it, so a
/// stale frame left past a torn tail (a crash mid-write; those frames were never acknowledged)
/// never reads as valid after newer frames; the first frame that fails its check ends a segment.
/// Every segment opens with a checkpoint frame: each stream's highest sequence number and
/// deletion bound, and where the segment before it ended. So the oldest segments can be deleted
/// whole once their events are, without losing a highest sequence number, and a segment that ends
/// short of where its successor says it ended is reported as corrupt instead of read short.
/// </para>
/// Plain file I/O and no Akka: the Raft actor calls it on its own thread. Calls are serialized by
/// a lock all the same (an uncontended lock costs nothing next to an fdatasync).
/// </summary>
public sealed partial class SegmentLog : IDisposable
{
    private const string Extension = ".wal";
    private const int FrameHeaderBytes = 8;
    private const byte EventsFrame = 1;
    private const byte DeletedToFrame = 2;
    private const byte CheckpointFrame = 3;

    private readonly SegmentLogOptions options;
    private readonly List<Segment> segments = [];
    private readonly Dictionary<string, StreamLog> ids = [];
    private readonly Lock gate = new();
    private Exception? broken;

    private SegmentLog(SegmentLogOptions options)
    {
        this.options = options;
    }

    /// <summary>Opens the log in the options' directory, reading every segment back; a torn tail is dropped.</summary>
    public static SegmentLog Open(SegmentLogOptions options)
    {
        if (options.SegmentBytes < 4096 || options.MaxBytes < options.SegmentBytes)
        {
            throw new ArgumentException($"a segment log needs segments of at least 4 KiB and a max size of at least one segment (segment {options.SegmentBytes}, max {options.MaxBytes} bytes)");
        }

        RefuseForeignFormat(options.Directory);
        Directory.CreateDirectory(options.Directory);
        var log = new SegmentLog(options);
        try
        {
            log.Recover();
            return log;
        }
        catch
        {
            log.Dispose();
            throw;
        }
    }

    /// <summary>A WAL directory written by an older build (an LMDB journal) is refused, not silently ignored.</summary>
    public static void RefuseForeignFormat(string directory)
    {
        if (File.Exists(Path.Combine(directory, "data.mdb")))
        {
            throw new IOException($"the Raft WAL at {directory} is an LMDB journal (an older build); this build reads segment files only: run the build that wrote it, or start on a new data dir");
        }
    }

    /// <summary>The highest sequence number ever written for <paramref name="streamId"/>, deleted or not; 0 if none.</summary>
    public long HighestSequenceNr(string streamId)
    {
        lock (gate)
        {
            return ids.TryGetValue(streamId, out var id) ? id.Highest : 0;
        }
    }

    /// <summary>Every stream the log has seen, including those whose events are all deleted.</summary>
    public IReadOnlyList<string> StreamIds
    {
        get
        {
            lock (gate)
            {
                return ids.Keys.ToList();
            }
        }
    }

    /// <summary>Segment files on disk, oldest first (for tests and diagnostics).</summary>
    public IReadOnlyList<string> SegmentFiles
    {
        get
        {
            lock (gate)
            {
                return segments.Select(s => s.Path).ToList();
            }
        }
    }

    /// <summary>Writes the atomic writes in order as one batch and returns once they are durable.</summary>
    public void Write(IReadOnlyList<SegmentLogWrite> writes)
    {
        lock (gate)
        {
            WriteLocked(writes);
        }
    }

    private void WriteLocked(IReadOnlyList<SegmentLogWrite> writes)
    {
        var encoded = writes.Select(EncodeEvents).ToList();
        var locations = Append(encoded.Select(e => e.Body).ToList());
        for (var w = 0; w < writes.Count; w++)
        {
            var id = IdLog(writes[w].StreamId);
            var events = writes[w].Events;
            for (var e = 0; e < events.Count; e++)
            {
                id.Add(new EventLocation(events[e].SequenceNr, locations[w].Segment, locations[w].BodyOffset + encoded[w].PayloadOffsets[e], events[e].Payload.Length));
            }
        }
    }

    /// <summary>Replays the events of one id from <paramref name="from"/> to <paramref name="to"/>, at most <paramref name="max"/>, in order.</summary>
    public IReadOnlyList<(long SequenceNr, byte[] Payload)> Read(string streamId, long from, long to, long max)
    {
        lock (gate)
        {
            var events = new List<(long, byte[])>();
            if (!ids.TryGetValue(streamId, out var id))
            {
                return events;
            }

            var start = id.FirstAtOrAfter(from);
            for (var i = start; i < id.Events.Count && i - start < max && id.Events[i].SequenceNr <= to; i++)
            {
                var location = id.Events[i];
                var payload = new byte[location.Length];
                ReadExactly(location.Segment.Handle, payload, location.Offset);
                events.Add((location.SequenceNr, payload));
            }

            return events;
        }
    }

    /// <summary>Deletes the events of one id up to <paramref name="toSequenceNr"/> (durably), then every oldest segment left without live events.</summary>
    public void DeleteTo(string streamId, long toSequenceNr)
    {
        lock (gate)
        {
            DeleteToLocked(streamId, toSequenceNr);
        }
    }

    private void DeleteToLocked(string streamId, long toSequenceNr)
    {
        var body = new FrameWriter(DeletedToFrame).Id(streamId).Int64(toSequenceNr).ToArray();
        Append([body]);
        IdLog(streamId).DeleteTo(toSequenceNr);
        var removed = false;
        while (segments.Count > 1 && segments[0].LiveEvents == 0)
        {
            segments[0].Handle.Dispose();
            File.Delete(segments[0].Path);
            segments.RemoveAt(0);
            removed = true;
        }

        if (removed && options.Fsync)
        {
            SyncDirectory(options.Directory);
        }
    }

    public void Dispose()
    {
        lock (gate)
        {
            DisposeLocked();
        }
    }

    private void DisposeLocked()
    {
        foreach (var segment in segments)
        {
            segment.Handle.Dispose();
        }

        segments.Clear();
    }

    private StreamLog IdLog(string streamId)
    {
        if (!ids.TryGetValue(streamId, out var id))
        {
            ids[streamId] = id = new StreamLog();
        }

        return id;
    }

    /// <summary>An events frame's body, and where in it each payload starts (for the index).</summary>
    private static (byte[] Body, List<int> PayloadOffsets) EncodeEvents(SegmentLogWrite write)
    {
        var frame = new FrameWriter(EventsFrame).Id(write.StreamId).UInt32((uint)write.Events.Count);
        var payloadOffsets = new List<int>(write.Events.Count);
        foreach (var (sequenceNr, payload) in write.Events)
        {
            frame.Int64(sequenceNr).UInt32((uint)payload.Length);
            payloadOffsets.Add(frame.Position);
            frame.Bytes(payload);
        }

        return (frame.ToArray(), payloadOffsets);
    }

    private byte[] EncodeCheckpoint(long previousSegmentEnd)
    {
        var frame = new FrameWriter(CheckpointFrame).Int64(previousSegmentEnd).UInt32((uint)ids.Count);
        foreach (var (streamId, id) in ids)
        {
            frame.Id(streamId).Int64(id.Highest).Int64(id.DeletedTo);
        }

        return frame.ToArray();
    }

    /// <summary>Appends frames as one write and one sync; returns where each body landed.</summary>
    private List<(Segment Segment, long BodyOffset)> Append(IReadOnlyList<byte[]> bodies)
    {
        if (broken is not null)
        {
            // After a failed write or sync the file's state is unknown (a failed fsync may have
            // dropped dirty pages): nothing more is written, as etcd exits.
            throw new IOException("the Raft WAL failed earlier and takes no more writes", broken);
        }

        try
        {
            var size = bodies.Sum(b => (long)FrameHeaderBytes + b.Length);
            var active = segments.Count > 0 ? segments[^1] : null;
            if (active is null || (active.End > 0 && active.End + size > options.SegmentBytes))
            {
                active = StartSegment(active);
            }

            var frames = bodies.ToList();
            if (active.End == 0)
            {
                var previous = segments.Count > 1 ? segments[^2].End : 0;
                frames.Insert(0, EncodeCheckpoint(previous));
            }

            var buffer = new byte[frames.Sum(b => FrameHeaderBytes + b.Length)];
            var crc = active.LastCrc;
            var at = 0;
            var bodyOffsets = new List<long>(frames.Count);
            foreach (var body in frames)
            {
                crc = Crc32C(crc, body);
                BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(at), (uint)body.Length);
                BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(at + 4), crc);
                body.CopyTo(buffer.AsSpan(at + FrameHeaderBytes));
                bodyOffsets.Add(active.End + at + FrameHeaderBytes);
                at += FrameHeaderBytes + body.Length;
            }

            RandomAccess.Write(active.Handle, buffer, active.End);
            CrashPoints.Reached(CrashPoints.WalBeforeCommit);
            if (options.Fsync)
            {
                var started = Stopwatch.GetTimestamp();
                Check(fdatasync((int)active.Handle.DangerousGetHandle()), "fdatasync", active.Path);
                options.SyncObserved?.Invoke(Stopwatch.GetElapsedTime(started));
            }

            active.End += buffer.Length;
            active.LastCrc = crc;
            CrashPoints.Reached(CrashPoints.WalAfterCommit);
            var skip = frames.Count - bodies.Count;
            return bodyOffsets.Skip(skip).Select(offset => (active, offset)).ToList();
        }
        catch (Exception error)
        {
            broken = error;
            throw;
        }
    }

    private Segment StartSegment(Segment? previous)
    {
        var allocated = segments.Sum(s => Math.Max(s.End, options.SegmentBytes));
        if (allocated + options.SegmentBytes > options.MaxBytes)
        {
            throw new IOException($"the Raft WAL at {options.Directory} is full: another segment of {options.SegmentBytes} bytes would pass its max-size of {options.MaxBytes} bytes");
        }

        var number = previous is null ? 1 : previous.Number + 1;
        var path = Path.Combine(options.Directory, $"{number:D16}{Extension}");
        var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        var error = posix_fallocate((int)handle.DangerousGetHandle(), 0, options.SegmentBytes);
        if (error != 0)
        {
            handle.Dispose();
            File.Delete(path);
            throw new IOException($"posix_fallocate of {options.SegmentBytes} bytes for {path} failed: {Marshal.GetPInvokeErrorMessage(error)} ({error})");
        }

        if (options.Fsync)
        {
            // The allocation and the new name must be durable before a frame in it is acknowledged.
            Check(fsync((int)handle.DangerousGetHandle()), "fsync", path);
            SyncDirectory(options.Directory);
        }

        var segment = new Segment(number, path, handle) { LastCrc = Seed(number) };
        segments.Add(segment);
        return segment;
    }

    /// <summary>Reads every segment back in order and rebuilds the index; the active segment's torn tail is left to be overwritten.</summary>
    private void Recover()
    {
        var files = Directory.GetFiles(options.Directory, "*" + Extension)
            .Select(path => (Path: path, Number: long.Parse(Path.GetFileNameWithoutExtension(path), System.Globalization.CultureInfo.InvariantCulture)))
            .OrderBy(file => file.Number)
            .ToList();
        for (var f = 0; f < files.Count; f++)
        {
            var handle = File.OpenHandle(files[f].Path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
            var segment = new Segment(files[f].Number, files[f].Path, handle) { LastCrc = Seed(files[f].Number) };
            var previous = segments.Count > 0 ? segments[^1] : null;
            segments.Add(segment);
            ReadSegment(segment, previous, isLast: f == files.Count - 1);
        }
    }

    private void ReadSegment(Segment segment, Segment? previous, bool isLast)
    {
        var length = RandomAccess.GetLength(segment.Handle);
        var header = new byte[FrameHeaderBytes];
        long offset = 0;
        while (offset + FrameHeaderBytes <= length)
        {
            ReadExactly(segment.Handle, header, offset);
            var bodyLength = BinaryPrimitives.ReadUInt32LittleEndian(header);
            if (bodyLength == 0 || offset + FrameHeaderBytes + bodyLength > length)
            {
                break;
            }

            var body = new byte[bodyLength];
            ReadExactly(segment.Handle, body, offset + FrameHeaderBytes);
            var crc = Crc32C(segment.LastCrc, body);
            if (crc != BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4)))
            {
                break;
            }

            if (offset == 0 && body[0] != CheckpointFrame)
            {
                throw Corrupt(segment, "does not open with a checkpoint");
            }

            Apply(segment, previous, body, offset + FrameHeaderBytes);
            segment.LastCrc = crc;
            offset += FrameHeaderBytes + bodyLength;
        }

        segment.End = offset;
        if (offset == 0 && !isLast)
        {
            throw Corrupt(segment, "holds no valid frame but is not the newest segment");
        }
    }

    private void Apply(Segment segment, Segment? previous, byte[] body, long bodyOffset)
    {
        var reader = new FrameReader(body);
        switch (reader.Byte())
        {
            case CheckpointFrame:
                var previousEnd = reader.Int64();
                // Only against its direct predecessor: deleting old segments may leave gaps.
                if (previous is not null && previous.Number == segment.Number - 1 && previous.End != previousEnd)
                {
                    throw Corrupt(previous, $"ends at byte {previous.End} but its successor {Path.GetFileName(segment.Path)} says it ended at {previousEnd}");
                }

                for (var count = reader.UInt32(); count > 0; count--)
                {
                    var id = IdLog(reader.Id());
                    id.Highest = Math.Max(id.Highest, reader.Int64());
                    id.DeleteTo(reader.Int64());
                }

                break;
            case EventsFrame:
                var events = IdLog(reader.Id());
                for (var count = reader.UInt32(); count > 0; count--)
                {
                    var sequenceNr = reader.Int64();
                    var length = (int)reader.UInt32();
                    var at = bodyOffset + reader.Position;
                    reader.Skip(length);
                    if (sequenceNr > events.DeletedTo)
                    {
                        events.Add(new EventLocation(sequenceNr, segment, at, length));
                    }
                    else
                    {
                        events.Highest = Math.Max(events.Highest, sequenceNr);
                    }
                }

                break;
            case DeletedToFrame:
                IdLog(reader.Id()).DeleteTo(reader.Int64());
                break;
            default:
                throw Corrupt(segment, $"holds a frame of unknown type {body[0]}");
        }
    }

    private static IOException Corrupt(Segment segment, string what) =>
        new($"the Raft WAL is corrupt: segment {segment.Path} {what}");

    private static uint Seed(long segmentNumber) => (uint)segmentNumber * 0x9E3779B1u;

    private static uint Crc32C(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return crc;
    }

    private static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        while (buffer.Length > 0)
        {
            var read = RandomAccess.Read(handle, buffer, offset);
            if (read == 0)
            {
                throw new EndOfStreamException("a Raft WAL segment ended inside a frame it indexed");
            }

            buffer = buffer[read..];
            offset += read;
        }
    }

    private static void SyncDirectory(string directory)
    {
        var fd = open(directory, 0);
        Check(fd, "open", directory);
        try
        {
            Check(fsync(fd), "fsync", directory);
        }
        finally
        {
            _ = close(fd);
        }
    }

    private static void Check(int result, string call, string path)
    {
        if (result < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"{call} of {path} failed: {Marshal.GetPInvokeErrorMessage(errno)} ({errno})");
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fdatasync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc")]
    private static partial int posix_fallocate(int fd, long offset, long length);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);

    private sealed class Segment(long number, string path, SafeFileHandle handle)
    {
        public long Number { get; } = number;

        public string Path { get; } = path;

        public SafeFileHandle Handle { get; } = handle;

        /// <summary>Where the next frame goes: the end of the last valid frame.</summary>
        public long End { get; set; }

        /// <summary>The CRC the next frame chains from.</summary>
        public uint LastCrc { get; set; }

        /// <summary>Events in this segment not yet deleted; a segment with none can go once every older one has.</summary>
        public int LiveEvents { get; set; }
    }

    private readonly record struct EventLocation(long SequenceNr, Segment Segment, long Offset, int Length);

    /// <summary>One stream's live events in sequence order, its highest sequence number and deletion bound.</summary>
    private sealed class StreamLog
    {
        public List<EventLocation> Events { get; } = [];

        public long Highest { get; set; }

        public long DeletedTo { get; private set; }

        public void Add(EventLocation location)
        {
            if (Events.Count > 0 && location.SequenceNr <= Events[^1].SequenceNr)
            {
                throw new IOException($"the Raft WAL holds sequence number {location.SequenceNr} after {Events[^1].SequenceNr}: it is corrupt, or was written by two writers");
            }

            Events.Add(location);
            location.Segment.LiveEvents++;
            Highest = Math.Max(Highest, location.SequenceNr);
        }

        public void DeleteTo(long toSequenceNr)
        {
            if (toSequenceNr <= DeletedTo)
            {
                return;
            }

            DeletedTo = toSequenceNr;
            var doomed = FirstAtOrAfter(toSequenceNr + 1);
            foreach (var location in Events.Take(doomed))
            {
                location.Segment.LiveEvents--;
            }

            Events.RemoveRange(0, doomed);
        }

        public int FirstAtOrAfter(long sequenceNr)
        {
            int low = 0, high = Events.Count;
            while (low < high)
            {
                var middle = (low + high) / 2;
                if (Events[middle].SequenceNr < sequenceNr)
                {
                    low = middle + 1;
                }
                else
                {
                    high = middle;
                }
            }

            return low;
        }
    }

    private sealed class FrameWriter
    {
        private readonly MemoryStream stream = new();

        public FrameWriter(byte type) => stream.WriteByte(type);

        public FrameWriter Id(string streamId)
        {
            var bytes = Encoding.UTF8.GetBytes(streamId);
            Span<byte> length = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(length, checked((ushort)bytes.Length));
            stream.Write(length);
            return Bytes(bytes);
        }

        public FrameWriter Int64(long value)
        {
            Span<byte> bytes = stackalloc byte[8];
            BinaryPrimitives.WriteInt64LittleEndian(bytes, value);
            stream.Write(bytes);
            return this;
        }

        public FrameWriter UInt32(uint value)
        {
            Span<byte> bytes = stackalloc byte[4];
            BinaryPrimitives.WriteUInt32LittleEndian(bytes, value);
            stream.Write(bytes);
            return this;
        }

        public FrameWriter Bytes(ReadOnlySpan<byte> bytes)
        {
            stream.Write(bytes);
            return this;
        }

        public int Position => (int)stream.Position;

        public byte[] ToArray() => stream.ToArray();
    }

    private sealed class FrameReader(byte[] body)
    {
        public int Position { get; private set; }

        public byte Byte() => body[Position++];

        public long Int64()
        {
            var value = BinaryPrimitives.ReadInt64LittleEndian(body.AsSpan(Position));
            Position += 8;
            return value;
        }

        public uint UInt32()
        {
            var value = BinaryPrimitives.ReadUInt32LittleEndian(body.AsSpan(Position));
            Position += 4;
            return value;
        }

        public string Id()
        {
            var length = BinaryPrimitives.ReadUInt16LittleEndian(body.AsSpan(Position));
            var id = Encoding.UTF8.GetString(body, Position + 2, length);
            Position += 2 + length;
            return id;
        }

        public void Skip(int length)
        {
            if (length < 0 || Position + length > body.Length)
            {
                throw new IOException("a Raft WAL frame is shorter than the events it lists");
            }

            Position += length;
        }
    }
}
