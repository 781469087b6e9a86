using ActorKv.Node.Chaos;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Net.Client;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests.Fixtures;

/// <summary>
/// A cluster of ActorKv members in this test process, one ActorSystem each, Raft over
/// Akka.Remote on loopback (free ports, temp data dirs). Members can be stopped, restarted,
/// added (joining an existing cluster) and cut off from each other. Disposing stops all of them
/// and deletes their data.
/// </summary>
public sealed class InProcessCluster : IAsyncDisposable
{
    /// <summary>Links the fixture can cut (ActorKv's link-fault adapter, as hocon/chaos-links.conf).</summary>
    public const string CuttableLinks = """
        akka.remote.peer-tcp.applied-adapters = [faults]
        akka.remote.use-passive-connections = off
        """;

    public sealed record MemberSpec(ulong Id, string Name, int ClientPort, int PeerPort, string DataDirectory)
    {
        public string PeerUrl => $"http://127.0.0.1:{PeerPort}";

        public string Hocon => $"{{ id = {Id}, name = {Name}, peer = \"127.0.0.1:{PeerPort}\", client = \"127.0.0.1:{ClientPort}\" }}";
    }

    private readonly string extraHocon;

    /// <summary>HOCON for one member by id, on every start of it (say, a file of its own).</summary>
    private readonly Func<ulong, string> memberHocon;

    /// <summary>The test's output, where every member logs (xunit shows it when the test fails).</summary>
    private readonly ITestOutputHelper? log;

    private InProcessCluster(string extraHocon, Func<ulong, string>? memberHocon, ITestOutputHelper? log)
    {
        this.extraHocon = extraHocon;
        this.memberHocon = memberHocon ?? (_ => "");
        this.log = log;
    }

    public List<MemberSpec> Specs { get; } = [];

    /// <summary>Running members by id; tests' background clients read it while members come and go.</summary>
    public System.Collections.Concurrent.ConcurrentDictionary<ulong, ActorKvInProcess> Running { get; } = new();

    /// <param name="firstMemberId">Members get ids from here on: a test that tells its own cluster's traces apart from those of clusters running beside it in this process chooses ids no other test uses.</param>
    /// <param name="log">The test's output: each member's log goes there, shown when the test fails.</param>
    public static async Task<InProcessCluster> StartAsync(int size, string extraHocon = "", Func<ulong, string>? memberHocon = null, ulong firstMemberId = 1, ITestOutputHelper? log = null)
    {
        var cluster = new InProcessCluster(extraHocon, memberHocon, log);
        for (var i = 0; i < size; i++)
        {
            cluster.Specs.Add(NewSpec(firstMemberId + (ulong)i, $"n{i + 1}"));
        }

        try
        {
            foreach (var spec in cluster.Specs)
            {
                await cluster.StartMemberAsync(spec.Id);
            }
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }

        return cluster;
    }

    public static MemberSpec NewSpec(ulong id, string name) =>
        new(id, name, TestEnvironment.FreePort(), TestEnvironment.FreePort(), TestEnvironment.TempDirectory("member"));

    public MemberSpec Spec(ulong id) => Specs.Single(s => s.Id == id);

    /// <summary>Starts (or restarts, on its data) a member of the initial cluster, with extra HOCON if given.</summary>
    public Task<ActorKvInProcess> StartMemberAsync(ulong id, string extraHoconForThisStart = "") =>
        StartAsync(Spec(id), Specs, joinExisting: false, extraHoconForThisStart);

    /// <summary>Starts a member that MemberAdd added (its id from there), joining the running cluster.</summary>
    public Task<ActorKvInProcess> JoinAsync(MemberSpec joiner)
    {
        Specs.Add(joiner);
        return StartAsync(joiner, Specs, joinExisting: true);
    }

