using ActorKv.Compat.Tests.Fixtures;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>In-process members log to the test's output, so that a failed cluster test shows what its members did.</summary>
public sealed class TestOutputLoggerTests
{
    [Fact]
    public async Task A_member_in_the_test_process_logs_to_the_tests_output_under_its_name()
    {
        var recorded = new RecordingOutput();
        await using var cluster = await InProcessCluster.StartAsync(1, log: recorded);
        await cluster.WaitForLeaderAsync();
        await TestEnvironment.WaitUntilAsync(
            () => Task.FromResult(recorded.Lines.Any(line => line.StartsWith("[n1]", StringComparison.Ordinal) && line.Contains("is Leader in term", StringComparison.Ordinal))),
            TimeSpan.FromSeconds(10),
            "the member's election in the test's output");
    }

    private sealed class RecordingOutput : ITestOutputHelper
    {
        private readonly List<string> lines = [];

        public IReadOnlyList<string> Lines
        {
            get
            {
                lock (lines)
                {
                    return lines.ToList();
                }
            }
        }

        public void WriteLine(string message)
        {
            lock (lines)
            {
                lines.Add(message);
            }
        }

        public void WriteLine(string format, params object[] args) => WriteLine(string.Format(format, args));
    }
}
