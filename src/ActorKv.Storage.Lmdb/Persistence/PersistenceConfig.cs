using Akka.Configuration;

namespace ActorKv.Storage.Lmdb.Persistence;

/// <summary>The persistence plugins' reference configuration and the settings each plugin reads from its section.</summary>
public static class PersistenceConfig
{
    private const string Resource = "ActorKv.Storage.Lmdb.persistence.conf";

    public static Config Reference { get; } = Load();

    internal static LmdbStoreOptions StoreOptions(Config pluginConfig) =>
        new(
            Directory(pluginConfig),
            pluginConfig.GetByteSize("map-size") ?? throw new ConfigurationException("an LMDB persistence plugin needs a map-size"),
            MaxReaders: 126,
            Fsync: pluginConfig.GetBoolean("fsync", true));

    internal static SegmentLogOptions SegmentLogOptions(Config pluginConfig) =>
        new(
            Directory(pluginConfig),
            pluginConfig.GetByteSize("segment-size") ?? throw new ConfigurationException("the segment journal needs a segment-size"),
            pluginConfig.GetByteSize("max-size") ?? throw new ConfigurationException("the segment journal needs a max-size"),
            pluginConfig.GetBoolean("fsync", true));

    private static string Directory(Config pluginConfig) =>
        Path.GetFullPath(pluginConfig.GetString("directory") ?? throw new ConfigurationException("a persistence plugin needs a directory"));

    private static Config Load()
    {
        using var stream = typeof(PersistenceConfig).Assembly.GetManifestResourceStream(Resource)
            ?? throw new InvalidOperationException($"embedded resource {Resource} is missing");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }
}
