namespace ActorKv.Node;

/// <summary>
/// The MVCC store's size as of the last commit, and the alarms raised on it (NOSPACE), published
/// by the apply side and read by the gateway's quota check and Status without touching storage.
/// </summary>
public sealed class StorageUsage
{
    private long sizeBytes;
    private long inUseBytes;
    private IReadOnlyList<Etcdserverpb.AlarmMember> alarms = [];

    public IReadOnlyList<Etcdserverpb.AlarmMember> Alarms => Volatile.Read(ref alarms);

    public void UpdateAlarms(IReadOnlyList<Etcdserverpb.AlarmMember> raised) => Volatile.Write(ref alarms, raised);

    public long SizeBytes => Volatile.Read(ref sizeBytes);

    public long InUseBytes => Volatile.Read(ref inUseBytes);

    public void Update(long size, long inUse)
    {
        Volatile.Write(ref sizeBytes, size);
        Volatile.Write(ref inUseBytes, inUse);
    }
}
