namespace ActorKv.Mvcc;

public sealed partial class MvccEngine
{
    public PutResult Put(IMvccWriteView view, PutCommand command, List<MvccEvent>? events = null)
    {
        if (command.Lease != 0 && view.ReadLease(command.Lease) is null)
        {
            throw new MvccException(MvccError.LeaseNotFound);
        }

        var context = new WriteContext(view);
        var result = Put(context, command);
        context.End();
        events?.AddRange(context.Changes);
        return result;
    }

    public DeleteResult Delete(IMvccWriteView view, DeleteCommand command, List<MvccEvent>? events = null)
    {
        var context = new WriteContext(view);
        var result = Delete(context, command);
        context.End();
        events?.AddRange(context.Changes);
        return result;
    }

    /// <summary>The newest live version of a key at a revision, or null.</summary>
    private static KeyValueEntry? Latest(IMvccReadView view, byte[] key, long atMainRevision)
    {
        foreach (var entry in view.ScanLatest(key, rangeEnd: null, atMainRevision))
        {
            return entry.Tombstone ? null : view.ReadVersion(entry.Revision);
        }

        return null;
    }

    private static PutResult Put(WriteContext context, PutCommand command)
    {
        var previous = Latest(context.View, command.Key, context.ReadRevision);
        if ((command.IgnoreValue || command.IgnoreLease) && previous is null)
        {
            throw new MvccException(MvccError.KeyNotFound);
        }

        var value = command.IgnoreValue ? previous!.Value : command.Value;
        var lease = command.IgnoreLease ? previous!.Lease : command.Lease;
        var revision = context.NextRevision();
        var entry = new KeyValueEntry(
            command.Key,
            CreateRevision: previous?.CreateRevision ?? revision.Main,
            ModRevision: revision.Main,
            Version: (previous?.Version ?? 0) + 1,
            value,
            lease);
        context.View.WriteVersion(entry, revision, tombstone: false);
        context.Changes.Add(new MvccEvent(MvccEventType.Put, entry, revision));
        // The key moves to its new lease (or to none): revoking the old one must not delete it.
        var previousLease = previous?.Lease ?? 0;
        if (previousLease != lease)
        {
            if (previousLease != 0)
            {
                context.View.DetachKey(previousLease, command.Key);
            }

            if (lease != 0)
            {
                context.View.AttachKey(lease, command.Key);
            }
        }
        return new PutResult(revision.Main, command.PrevKv ? previous : null);
    }

    private static DeleteResult Delete(WriteContext context, DeleteCommand command)
    {
        // Materialised first: the scan must not run over entries this request adds.
        var victims = context.View.ScanLatest(command.Key, command.RangeEnd, context.ReadRevision)
            .Where(entry => !entry.Tombstone)
            .ToList();
        var victimVersions = victims.Select(entry => context.View.ReadVersion(entry.Revision)).ToList();
        var previous = command.PrevKv ? victimVersions : [];
        foreach (var version in victimVersions.Where(v => v.Lease != 0))
        {
            context.View.DetachKey(version.Lease, version.Key);
        }

        foreach (var victim in victims)
        {
            var revision = context.NextRevision();
            var tombstone = new KeyValueEntry(victim.Key, CreateRevision: 0, ModRevision: revision.Main, Version: 0, Value: [], Lease: 0);
            context.View.WriteVersion(tombstone, revision, tombstone: true);
            context.Changes.Add(new MvccEvent(MvccEventType.Delete, tombstone, revision));
        }

        var responseRevision = context.Changes.Count > 0 ? context.BeginRevision + 1 : context.BeginRevision;
        return new DeleteResult(responseRevision, victims.Count, previous);
    }
}
