using System.Buffers;
using System.Text;
using ActorKv.Compat.Tests.Fixtures;
using ActorKv.Server;

namespace ActorKv.Compat.Tests;

/// <summary>
/// The scrubber empties every request's :authority (etcd's Go clients send the endpoint's URL
/// there, which Kestrel refuses) and leaves every other byte as it was; with etcdctl, a command
/// given an http:// endpoint then works as against etcd.
/// </summary>
public sealed class Http2AuthorityScrubberTests
{
    private static readonly byte[] Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"u8.ToArray();

    private static byte[] Frame(byte type, byte flags, int streamId, params byte[][] payload)
    {
        var body = payload.SelectMany(part => part).ToArray();
        return [(byte)(body.Length >> 16), (byte)(body.Length >> 8), (byte)body.Length, type, flags, (byte)(streamId >> 24), (byte)(streamId >> 16), (byte)(streamId >> 8), (byte)streamId, .. body];
    }

    private static byte[] Literal(string text) => [(byte)text.Length, .. Encoding.ASCII.GetBytes(text)];

    private static byte[] Scrub(Http2AuthorityScrubber scrubber, params byte[][] chunks)
    {
        var output = new ArrayBufferWriter<byte>();
        var pending = Array.Empty<byte>();
        foreach (var chunk in chunks)
        {
            var input = new ReadOnlySequence<byte>([.. pending, .. chunk]);
            var consumed = scrubber.Process(input, output);
            pending = input.Slice(consumed).ToArray();
        }

        Assert.Empty(pending);
        return output.WrittenSpan.ToArray();
    }

    [Fact]
    public void Every_way_of_naming_the_authority_gets_an_empty_value_and_the_rest_passes_as_it_came()
    {
        var settings = Frame(0x4, 0, 0, [0, 3, 0, 0, 0, 100]);
        // :authority by static index, added to the dynamic table (entry 62); :method GET (indexed);
        // :path as a literal without indexing.
        var first = Frame(0x1, 0x4 | 0x1, 1, [0x41], Literal("http://127.0.0.1:2379"), [0x82], [0x04], Literal("/etcdserverpb.KV/Range"));
        // The entry 62 again (indexed: passes, Kestrel holds it empty); the authority named by that
        // entry, added again; a literal name ":authority", never indexed; a user header.
        var second = Frame(0x1, 0x4, 3, [0xBE], [0x7E], Literal("http://other:1"), [0x10], Literal(":authority"), Literal("http://x:2"), [0x40], Literal("te"), Literal("trailers"));
        var data = Frame(0x0, 0x1, 1, [1, 2, 3]);

        var output = Scrub(new Http2AuthorityScrubber(), [.. Preface, .. settings, .. first, .. second, .. data]);

        byte[] expected =
        [
            .. Preface, .. settings,
            .. Frame(0x1, 0x4 | 0x1, 1, [0x41, 0x00], [0x82], [0x04], Literal("/etcdserverpb.KV/Range")),
            .. Frame(0x1, 0x4, 3, [0xBE], [0x41, 0x00], [0x11, 0x00], [0x40], Literal("te"), Literal("trailers")),
            .. data,
        ];
        Assert.Equal(expected, output);
    }

    [Fact]
    public void A_block_in_padded_frames_with_continuations_comes_out_in_one_frame_with_its_priority_whatever_the_reads()
    {
        byte[] priority = [0x80, 0, 0, 0, 16];
        var headers = Frame(0x1, 0x8 | 0x20 | 0x1, 5, [2], priority, [0x41], Literal("http://127.0.0.1:2379"), [0xAA, 0xBB]);
        var continuation = Frame(0x9, 0x4, 5, [0x82, 0x86]);
        var stream = Preface.Concat(headers).Concat(continuation).ToArray();

        // Fed a few bytes at a time: frames cut anywhere wait for their rest.
        var chunks = stream.Chunk(7).ToArray();
        var output = Scrub(new Http2AuthorityScrubber(), chunks);

        Assert.Equal([.. Preface, .. Frame(0x1, 0x20 | 0x4 | 0x1, 5, priority, [0x41, 0x00, 0x82, 0x86])], output);
    }

    [Fact]
    public void What_is_not_http2_or_not_valid_hpack_passes_untouched()
    {
        var http1 = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray();
        Assert.Equal(http1, Scrub(new Http2AuthorityScrubber(), http1));

        // A string longer than its block, then a frame that must not be touched either.
        var broken = Frame(0x1, 0x4, 1, [0x41, 0x7F]);
        var next = Frame(0x1, 0x4, 3, [0x41], Literal("http://a:1"));
        byte[] stream = [.. Preface, .. broken, .. next];
        Assert.Equal(stream, Scrub(new Http2AuthorityScrubber(), stream));

        // A frame larger than Kestrel takes: passed on at its header, for Kestrel to refuse.
        byte[] oversized = [.. Preface, 0x01, 0x00, 0x00, 0x1, 0x4, 0, 0, 0, 1, 0x41];
        Assert.Equal(oversized, Scrub(new Http2AuthorityScrubber(), oversized));
    }

    [Fact]
    public async Task Etcdctl_given_an_http_endpoint_or_the_members_urls_gets_status_and_hash_as_from_etcd()
    {
        await using var node = await ActorKvProcess.StartAsync();
        var endpoint = "http://" + node.Endpoint;
        var status = await Etcdctl.RunAsync(endpoint, ["endpoint", "status"]);
        Assert.True(status.ExitCode == 0, status.Stderr);
        Assert.StartsWith($"{endpoint}, 1, 3.4.23, ", status.Stdout);
        var hash = await Etcdctl.RunAsync(endpoint, ["endpoint", "hashkv"]);
        Assert.True(hash.ExitCode == 0, hash.Stderr);
        Assert.StartsWith($"{endpoint}, ", hash.Stdout);

        // Members list their client URLs as etcd does, and "--cluster" dials them.
        var members = await Etcdctl.RunAsync(node.Endpoint, ["member", "list"]);
        Assert.Contains($", {endpoint}, false", members.Stdout);
        var cluster = await Etcdctl.RunAsync(node.Endpoint, ["endpoint", "status", "--cluster"]);
        Assert.True(cluster.ExitCode == 0, cluster.Stderr);
        Assert.StartsWith($"{endpoint}, 1, 3.4.23, ", cluster.Stdout);
    }
}
