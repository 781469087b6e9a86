using ActorKv.Compat.Tests.Fixtures;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;

namespace ActorKv.Compat.Tests;

/// <summary>The actorkv executable's start-up and stop, as an operator meets them.</summary>
public sealed class ServerStartupTests
{
    [Fact]
    public async Task A_node_that_cannot_start_says_why_in_one_line_and_exits_1()
    {
        // A trace file that cannot be created (nothing can be created under /proc).
        await using var node = ActorKvProcess.Create(TestEnvironment.FreePort(), """actorkv.diagnostics.write-path-trace-file = "/proc/actorkv-test/write-path.trace" """);
        node.Launch();
        Assert.True(await node.WaitForExitAsync(TimeSpan.FromSeconds(60)), "actorkv did not exit: " + node.Output);
        Assert.Equal(1, node.ExitCode);
        Assert.Contains("actorkv: cannot start: ", node.Output);
        Assert.Contains("/proc/actorkv-test", node.Output);
        Assert.DoesNotContain("Unhandled exception", node.Output);
    }

    /// <summary>
    /// A watch stream stays open until its client closes it; on SIGTERM the node must not wait
    /// for that (the host's default grace, 30 s, outlasted the fixture's 20 s, which then killed
    /// it), as etcd does not: it stops, exits 0, and the stream ends.
    /// </summary>
    [Fact]
    public async Task A_node_with_a_watch_open_stops_on_SIGTERM_and_exits_0()
    {
        await using var node = await ActorKvProcess.StartAsync();
        using var channel = GrpcChannel.ForAddress(node.Url);
        using var watch = new Watch.WatchClient(channel).Watch();
        await watch.RequestStream.WriteAsync(new WatchRequest { CreateRequest = new WatchCreateRequest { Key = ByteString.CopyFromUtf8("k") } });
        Assert.True(await watch.ResponseStream.MoveNext());
        Assert.True(watch.ResponseStream.Current.Created);

        node.Stop();
        Assert.True(await node.WaitForExitAsync(TimeSpan.FromSeconds(10)), "its output did not end");
        Assert.Equal(0, node.ExitCode);
        Assert.Contains("actorkv: stopping", node.Output);
        var ended = await Record.ExceptionAsync(async () =>
        {
            while (await watch.ResponseStream.MoveNext())
            {
            }
        });
        Assert.True(ended is null or RpcException, $"the watch stream ended with {ended}");
    }
}
