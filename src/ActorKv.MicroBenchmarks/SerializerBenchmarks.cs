using ActorKv.Node.Raft;
using ActorKv.Protocol.Raft;
using BenchmarkDotNet.Attributes;
using Google.Protobuf;

namespace ActorKv.MicroBenchmarks;

/// <summary>A Raft append of 10 entries of 300 bytes, core form to wire bytes and back.</summary>
[MemoryDiagnoser]
public class SerializerBenchmarks
{
    private ActorKv.Raft.Message append = null!;
    private byte[] wire = [];

    [GlobalSetup]
    public void Setup()
    {
        append = new ActorKv.Raft.Message
        {
            Type = ActorKv.Raft.MessageType.Append, To = 2, From = 1, Term = 3, Index = 100, LogTerm = 3, Commit = 99,
            Entries = Enumerable.Range(101, 10).Select(i => new ActorKv.Raft.Entry(3, (ulong)i, ActorKv.Raft.EntryType.Normal, new byte[300])).ToList(),
        };
        wire = append.ToWire().ToByteArray();
    }

    [Benchmark]
    public byte[] Serialize() => append.ToWire().ToByteArray();

    [Benchmark]
    public ActorKv.Raft.Message Deserialize() => RaftMessage.Parser.ParseFrom(wire).FromWire();
}
