using Akka.Configuration;

namespace ActorKv.Storage.Lmdb.Persistence;

/// <summary>The plugins' reference configuration and the settings each plugin reads from its section.</summary>
public static class LmdbPersistenceConfig
{
    private const string Resource = "ActorKv.Storage.Lmdb.lmdb-persistence.conf";

    public static Config Reference { get; } = Load();

    internal static LmdbStoreOptions StoreOptions(Config pluginConfig) =>
        new(
            Path.GetFullPath(pluginConfig.GetString("directory") ?? throw new ConfigurationException("an LMDB persistence plugin needs a directory")),
            pluginConfig.GetByteSize("map-size") ?? throw new ConfigurationException("an LMDB persistence plugin needs a map-size"),
            MaxReaders: 126,
            Fsync: pluginConfig.GetBoolean("fsync", true));

    private static Config Load()
    {
        using var stream = typeof(LmdbPersistenceConfig).Assembly.GetManifestResourceStream(Resource)
            ?? throw new InvalidOperationException($"embedded resource {Resource} is missing");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }
}
