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

    /// <summary>The slot a member added by the membership nemesis takes (it is removed again before the fault ends).</summary>
    public int SpareSlot => nodes + 1;

    /// <summary>A base port whose client and peer ports for every node and the spare slot are free now.</summary>
    public static int FreeBasePort(Random random, int nodes)
    {
        for (var attempt = 0; attempt < 200; attempt++)
        {
            // See LoopbackPorts: chaos runs take 20000-31999.
            var candidate = random.Next(20_000, 32_000 - (10 * (nodes + 1)));
            if (LoopbackPorts.ClusterPortsFree(candidate, nodes + 1))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException("no free port range found on 127.0.0.1");
    }

    /// <param name="cuttableLinks">Start with the link-fault transport adapter (hocon/chaos-links.conf), which the link nemeses need.</param>
    public Task UpAsync(bool cuttableLinks) =>
        ScriptAsync("up", "--nodes", nodes.ToString(), "--data-dir", dataDirectory, "--base-port", basePort.ToString(), "--extra-conf", Path.Combine(root, "hocon", cuttableLinks ? "chaos-links.conf" : "chaos.conf"));

    public Task DownAsync() => ScriptAsync("down", "--data-dir", dataDirectory);

    public Task RestartAsync(int node) => ScriptAsync("restart", $"n{node}", "--data-dir", dataDirectory);

    /// <summary>Adds the slot as a new member (a learner first), started empty: cluster.sh join.</summary>
    public Task JoinAsync(int node) => ScriptAsync("join", $"n{node}", "--learner", "--data-dir", dataDirectory, "--base-port", basePort.ToString());

    public Task PromoteAsync(int node) => ScriptAsync("promote", $"n{node}", "--data-dir", dataDirectory);

    /// <summary>Removes the slot's member (etcdctl member remove), stops it, and deletes its files so that the slot can join again.</summary>
    public async Task RemoveAsync(int node)
    {
        await ScriptAsync("remove", $"n{node}", "--data-dir", dataDirectory);
        var log = LogFile(node);
        if (File.Exists(log))
        {
            // Keep what the removed member logged (the node-log check reads it).
            File.AppendAllText(Path.Combine(dataDirectory, "removed-members.log"), File.ReadAllText(log));
        }

        Directory.Delete(Path.Combine(dataDirectory, $"n{node}"), recursive: true);
    }

    /// <summary>The member id of the slot's current member (a replaced member gets a new one), from its node.conf.</summary>
    public ulong MemberId(int node)
    {
        var conf = Path.Combine(dataDirectory, $"n{node}", "node.conf");
        var line = File.Exists(conf) ? File.ReadLines(conf).FirstOrDefault(l => l.TrimStart().StartsWith("node-id = ", StringComparison.Ordinal)) : null;
        return line is null ? (ulong)node : ulong.Parse(line.Split('=')[1].Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The slot whose member has this id (0 if none).</summary>
    public int SlotOf(ulong memberId) => Members.Append(SpareSlot).FirstOrDefault(n => Directory.Exists(Path.Combine(dataDirectory, $"n{n}")) && MemberId(n) == memberId);

    public int? Pid(int node)
    {
        var file = Path.Combine(dataDirectory, $"n{node}", "pid");
        return File.Exists(file) && int.TryParse(File.ReadAllText(file).Trim(), out var pid) ? pid : null;
    }

    public string LogFile(int node) => Path.Combine(dataDirectory, $"n{node}", "actorkv.log");

    /// <summary>Every node log of the run, by name: the slots' members and the members removed from them.</summary>
    public IEnumerable<(string Name, string Path)> LogFiles() =>
        Members.Append(SpareSlot).Select(n => ($"n{n}", LogFile(n)))
            .Append(("removed-members", Path.Combine(dataDirectory, "removed-members.log")))
            .Where(log => File.Exists(log.Item2));

    /// <summary>
    /// Whether the process runs: a killed node whose parent is gone may stay a zombie until init
    /// reaps it, so the state in /proc counts, not the PID's existence.
    /// </summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].FirstOrDefault();
            return state is not ('Z' or 'X');
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>kill -9, or SIGSTOP / SIGCONT, by the node's PID; nothing if it is not running (another fault killed it).</summary>
    public async Task SignalAsync(int node, string signal)
    {
        if (Pid(node) is not { } pid)
        {
            return;
        }

        try
        {
            await RunAsync("kill", [$"-{signal}", pid.ToString()], TimeSpan.FromSeconds(10));
        }
        catch (InvalidOperationException) when (!IsAlive(pid))
        {
        }
    }

    /// <summary>The leader's slot as the members that answer see it (0 if none answers).</summary>
    public async Task<int> LeaderAsync()
    {
        foreach (var node in Members)
        {
            try
            {
                using var channel = GrpcChannel.ForAddress(Url(node));
                var status = await new Maintenance.MaintenanceClient(channel).StatusAsync(new StatusRequest(), deadline: DateTime.UtcNow.AddSeconds(1));
                if (status.Leader != 0 && SlotOf(status.Leader) is var slot and not 0)
                {
                    return slot;
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
