
namespace ActorKv.Compat.Tests.Fixtures;

public static class TestEnvironment
{
    /// <summary>Ports handed out by this process: never twice.</summary>
    private static readonly HashSet<int> HandedOut = [];

    /// <summary>
    /// A loopback port from 10000 to 19999 that was free a moment ago. Not one the OS picks: those
    /// come from Linux's ephemeral range (32768 and up), which outgoing connections use too, so one
    /// of the many clients running in parallel could take it before the server binds it (seen in
    /// CI as "address already in use"). Chaos runs take their ports from 20000 to 31999, and keep
    /// them across restarts.
    /// </summary>
    public static int FreePort()
    {
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var candidate = Random.Shared.Next(10_000, 20_000);
            lock (HandedOut)
            {
                if (HandedOut.Contains(candidate) || !ActorKv.Chaos.LoopbackPorts.IsFree(candidate))
                {
                    continue;
                }

                HandedOut.Add(candidate);
                return candidate;
            }
        }

        throw new InvalidOperationException("no free loopback port from 10000 to 20000");
    }

    /// <summary>A base port from 10000 to 19999 for scripts/cluster.sh --base-port, its members' ports free a moment ago.</summary>
    public static int FreeClusterBasePort(int nodes)
    {
        for (var attempt = 0; attempt < 1000; attempt++)
        {
            var candidate = Random.Shared.Next(10_000, 20_000 - (10 * nodes));
            var ports = Enumerable.Range(0, nodes).SelectMany(i => new[] { candidate + (10 * i), candidate + (10 * i) + 1 }).ToList();
            lock (HandedOut)
            {
                if (ports.Any(HandedOut.Contains) || !ActorKv.Chaos.LoopbackPorts.ClusterPortsFree(candidate, nodes))
                {
                    continue;
                }

                HandedOut.UnionWith(ports);
                return candidate;
            }
        }

        throw new InvalidOperationException("no free loopback port range from 10000 to 20000");
    }

    public static string TempDirectory(string purpose)
    {
        var path = Path.Combine(Path.GetTempPath(), $"actorkv-{purpose}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(path);
        return path;
    }

    public static string RepositoryRoot() => ActorKv.Tests.Shared.RepositoryPaths.Root();

    /// <summary>Polls until <paramref name="ready"/> holds; fails after <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> ready, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await ready())
                {
                    return;
                }
            }
            catch (Exception)
            {
                // Not up yet.
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"{what} did not become ready within {timeout}");
    }

    public static void DeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
