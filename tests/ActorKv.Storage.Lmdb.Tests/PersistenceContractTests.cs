using ActorKv.Storage.Lmdb.Persistence;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;

namespace ActorKv.Storage.Lmdb.Tests;

/// <summary>
/// The journal and snapshot store's contract, as Akka.Persistence's compliance kit states it
/// (the kit is not available here): what is persisted survives a restart of the actor system,
/// in order, in batches, across snapshots and deletions; replays honour their bounds.
/// </summary>
public sealed class PersistenceContractTests : IDisposable
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "actorkv-persistence-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private ActorSystem NewSystem() =>
        ActorSystem.Create("persistence", ConfigurationFactory.ParseString($$"""
            akka.loglevel = WARNING
            akka.persistence.journal.plugin = "akka.persistence.journal.wal"
            akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.lmdb"
            akka.persistence.journal.wal.directory = "{{Path.Combine(directory, "wal")}}"
            akka.persistence.snapshot-store.lmdb.directory = "{{Path.Combine(directory, "snapshots")}}"
            akka.persistence.journal.wal.segment-size = 8KiB
            akka.persistence.journal.wal.max-size = 64MiB
            akka.persistence.snapshot-store.lmdb.map-size = 64MiB
            """).WithFallback(PersistenceConfig.Reference));

    /// <summary>A persistent actor whose state is the list of its events.</summary>
    private sealed class Recorder : ReceivePersistentActor
    {
        private List<string> state = [];
        private IActorRef? waiting;

        public Recorder(string id)
        {
            PersistenceId = id;
            Recover<SnapshotOffer>(offer => state = [.. (string[])offer.Snapshot]);
            Recover<string>(e => state.Add(e));
            Command<string[]>(events => PersistAll(events, e =>
            {
                state.Add(e);
                if (e == events[^1])
                {
                    Sender.Tell(LastSequenceNr);
                }
            }));
            Command<string>(command =>
            {
                switch (command)
                {
                    case "state":
                        Sender.Tell(string.Join(",", state));
                        break;
                    case "snapshot":
                        waiting = Sender;
                        SaveSnapshot(state.ToArray());
                        break;
                    default:
                        Persist(command, e =>
                        {
                            state.Add(e);
                            Sender.Tell(LastSequenceNr);
                        });
                        break;
                }
            });
            Command<long>(toSequenceNr =>
            {
                waiting = Sender;
                DeleteMessages(toSequenceNr);
            });
            Command<SaveSnapshotSuccess>(success => waiting?.Tell(success.Metadata.SequenceNr));
            Command<DeleteMessagesSuccess>(success => waiting?.Tell("deleted to " + success.ToSequenceNr));
        }

        public override string PersistenceId { get; }
    }

    private static async Task<T> Ask<T>(ActorSystem system, string id, object message)
    {
        var actor = system.ActorOf(Props.Create(() => new Recorder(id)));
        try
        {
            return await actor.Ask<T>(message, TimeSpan.FromSeconds(20));
        }
        finally
        {
            await actor.GracefulStop(TimeSpan.FromSeconds(5));
        }
    }

    private async Task<T> InFreshSystem<T>(Func<ActorSystem, Task<T>> work)
    {
        var system = NewSystem();
        try
        {
            return await work(system);
        }
        finally
        {
            await system.Terminate();
        }
    }

    [Fact]
    public async Task Events_and_batches_survive_a_restart_in_order()
    {
        await InFreshSystem(async system =>
        {
            Assert.Equal(1L, await Ask<long>(system, "a", "e1"));
            Assert.Equal(4L, await Ask<long>(system, "a", new[] { "e2", "e3", "e4" }));
            Assert.Equal(1L, await Ask<long>(system, "b", "other"));
            return 0;
        });

        var recovered = await InFreshSystem(system => Ask<string>(system, "a", "state"));
        Assert.Equal("e1,e2,e3,e4", recovered);
    }

    [Fact]
    public async Task A_snapshot_and_later_events_restore_the_state_after_old_events_are_deleted()
    {
        await InFreshSystem(async system =>
        {
            await Ask<long>(system, "s", new[] { "a", "b", "c" });
            Assert.Equal(3L, await Ask<long>(system, "s", "snapshot"));
            Assert.Equal("deleted to 3", await Ask<string>(system, "s", 3L));
            Assert.Equal(4L, await Ask<long>(system, "s", "d"));
            return 0;
        });

        await InFreshSystem(async system =>
        {
            Assert.Equal("a,b,c,d", await Ask<string>(system, "s", "state"));
            // Sequence numbers continue after the deleted ones; none is reused.
            Assert.Equal(5L, await Ask<long>(system, "s", "e"));
            return 0;
        });
    }

    [Fact]
    public async Task The_highest_sequence_number_outlives_deleting_every_event()
    {
        await InFreshSystem(async system =>
        {
            await Ask<long>(system, "h", new[] { "a", "b" });
            Assert.Equal("deleted to 2", await Ask<string>(system, "h", 2L));
            return 0;
        });

        var next = await InFreshSystem(async system =>
        {
            Assert.Equal("", await Ask<string>(system, "h", "state"));
            return await Ask<long>(system, "h", "c");
        });
        Assert.Equal(3L, next);
    }

    [Fact]
    public async Task A_replay_honours_its_bounds_and_reports_the_highest_sequence_number()
    {
        await InFreshSystem(async system =>
        {
            await Ask<long>(system, "r", new[] { "1", "2", "3", "4", "5" });
            var journal = Akka.Persistence.Persistence.Instance.Apply(system).JournalFor(null);
            var probe = new Akka.TestKit.Xunit2.TestKit(system);
            journal.Tell(new ReplayMessages(fromSequenceNr: 2, toSequenceNr: 4, max: 2, persistenceId: "r", persistentActor: probe.TestActor));
            Assert.Equal("2", probe.ExpectMsg<ReplayedMessage>().Persistent.Payload);
            Assert.Equal("3", probe.ExpectMsg<ReplayedMessage>().Persistent.Payload);
            Assert.Equal(5L, probe.ExpectMsg<RecoverySuccess>().HighestSequenceNr);
            return 0;
        });
    }
}
