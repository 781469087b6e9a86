using System.Buffers;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Connections;

namespace ActorKv.Server;

/// <summary>
/// Empties the <c>:authority</c> of every HTTP/2 request a client sends, before Kestrel reads it.
/// etcd's Go clients put the endpoint as given into it, scheme and all: etcdctl 3.4's
/// <c>--endpoints=http://127.0.0.1:2379 endpoint status</c> sends <c>:authority:
/// http://127.0.0.1:2379</c>. Go's gRPC server (etcd's) takes that; Kestrel resets the stream as
/// an invalid host, and has no setting to accept it. ActorKv never reads the authority, so each
/// one is replaced by an empty value (Kestrel then takes the host as absent, which it allows).
/// <para>
/// Only header blocks are rewritten, field by field (RFC 7541); every other frame and every other
/// field passes as it came. A field that names <c>:authority</c> keeps its representation, so an
/// entry the client's encoder adds to the dynamic table is added on Kestrel's side too, smaller
/// (an empty value): every index the client may still use means the same entry on both sides. To
/// know which dynamic entries are authorities, the scrubber keeps the names of the entries the
/// client added, newest first. Anything it cannot parse, it passes on untouched from there on, and
/// Kestrel judges it as before.
/// </para>
/// </summary>
public sealed class Http2AuthorityScrubber
{
    private const int FrameHeaderLength = 9;
    private const byte HeadersFrame = 0x1;
    private const byte ContinuationFrame = 0x9;
    private const byte EndHeadersFlag = 0x4;
    private const byte PaddedFlag = 0x8;
    private const byte PriorityFlag = 0x20;

    /// <summary>HTTP/2's initial SETTINGS_MAX_FRAME_SIZE, which Kestrel keeps: no rewritten frame is larger.</summary>
    private const int MaxFramePayload = 16_384;

    /// <summary>A header block this large (CONTINUATION frames) is passed on as it is, and so is everything after it.</summary>
    private const int MaxHeaderBlock = 1 << 20;

    /// <summary>Kestrel's table (4 KiB) holds at most 128 entries (32 bytes each at least); older ones are never referred to.</summary>
    private const int MaxDynamicEntries = 512;

    /// <summary>The static table's index of <c>:authority</c> (RFC 7541, Appendix A).</summary>
    private const int AuthorityIndex = 1;
    private const int StaticTableSize = 61;

    private static ReadOnlySpan<byte> Preface => "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8;

    private static ReadOnlySpan<byte> AuthorityName => ":authority"u8;

    /// <summary>Whether each entry the client added to the dynamic table is an authority, newest first.</summary>
    private readonly List<bool> dynamicIsAuthority = [];

    /// <summary>The frames of a header block not ended yet (HEADERS, then CONTINUATIONs), as they came.</summary>
    private readonly ArrayBufferWriter<byte> pendingFrames = new();
    private bool prefaceSeen;
    private bool passThrough;

    /// <summary>
    /// Scrubs the whole frames at the start of <paramref name="input"/> into <paramref name="output"/>;
    /// returns how far the input was used (a frame not yet whole stays for the next call).
    /// </summary>
    public SequencePosition Process(ReadOnlySequence<byte> input, IBufferWriter<byte> output)
    {
        var reader = new SequenceReader<byte>(input);
        if (!passThrough && !prefaceSeen)
        {
            if (reader.Remaining < Preface.Length)
            {
                return input.Start;
            }

            prefaceSeen = reader.IsNext(Preface, advancePast: true);
            passThrough = !prefaceSeen;
            if (prefaceSeen)
            {
                output.Write(Preface);
            }
        }

        if (passThrough)
        {
            Write(output, input.Slice(reader.Position));
            return input.End;
        }

        Span<byte> header = stackalloc byte[FrameHeaderLength];
        var consumed = reader.Position;
        while (!passThrough && reader.TryCopyTo(header))
        {
            var length = FrameLength(header);
            if (length > MaxFramePayload)
            {
                // Larger than Kestrel allows: it refuses the frame on reading its header, as it came.
                GiveUp(output);
                break;
            }

            if (reader.Remaining < FrameHeaderLength + length)
            {
                break;
            }

            var frame = input.Slice(reader.Position, FrameHeaderLength + length);
            reader.Advance(FrameHeaderLength + length);
            consumed = reader.Position;
            var type = header[3];
            if (type == HeadersFrame && pendingFrames.WrittenCount == 0 || type == ContinuationFrame && pendingFrames.WrittenCount > 0)
            {
                Write(pendingFrames, frame);
                if ((header[4] & EndHeadersFlag) != 0)
                {
                    ScrubPendingBlock(output);
                }
                else if (pendingFrames.WrittenCount > MaxHeaderBlock)
                {
                    GiveUp(output);
                }
            }
            else if (pendingFrames.WrittenCount > 0)
            {
                // Anything between a HEADERS frame and its last CONTINUATION is a protocol error:
                // Kestrel says so when it sees them as they came.
                GiveUp(output);
                Write(output, frame);
            }
            else
            {
                Write(output, frame);
            }
        }

        if (passThrough)
        {
            Write(output, input.Slice(consumed));
            return input.End;
        }

        return consumed;
    }

