using Akka.Actor;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Event;

namespace ActorKv.Node.Threading;

/// <summary>
/// Akka's scheduler for an ActorKv node: one thread that sleeps until the earliest deadline due,
/// where Akka's default <see cref="HashedWheelTimerScheduler"/> wakes every
/// <c>akka.scheduler.tick-duration</c> (10 ms) whether anything is due or not. Each of those ticks
/// also woke a thread-pool worker, which spins before it sleeps again: measured on an idle
/// 1-node server, 74 ticks of CPU time in 20 s (3.7% of a core) with the wheel, against 9 for an
/// idle etcd (docs/benchmarks.md, session 22). An idle node's timers (Raft's tick, the lease
/// sweep, Akka.Remote's heartbeats) are tens a second, not a hundred, and each now runs when it is
/// due, not up to one wheel tick late.
/// Due work runs on the scheduler's thread, as the wheel runs it: a scheduled Tell only enqueues.
/// HOCON: <c>akka.scheduler.implementation = "ActorKv.Node.Threading.DeadlineScheduler, ActorKv.Node"</c>.
/// </summary>
public sealed class DeadlineScheduler : SchedulerBase, IDateTimeOffsetNowTimeProvider, IDisposable
{
    private readonly object gate = new();
    // Ordered by deadline, then by the order of scheduling, so that work due at the same moment
    // runs in the order it was scheduled, as the wheel runs a bucket.
    private readonly PriorityQueue<Registration, (long Deadline, long Sequence)> pending = new();
    private readonly List<Registration> dueNow = [];
    private readonly Thread thread;
    private readonly TimeSpan shutdownTimeout;
    private long sequence;
    private bool stopped;
    private long wakeUps;

    public DeadlineScheduler(Config config, ILoggingAdapter log)
        : base(config, log)
    {
        shutdownTimeout = SchedulerConfig.GetTimeSpan("akka.scheduler.shutdown-timeout", TimeSpan.FromSeconds(5));
        thread = new Thread(RunDueWork) { IsBackground = true, Name = "actorkv.scheduler" };
        thread.Start();
    }

    protected override DateTimeOffset TimeNow => DateTimeOffset.Now;

    public override TimeSpan MonotonicClock => AkkaClock.Elapsed();

    public override TimeSpan HighResMonotonicClock => AkkaClock.ElapsedHighRes();

    /// <summary>How many times the scheduler's thread has woken from a sleep (a diagnostic).</summary>
    public long WakeUps => Interlocked.Read(ref wakeUps);

