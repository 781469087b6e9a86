using System.Diagnostics;

namespace ActorKv.Storage.Lmdb;

/// <summary>
/// Crash points around durable steps, for chaos runs (issue 6): the chaos service arms one, and
/// the process kills itself with SIGKILL, as a crash would, the Nth time a step passes that point.
/// Nothing happens unless armed; only the chaos service (actorkv.chaos.enabled) arms them.
/// </summary>
public static class CrashPoints
{
    public const string WalBeforeCommit = "wal-before-commit";
    public const string WalAfterCommit = "wal-after-commit";
    public const string ApplyBeforeCommit = "apply-before-commit";
    public const string ApplyAfterCommit = "apply-after-commit";
    public const string CompactBeforeCommit = "compact-before-commit";
    public const string CompactAfterCommit = "compact-after-commit";
    public const string SnapshotSend = "snapshot-send";
    public const string SnapshotInstall = "snapshot-install";

    public static readonly IReadOnlyList<string> Names = [WalBeforeCommit, WalAfterCommit, ApplyBeforeCommit, ApplyAfterCommit, CompactBeforeCommit, CompactAfterCommit, SnapshotSend, SnapshotInstall];

    private static string? armed;
    private static int remaining;

    /// <summary>Arms <paramref name="point"/> to crash on its <paramref name="afterHits"/>th pass; an empty point disarms.</summary>
    public static void Arm(string point, int afterHits)
    {
        if (point.Length > 0 && !Names.Contains(point))
        {
            throw new ArgumentException($"unknown crash point '{point}'; one of: {string.Join(", ", Names)}");
        }

        if (point.Length > 0 && afterHits < 1)
        {
            throw new ArgumentException("a crash point needs after_hits of at least 1");
        }

        Volatile.Write(ref armed, null);
        Volatile.Write(ref remaining, afterHits);
        // The canonical name: Reached compares references, one check per durable step.
        Volatile.Write(ref armed, point.Length > 0 ? Names.First(name => name == point) : null);
    }

    /// <summary>A durable step passes <paramref name="point"/>: crash here if it is armed and due.</summary>
    public static void Reached(string point)
    {
        if (!ReferenceEquals(Volatile.Read(ref armed), point) || Interlocked.Decrement(ref remaining) != 0)
        {
            return;
        }

        Console.Error.WriteLine($"chaos: crash point {point} reached; the process kills itself");
        Console.Error.Flush();
        Process.GetCurrentProcess().Kill();
        // Kill is asynchronous: this thread must not go on past the point.
        Thread.Sleep(Timeout.Infinite);
    }
}
