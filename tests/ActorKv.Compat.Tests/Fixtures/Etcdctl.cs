using System.Diagnostics;
using System.Text.RegularExpressions;

namespace ActorKv.Compat.Tests.Fixtures;

/// <summary>Runs Debian's etcdctl 3.4 (API v3) against one endpoint.</summary>
public static partial class Etcdctl
{
    public const string Binary = "/usr/bin/etcdctl";

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        /// <summary>
        /// What a user sees, minus what differs between any two clusters: ids, raft term, and
        /// the client library's timestamped retry log lines (their "Error:" line stays).
        /// </summary>
        public string Normalized =>
            $"exit {ExitCode}\n{Mask(Stdout)}\n--- stderr\n{string.Join('\n', Stderr.Split('\n').Where(l => !l.StartsWith("{\"level\"", StringComparison.Ordinal)))}";

        private static string Mask(string text) => MemberFields().Replace(text, "\"$1\":0");
    }

    [GeneratedRegex("\"(cluster_id|member_id|raft_term|ClusterID|MemberID|RaftTerm)\" ?: ?\\d+")]
    private static partial Regex MemberFields();

    /// <summary>
    /// Runs a command that does not end by itself (watch): its output lines, masked as in
    /// <see cref="Result.Normalized"/>, until <paramref name="enough"/> says so or the output has
    /// been quiet for <paramref name="quiet"/>, at most <paramref name="limit"/>; then kills it by
    /// PID. <paramref name="whileRunning"/> runs once the process has started (writes to watch).
    /// </summary>
    public static async Task<List<string>> RunStreamingAsync(
        string endpoint,
        IEnumerable<string> arguments,
        string? stdin,
        Func<List<string>, bool> enough,
        TimeSpan quiet,
        TimeSpan limit,
        Func<Task>? whileRunning = null)
    {
        var start = new ProcessStartInfo(Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.Environment["ETCDCTL_API"] = "3";
        start.ArgumentList.Add("--endpoints=" + endpoint);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var lines = new List<string>();
        var lastLine = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start etcdctl");
        void Collect(string? line)
        {
            if (line is not null && !line.StartsWith("{\"level\"", StringComparison.Ordinal))
            {
                lock (lines)
                {
                    lines.Add(MemberFields().Replace(line, "\"$1\":0"));
                    lastLine.Restart();
                }
            }
        }

        process.OutputDataReceived += (_, e) => Collect(e.Data);
        process.ErrorDataReceived += (_, e) => Collect(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            if (stdin is not null)
            {
                // Interactive mode ends at end of input: stdin stays open while the watch runs.
                await process.StandardInput.WriteAsync(stdin);
                await process.StandardInput.FlushAsync();
            }

            if (whileRunning is not null)
            {
                await whileRunning();
            }

            var deadline = Stopwatch.StartNew();
            while (deadline.Elapsed < limit && !process.HasExited)
            {
                lock (lines)
                {
                    if (enough(lines) || (lines.Count > 0 && lastLine.Elapsed > quiet))
                    {
                        break;
                    }
                }

                await Task.Delay(50);
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }

            await process.WaitForExitAsync();
        }

        lock (lines)
        {
            return [.. lines];
        }
    }

    public static async Task<Result> RunAsync(string endpoint, IEnumerable<string> arguments, string? stdin = null)
    {
        var start = new ProcessStartInfo(Binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = stdin is not null,
            UseShellExecute = false,
        };
        start.Environment["ETCDCTL_API"] = "3";
        start.ArgumentList.Add("--endpoints=" + endpoint);
        start.ArgumentList.Add("--command-timeout=10s");
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start etcdctl");
        if (stdin is not null)
        {
            await process.StandardInput.WriteAsync(stdin);
            process.StandardInput.Close();
        }

        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException("etcdctl " + string.Join(' ', arguments) + " did not finish");
        }

        return new Result(process.ExitCode, await stdout, await stderr);
    }
}
