using ActorKv.Compat.Tests.Fixtures;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests;

/// <summary>
/// etcdctl, the tool users type, must print the same against ActorKv as against etcd: each
/// script runs in order against a fresh etcd and a fresh ActorKv, and every command's output
/// (exit code, stdout, error line) is compared.
/// </summary>
public sealed class EtcdctlTests(ITestOutputHelper output)
{
    private static readonly string[][] Setup =
    [
        ["put", "foo", "bar"],
        ["put", "foo", "baz", "--prev-kv"],
        ["put", "foo2", "x"],
        ["put", "fop", "y"],
        ["put", "zed", "z"],
        ["put", "foo", "qux", "-w", "json"],
    ];

    public static TheoryData<string, string[][]> Scripts => new()
    {
        {
            "get", [
                ["get", "foo"],
                ["get", "foo", "-w", "json"],
                ["get", "fo", "--prefix"],
                ["get", "foo", "--from-key"],
                ["get", "fo", "--prefix", "--limit", "2"],
                ["get", "fo", "--prefix", "--limit", "2", "-w", "json"],
                ["get", "fo", "--prefix", "--sort-by=MODIFY", "--order=DESCEND"],
                ["get", "fo", "--prefix", "--sort-by=VERSION", "--order=ASCEND", "-w", "json"],
                ["get", "fo", "--prefix", "--sort-by=CREATE", "--order=DESCEND", "--keys-only"],
                ["get", "", "--from-key", "--sort-by=VALUE", "--print-value-only"],
                ["get", "fo", "--prefix", "--keys-only"],
                ["get", "fo", "--prefix", "--print-value-only"],
                ["get", "foo", "--rev", "2"],
                ["get", "foo", "--rev", "3", "-w", "json"],
                ["get", "foo", "--rev", "99"],
                ["get", "missing"],
                ["get", "missing", "-w", "json"],
                ["get", "foo", "-w", "fields"],
            ]
        },
        {
            "del", [
                ["del", "fop", "--prev-kv"],
                ["del", "missing"],
                ["del", "fo", "--prefix", "--prev-kv", "-w", "json"],
                ["get", "", "--from-key"],
                ["del", "a", "--from-key"],
                ["get", "", "--from-key", "-w", "json"],
            ]
        },
        {
            "compaction", [
                ["compaction", "3"],
                ["get", "foo", "--rev", "2"],
                ["get", "foo", "--rev", "3"],
                ["compaction", "3"],
                ["compaction", "--physical", "5"],
                ["compaction", "99"],
                ["get", "foo", "--rev", "4", "-w", "json"],
            ]
        },
        {
            "errors", [
                ["put", "", "x"],
                ["get", ""],
                ["put", "k", "--ignore-value"],
                ["put", "foo", "--ignore-value"],
                ["get", "foo"],
                ["put", "k2", "v", "--lease=1234"],
            ]
        },
    };

    [Theory]
    [MemberData(nameof(Scripts))]
    public async Task Etcdctl_prints_the_same_as_against_etcd(string script, string[][] commands)
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var actorKv = await ActorKvInProcess.StartAsync(log: output);
        foreach (var command in Setup.Concat(commands))
        {
            var expected = (await Etcdctl.RunAsync(etcd.Endpoint, command)).Normalized;
            var actual = (await Etcdctl.RunAsync(actorKv.Endpoint, command)).Normalized;
            output.WriteLine($"[{script}] etcdctl {string.Join(' ', command)}\n{expected}");
            Assert.Equal(expected, actual);
        }
    }

    private const string TxnInput = """
        value("foo") = "qux"
        mod("zed") > "1"

        put foo from-txn
        get zed
        del foo2

        get foo

        """;

    private const string FailingTxnInput = """
        version("nope") > "0"

        put nope x

        put branch failure
        get branch

        """;

    [Fact]
    public async Task Interactive_txn_prints_the_same_as_against_etcd()
    {
        await using var etcd = await EtcdServer.StartAsync();
        await using var actorKv = await ActorKvInProcess.StartAsync(log: output);
        foreach (var command in Setup)
        {
            await Etcdctl.RunAsync(etcd.Endpoint, command);
            await Etcdctl.RunAsync(actorKv.Endpoint, command);
        }

        foreach (var (input, format) in new[] { (TxnInput, "simple"), (FailingTxnInput, "json"), (TxnInput, "json") })
        {
            // A raw string drops its last newline; etcdctl ends the last section at a blank line.
            var stdin = input + "\n";
            var expected = await Etcdctl.RunAsync(etcd.Endpoint, ["txn", "-i", "-w", format], stdin);
            var actual = await Etcdctl.RunAsync(actorKv.Endpoint, ["txn", "-i", "-w", format], stdin);
            output.WriteLine(expected.Normalized);
            Assert.Equal(0, expected.ExitCode);
            Assert.Equal(expected.Normalized, actual.Normalized);
        }

        var after = (await Etcdctl.RunAsync(etcd.Endpoint, ["get", "", "--from-key", "-w", "json"])).Normalized;
        Assert.Equal(after, (await Etcdctl.RunAsync(actorKv.Endpoint, ["get", "", "--from-key", "-w", "json"])).Normalized);
    }
}
