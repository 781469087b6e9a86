namespace ActorKv.Bench;

/// <summary>Command-line options, shaped after etcd's benchmark tool.</summary>
public sealed record BenchOptions
{
    public required string Workload { get; init; }
    public IReadOnlyList<string> Endpoints { get; init; } = ["127.0.0.1:2379"];
    public int Connections { get; init; } = 1;
    public int Clients { get; init; } = 1;
    public long Total { get; init; } = 10_000;
    public TimeSpan? Duration { get; init; }
    public int Rate { get; init; }
    public bool Json { get; init; }
    public int KeySize { get; init; } = 8;
    public int ValueSize { get; init; } = 8;
    /// <summary>0: every put writes a new key. Otherwise keys are drawn from this many.</summary>
    public long KeySpaceSize { get; init; }
    public bool SequentialKeys { get; init; }
    /// <summary>Range: "l" linearizable or "s" serializable.</summary>
    public string Consistency { get; init; } = "l";
    public bool Prefix { get; init; }
    public long Limit { get; init; }
    public string Directory { get; init; } = Path.GetTempPath();
    /// <summary>lease-storm: the leases' TTL in seconds.</summary>
    public int Ttl { get; init; } = 5;
    /// <summary>watch: gRPC watch streams, and watchers on each.</summary>
    public int Streams { get; init; } = 10;
    public int WatchersPerStream { get; init; } = 10;
    /// <summary>txn-put: puts in each txn.</summary>
    public int TxnOps { get; init; } = 1;
    /// <summary>txn-mixed: reads per write.</summary>
    public double RwRatio { get; init; } = 1;
    /// <summary>Send every request to the Raft leader among --endpoints.</summary>
    public bool TargetLeader { get; init; }
    /// <summary>replication-floor: processes in the replica set, the leader among them.</summary>
    public int Members { get; init; } = 3;

    public static readonly string[] LoadWorkloads = ["put", "range", "txn-put", "txn-mixed", "lease-keepalive", "mixed"];

    public static readonly string[] AllWorkloads = [.. LoadWorkloads, "fsync", "replication-floor", "lease-storm", "watch"];

    public const string Usage = """
        usage: actorkv-bench [options] <workload>
        workloads:
          put      puts of --val-size bytes; keys distinct unless --key-space-size is set
          range    reads of one key (or a prefix with --prefix), --consistency l|s
          txn-put  txns of --txn-ops puts each, no compare; keys distinct unless --key-space-size
          txn-mixed  txns of one range or one put, --rw-ratio reads per write, keys from
                   --key-space-size (default 1000); --consistency s reads serializably
          lease-keepalive  each client holds a lease of --ttl seconds and renews it over its
                   own keep-alive stream, one renewal outstanding
          mixed    Kubernetes-like: 72% gets, 8% lists (--limit, default 100), 20% updates
                   (txn compare mod revision, put) on --key-space-size objects (default 1000),
                   with --streams x --watchers-per-stream watchers on them
          fsync    the disk's fsync latency: 4 KiB writes + fsync in --dir (no server)
          replication-floor  one client's replicated durable write with nothing in the way
                   (no server): --members processes on loopback, each appending in a
                   preallocated file in --dir with one write + fdatasync; the leader answers
                   once its own and a majority's writes are durable (--members 1: one node)
          lease-storm  grants --total leases of --ttl seconds with a key each, lets them expire
                   while --clients keep putting, and times until every key is gone
          watch    --streams x --watchers-per-stream watchers on one prefix, then --total puts
                   there (at --rate): events delivered per second, put-to-event latency
        options:
          --endpoints host:port[,host:port]   etcd v3 endpoints (default 127.0.0.1:2379)
          --conns N            gRPC connections (default 1)
          --clients N          concurrent clients, one request outstanding each (default 1)
          --total N            requests in all (default 10000)
          --duration 10s       run for a time instead of --total
          --rate N             requests per second in all, 0 = as fast as possible
          --key-size N --val-size N --key-space-size N --sequential-keys
          --consistency l|s --prefix --limit N --txn-ops N --rw-ratio R
          --target-leader      send everything to the leader among --endpoints
          --dir DIR            where fsync and replication-floor write (default the temp dir)
          --members N          replication-floor: processes, the leader among them (default 3)
          --ttl N              lease-storm: lease TTL in seconds (default 5)
          --streams N --watchers-per-stream N   watch: default 10 x 10
          --json               one JSON object instead of the table
        """;

    public static BenchOptions Parse(string[] args)
    {
        string? workload = null;
        var values = new Dictionary<string, string>();
        var flags = new HashSet<string>();
        string[] flagNames = ["--json", "--sequential-keys", "--prefix", "--target-leader"];
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            if (flagNames.Contains(arg))
            {
                flags.Add(arg);
            }
            else if (arg.StartsWith("--", StringComparison.Ordinal))
            {
                var equals = arg.IndexOf('=');
                if (equals > 0)
                {
                    values[arg[..equals]] = arg[(equals + 1)..];
                }
                else if (i + 1 < args.Length)
                {
                    values[arg] = args[++i];
                }
                else
                {
                    throw new BenchUsageException($"{arg} needs a value");
                }
            }
            else if (workload is null)
            {
                workload = arg;
            }
            else
            {
                throw new BenchUsageException($"unexpected argument '{arg}'");
            }
        }

