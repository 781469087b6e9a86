namespace ActorKv.Node.Apply;

public static class ApplyProtocol
{
    /// <summary>Commit the entries waiting now as one batch.</summary>
    public sealed record FlushTick
    {
        public static readonly FlushTick Instance = new();
    }

    /// <summary>Remove the next chunk of compacted history.</summary>
    public sealed record CompactionTick
    {
        public static readonly CompactionTick Instance = new();
    }
}
