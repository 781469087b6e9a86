using System.Text;

namespace ActorKv.Mvcc.Tests;

/// <summary>Leases in the MVCC engine: which keys a lease holds, and what revoking it deletes.</summary>
public sealed class MvccLeaseTests : IDisposable
{
    private readonly TempLmdbStore store = new();

    public void Dispose() => store.Dispose();

    private static byte[] B(string text) => Encoding.UTF8.GetBytes(text);

    private void Put(string key, long lease) =>
        store.Write(view => store.Engine.Put(view, new PutCommand(B(key), B("v"), lease)));

    private List<string> KeysOf(long lease) =>
        store.Read(view => view.ReadLeaseKeys(lease).Select(Encoding.UTF8.GetString).ToList());

    [Fact]
    public void Keys_follow_their_latest_lease_and_a_revoke_deletes_them_in_one_revision()
    {
        store.Write(view => { MvccEngine.GrantLease(view, new LeaseRecord(7, 60)); return 0; });
        store.Write(view => { MvccEngine.GrantLease(view, new LeaseRecord(8, 60)); return 0; });
        Put("a", 7);
        Put("b", 7);
        Put("c", 7);
        Put("b", 8);   // moves to lease 8
        Put("c", 0);   // leaves every lease
        Put("d", 7);
        store.Write(view => store.Engine.Delete(view, new DeleteCommand(B("d"))));
        Assert.Equal(["a"], KeysOf(7));
        Assert.Equal(["b"], KeysOf(8));

        var before = store.Read(view => view.Meta.CurrentRevision);
        var events = new List<MvccEvent>();
        var revoked = store.Write(view => MvccEngine.RevokeLease(view, 7, events));
        Assert.Equal((before + 1, 1), (revoked.Revision, revoked.DeletedKeys));
        Assert.Equal([(MvccEventType.Delete, "a", before + 1)], events.Select(e => (e.Type, Encoding.UTF8.GetString(e.Kv.Key), e.Revision.Main)));
        Assert.Null(store.Read(view => view.ReadLease(7)));
        Assert.Equal([8L], store.Read(view => view.ReadLeases().Select(l => l.Id).ToList()));
        // b and c stay: they left lease 7 before it went.
        Assert.Equal(["b", "c"], store.Read(view => view.ScanLatest(B("a"), [], before + 1).Where(e => !e.Tombstone).Select(e => Encoding.UTF8.GetString(e.Key)).ToList()));
    }

    [Fact]
    public void A_revoke_of_several_keys_is_one_revision_and_an_empty_lease_changes_no_revision()
    {
        store.Write(view => { MvccEngine.GrantLease(view, new LeaseRecord(1, 10)); MvccEngine.GrantLease(view, new LeaseRecord(2, 10)); return 0; });
        Put("x", 1);
        Put("y", 1);
        var before = store.Read(view => view.Meta.CurrentRevision);
        var events = new List<MvccEvent>();
        Assert.Equal(new LeaseRevokeResult(before + 1, 2), store.Write(view => MvccEngine.RevokeLease(view, 1, events)));
        Assert.Equal([before + 1, before + 1], events.Select(e => e.Revision.Main));
        Assert.Equal(new LeaseRevokeResult(before + 1, 0), store.Write(view => MvccEngine.RevokeLease(view, 2)));
    }

    [Fact]
    public void Unknown_and_duplicate_leases_are_refused_and_change_nothing()
    {
        store.Write(view => { MvccEngine.GrantLease(view, new LeaseRecord(5, 10)); return 0; });
        Assert.Equal(MvccError.LeaseExists, Assert.Throws<MvccException>(() => store.Write(view => { MvccEngine.GrantLease(view, new LeaseRecord(5, 99)); return 0; })).Error);
        Assert.Equal(MvccError.LeaseNotFound, Assert.Throws<MvccException>(() => store.Write(view => MvccEngine.RevokeLease(view, 6))).Error);
        Assert.Equal(MvccError.LeaseNotFound, Assert.Throws<MvccException>(() => Put("k", 6)).Error);
        Assert.Equal(new LeaseRecord(5, 10), store.Read(view => view.ReadLease(5)));
        Assert.Equal(1, store.Read(view => view.Meta.CurrentRevision));
    }
}
