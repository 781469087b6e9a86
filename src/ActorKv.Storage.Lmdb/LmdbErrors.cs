using LightningDB;

namespace ActorKv.Storage.Lmdb;

/// <summary>The store ran out of its LMDB map: nothing of the failed transaction was written.</summary>
public sealed class StorageFullException(string message) : Exception(message);

internal static class LmdbErrors
{
    public static void Check(MDBResultCode code, string what)
    {
        switch (code)
        {
            case MDBResultCode.Success:
                return;
            case MDBResultCode.MapFull:
                throw new StorageFullException($"LMDB map is full while trying to {what}");
            default:
                throw new IOException($"LMDB failed to {what}: {code}");
        }
    }
}
