namespace ActorKv.Node;

/// <summary>
/// The MVCC store's size as of the last commit, published by the apply side and read by the
/// gateway's quota check without touching storage.
/// </summary>
public sealed class StorageUsage
{
    private long sizeBytes;
    private long inUseBytes;

    public long SizeBytes => Volatile.Read(ref sizeBytes);

    public long InUseBytes => Volatile.Read(ref inUseBytes);

    public void Update(long size, long inUse)
    {
        Volatile.Write(ref sizeBytes, size);
        Volatile.Write(ref inUseBytes, inUse);
    }
}
