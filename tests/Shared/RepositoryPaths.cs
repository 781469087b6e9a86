namespace ActorKv.Tests.Shared;

/// <summary>Where the repository is, from a test assembly's output directory.</summary>
public static class RepositoryPaths
{
    public static string Root()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "ActorKv.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("ActorKv.sln not found above " + AppContext.BaseDirectory);
    }
}
