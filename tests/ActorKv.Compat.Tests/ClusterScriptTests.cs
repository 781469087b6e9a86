using ActorKv.Compat.Tests.Fixtures;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>scripts/cluster.sh, as README and the chaos runner use it, on a 3-node cluster of real processes.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ClusterScriptTests(ITestOutputHelper output)
{
    /// <summary>
    /// A member remove whose answer times out may still be committed (chaos/README #21): asked
    /// again, the cluster says "member not found", and the script must then stop the member, not
    /// fail and leave a removed member running.
    /// </summary>
    [Fact]
    public async Task Remove_stops_a_member_that_an_earlier_attempt_already_removed()
    {
        var dataDirectory = TestEnvironment.TempDirectory("cluster-script");
        var basePort = TestEnvironment.FreeClusterBasePort(3);
        try
        {
            var up = await RunScriptAsync("up", "--nodes", "3", "--data-dir", dataDirectory, "--base-port", $"{basePort}");
            Assert.True(up.ExitCode == 0, up.Output);
            var pid = int.Parse(File.ReadAllText(Path.Combine(dataDirectory, "n3", "pid")).Trim());

            // The earlier attempt: committed, as a timed-out one may have been.
            var byHand = await Etcdctl.RunAsync($"127.0.0.1:{basePort}", ["member", "remove", "3"]);
            Assert.True(byHand.ExitCode == 0, byHand.Stderr);

            var remove = await RunScriptAsync("remove", "n3", "--data-dir", dataDirectory);
            Assert.True(remove.ExitCode == 0, remove.Output);
            Assert.Contains("Member 3 removed from the cluster (by an earlier attempt)", remove.Output);
            Assert.False(Directory.Exists($"/proc/{pid}"), $"n3 (PID {pid}) still runs after cluster.sh remove");
        }
        finally
        {
            var down = await RunScriptAsync("down", "--data-dir", dataDirectory);
            output.WriteLine(down.Output);
            TestEnvironment.DeleteDirectory(dataDirectory);
        }
    }

    private async Task<(int ExitCode, string Output)> RunScriptAsync(params string[] arguments)
    {
        using var script = new ChildProcess("bash", [Path.Combine(TestEnvironment.RepositoryRoot(), "scripts", "cluster.sh"), .. arguments]);
        if (!await script.WaitForExitAsync(TimeSpan.FromMinutes(2)))
        {
            throw new TimeoutException($"cluster.sh {string.Join(' ', arguments)} did not finish within 2 minutes");
        }

        output.WriteLine($"cluster.sh {string.Join(' ', arguments)}: exit {script.ExitCode}\n{script.Output}");
        return (script.ExitCode, script.Output);
    }
}
