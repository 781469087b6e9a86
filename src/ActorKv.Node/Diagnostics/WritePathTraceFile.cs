using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Tracing;
using System.Globalization;

namespace ActorKv.Node.Diagnostics;

/// <summary>
/// Writes one node's <see cref="WritePathEvents"/> to a text file, a line an event:
/// <c>TICKS EVENT NODE VALUE...</c>, where TICKS is <see cref="Stopwatch.GetTimestamp"/> taken as
/// the event is written (CLOCK_MONOTONIC on Linux, so files of members on one machine share a
/// clock). The writing thread only queues the line; a timer appends queued lines to the file, so
/// no actor waits for the disk. For measurements, not for production: it costs an allocation or
/// two per event. The source is process-wide, so each node's file keeps only events of its node.
/// </summary>
public sealed class WritePathTraceFile : EventListener
{
    private static readonly TimeSpan FlushInterval = TimeSpan.FromMilliseconds(250);

    /// <summary>Lines held when the timer falls behind; beyond it events are dropped and counted.</summary>
    private const int MaxQueuedLines = 1_000_000;

    private readonly ConcurrentQueue<string>? queued;
    private readonly long node;
    private readonly StreamWriter file;
    private readonly Timer flusher;
    private long dropped;
    private bool closed;

    public WritePathTraceFile(string path, ulong node)
    {
        // The base constructor may already have enabled the source: until queued is set, the
        // events it delivers are ignored.
        this.node = (long)node;
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            file = new StreamWriter(path, append: true);
        }
        catch
        {
            // The base constructor registered this listener with the process: unregister it.
            base.Dispose();
            throw;
        }

        file.WriteLine($"# ActorKv write-path trace of node {node}: TICKS EVENT NODE VALUE...; ticks of {Stopwatch.Frequency} a second (CLOCK_MONOTONIC)");
        queued = new ConcurrentQueue<string>();
        flusher = new Timer(_ => Flush(), null, FlushInterval, FlushInterval);
    }

    /// <summary>Events lost because the file could not keep up.</summary>
    public long Dropped => Interlocked.Read(ref dropped);

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == WritePathEvents.SourceName)
        {
            EnableEvents(source, EventLevel.Verbose);
        }
    }

    protected override void OnEventWritten(EventWrittenEventArgs written)
    {
        var ticks = Stopwatch.GetTimestamp();
        if (queued is null || written.Payload is not { Count: > 0 } payload || payload[0] is not long eventNode || eventNode != node)
        {
            return;
        }

        if (queued.Count >= MaxQueuedLines)
        {
            Interlocked.Increment(ref dropped);
            return;
        }

        queued.Enqueue(string.Create(CultureInfo.InvariantCulture, $"{ticks} {written.EventName} {string.Join(' ', payload)}"));
    }

    private void Flush()
    {
        lock (file)
        {
            if (closed)
            {
                return;
            }

            while (queued!.TryDequeue(out var line))
            {
                file.WriteLine(line);
            }

            file.Flush();
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        flusher.Dispose();
        Flush();
        lock (file)
        {
            if (closed)
            {
                return;
            }

            closed = true;
            if (Dropped > 0)
            {
                file.WriteLine($"# {Dropped} events dropped: the file could not keep up");
            }

            file.Dispose();
        }
    }
}
