namespace ActorKv.Mvcc.Tests;

/// <summary>The MVCC core stays pure: no actor system, network, storage engine or clock of its own.</summary>
public sealed class CorePurityTests
{
    [Fact]
    public void Mvcc_references_only_the_base_library()
    {
        var references = typeof(MvccEngine).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.DoesNotContain(references, name =>
            name.StartsWith("Akka", StringComparison.Ordinal)
            || name.StartsWith("Grpc", StringComparison.Ordinal)
            || name.StartsWith("LightningDB", StringComparison.Ordinal)
            || name.StartsWith("Google", StringComparison.Ordinal)
            || name.StartsWith("ActorKv", StringComparison.Ordinal));
    }

    [Fact]
    public void Mvcc_reads_no_clock_and_starts_no_threads()
    {
        var sourceDirectory = Path.Combine(RepositoryRoot(), "src", "ActorKv.Mvcc");
        string[] forbidden = ["DateTime.", "Stopwatch", "Environment.TickCount", "Task.Run", "new Thread", "ThreadPool.", "Random"];
        foreach (var file in Directory.EnumerateFiles(sourceDirectory, "*.cs", SearchOption.AllDirectories).Where(f => !f.Contains("/obj/")))
        {
            var text = File.ReadAllText(file);
            foreach (var word in forbidden)
            {
                Assert.False(text.Contains(word, StringComparison.Ordinal), $"{file} uses {word}");
            }
        }
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "ActorKv.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("ActorKv.sln not found above " + AppContext.BaseDirectory);
    }
}
