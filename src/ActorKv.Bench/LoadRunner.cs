using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using HdrHistogram;

namespace ActorKv.Bench;

/// <summary>The outcome of one run: latencies of successful requests, errors by status.</summary>
public sealed record BenchReport(string Workload, int Clients, long Succeeded, IReadOnlyDictionary<string, long> Errors, TimeSpan Elapsed, HistogramBase Latency)
{
    public double RequestsPerSecond => Succeeded / Elapsed.TotalSeconds;

    /// <summary>A latency percentile in milliseconds.</summary>
    public double Percentile(double percentile) => Latency.GetValueAtPercentile(percentile) / 1000.0;

    public double MaxMilliseconds => Latency.GetMaxValue() / 1000.0;
}

/// <summary>
/// Runs --clients concurrent loops, each with one request outstanding, until --total requests
/// or --duration, at most --rate requests per second in all.
/// </summary>
public static class LoadRunner
{
    /// <summary>Latencies are recorded in microseconds, up to an hour, to 3 significant digits.</summary>
    private const long HighestLatencyMicroseconds = 3_600_000_000L;

    public static async Task<BenchReport> RunAsync(BenchOptions options, Func<int, long, Task> request)
    {
        var errors = new ConcurrentDictionary<string, long>();
        var histograms = Enumerable.Range(0, options.Clients).Select(_ => new LongHistogram(HighestLatencyMicroseconds, 3)).ToArray();
        long issued = -1;
        long completed = 0;
        var deadline = options.Duration is { } duration ? Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency) : long.MaxValue;
        var total = options.Duration is null ? options.Total : long.MaxValue;
        var started = Stopwatch.GetTimestamp();

        using var progressStop = new CancellationTokenSource();
        var progress = options.Json || Console.IsOutputRedirected ? Task.CompletedTask : ShowProgress(() => Interlocked.Read(ref completed), total, started, progressStop.Token);

        async Task Client(int client)
        {
            var histogram = histograms[client];
            while (true)
            {
                var index = Interlocked.Increment(ref issued);
                if (index >= total || Stopwatch.GetTimestamp() >= deadline)
                {
                    return;
                }

                if (options.Rate > 0)
                {
                    var due = started + (long)(index * Stopwatch.Frequency / (double)options.Rate);
                    var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait);
                    }
                }

                var begin = Stopwatch.GetTimestamp();
                try
                {
                    await request(client, index);
                    histogram.RecordValue(Math.Max(1, (long)Stopwatch.GetElapsedTime(begin).TotalMicroseconds));
                }
                catch (RpcException error)
                {
                    errors.AddOrUpdate($"{error.StatusCode}: {error.Status.Detail}", 1, (_, n) => n + 1);
                }

                Interlocked.Increment(ref completed);
            }
        }

        await Task.WhenAll(Enumerable.Range(0, options.Clients).Select(client => Task.Run(() => Client(client))));
        var elapsed = Stopwatch.GetElapsedTime(started);
        await progressStop.CancelAsync();
        await progress;

        var merged = new LongHistogram(HighestLatencyMicroseconds, 3);
        foreach (var histogram in histograms)
        {
            merged.Add(histogram);
        }

        return new BenchReport(options.Workload, options.Clients, merged.TotalCount, errors, elapsed, merged);
    }

    private static async Task ShowProgress(Func<long> completed, long total, long started, CancellationToken stop)
    {
        try
        {
            while (!stop.IsCancellationRequested)
            {
                await Task.Delay(500, stop);
                var done = completed();
                var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
                var of = total == long.MaxValue ? "" : $"/{total}";
                Console.Error.Write($"\r{done}{of} requests, {done / seconds:F0}/s   ");
            }
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            Console.Error.Write("\r" + new string(' ', 60) + "\r");
        }
    }
}
