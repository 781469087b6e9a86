using ActorKv.Node.Configuration;
using Akka.Configuration;

namespace ActorKv.Node.Tests;

public sealed class ActorKvSettingsTests
{
    [Fact]
    public void The_reference_configuration_gives_etcds_defaults()
    {
        var settings = ActorKvSettings.FromConfig(ActorKvSettings.Reference);
        Assert.Equal(1536 * 1024, settings.MaxRequestBytes);
        Assert.Equal(128, settings.MaxTxnOps);
        Assert.Equal(2L << 30, settings.QuotaBackendBytes);
        Assert.True(settings.Fsync);
        Assert.Equal("127.0.0.1:2379", settings.ClientEndpoint.ToString());
    }

    [Fact]
    public void Settings_print_for_a_single_node_and_for_a_member()
    {
        // Akka prints an actor's settings when its constructor throws: printing must not throw
        // and so hide that exception.
        Assert.Contains("NodeId = 0", ActorKvSettings.FromConfig(ActorKvSettings.Reference).ToString());
        var member = ConfigurationFactory.ParseString("""
            actorkv.cluster {
              node-id = 7
              initial-members = [{ id = "7", name = "n7", peer = "127.0.0.1:2380", client = "127.0.0.1:2379" }]
            }
            """).WithFallback(ActorKvSettings.Reference);
        Assert.Contains("NodeId = 7", ActorKvSettings.FromConfig(member).ToString());
    }

    [Fact]
    public void A_relative_write_path_trace_file_is_inside_the_data_dir_and_none_is_the_default()
    {
        Assert.Null(ActorKvSettings.FromConfig(ActorKvSettings.Reference).WritePathTraceFile);
        var dataDir = Path.Combine(Path.GetTempPath(), "actorkv-n1");
        string? WithTrace(string file) => ActorKvSettings.FromConfig(ConfigurationFactory.ParseString($$"""
            actorkv.node.data-dir = "{{dataDir}}"
            actorkv.diagnostics.write-path-trace-file = "{{file}}"
            """).WithFallback(ActorKvSettings.Reference)).WritePathTraceFile;
        Assert.Equal(Path.Combine(dataDir, "write-path.trace"), WithTrace("write-path.trace"));
        Assert.Equal("/var/tmp/n1.trace", WithTrace("/var/tmp/n1.trace"));
    }

    [Fact]
    public void Later_files_override_earlier_ones()
    {
        var directory = Directory.CreateTempSubdirectory("actorkv-settings-");
        try
        {
            var first = Path.Combine(directory.FullName, "first.conf");
            var second = Path.Combine(directory.FullName, "second.conf");
            File.WriteAllText(first, "actorkv.node { name = first, client-url = \"127.0.0.1:3000\" }");
            File.WriteAllText(second, "actorkv.node.client-url = \"127.0.0.1:4000\"");
            var settings = ActorKvSettings.FromConfig(ActorKvSettings.LoadFiles([first, second]));
            Assert.Equal(("first", 4000), (settings.NodeName, settings.ClientEndpoint.Port));
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    /// <summary>A Raft member's minimal cluster section: a cluster's settings are checked only on a member.</summary>
    private const string OneMember = "actorkv.cluster { node-id = 1, initial-members = [{ id = 1, name = n1, peer = \"127.0.0.1:2380\", client = \"127.0.0.1:2379\" }] }\n";

    [Theory]
    [InlineData("actorkv.node.client-url = \"localhost\"", "actorkv.node.client-url")]
    [InlineData("actorkv.limits.max-txn-ops = 0", "actorkv.limits.max-txn-ops")]
    [InlineData("actorkv.storage.quota-backend-bytes = 16GiB", "actorkv.storage.quota-backend-bytes")]
    [InlineData("actorkv.storage.batch-limit = -1", "actorkv.storage.batch-limit")]
    [InlineData(OneMember + "actorkv.cluster.read-index-retry-interval = 0s", "actorkv.cluster.read-index-retry-interval")]
    public void A_bad_value_fails_fast_naming_its_key(string hocon, string key)
    {
        var config = ConfigurationFactory.ParseString(hocon).WithFallback(ActorKvSettings.Reference);
        var error = Assert.Throws<ConfigurationException>(() => ActorKvSettings.FromConfig(config));
        Assert.Contains(key, error.Message);
    }
}
