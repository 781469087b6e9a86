using System.Buffers.Binary;
using System.Security.Cryptography;

namespace ActorKv.Raft.Tests.Simulation;

/// <summary>
/// One node of the simulation: a <see cref="RaftCore"/>, the storage it has "persisted", and a
/// state machine that is a hash chain over every applied entry (so that two nodes agree on
/// their state at an index exactly when they applied the same entries up to it).
/// </summary>
public sealed class SimulatedNode
{
    private readonly Func<ulong, MemoryStorage, RaftConfig> configFor;

    public SimulatedNode(ulong id, MemoryStorage storage, Func<ulong, MemoryStorage, RaftConfig> configFor)
    {
        Id = id;
        Storage = storage;
        this.configFor = configFor;
        Restart();
    }

    public ulong Id { get; }

    /// <summary>What survives a crash.</summary>
    public MemoryStorage Storage { get; }

    public RaftCore? Core { get; private set; }

    public bool Up => Core is not null;

    public ulong AppliedIndex { get; private set; }

    public byte[] StateDigest { get; private set; } = new byte[32];

    /// <summary>Drops everything not persisted: the core and the state machine.</summary>
    public void Crash() => Core = null;

    /// <summary>Starts from the persisted storage; the state machine starts from the snapshot.</summary>
    public void Restart()
    {
        var snapshot = Storage.Snapshot;
        (AppliedIndex, StateDigest) = snapshot.IsEmpty ? (0UL, new byte[32]) : DecodeState(snapshot.Data);
        Core = new RaftCore(configFor(Id, Storage));
    }

    public void ApplyEntry(Entry entry)
    {
        if (entry.Index != AppliedIndex + 1)
        {
            throw new InvalidOperationException($"node {Id} applies {entry.Index} after {AppliedIndex}");
        }

        var input = new byte[32 + 16 + 1 + entry.Data.Length];
        StateDigest.CopyTo(input, 0);
        BinaryPrimitives.WriteUInt64LittleEndian(input.AsSpan(32), entry.Index);
        BinaryPrimitives.WriteUInt64LittleEndian(input.AsSpan(40), entry.Term);
        input[48] = (byte)entry.Type;
        entry.Data.CopyTo(input, 49);
        StateDigest = SHA256.HashData(input);
        AppliedIndex = entry.Index;
    }

    public void RestoreState(Snapshot snapshot) => (AppliedIndex, StateDigest) = DecodeState(snapshot.Data);

    public byte[] EncodeState()
    {
        var data = new byte[8 + 32];
        BinaryPrimitives.WriteUInt64LittleEndian(data, AppliedIndex);
        StateDigest.CopyTo(data, 8);
        return data;
    }

    private static (ulong, byte[]) DecodeState(byte[] data) => (BinaryPrimitives.ReadUInt64LittleEndian(data), data[8..]);
}
