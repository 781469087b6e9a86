namespace ActorKv.Chaos.Runner;

/// <summary>What one chaos run does, from the command line.</summary>
public sealed record ChaosOptions(
    int Nodes,
    TimeSpan Duration,
    IReadOnlyList<string> Nemeses,
    int Seed,
    int BasePort,
    string ReportDirectory,
    int ClientsPerNode,
    string? DataDirectory,
    bool Combined,
    bool WholeStoreModel)
{
    public static readonly string[] KnownNemeses = ["kill-node", "pause-node", "partition", "one-way", "link-drop", "link-delay", "kill-actor", "crash-point", "membership", "disk-full"];

    public const string Usage = """
        usage: actorkv-chaos --root REPO [--nodes 3] [--duration 60s] [--nemesis NAME,...] [--combined on] [--model per-key|store]
                             [--seed N] [--base-port P] [--report DIR] [--clients-per-node 2] [--data-dir DIR]
          Nemeses: kill-node, pause-node, partition, one-way, link-drop, link-delay, kill-actor,
          crash-point, membership, disk-full (default: all). Starts a fresh local cluster (scripts/cluster.sh
          with hocon/chaos.conf, or chaos-links.conf when a link nemesis is on), runs clients and
          watchers against it while the nemeses inject one fault at a time (two at once with
          --combined on), heals, checks linearizability (per key, or the whole store with txns
          atomic: --model store, for short runs), watch histories, reads at their revision,
          leases, convergence and liveness, prints a verdict table, and
          writes report.json and timeline.html to the report dir. Exit code 1 on any violation.
          The nodes' data goes to --data-dir (default: a new temp dir), deleted at the end.
        """;

    public static ChaosOptions Parse(string[] args, out string root)
    {
        var values = new Dictionary<string, string>();
        for (var i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= args.Length)
            {
                throw new ArgumentException($"unexpected argument '{args[i]}'");
            }

            values[args[i]] = args[++i];
        }

        string[] known = ["--root", "--nodes", "--duration", "--nemesis", "--seed", "--base-port", "--report", "--clients-per-node", "--data-dir", "--combined", "--model"];
        foreach (var key in values.Keys.Where(k => !known.Contains(k)))
        {
            throw new ArgumentException($"unknown option '{key}'");
        }

        root = values.TryGetValue("--root", out var r) ? Path.GetFullPath(r) : throw new ArgumentException("--root (the repository) is required");
        var nemeses = (values.GetValueOrDefault("--nemesis") ?? string.Join(',', KnownNemeses)).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var nemesis in nemeses.Where(n => !KnownNemeses.Contains(n)))
        {
            throw new ArgumentException($"unknown nemesis '{nemesis}'; known: {string.Join(", ", KnownNemeses)}");
        }

        var seed = values.TryGetValue("--seed", out var s) ? int.Parse(s, System.Globalization.CultureInfo.InvariantCulture) : Random.Shared.Next(1, 1_000_000);
        var nodes = int.Parse(values.GetValueOrDefault("--nodes") ?? "3", System.Globalization.CultureInfo.InvariantCulture);
        if (nodes is < 3 or > 9)
        {
            throw new ArgumentException("--nodes takes 3 to 9 (faults need a cluster that can lose a member)");
        }

        var clients = int.Parse(values.GetValueOrDefault("--clients-per-node") ?? "2", System.Globalization.CultureInfo.InvariantCulture);
        if (clients < 1)
        {
            throw new ArgumentException("--clients-per-node must be at least 1");
        }

        var basePort = values.TryGetValue("--base-port", out var p) ? int.Parse(p, System.Globalization.CultureInfo.InvariantCulture) : LocalCluster.FreeBasePort(new Random(seed), nodes);
        return new ChaosOptions(
            nodes,
            ParseDuration(values.GetValueOrDefault("--duration") ?? "60s"),
            nemeses,
            seed,
            basePort,
            Path.GetFullPath(values.GetValueOrDefault("--report") ?? Path.Combine(Path.GetTempPath(), $"actorkv-chaos-{seed}")),
            clients,
            values.TryGetValue("--data-dir", out var data) ? Path.GetFullPath(data) : null,
            (values.GetValueOrDefault("--combined") ?? "off") switch
            {
                "on" => true,
                "off" => false,
                var other => throw new ArgumentException($"--combined takes on or off, not '{other}'"),
            },
            (values.GetValueOrDefault("--model") ?? "per-key") switch
            {
                "store" => true,
                "per-key" => false,
                var other => throw new ArgumentException($"--model takes per-key or store, not '{other}'"),
            });
    }

    private static TimeSpan ParseDuration(string text)
    {
        var number = double.Parse(text.TrimEnd('s', 'm'), System.Globalization.CultureInfo.InvariantCulture);
        var duration = text.EndsWith('m') ? TimeSpan.FromMinutes(number) : TimeSpan.FromSeconds(number);
        return duration >= TimeSpan.FromSeconds(5) ? duration : throw new ArgumentException("--duration must be at least 5s");
    }
}
