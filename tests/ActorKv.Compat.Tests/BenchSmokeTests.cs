using System.Diagnostics;
using System.Text.Json;
using ActorKv.Compat.Tests.Fixtures;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>
/// actorkv-bench against a local node: the counts are right and nothing fails. No timing is
/// asserted; the figures belong in docs/benchmarks.md.
/// </summary>
public sealed class BenchSmokeTests(ITestOutputHelper output)
{
    private static async Task<(int ExitCode, string Stdout, string Stderr)> RunBench(params string[] arguments)
    {
        var configuration = AppContext.BaseDirectory.Contains("/bin/Release/", StringComparison.Ordinal) ? "Release" : "Debug";
        var dll = Path.Combine(TestEnvironment.RepositoryRoot(), "src", "ActorKv.Bench", "bin", configuration, "net10.0", "actorkv-bench.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(dll);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout, await stderr);
    }

    [Theory]
    [InlineData("put", "--total", "300", "--clients", "8", "--conns", "2", "--val-size", "64")]
    [InlineData("range", "--total", "300", "--clients", "4", "--consistency", "s")]
    [InlineData("range", "--total", "100", "--clients", "2", "--consistency", "l", "--prefix", "--limit", "10")]
    [InlineData("txn-put", "--total", "100", "--clients", "4", "--txn-ops", "3")]
    [InlineData("txn-mixed", "--total", "200", "--clients", "4", "--rw-ratio", "3")]
    [InlineData("lease-keepalive", "--total", "200", "--clients", "4", "--ttl", "30")]
    [InlineData("mixed", "--total", "300", "--clients", "4", "--streams", "2", "--watchers-per-stream", "2", "--key-space-size", "50")]
    [InlineData("put", "--total", "50", "--target-leader")]
    public async Task A_short_run_completes_every_request_without_error(params string[] workload)
    {
        await using var node = await ActorKvInProcess.StartAsync(log: output);
        var (exitCode, stdout, stderr) = await RunBench([.. workload, "--endpoints", node.Endpoint, "--json"]);

        Assert.True(exitCode == 0, stderr + stdout);
        var report = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal(long.Parse(workload[2]), report.GetProperty("succeeded").GetInt64());
        Assert.Empty(report.GetProperty("errors").EnumerateObject());
        using var channel = GrpcChannel.ForAddress(node.Url);
        var kv = new KV.KVClient(channel);
        switch (workload[0])
        {
            case "put":
                Assert.Equal(long.Parse(workload[2]) + 1, node.Server.Node.CurrentRevision);
                break;
            case "txn-put":
                // One revision per txn, three distinct keys in each.
                Assert.Equal(100 + 1, node.Server.Node.CurrentRevision);
                Assert.Equal(300, (await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFrom(0), RangeEnd = ByteString.CopyFrom(0), CountOnly = true })).Count);
                break;
            case "mixed":
                // 50 objects created first, then about 60 updates, each seen by both watchers.
                var figures = report.GetProperty("figures");
                Assert.True(figures.GetProperty("watch events delivered per second").GetDouble() > 0, stdout);
                Assert.True(node.Server.Node.CurrentRevision > 1 + 1 + 10, stdout);
                break;
            case "lease-keepalive":
                // Every client's lease was kept alive to the end, then revoked.
                Assert.Empty((await new Lease.LeaseClient(channel).LeaseLeasesAsync(new LeaseLeasesRequest())).Leases);
                break;
        }
    }

    [Fact]
    public async Task A_short_lease_storm_and_watch_run_count_every_key_and_event()
    {
        await using var node = await ActorKvInProcess.StartAsync(log: output);
        var (exitCode, stdout, stderr) = await RunBench("lease-storm", "--total", "40", "--ttl", "2", "--clients", "4", "--endpoints", node.Endpoint, "--json");
        Assert.True(exitCode == 0, stderr + stdout);
        var storm = JsonDocument.Parse(stdout).RootElement;
        Assert.Empty(storm.GetProperty("errors").EnumerateObject());
        Assert.True(storm.GetProperty("figures").GetProperty("all keys gone after the last expiry").GetDouble() >= -2);

        (exitCode, stdout, stderr) = await RunBench("watch", "--total", "50", "--streams", "2", "--watchers-per-stream", "3", "--clients", "2", "--endpoints", node.Endpoint, "--json");
        Assert.True(exitCode == 0, stderr + stdout);
        var watch = JsonDocument.Parse(stdout).RootElement;
        Assert.Empty(watch.GetProperty("errors").EnumerateObject());
        Assert.Equal(50 * 2 * 3, watch.GetProperty("succeeded").GetInt64());
    }

    [Theory]
    [InlineData("1")]
    [InlineData("3")]
    public async Task A_replication_floor_run_counts_every_write_and_leaves_no_member_or_file_behind(string members)
    {
        var directory = Directory.CreateTempSubdirectory("actorkv-floor-test-");
        try
        {
            var (exitCode, stdout, stderr) = await RunBench("replication-floor", "--members", members, "--total", "300", "--dir", directory.FullName, "--json");

            Assert.True(exitCode == 0, stderr + stdout);
            var report = JsonDocument.Parse(stdout).RootElement;
            Assert.Equal(300, report.GetProperty("succeeded").GetInt64());
            Assert.Empty(report.GetProperty("errors").EnumerateObject());
            Assert.Empty(directory.EnumerateFileSystemInfos());
            // Every member process was started with its file under the directory.
            var left = Directory.GetDirectories("/proc").Where(proc => int.TryParse(Path.GetFileName(proc), out _))
                .Where(proc => (TryRead(Path.Combine(proc, "cmdline")) ?? "").Contains(directory.FullName, StringComparison.Ordinal))
                .ToList();
            Assert.Empty(left);
        }
        finally
        {
            directory.Delete(recursive: true);
        }

        static string? TryRead(string path)
        {
            try
            {
                return File.ReadAllText(path);
            }
            catch (IOException)
            {
                return null; // the process ended while we looked
            }
            catch (UnauthorizedAccessException)
            {
                return null;
            }
        }
    }

    [Theory]
    [InlineData(2, "unknown workload 'nope'", "nope")]
    [InlineData(2, "--clients, --conns and --members must be at least 1", "put", "--clients", "0")]
    [InlineData(2, "--clients, --conns and --members must be at least 1", "replication-floor", "--members", "0")]
    [InlineData(2, "replication-floor measures one client", "replication-floor", "--clients", "2")]
    [InlineData(1, "replication-floor failed: Could not find a part of the path", "replication-floor", "--dir", "/etc/hostname/no-such-dir")]
    [InlineData(1, "fsync failed: Could not find a part of the path", "fsync", "--dir", "/etc/hostname/no-such-dir")]
    [InlineData(2, "--duration takes a time", "put", "--duration", "soon")]
    [InlineData(2, "--txn-ops must be at least 1", "txn-put", "--txn-ops", "0")]
    [InlineData(1, "cannot reach 127.0.0.1:1", "put", "--endpoints", "127.0.0.1:1")]
    public async Task Bad_input_gets_a_clear_message_and_a_non_zero_exit(int expectedExitCode, string message, params string[] arguments)
    {
        var (exitCode, _, stderr) = await RunBench(arguments);
        Assert.Equal(expectedExitCode, exitCode);
        Assert.Contains(message, stderr);
    }
}
