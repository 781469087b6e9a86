using System.Reflection;

namespace ActorKv.Raft.Tests;

/// <summary>
/// The deterministic cores stay pure, so that seeded simulations and property tests can drive
/// them: no actor system, network, storage engine, clock, threads or randomness of their own.
/// </summary>
public sealed class CorePurityTests
{
    public static TheoryData<string> Cores => new() { "ActorKv.Raft", "ActorKv.Mvcc" };

    private static Assembly Load(string name) =>
        name == "ActorKv.Raft" ? typeof(RaftCore).Assembly : typeof(Mvcc.MvccEngine).Assembly;

    [Theory]
    [MemberData(nameof(Cores))]
    public void A_core_references_only_the_base_library(string core)
    {
        var references = Load(core).GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.DoesNotContain(references, name =>
            name.StartsWith("Akka", StringComparison.Ordinal)
            || name.StartsWith("Grpc", StringComparison.Ordinal)
            || name.StartsWith("LightningDB", StringComparison.Ordinal)
            || name.StartsWith("Google", StringComparison.Ordinal)
            || name.StartsWith("ActorKv", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Cores))]
    public void A_core_reads_no_clock_and_starts_no_threads(string core)
    {
        var sourceDirectory = Path.Combine(ActorKv.Tests.Shared.RepositoryPaths.Root(), "src", core);
        string[] forbidden = ["DateTime", "Stopwatch", "Environment.TickCount", "Task.Run", "new Thread", "ThreadPool.", "new Random(", "Random.Shared", "File.", "Directory."];
        foreach (var file in Directory.EnumerateFiles(sourceDirectory, "*.cs", SearchOption.AllDirectories).Where(f => !f.Contains("/obj/")))
        {
            var text = File.ReadAllText(file);
            foreach (var word in forbidden)
            {
                Assert.False(text.Contains(word, StringComparison.Ordinal), $"{file} uses {word}");
            }
        }
    }
}
