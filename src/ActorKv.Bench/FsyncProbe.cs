using System.Diagnostics;
using HdrHistogram;

namespace ActorKv.Bench;

/// <summary>
/// The disk's durability floor: append 4 KiB and fsync, --total times, in --dir. No durable
/// write to any store on this disk can be acknowledged faster than one of these.
/// </summary>
public static class FsyncProbe
{
    private const int BlockBytes = 4096;

    public static BenchReport Run(BenchOptions options)
    {
        Directory.CreateDirectory(options.Directory);
        var path = Path.Combine(options.Directory, $"actorkv-fsync-probe-{Environment.ProcessId}");
        var histogram = new LongHistogram(60_000_000L, 3);
        var block = new byte[BlockBytes];
        Random.Shared.NextBytes(block);
        var started = Stopwatch.GetTimestamp();
        try
        {
            using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
            for (var i = 0; i < options.Total; i++)
            {
                var begin = Stopwatch.GetTimestamp();
                file.Write(block);
                file.Flush(flushToDisk: true);
                histogram.RecordValue(Math.Max(1, (long)Stopwatch.GetElapsedTime(begin).TotalMicroseconds));
            }
        }
        finally
        {
            File.Delete(path);
        }

        return new BenchReport("fsync", 1, histogram.TotalCount, new Dictionary<string, long>(), Stopwatch.GetElapsedTime(started), histogram);
    }
}
