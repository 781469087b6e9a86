using System.Diagnostics;
using ActorKv.Chaos;
using Etcdserverpb;
using Grpc.Net.Client;

namespace ActorKv.Chaos.Runner;

/// <summary>
/// A fresh local cluster run by scripts/cluster.sh in a temp data dir, with hocon/chaos.conf (or chaos-links.conf) over
/// each node's HOCON; members are n1..nN with member ids 1..N. Processes are addressed by the PID
/// files cluster.sh writes; nothing but 127.0.0.1 is ever contacted.
/// </summary>
public sealed class LocalCluster(string root, string dataDirectory, int nodes, int basePort)
{
    public int Nodes => nodes;

    public string DataDirectory => dataDirectory;

    public string Endpoint(int node) => $"127.0.0.1:{basePort + 10 * (node - 1)}";

    public string Url(int node) => "http://" + Endpoint(node);

    public IEnumerable<int> Members => Enumerable.Range(1, nodes);

    /// <summary>A base port whose client and peer ports for every node are free now.</summary>
    public static int FreeBasePort(Random random, int nodes)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            // See LoopbackPorts: chaos runs take 20000-31999.
            var candidate = random.Next(20_000, 32_000 - (10 * nodes));
            if (Enumerable.Range(0, nodes).All(i => LoopbackPorts.IsFree(candidate + 10 * i) && LoopbackPorts.IsFree(candidate + 10 * i + 1)))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("no free port range found on 127.0.0.1");
    }

    /// <param name="cuttableLinks">Start with Akka.Remote's throttler adapter (hocon/chaos-links.conf), which the partition nemesis needs.</param>
    public Task UpAsync(bool cuttableLinks) =>
        ScriptAsync("up", "--nodes", nodes.ToString(), "--data-dir", dataDirectory, "--base-port", basePort.ToString(), "--extra-conf", Path.Combine(root, "hocon", cuttableLinks ? "chaos-links.conf" : "chaos.conf"));

    public Task DownAsync() => ScriptAsync("down", "--data-dir", dataDirectory);

    public Task RestartAsync(int node) => ScriptAsync("restart", $"n{node}", "--data-dir", dataDirectory);

    public int? Pid(int node)
    {
        var file = Path.Combine(dataDirectory, $"n{node}", "pid");
        return File.Exists(file) && int.TryParse(File.ReadAllText(file).Trim(), out var pid) ? pid : null;
    }

    public string LogFile(int node) => Path.Combine(dataDirectory, $"n{node}", "actorkv.log");

    /// <summary>kill -9, or SIGSTOP / SIGCONT, by the node's PID.</summary>
    public async Task SignalAsync(int node, string signal)
    {
        var pid = Pid(node) ?? throw new InvalidOperationException($"n{node} has no PID file");
        await RunAsync("kill", [$"-{signal}", pid.ToString()], TimeSpan.FromSeconds(10));
    }

    /// <summary>The leader as the members that answer see it (0 if none answers).</summary>
    public async Task<int> LeaderAsync()
    {
        foreach (var node in Members)
        {
            try
            {
                using var channel = GrpcChannel.ForAddress(Url(node));
                var status = await new Maintenance.MaintenanceClient(channel).StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(1));
                if (status.Leader != 0)
                {
                    return (int)status.Leader;
                }
            }
            catch (Grpc.Core.RpcException)
            {
            }
        }

        return 0;
    }

    private async Task ScriptAsync(params string[] arguments) =>
        await RunAsync("bash", [Path.Combine(root, "scripts", "cluster.sh"), .. arguments], TimeSpan.FromMinutes(3));

    private static async Task RunAsync(string file, string[] arguments, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} did not finish within {timeout}");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited {process.ExitCode}: {await stdout}{await stderr}");
        }
    }
}
