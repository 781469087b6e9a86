using System.Diagnostics;
using System.Text;

namespace ActorKv.Compat.Tests.Fixtures;

/// <summary>A process a test started: output captured, stopped by PID when disposed.</summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();

    public ChildProcess(string fileName, IEnumerable<string> arguments, string? workingDirectory = null)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        process = Process.Start(start) ?? throw new InvalidOperationException("could not start " + fileName);
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public int Pid => process.Id;

    public bool HasExited => process.HasExited;

    /// <summary>Only once <see cref="HasExited"/>.</summary>
    public int ExitCode => process.ExitCode;

    /// <summary>
    /// Waits until the process has exited and its output has been read to the end; false when
    /// <paramref name="limit"/> passes first. <see cref="HasExited"/> turns true before the last
    /// lines reach <see cref="Output"/>.
    /// </summary>
    public async Task<bool> WaitForExitAsync(TimeSpan limit)
    {
        using var timeout = new CancellationTokenSource(limit);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    public string Output
    {
        get
        {
            lock (output)
            {
                return output.ToString();
            }
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    /// <summary>kill -9: no chance to flush or clean up.</summary>
    public void KillHard()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
        }
    }

    /// <summary>SIGTERM, then kill -9 if it has not exited in time.</summary>
    public void Stop(TimeSpan grace)
    {
        if (process.HasExited)
        {
            return;
        }

        using (var term = Process.Start("kill", ["-TERM", process.Id.ToString()]))
        {
            term.WaitForExit(5_000);
        }

        if (!process.WaitForExit((int)grace.TotalMilliseconds))
        {
            KillHard();
        }
    }

    public void Dispose()
    {
        KillHard();
        process.Dispose();
    }
}
