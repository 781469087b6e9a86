using ActorKv.Compat.Tests.Fixtures;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>
/// `etcdctl watch` prints the same against ActorKv as against etcd. A watch does not end by
/// itself, so each one runs until its output has been quiet for a while (or has the lines it
/// should have), and is then killed; history (--rev) makes the output deterministic, also for
/// writes made while the watch runs.
/// </summary>
public sealed class EtcdctlWatchTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1.5);
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan EmptyLimit = TimeSpan.FromSeconds(3);

    /// <param name="Before">etcdctl commands run first.</param>
    /// <param name="During">etcdctl commands run while the watch runs.</param>
    /// <param name="MayBeEmpty">etcd prints nothing: wait <see cref="EmptyLimit"/> for output that should not come.</param>
    private sealed record Scenario(string[] Watch, string? Stdin = null, string[][]? Before = null, string[][]? During = null, bool MayBeEmpty = false);

    private static readonly Scenario[] Scenarios =
    [
        new(["watch", "foo", "--rev", "1"]),
        new(["watch", "fo", "--prefix", "--rev", "1", "--prev-kv"]),
        new(["watch", "foo", "--rev", "3", "-w", "json"]),
        new(["watch", "fo", "--prefix", "--rev", "1", "--prev-kv", "-w", "json"]),
        // Current revision is 7: revision 8 on is what the writes during the watch make.
        new(["watch", "zed", "--rev", "8", "--prev-kv"], During: [["put", "zed", "z2"], ["del", "zed"], ["put", "other", "o"]]),
        new(["watch", "-i"], Stdin: "watch fo --prefix --rev 1\n"),
        new(["watch", "b", "a"]),
        new(["watch", "foo", "--rev", "2"], Before: [["compaction", "6"]]),
        new(["watch", "zed", "--rev", "7"]),
        // The delete of foo2 at the compaction revision is compacted away with its key: no events.
        new(["watch", "fo", "--prefix", "--rev", "6"], MayBeEmpty: true),
    ];

    [Fact]
    public async Task Etcdctl_watch_prints_the_same_as_against_etcd()
    {
        // etcdctl 3.4 has no --progress-notify (3.5 added it): WatchTests checks progress over gRPC.
        await using var etcd = await EtcdServer.StartAsync();
        await using var actorKv = await ActorKvInProcess.StartAsync(log: output);
        string[][] setup =
        [
            ["put", "foo", "bar"],
            ["put", "foo", "baz"],
            ["put", "foo2", "x"],
            ["put", "fop", "y"],
            ["del", "foo2"],
            ["put", "zed", "z"],
        ];
        foreach (var command in setup)
        {
            Assert.Equal(0, (await Etcdctl.RunAsync(etcd.Endpoint, command)).ExitCode);
            Assert.Equal(0, (await Etcdctl.RunAsync(actorKv.Endpoint, command)).ExitCode);
        }

        foreach (var scenario in Scenarios)
        {
            var expected = await RunAsync(etcd.Endpoint, scenario, enough: _ => false);
            // More lines than etcd printed is a failure already: stop there.
            var actual = await RunAsync(actorKv.Endpoint, scenario, enough: lines => lines.Count > expected.Count);
            output.WriteLine($"etcdctl {string.Join(' ', scenario.Watch)}\n{string.Join('\n', expected)}\n");
            Assert.True(scenario.MayBeEmpty || expected.Count > 0, "etcd printed nothing");
            Assert.Equal(expected, actual);
        }
    }

    private static async Task<List<string>> RunAsync(string endpoint, Scenario scenario, Func<List<string>, bool> enough)
    {
        foreach (var command in scenario.Before ?? [])
        {
            await Etcdctl.RunAsync(endpoint, command);
        }

        return await Etcdctl.RunStreamingAsync(endpoint, scenario.Watch, scenario.Stdin, enough, Quiet, scenario.MayBeEmpty ? EmptyLimit : Limit, async () =>
        {
            foreach (var command in scenario.During ?? [])
            {
                Assert.Equal(0, (await Etcdctl.RunAsync(endpoint, command)).ExitCode);
            }
        });
    }
}
