namespace ActorKv.Mvcc;

public sealed partial class MvccEngine
{
    /// <summary>Grants a lease; its id must be new (etcd: "lease already exists").</summary>
    public static void GrantLease(IMvccWriteView view, LeaseRecord lease)
    {
        if (view.ReadLease(lease.Id) is not null)
        {
            throw new MvccException(MvccError.LeaseExists);
        }

        view.WriteLease(lease);
    }

    /// <summary>
    /// Revokes a lease: every key attached to it is deleted in ONE revision (one event per key,
    /// as etcd's revoke is one write transaction), then the lease goes.
    /// </summary>
    public static LeaseRevokeResult RevokeLease(IMvccWriteView view, long id, List<MvccEvent>? events = null)
    {
        if (view.ReadLease(id) is null)
        {
            throw new MvccException(MvccError.LeaseNotFound);
        }

        var context = new WriteContext(view);
        var deleted = 0;
        foreach (var key in view.ReadLeaseKeys(id).ToList())
        {
            deleted += (int)Delete(context, new DeleteCommand(key)).Deleted;
        }

        context.End();
        view.RemoveLease(id);
        events?.AddRange(context.Changes);
        return new LeaseRevokeResult(context.Changes.Count > 0 ? context.BeginRevision + 1 : context.BeginRevision, deleted);
    }
}
