using ActorKv.Compat.Tests.Fixtures;

namespace ActorKv.Compat.Tests;

/// <summary>The actorkv executable's start-up, as an operator meets it.</summary>
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
}
