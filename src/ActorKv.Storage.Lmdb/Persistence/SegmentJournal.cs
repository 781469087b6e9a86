using System.Collections.Immutable;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence;
using Akka.Persistence.Journal;

namespace ActorKv.Storage.Lmdb.Persistence;

/// <summary>
/// The Raft WAL as an Akka.Persistence journal over a <see cref="SegmentLog"/>: every batch of
/// atomic writes handed over at once is one append and one fdatasync. An atomic write whose
/// payload cannot be serialized fails alone; a failed append fails them all, and the base class
/// then stops the writers. Runs synchronously on its pinned plugin dispatcher.
/// </summary>
public sealed class SegmentJournal : AsyncWriteJournal
{
    private readonly SegmentLog log;

    public SegmentJournal(Config config)
    {
        log = SegmentLog.Open(PersistenceConfig.SegmentLogOptions(config));
    }

    protected override void PostStop()
    {
        log.Dispose();
        base.PostStop();
    }

    protected override Task<IImmutableList<Exception?>> WriteMessagesAsync(IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken)
    {
        var results = new List<Exception?>();
        var writes = new List<SegmentLogWrite>();
        foreach (var write in messages)
        {
            try
            {
                var events = ((IImmutableList<IPersistentRepresentation>)write.Payload)
                    .Select(e => (e.SequenceNr, PersistedPayload.Serialize(Context.System, e.Payload, e.WriterGuid, e.Timestamp).Encode()))
                    .ToList();
                writes.Add(new SegmentLogWrite(write.PersistenceId, events));
                results.Add(null);
            }
            catch (Exception error)
            {
                // This write cannot be stored (say, its payload will not serialize): it alone fails.
                results.Add(error);
            }
        }

        if (writes.Count > 0)
        {
            log.Write(writes);
        }

        return Task.FromResult<IImmutableList<Exception?>>(results.ToImmutableList());
    }

    public override Task ReplayMessagesAsync(IActorContext context, string persistenceId, long fromSequenceNr, long toSequenceNr, long max, Action<IPersistentRepresentation> recoveryCallback)
    {
        foreach (var (sequenceNr, value) in log.Read(persistenceId, fromSequenceNr, toSequenceNr, max))
        {
            var payload = PersistedPayload.Decode(value);
            recoveryCallback(new Persistent(payload.Deserialize(context.System), sequenceNr, persistenceId, payload.Manifest, false, ActorRefs.NoSender, payload.WriterGuid, payload.Timestamp));
        }

        return Task.CompletedTask;
    }

    public override Task<long> ReadHighestSequenceNrAsync(string persistenceId, long fromSequenceNr, CancellationToken cancellationToken) =>
        Task.FromResult(log.HighestSequenceNr(persistenceId));

    protected override Task DeleteMessagesToAsync(string persistenceId, long toSequenceNr, CancellationToken cancellationToken)
    {
        log.DeleteTo(persistenceId, toSequenceNr);
        return Task.CompletedTask;
    }
}
