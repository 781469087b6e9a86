using System.Diagnostics;
using ActorKv.Chaos.Runner;

ChaosOptions options;
string root;
try
{
    options = ChaosOptions.Parse(args, out root);
}
catch (Exception bad) when (bad is ArgumentException or FormatException)
{
    Console.Error.WriteLine($"actorkv-chaos: {bad.Message}");
    Console.Error.WriteLine(ChaosOptions.Usage);
    return 2;
}

var random = new Random(options.Seed);
var dataDirectory = options.DataDirectory ?? Path.Combine(Path.GetTempPath(), $"actorkv-chaos-data-{options.Seed}-{Environment.ProcessId}");
var cluster = new LocalCluster(root, dataDirectory, options.Nodes, options.BasePort);
Console.WriteLine($"chaos run: seed {options.Seed}, {options.Nodes} nodes, {options.Duration.TotalSeconds:F0}s, nemeses {string.Join(',', options.Nemeses)}, data {dataDirectory}");
try
{
    await cluster.UpAsync(cuttableLinks: options.Nemeses.Any(Nemesis.CutsLinks));
    var run = await ChaosRun.ExecuteAsync(cluster, options, random, Stopwatch.StartNew());
    var exitCode = run.Report(options);
    return exitCode;
}
finally
{
    try
    {
        await cluster.DownAsync();
    }
    catch (Exception stopFailed)
    {
        Console.Error.WriteLine($"actorkv-chaos: stopping the cluster: {stopFailed.Message}");
    }

    // The node logs are part of the report; the data is not.
    Directory.CreateDirectory(options.ReportDirectory);
    foreach (var (name, path) in cluster.LogFiles())
    {
        File.Copy(path, Path.Combine(options.ReportDirectory, $"{name}.log"), overwrite: true);
    }

    if (Directory.Exists(dataDirectory))
    {
        Directory.Delete(dataDirectory, recursive: true);
    }
}
