namespace ActorKv.Raft.Tests;

/// <summary>
/// A deterministic network of cores for readable protocol tests: messages are delivered in the
/// order they were sent, until none are left; links can be cut; every Ready is handled as an
/// owner must (persist, send, apply, advance).
/// </summary>
public sealed class TestNetwork
{
    private readonly Queue<Message> queue = new();
    private readonly HashSet<(ulong From, ulong To)> cut = [];

    public TestNetwork(int voters, bool preVote = false, bool checkQuorum = false, int learners = 0)
    {
        var confState = new ConfState(
            Enumerable.Range(1, voters).Select(i => (ulong)i).ToList(),
            Enumerable.Range(voters + 1, learners).Select(i => (ulong)i).ToList());
        foreach (var id in confState.Voters.Concat(confState.Learners))
        {
            Storage[id] = new MemoryStorage();
            Nodes[id] = NewCore(id, confState, preVote, checkQuorum);
        }
    }

    /// <summary>Node 1 leads, and every node has committed and applied one entry, "x".</summary>
    public static TestNetwork WithLeaderAndOneEntry(int voters, int learners = 0)
    {
        var network = new TestNetwork(voters, learners: learners);
        network.Campaign(1);
        network.Propose(1, "x");
        return network;
    }

    public Dictionary<ulong, RaftCore> Nodes { get; } = [];

    public Dictionary<ulong, MemoryStorage> Storage { get; } = [];

    public Dictionary<ulong, List<Entry>> Applied { get; } = [];

    public List<ReadState> ReadStates { get; } = [];

    /// <summary>Every message sent, in order, for assertions on what went over the wire.</summary>
    public List<Message> Sent { get; } = [];

    /// <summary>Messages this matches are lost (after they are recorded in <see cref="Sent"/>).</summary>
    public Func<Message, bool> Lose { get; set; } = _ => false;

    public RaftCore NewCore(ulong id, ConfState confState, bool preVote, bool checkQuorum) =>
        new(new RaftConfig
        {
            Id = id,
            Storage = Storage[id],
            Random = new Random((int)id),
            InitialConfState = confState,
            ElectionTicks = 10,
            HeartbeatTicks = 1,
            PreVote = preVote,
            CheckQuorum = checkQuorum,
        });

    public RaftCore this[ulong id] => Nodes[id];

    public void Cut(ulong a, ulong b)
    {
        cut.Add((a, b));
        cut.Add((b, a));
    }

    public void Isolate(ulong id)
    {
        foreach (var other in Nodes.Keys.Where(o => o != id))
        {
            Cut(id, other);
        }
    }

    public void HealAll() => cut.Clear();

    /// <summary>Handles every node's Ready and delivers messages until the network is quiet.</summary>
    public void Settle()
    {
        for (var rounds = 0; rounds < 100_000; rounds++)
        {
            foreach (var (id, core) in Nodes)
            {
                HandleReady(id, core);
            }

            if (queue.Count == 0)
            {
                return;
            }

            var message = queue.Dequeue();
            if (cut.Contains((message.From, message.To)) || Lose(message) || !Nodes.TryGetValue(message.To, out var target))
            {
                continue;
            }

            try
            {
                target.Step(message);
            }
            catch (ProposalDroppedException)
            {
            }
        }

        throw new InvalidOperationException("the network never settled");
    }

    public void Tick(ulong id, int ticks = 1)
    {
        for (var i = 0; i < ticks; i++)
        {
            Nodes[id].Tick();
            Settle();
        }
    }

    public void TickAll(int ticks)
    {
        for (var i = 0; i < ticks; i++)
        {
            foreach (var core in Nodes.Values)
            {
                core.Tick();
            }

            Settle();
        }
    }

    public void Campaign(ulong id)
    {
        Nodes[id].Campaign();
        Settle();
    }

    public void Propose(ulong id, string data)
    {
        Nodes[id].Propose(System.Text.Encoding.UTF8.GetBytes(data));
        Settle();
    }

    public IEnumerable<string> AppliedData(ulong id) =>
        Applied.GetValueOrDefault(id, []).Where(e => e.Type == EntryType.Normal && e.Data.Length > 0).Select(e => System.Text.Encoding.UTF8.GetString(e.Data));

    private void HandleReady(ulong id, RaftCore core)
    {
        while (core.HasReady)
        {
            var ready = core.GetReady();
            if (ready.Snapshot is { } snapshot)
            {
                Storage[id].ApplySnapshot(snapshot);
            }

            Storage[id].Append(ready.Entries);
            if (ready.HardState is { } hardState)
            {
                Storage[id].SetHardState(hardState);
            }

            foreach (var message in ready.Messages)
            {
                Sent.Add(message);
                queue.Enqueue(message);
            }

            foreach (var entry in ready.CommittedEntries)
            {
                (Applied.TryGetValue(id, out var list) ? list : Applied[id] = []).Add(entry);
                if (entry.Type == EntryType.ConfChange)
                {
                    core.ApplyConfChange(ConfChange.Decode(entry.Data));
                }
            }

            ReadStates.AddRange(ready.ReadStates);
            core.Advance(ready);
        }
    }
}
