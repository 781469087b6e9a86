using System.Net;
using Akka.Configuration;

namespace ActorKv.Node.Configuration;

/// <summary>Everything ActorKv reads from HOCON, parsed and checked once at startup.</summary>
public sealed record ActorKvSettings(
    string NodeName,
    string ClusterToken,
    string DataDirectory,
    IPEndPoint ClientEndpoint,
    int MaxRequestBytes,
    int MaxTxnOps,
    int GrpcOverheadBytes,
    TimeSpan RequestTimeout,
    long MapSizeBytes,
    long QuotaBackendBytes,
    bool Fsync,
    TimeSpan BatchInterval,
    int BatchLimit,
    TimeSpan ApplyCommitInterval,
    int MaxReaders,
    int CompactionBatchKeys,
    long WalSegmentBytes,
    long WalMaxBytes,
    ClusterSettings Cluster,
    ActorKv.Node.Leases.LeaseSettings Leases,
    WatchSettings Watch,
    bool ChaosEnabled = false,
    IPEndPoint? MetricsEndpoint = null,
    string? WritePathTraceFile = null)
{
    private const string ReferenceResource = "ActorKv.Node.actorkv.conf";

    /// <summary>The embedded reference configuration: every key with its default.</summary>
    public static Config Reference { get; } = LoadReference();

    /// <summary>Directory of the MVCC LMDB environment inside the data dir.</summary>
    public string MvccDirectory => Path.Combine(DataDirectory, "mvcc");

    /// <summary>Directory of the Raft WAL (segment files) inside the data dir.</summary>
    public string WalDirectory => Path.Combine(DataDirectory, "wal");

    /// <summary>How a Raft member opens its WAL.</summary>
    public ActorKv.Storage.Lmdb.Wal.SegmentLogOptions WalOptions() => new(WalDirectory, WalSegmentBytes, WalMaxBytes, Fsync);

    /// <summary>Overrides from the given files (later files win) over the reference configuration.</summary>
    public static Config LoadFiles(IEnumerable<string> paths)
    {
        var config = Config.Empty;
        foreach (var path in paths)
        {
            if (!File.Exists(path))
            {
                throw new ConfigurationException($"configuration file {path} does not exist");
            }

            config = ConfigurationFactory.ParseString(File.ReadAllText(path)).WithFallback(config);
        }

        return config.WithFallback(Reference);
    }

    /// <summary>Parses the actorkv section; fails with the offending key named.</summary>
    public static ActorKvSettings FromConfig(Config config)
    {
        var root = config.GetConfig("actorkv") ?? throw new ConfigurationException("the configuration has no actorkv section");
        var cluster = ClusterSettings.FromConfig(root.GetConfig("cluster"));
        var dataDirectory = Path.GetFullPath(Required(root, "node.data-dir"));
        var settings = new ActorKvSettings(
            NodeName: Required(root, "node.name"),
            ClusterToken: Required(root, "node.cluster-token"),
            DataDirectory: dataDirectory,
            ClientEndpoint: ParseEndpoint(Required(root, "node.client-url"), "actorkv.node.client-url"),
            MaxRequestBytes: checked((int)Bytes(root, "limits.max-request-bytes")),
            MaxTxnOps: root.GetInt("limits.max-txn-ops"),
            GrpcOverheadBytes: checked((int)Bytes(root, "limits.grpc-overhead-bytes")),
            RequestTimeout: root.GetTimeSpan("limits.request-timeout"),
            MapSizeBytes: Bytes(root, "storage.map-size"),
            QuotaBackendBytes: Bytes(root, "storage.quota-backend-bytes"),
            Fsync: root.GetBoolean("storage.fsync"),
            BatchInterval: root.GetTimeSpan("storage.batch-interval"),
            BatchLimit: root.GetInt("storage.batch-limit"),
            ApplyCommitInterval: root.GetTimeSpan("storage.apply-commit-interval"),
            MaxReaders: root.GetInt("storage.max-readers"),
            CompactionBatchKeys: root.GetInt("storage.compaction-batch-keys"),
            WalSegmentBytes: Bytes(root, "storage.wal-segment-size"),
            WalMaxBytes: Bytes(root, "storage.wal-max-size"),
            Cluster: cluster,
            Leases: LeaseSettingsFrom(root, cluster),
            Watch: new WatchSettings(
                root.GetTimeSpan("watch.progress-notify-interval"),
                root.GetTimeSpan("watch.sync-interval"),
                root.GetInt("watch.max-pending-event-responses")),
            ChaosEnabled: root.GetBoolean("chaos.enabled"),
            MetricsEndpoint: root.GetString("node.metrics-url") is { Length: > 0 } metricsUrl ? ParseEndpoint(metricsUrl, "actorkv.node.metrics-url") : null,
            WritePathTraceFile: root.GetString("diagnostics.write-path-trace-file") is { Length: > 0 } tracePath ? Path.GetFullPath(tracePath, dataDirectory) : null);
        settings.Validate();
        return settings;
    }

    private static ActorKv.Node.Leases.LeaseSettings LeaseSettingsFrom(Config root, ClusterSettings cluster)
    {
        // etcd's minimum lease TTL: one and a half election timeouts, in whole seconds, so that a
        // lease cannot expire during the election that follows a leader's death.
        var minTtl = (long)Math.Ceiling((3 * cluster.ElectionTicks / 2) * cluster.TickInterval.TotalSeconds);
        var leases = new ActorKv.Node.Leases.LeaseSettings(
            root.GetTimeSpan("leases.sweep-interval"),
            root.GetInt("leases.revoke-rate"),
            root.GetTimeSpan("leases.revoke-retry"),
            Math.Max(1, minTtl));
        if (leases.SweepInterval <= TimeSpan.Zero || leases.RevokeRate <= 0 || leases.RevokeRetry <= TimeSpan.Zero)
        {
            throw new ConfigurationException("actorkv.leases: sweep-interval, revoke-rate and revoke-retry must be positive");
        }

        return leases;
    }

    /// <summary>The quota in force: quota-backend-bytes, or the map size when that is 0.</summary>
    public long EffectiveQuotaBytes => QuotaBackendBytes == 0 ? MapSizeBytes : QuotaBackendBytes;

    private void Validate()
    {
        Positive(MaxRequestBytes, "limits.max-request-bytes");
        Positive(MaxTxnOps, "limits.max-txn-ops");
        Positive(MapSizeBytes, "storage.map-size");
        Positive(BatchLimit, "storage.batch-limit");
        Positive(MaxReaders, "storage.max-readers");
        Positive(CompactionBatchKeys, "storage.compaction-batch-keys");
        if (WalSegmentBytes < 4096 || WalMaxBytes < WalSegmentBytes)
        {
            throw new ConfigurationException($"actorkv.storage.wal-segment-size must be at least 4KiB and wal-max-size at least one segment, not {WalSegmentBytes} and {WalMaxBytes}");
        }
        Positive(Watch.MaxPendingEventResponses, "watch.max-pending-event-responses");
        if (Watch.ProgressNotifyInterval <= TimeSpan.Zero || Watch.SyncInterval <= TimeSpan.Zero)
        {
            throw new ConfigurationException("actorkv.watch: progress-notify-interval and sync-interval must be positive");
        }
        if (QuotaBackendBytes < 0 || QuotaBackendBytes > MapSizeBytes)
        {
            throw new ConfigurationException($"actorkv.storage.quota-backend-bytes must be between 0 and map-size ({MapSizeBytes}), not {QuotaBackendBytes}");
        }

        if (RequestTimeout <= TimeSpan.Zero)
        {
            throw new ConfigurationException("actorkv.limits.request-timeout must be positive");
        }

        if (BatchInterval < TimeSpan.Zero)
        {
            throw new ConfigurationException("actorkv.storage.batch-interval must not be negative");
        }

        if (ApplyCommitInterval < TimeSpan.Zero)
        {
            throw new ConfigurationException("actorkv.storage.apply-commit-interval must not be negative");
        }
    }

    private static void Positive(long value, string key)
    {
        if (value <= 0)
        {
            throw new ConfigurationException($"actorkv.{key} must be positive, not {value}");
        }
    }

    private static string Required(Config root, string key)
    {
        var value = root.GetString(key);
        return string.IsNullOrWhiteSpace(value) ? throw new ConfigurationException($"actorkv.{key} must be set") : value;
    }

    private static long Bytes(Config root, string key) =>
        root.GetByteSize(key) ?? throw new ConfigurationException($"actorkv.{key} must be a size in bytes");

    /// <summary>Accepts host:port or http://host:port; the host must be an IP address.</summary>
    public static IPEndPoint ParseEndpoint(string value, string key)
    {
        var text = value.StartsWith("http://", StringComparison.Ordinal) ? value["http://".Length..] : value;
        if (!IPEndPoint.TryParse(text.TrimEnd('/'), out var endpoint) || endpoint.Port == 0)
        {
            throw new ConfigurationException($"{key} must be an IP address and port such as 127.0.0.1:2379, not '{value}'");
        }

        return endpoint;
    }

    private static Config LoadReference()
    {
        using var stream = typeof(ActorKvSettings).Assembly.GetManifestResourceStream(ReferenceResource)
            ?? throw new InvalidOperationException($"embedded resource {ReferenceResource} is missing");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }
}

/// <summary>The actorkv.watch section.</summary>
public sealed record WatchSettings(TimeSpan ProgressNotifyInterval, TimeSpan SyncInterval, int MaxPendingEventResponses);