    protected override void InternalScheduleTellOnce(
        TimeSpan delay, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Schedule(delay, TimeSpan.Zero, new ScheduledTell(receiver, message, sender), cancelable);

    protected override void InternalScheduleTellRepeatedly(
        TimeSpan initialDelay, TimeSpan interval, ICanTell receiver, object message, IActorRef sender, ICancelable cancelable) =>
        Schedule(initialDelay, interval, new ScheduledTell(receiver, message, sender), cancelable);

    protected override void InternalScheduleOnce(TimeSpan delay, Action action, ICancelable cancelable) =>
        Schedule(delay, TimeSpan.Zero, new ActionRunnable(action), cancelable);

    protected override void InternalScheduleOnce(TimeSpan delay, IRunnable action, ICancelable cancelable) =>
        Schedule(delay, TimeSpan.Zero, action, cancelable);

    protected override void InternalScheduleRepeatedly(
        TimeSpan initialDelay, TimeSpan interval, Action action, ICancelable cancelable) =>
        Schedule(initialDelay, interval, new ActionRunnable(action), cancelable);

    protected override void InternalScheduleRepeatedly(
        TimeSpan initialDelay, TimeSpan interval, IRunnable action, ICancelable cancelable) =>
        Schedule(initialDelay, interval, action, cancelable);

    private void Schedule(TimeSpan delay, TimeSpan interval, IRunnable action, ICancelable? cancelable)
    {
        var registration = new Registration(action, cancelable, interval.Ticks);
        var now = HighResMonotonicClock.Ticks;
        // Saturating: a delay of TimeSpan.MaxValue means never, not an overflow into the past.
        var deadline = now + Math.Min(Math.Max(0, delay.Ticks), long.MaxValue - now);
        lock (gate)
        {
            if (stopped)
            {
                // What the wheel throws too; Akka's callers expect it during shutdown.
                throw new SchedulerException("cannot enqueue after timer shutdown");
            }

            pending.Enqueue(registration, (deadline, sequence++));
            // Only work that is now the earliest changes how long the thread sleeps.
            if (ReferenceEquals(pending.Peek(), registration))
            {
                Monitor.Pulse(gate);
            }
        }
    }

    private void RunDueWork()
    {
        while (TakeDueWork())
        {
            foreach (var registration in dueNow)
            {
                Run(registration);
            }

            dueNow.Clear();
        }
    }

    /// <summary>Sleeps until something is due, and moves what is due into <see cref="dueNow"/>; false once stopped.</summary>
    private bool TakeDueWork()
    {
        lock (gate)
        {
            while (!stopped)
            {
                var now = HighResMonotonicClock.Ticks;
                while (pending.TryPeek(out var registration, out var key) && (key.Deadline <= now || registration.Cancelled))
                {
                    pending.Dequeue();
                    if (!registration.Cancelled)
                    {
                        registration.Deadline = key.Deadline;
                        dueNow.Add(registration);
                    }
                }

                if (dueNow.Count > 0)
                {
                    return true;
                }

                if (pending.TryPeek(out _, out var next))
                {
                    // Rounded up (waking a little early would only mean sleeping again), and at
                    // most what Monitor.Wait takes.
                    var sleepMs = Math.Min(Math.Ceiling(TimeSpan.FromTicks(next.Deadline - now).TotalMilliseconds), int.MaxValue - 1);
                    Monitor.Wait(gate, (int)sleepMs);
                }
                else
                {
                    Monitor.Wait(gate);
                }

                wakeUps++;
            }

            return false;
        }
    }

    private void Run(Registration registration)
    {
        try
        {
            registration.Action.Run();
        }
        catch (Exception exception)
        {
            // As the wheel does: logged, and failed repeating work is not run again.
            Log.Error(exception, "Error while executing scheduled task {0}", registration.Action);
            return;
        }

        if (registration.Interval <= 0 || registration.Cancelled)
        {
            return;
        }

        // At a fixed rate (Raft's tick keeps its pace), but ticks missed while the process was
        // paused are skipped, not run in a burst.
        var now = HighResMonotonicClock.Ticks;
        var next = registration.Deadline + registration.Interval;
        if (next <= now)
        {
            next = now + registration.Interval;
        }

        lock (gate)
        {
            if (!stopped)
            {
                pending.Enqueue(registration, (next, sequence++));
            }
        }
    }

    /// <summary>
    /// Stops the thread, then runs once what was still scheduled and not cancelled, as the wheel
    /// does on shutdown (an Ask waiting on its timeout is then answered at once).
    /// </summary>
    public void Dispose()
    {
        List<Registration> outstanding;
        lock (gate)
        {
            if (stopped)
            {
                return;
            }

            stopped = true;
            Monitor.Pulse(gate);
            outstanding = [.. pending.UnorderedItems.Select(item => item.Element)];
            pending.Clear();
        }

        if (Thread.CurrentThread != thread && !thread.Join(shutdownTimeout))
        {
            Log.Warning("Failed to shutdown scheduler within {0}", shutdownTimeout);
            return;
        }

        foreach (var registration in outstanding.Where(registration => !registration.Cancelled))
        {
            try
            {
                registration.Action.Run();
            }
            catch (SchedulerException)
            {
                // From actors already stopped.
            }
            catch (Exception exception)
            {
                Log.Error(exception, "Error while executing scheduled task {0} at shutdown", registration.Action);
            }
        }
    }

    /// <summary>
    /// Akka's own monotonic clock (internal to Akka), which the wheel reports: Akka's code may
    /// compare a time read from the scheduler with one read from that clock, so the scheduler
    /// must not keep a clock of its own with another starting point.
    /// </summary>
    private static class AkkaClock
    {
        private static readonly Type ClockType =
            typeof(SchedulerBase).Assembly.GetType("Akka.Util.MonotonicClock", throwOnError: true)!;

        public static readonly Func<TimeSpan> Elapsed = Getter("Elapsed");

        public static readonly Func<TimeSpan> ElapsedHighRes = Getter("ElapsedHighRes");

        private static Func<TimeSpan> Getter(string property) =>
            ClockType.GetProperty(property, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
                ?.GetMethod?.CreateDelegate<Func<TimeSpan>>()
            ?? throw new InvalidOperationException($"Akka.Util.MonotonicClock.{property} not found in this Akka version");
    }

    private sealed class Registration(IRunnable action, ICancelable? cancelable, long interval)
    {
        public IRunnable Action { get; } = action;

        public long Interval { get; } = interval;

        /// <summary>The deadline it was last due at; set by the scheduler's thread when it takes it.</summary>
        public long Deadline { get; set; }

        public bool Cancelled => cancelable?.IsCancellationRequested ?? false;
    }

    private sealed class ScheduledTell(ICanTell receiver, object message, IActorRef sender) : IRunnable
    {
        public void Run() => receiver.Tell(message, sender);

        public void Execute() => Run();

        public override string ToString() => $"[{receiver}.Tell({message}, {sender})]";
    }
}