    /// <summary>One HEADERS frame (and CONTINUATIONs if it must be cut) for the pending block, scrubbed.</summary>
    private void ScrubPendingBlock(IBufferWriter<byte> output)
    {
        var frames = pendingFrames.WrittenSpan;
        var first = frames[..FrameHeaderLength];
        var flags = first[4];
        var streamId = first[5..9];
        var block = new ArrayBufferWriter<byte>(frames.Length);
        var priority = ReadOnlySpan<byte>.Empty;
        var offset = 0;
        while (offset < frames.Length)
        {
            var length = FrameLength(frames[offset..]);
            var payload = frames.Slice(offset + FrameHeaderLength, length);
            if (offset == 0)
            {
                var padding = 0;
                if ((flags & PaddedFlag) != 0)
                {
                    if (payload.Length < 1)
                    {
                        GiveUp(output);
                        return;
                    }

                    padding = payload[0];
                    payload = payload[1..];
                }

                if ((flags & PriorityFlag) != 0)
                {
                    if (payload.Length < 5)
                    {
                        GiveUp(output);
                        return;
                    }

                    priority = payload[..5];
                    payload = payload[5..];
                }

                if (padding > payload.Length)
                {
                    GiveUp(output);
                    return;
                }

                payload = payload[..^padding];
            }

            block.Write(payload);
            offset += FrameHeaderLength + length;
        }

        var scrubbed = new ArrayBufferWriter<byte>(frames.Length);
        if (!TryScrub(block.WrittenSpan, scrubbed))
        {
            GiveUp(output);
            return;
        }

        var rest = scrubbed.WrittenSpan;
        var firstFragment = Math.Min(rest.Length, MaxFramePayload - priority.Length);
        var headersFlags = (byte)(flags & ~PaddedFlag & ~EndHeadersFlag);
        WriteFrame(output, HeadersFrame, (byte)(headersFlags | (firstFragment == rest.Length ? EndHeadersFlag : 0)), streamId, priority, rest[..firstFragment]);
        rest = rest[firstFragment..];
        while (rest.Length > 0)
        {
            var fragment = Math.Min(rest.Length, MaxFramePayload);
            WriteFrame(output, ContinuationFrame, fragment == rest.Length ? EndHeadersFlag : (byte)0, streamId, [], rest[..fragment]);
            rest = rest[fragment..];
        }

        pendingFrames.ResetWrittenCount();
    }

    /// <summary>Passes the pending frames on as they came, and everything after them.</summary>
    private void GiveUp(IBufferWriter<byte> output)
    {
        output.Write(pendingFrames.WrittenSpan);
        pendingFrames.ResetWrittenCount();
        passThrough = true;
    }

    /// <summary>Rewrites one header block (RFC 7541, section 6); false if it is not valid HPACK.</summary>
    internal bool TryScrub(ReadOnlySpan<byte> block, IBufferWriter<byte> output)
    {
        var at = 0;
        while (at < block.Length)
        {
            var start = at;
            var first = block[at];
            if ((first & 0x80) != 0 || (first & 0xE0) == 0x20)
            {
                // An indexed field (an authority among them now holds an empty value on Kestrel's
                // side too), or a dynamic table size update.
                if (!TryReadInteger(block, ref at, (first & 0x80) != 0 ? 7 : 5, out _))
                {
                    return false;
                }

                output.Write(block[start..at]);
                continue;
            }

            // A literal: with incremental indexing (01), without indexing (0000), never indexed (0001).
            var indexing = (first & 0xC0) == 0x40;
            if (!TryReadInteger(block, ref at, indexing ? 6 : 4, out var nameIndex))
            {
                return false;
            }

            bool isAuthority;
            if (nameIndex == 0)
            {
                if (!TryReadString(block, ref at, out var huffman, out var name))
                {
                    return false;
                }

                // A Huffman-coded name is taken for another: Go's encoder names :authority by index.
                isAuthority = !huffman && name.SequenceEqual(AuthorityName);
            }
            else if (nameIndex <= StaticTableSize)
            {
                isAuthority = nameIndex == AuthorityIndex;
            }
            else
            {
                var dynamic = nameIndex - StaticTableSize - 1;
                if (dynamic >= dynamicIsAuthority.Count)
                {
                    return false;
                }

                isAuthority = dynamicIsAuthority[(int)dynamic];
            }

            if (!TryReadString(block, ref at, out _, out _))
            {
                return false;
            }

            if (indexing)
            {
                dynamicIsAuthority.Insert(0, isAuthority);
                if (dynamicIsAuthority.Count > MaxDynamicEntries)
                {
                    dynamicIsAuthority.RemoveAt(dynamicIsAuthority.Count - 1);
                }
            }

            if (isAuthority)
            {
                // The same representation, naming :authority by its static index, with an empty value.
                output.Write<byte>([(byte)((indexing ? 0x40 : first & 0xF0) | AuthorityIndex), 0x00]);
            }
            else
            {
                output.Write(block[start..at]);
            }
        }

        return true;
    }