        string[] known = ["--endpoints", "--conns", "--clients", "--total", "--duration", "--rate", "--key-size", "--val-size", "--key-space-size", "--consistency", "--limit", "--dir", "--ttl", "--streams", "--watchers-per-stream", "--txn-ops", "--rw-ratio", "--members"];
        foreach (var name in values.Keys.Where(name => !known.Contains(name)))
        {
            throw new BenchUsageException($"unknown option {name}");
        }

        var options = new BenchOptions
        {
            Workload = workload ?? throw new BenchUsageException("no workload given"),
            Endpoints = values.TryGetValue("--endpoints", out var endpoints) ? endpoints.Split(',', StringSplitOptions.RemoveEmptyEntries) : ["127.0.0.1:2379"],
            Connections = Int(values, "--conns", 1),
            Clients = Int(values, "--clients", 1),
            Total = Long(values, "--total", 10_000),
            Duration = values.TryGetValue("--duration", out var duration) ? ParseDuration(duration) : null,
            Rate = Int(values, "--rate", 0),
            Json = flags.Contains("--json"),
            KeySize = Int(values, "--key-size", 8),
            ValueSize = Int(values, "--val-size", 8),
            KeySpaceSize = Long(values, "--key-space-size", 0),
            SequentialKeys = flags.Contains("--sequential-keys"),
            Consistency = values.GetValueOrDefault("--consistency", "l"),
            Prefix = flags.Contains("--prefix"),
            Limit = Long(values, "--limit", 0),
            Directory = values.GetValueOrDefault("--dir", Path.GetTempPath()),
            Ttl = Int(values, "--ttl", 5),
            Streams = Int(values, "--streams", 10),
            WatchersPerStream = Int(values, "--watchers-per-stream", 10),
            TxnOps = Int(values, "--txn-ops", 1),
            RwRatio = values.TryGetValue("--rw-ratio", out var ratio)
                ? double.TryParse(ratio, System.Globalization.CultureInfo.InvariantCulture, out var parsed) ? parsed : throw new BenchUsageException($"--rw-ratio takes a number, not '{ratio}'")
                : 1,
            TargetLeader = flags.Contains("--target-leader"),
            Members = Int(values, "--members", 3),
        };
        options.Validate();
        return options;
    }

    private void Validate()
    {
        if (!AllWorkloads.Contains(Workload))
        {
            throw new BenchUsageException($"unknown workload '{Workload}' ({string.Join(", ", AllWorkloads)})");
        }

        if (TxnOps < 1 || !(RwRatio >= 0) || double.IsInfinity(RwRatio))
        {
            throw new BenchUsageException("--txn-ops must be at least 1 and --rw-ratio a finite number not below 0");
        }

        if (Ttl < 1 || Streams < 1 || WatchersPerStream < 1)
        {
            throw new BenchUsageException("--ttl, --streams and --watchers-per-stream must be at least 1");
        }

        if (Clients < 1 || Connections < 1 || Members < 1)
        {
            throw new BenchUsageException("--clients, --conns and --members must be at least 1");
        }

        if (Total < 1 && Duration is null)
        {
            throw new BenchUsageException("--total must be at least 1");
        }

        if (KeySize < 1 || ValueSize < 0 || Rate < 0 || KeySpaceSize < 0 || Limit < 0)
        {
            throw new BenchUsageException("--key-size must be positive; --val-size, --rate, --key-space-size and --limit must not be negative");
        }

        if (Consistency is not ("l" or "s"))
        {
            throw new BenchUsageException("--consistency is l or s");
        }
    }

    private static int Int(Dictionary<string, string> values, string name, int fallback) =>
        values.TryGetValue(name, out var text) ? int.TryParse(text, out var value) ? value : throw new BenchUsageException($"{name} takes a number, not '{text}'") : fallback;

    private static long Long(Dictionary<string, string> values, string name, long fallback) =>
        values.TryGetValue(name, out var text) ? long.TryParse(text, out var value) ? value : throw new BenchUsageException($"{name} takes a number, not '{text}'") : fallback;

    private static TimeSpan ParseDuration(string text)
    {
        var unit = text.TrimStart("0123456789.".ToCharArray());
        if (!double.TryParse(text[..^unit.Length], System.Globalization.CultureInfo.InvariantCulture, out var amount) || amount <= 0)
        {
            throw new BenchUsageException($"--duration takes a time such as 30s or 2m, not '{text}'");
        }

        return unit switch
        {
            "ms" => TimeSpan.FromMilliseconds(amount),
            "s" or "" => TimeSpan.FromSeconds(amount),
            "m" => TimeSpan.FromMinutes(amount),
            _ => throw new BenchUsageException($"--duration unit '{unit}' is not ms, s or m"),
        };
    }
}

public sealed class BenchUsageException(string message) : Exception(message);
