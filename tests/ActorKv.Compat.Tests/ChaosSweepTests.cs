using System.Diagnostics;
using ActorKv.Compat.Tests.Fixtures;
using ActorKv.Tests.Shared;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>
/// CI's short chaos sweep: `chaos/run.sh` once per nemesis (the link nemeses together, and one
/// run of combined faults), 20 s each with a fixed seed, on a
/// fresh 3-node cluster of real processes; the run must report no violation (it exits 1 on
/// any). Longer sweeps: chaos/sweep.sh. The test stops the run's nodes by their PID files
/// whatever happens.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ChaosSweepTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("kill-node", 101)]
    [InlineData("pause-node", 102)]
    [InlineData("partition", 103)]
    [InlineData("kill-actor", 104)]
    [InlineData("crash-point", 105)]
    [InlineData("one-way,link-drop,link-delay", 106)]
    [InlineData("membership,disk-full", 107)]
    [InlineData("kill-node,pause-node,link-drop,kill-actor", 108, true)]
    public async Task A_short_chaos_run_finds_no_violation(string nemesis, int seed, bool combined = false)
    {
        var root = RepositoryPaths.Root();
        var dataDirectory = TestEnvironment.TempDirectory("chaos-data");
        var reportDirectory = TestEnvironment.TempDirectory("chaos-report");
        var start = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { Path.Combine(root, "chaos", "run.sh"), "--duration", "20s", "--nemesis", nemesis, "--seed", $"{seed}", "--report", reportDirectory, "--data-dir", dataDirectory, "--combined", combined ? "on" : "off" })
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var run = Process.Start(start)!;
            var stdout = run.StandardOutput.ReadToEndAsync();
            var stderr = run.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(4));
            try
            {
                await run.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                run.Kill(entireProcessTree: true);
                throw new TimeoutException("chaos/run.sh did not finish within 4 minutes");
            }

            if (run.ExitCode != 0)
            {
                // The report directory goes with the test: keep what the nodes logged in CI's output.
                foreach (var nodeLog in Directory.GetFiles(reportDirectory, "n*.log").Order())
                {
                    output.WriteLine($"--- {Path.GetFileName(nodeLog)}: log lines, first line of each ---");
                    foreach (var line in File.ReadLines(nodeLog).Where(line => line.StartsWith('[')).TakeLast(300))
                    {
                        output.WriteLine(line.Length > 300 ? line[..300] : line);
                    }
                }
            }

            // The run's own output last: CI keeps only the tail of a failed run, and the verdict
            // table (which check failed, and why) is at the end of it.
            output.WriteLine(await stderr);
            output.WriteLine(await stdout);
            Assert.Contains("linearizable", await stdout, StringComparison.Ordinal);
            Assert.True(run.ExitCode == 0, $"chaos/run.sh exited {run.ExitCode}; failed checks: {string.Join(" | ", (await stdout).Split('\n').Where(line => line.Contains(" FAILED ", StringComparison.Ordinal)))}");
        }
        finally
        {
            // The run stops its nodes itself; if it was killed, they are stopped here, by PID.
            using var down = Process.Start("bash", [Path.Combine(root, "scripts", "cluster.sh"), "down", "--data-dir", dataDirectory]);
            await down.WaitForExitAsync();
            TestEnvironment.DeleteDirectory(dataDirectory);
            TestEnvironment.DeleteDirectory(reportDirectory);
        }
    }
}