    /// <summary>An integer with an N-bit prefix (RFC 7541, section 5.1).</summary>
    private static bool TryReadInteger(ReadOnlySpan<byte> block, ref int at, int prefixBits, out long value)
    {
        var mask = (1 << prefixBits) - 1;
        value = block[at++] & mask;
        if (value < mask)
        {
            return true;
        }

        for (var shift = 0; shift <= 28; shift += 7)
        {
            if (at >= block.Length)
            {
                return false;
            }

            var next = block[at++];
            value += (long)(next & 0x7F) << shift;
            if ((next & 0x80) == 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A string literal (RFC 7541, section 5.2): its bytes as sent, Huffman-coded or not.</summary>
    private static bool TryReadString(ReadOnlySpan<byte> block, ref int at, out bool huffman, out ReadOnlySpan<byte> bytes)
    {
        bytes = default;
        huffman = at < block.Length && (block[at] & 0x80) != 0;
        if (at >= block.Length || !TryReadInteger(block, ref at, 7, out var length) || length > block.Length - at)
        {
            return false;
        }

        bytes = block.Slice(at, (int)length);
        at += (int)length;
        return true;
    }

    /// <summary>The payload length in a frame header (24 bits).</summary>
    private static int FrameLength(ReadOnlySpan<byte> frameHeader) => (frameHeader[0] << 16) | (frameHeader[1] << 8) | frameHeader[2];

    private static void WriteFrame(IBufferWriter<byte> output, byte type, byte flags, ReadOnlySpan<byte> streamId, ReadOnlySpan<byte> priority, ReadOnlySpan<byte> fragment)
    {
        var length = priority.Length + fragment.Length;
        output.Write([(byte)(length >> 16), (byte)(length >> 8), (byte)length, type, flags]);
        output.Write(streamId);
        output.Write(priority);
        output.Write(fragment);
    }

    private static void Write(IBufferWriter<byte> output, ReadOnlySequence<byte> bytes)
    {
        foreach (var segment in bytes)
        {
            output.Write(segment.Span);
        }
    }

    /// <summary>
    /// Kestrel connection middleware: the connection's input reaches Kestrel through a scrubber.
    /// </summary>
    public static Func<ConnectionDelegate, ConnectionDelegate> Middleware() => next => async connection =>
    {
        var transport = connection.Transport;
        var scrubbed = new Pipe(new PipeOptions(
            pauseWriterThreshold: 1 << 20,
            resumeWriterThreshold: 1 << 19,
            readerScheduler: PipeScheduler.Inline,
            writerScheduler: PipeScheduler.Inline,
            useSynchronizationContext: false));
        var pumping = PumpAsync(transport.Input, scrubbed.Writer, new Http2AuthorityScrubber());
        connection.Transport = new DuplexPipe(scrubbed.Reader, transport.Output);
        try
        {
            await next(connection);
        }
        finally
        {
            await scrubbed.Reader.CompleteAsync();
            transport.Input.CancelPendingRead();
            await pumping;
            await transport.Input.CompleteAsync();
            connection.Transport = transport;
        }
    };

    private static async Task PumpAsync(PipeReader from, PipeWriter to, Http2AuthorityScrubber scrubber)
    {
        try
        {
            while (true)
            {
                var read = await from.ReadAsync();
                if (read.IsCanceled)
                {
                    break;
                }

                var consumed = scrubber.Process(read.Buffer, to);
                from.AdvanceTo(consumed, read.Buffer.End);
                var flushed = await to.FlushAsync();
                if (flushed.IsCompleted || read.IsCompleted)
                {
                    break;
                }
            }

            await to.CompleteAsync();
        }
        catch (Exception error)
        {
            await to.CompleteAsync(error);
        }
    }

    private sealed class DuplexPipe(PipeReader input, PipeWriter output) : IDuplexPipe
    {
        public PipeReader Input => input;

        public PipeWriter Output => output;
    }
}