    private async Task<ActorKvInProcess> StartAsync(MemberSpec spec, IEnumerable<MemberSpec> members, bool joinExisting, string extraHoconForThisStart = "")
    {
        // Ticks at twice etcd's pace keep elections short; a test's extra HOCON may set its own.
        var member = await ActorKvInProcess.StartAsync($$"""
            actorkv.cluster.tick-interval = 50ms
            {{extraHocon}}
            {{memberHocon(spec.Id)}}
            {{extraHoconForThisStart}}
            actorkv.node.name = {{spec.Name}}
            actorkv.node.client-url = "127.0.0.1:{{spec.ClientPort}}"
            actorkv.cluster {
              node-id = {{spec.Id}}
              initial-members = [
              {{string.Join("\n", members.Select(m => m.Hocon))}}
              ]
              initial-cluster-state = {{(joinExisting ? "existing" : "new")}}
            }
            """, spec.DataDirectory, log);
        Running[spec.Id] = member;
        return member;
    }

    public async Task StopMemberAsync(ulong id)
    {
        if (Running.TryRemove(id, out var member))
        {
            // A member that does not stop fails the test instead of hanging the suite.
            await member.StopAsync().WaitAsync(TimeSpan.FromSeconds(60));
        }
    }

    public ActorKvInProcess Member(ulong id) => Running[id];

    /// <summary>Waits until every running member knows the same leader; returns its id.</summary>
    public async Task<ulong> WaitForLeaderAsync(TimeSpan? timeout = null)
    {
        ulong leader = 0;
        await TestEnvironment.WaitUntilAsync(() =>
        {
            var leads = Running.Values.Select(m => m.Server.Node.Raft.Lead).Distinct().ToList();
            leader = leads.Count == 1 ? leads[0] : 0;
            return Task.FromResult(leader != 0 && Running.ContainsKey(leader));
        }, timeout ?? TimeSpan.FromSeconds(30), "a leader known to every running member");
        return leader;
    }

    /// <summary>A put through any running member, retried until one acknowledges it.</summary>
    public async Task PutAsync(string key, string value, TimeSpan? timeout = null)
    {
        await TestEnvironment.WaitUntilAsync(async () =>
        {
            foreach (var member in Running.Values.ToList())
            {
                try
                {
                    using var channel = GrpcChannel.ForAddress(member.Url);
                    await new KV.KVClient(channel).PutAsync(new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value) }, deadline: DateTime.UtcNow.AddSeconds(3));
                    return true;
                }
                catch (Grpc.Core.RpcException)
                {
                }
            }

            return false;
        }, timeout ?? TimeSpan.FromSeconds(30), $"put {key}");
    }

    /// <summary>A serializable read of one key on one member: what that member has applied.</summary>
    public static async Task<string?> ReadLocallyAsync(ActorKvInProcess member, string key)
    {
        using var channel = GrpcChannel.ForAddress(member.Url);
        var response = await new KV.KVClient(channel).RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key), Serializable = true });
        return response.Kvs.SingleOrDefault()?.Value.ToStringUtf8();
    }

    /// <summary>Cuts (or heals) the link between two members in both directions (needs <see cref="CuttableLinks"/>).</summary>
    public async Task SetLinkAsync(ulong from, ulong to, bool cut)
    {
        var fault = cut ? new LinkFault(true, 0, TimeSpan.Zero) : LinkFault.None;
        await new ChaosControl(Member(from).Server.Node).SetPeerLinkAsync(to, fault);
        await new ChaosControl(Member(to).Server.Node).SetPeerLinkAsync(from, fault);
    }

    /// <summary>Cuts (or heals) every link of one member.</summary>
    public async Task IsolateAsync(ulong id, bool cut)
    {
        foreach (var other in Running.Keys.Where(o => o != id))
        {
            await SetLinkAsync(id, other, cut);
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var id in Running.Keys.ToList())
        {
            await StopMemberAsync(id);
        }

        foreach (var spec in Specs)
        {
            TestEnvironment.DeleteDirectory(spec.DataDirectory);
        }
    }
}
