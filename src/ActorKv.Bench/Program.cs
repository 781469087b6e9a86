using System.Text.Json;
using ActorKv.Bench;
using Etcdserverpb;

if (args is [ReplicationFloor.MemberCommand, ..])
{
    return ReplicationFloor.RunMember(args[1..]);
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (BenchUsageException error)
{
    Console.Error.WriteLine($"actorkv-bench: {error.Message}");
    Console.Error.WriteLine(BenchOptions.Usage);
    return 2;
}

BenchReport report;
List<CoordinationFigures> figures = [];
if (options.Workload is "fsync" or "replication-floor")
{
    try
    {
        report = options.Workload == "fsync" ? FsyncProbe.Run(options) : ReplicationFloor.Run(options);
    }
    catch (BenchUsageException error)
    {
        Console.Error.WriteLine($"actorkv-bench: {error.Message}");
        return 2;
    }
    catch (Exception error) when (error is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException or TimeoutException or InvalidOperationException)
    {
        // No server in these: a failure is the disk's, the directory's or a member process's.
        Console.Error.WriteLine($"actorkv-bench: {options.Workload} failed: {error.Message}");
        return 1;
    }
}
else
{
    var channels = Workloads.Connect(options);
    try
    {
        var clients = channels.Select(channel => new KV.KVClient(channel)).ToList();
        await Workloads.CheckReachable(options, clients);
        if (options.TargetLeader)
        {
            options = options with { Endpoints = [await Workloads.FindLeader(options)] };
            foreach (var channel in channels)
            {
                channel.Dispose();
            }

            channels = Workloads.Connect(options);
            clients = channels.Select(channel => new KV.KVClient(channel)).ToList();
        }

        switch (options.Workload)
        {
            case "lease-storm":
                (report, figures) = await CoordinationWorkloads.LeaseStormAsync(options, channels);
                break;
            case "watch":
                (report, figures) = await CoordinationWorkloads.WatchAsync(options, channels);
                break;
            case "lease-keepalive":
                var (keepAlive, close) = await SessionWorkloads.LeaseKeepAliveAsync(options, channels);
                report = await LoadRunner.RunAsync(options, keepAlive);
                await close();
                break;
            case "mixed":
                var (request, finish) = await SessionWorkloads.MixedAsync(options, channels);
                report = await LoadRunner.RunAsync(options, request);
                figures = await finish();
                break;
            default:
                report = await LoadRunner.RunAsync(options, Workloads.Create(options, clients));
                break;
        }
    }
    catch (BenchUsageException error)
    {
        Console.Error.WriteLine($"actorkv-bench: {error.Message}");
        return 1;
    }
    finally
    {
        foreach (var channel in channels)
        {
            channel.Dispose();
        }
    }
}

if (options.Json)
{
    Console.WriteLine(JsonSerializer.Serialize(new
    {
        workload = report.Workload,
        endpoints = options.Endpoints,
        targetLeader = options.TargetLeader,
        clients = report.Clients,
        conns = options.Connections,
        succeeded = report.Succeeded,
        errors = report.Errors,
        seconds = report.Elapsed.TotalSeconds,
        requestsPerSecond = report.RequestsPerSecond,
        p50Ms = report.Percentile(50),
        p90Ms = report.Percentile(90),
        p99Ms = report.Percentile(99),
        p999Ms = report.Percentile(99.9),
        maxMs = report.MaxMilliseconds,
        figures = figures.ToDictionary(f => f.Name, f => f.Value),
    }));
}
else
{
    Console.WriteLine($"{report.Workload}: {report.Succeeded} ok in {report.Elapsed.TotalSeconds:F2} s = {report.RequestsPerSecond:F0} req/s with {report.Clients} clients");
    Console.WriteLine($"latency ms: p50 {report.Percentile(50):F3}  p90 {report.Percentile(90):F3}  p99 {report.Percentile(99):F3}  p99.9 {report.Percentile(99.9):F3}  max {report.MaxMilliseconds:F3}");
    foreach (var figure in figures)
    {
        Console.WriteLine($"{figure.Name}: {figure.Value:F2}{figure.Unit}");
    }

    foreach (var (error, count) in report.Errors)
    {
        Console.WriteLine($"error x{count}: {error}");
    }
}

return report.Errors.Count == 0 ? 0 : 1;
