using System.Collections.Concurrent;
using System.Diagnostics;
using ActorKv.Node.Configuration;
using ActorKv.Node.Threading;
using Akka.Actor;
using Akka.Configuration;
using Akka.Event;

namespace ActorKv.Node.Tests;

/// <summary>
/// The node's Akka scheduler (<see cref="DeadlineScheduler"/>): work runs when it is due, in
/// deadline order, and the thread sleeps while nothing is.
/// </summary>
public sealed class DeadlineSchedulerTests : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
    private readonly DeadlineScheduler scheduler = new(ConfigurationFactory.Default(), NoLogger.Instance);

    private IAdvancedScheduler Advanced => ((IScheduler)scheduler).Advanced;

    public void Dispose() => scheduler.Dispose();

    [Fact]
    public void Work_runs_in_deadline_order_and_never_before_its_delay()
    {
        var ran = new ConcurrentQueue<(int Delay, TimeSpan At)>();
        using var allRan = new CountdownEvent(4);
        var clock = Stopwatch.StartNew();
        foreach (var delay in new[] { 300, 100, 0, 200 })
        {
            Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(delay), () =>
            {
                ran.Enqueue((delay, clock.Elapsed));
                allRan.Signal();
            });
        }

        Assert.True(allRan.Wait(Bound));
        Assert.Equal([0, 100, 200, 300], ran.Select(run => run.Delay));
        Assert.All(ran, run => Assert.True(run.At >= TimeSpan.FromMilliseconds(run.Delay), $"{run.Delay} ms work ran at {run.At}"));
    }

    [Fact]
    public void Work_due_at_once_runs_in_the_order_it_was_scheduled()
    {
        var ran = new ConcurrentQueue<int>();
        using var allRan = new CountdownEvent(200);
        for (var i = 0; i < 200; i++)
        {
            var n = i;
            Advanced.ScheduleOnce(TimeSpan.Zero, () =>
            {
                ran.Enqueue(n);
                allRan.Signal();
            });
        }

        Assert.True(allRan.Wait(Bound));
        Assert.Equal(Enumerable.Range(0, 200), ran);
    }

    [Fact]
    public void Repeated_work_runs_until_it_is_cancelled_and_then_never_again()
    {
        var runs = 0;
        using var fiveRuns = new CountdownEvent(5);
        var cancelable = Advanced.ScheduleRepeatedlyCancelable(TimeSpan.Zero, TimeSpan.FromMilliseconds(20), () =>
        {
            Interlocked.Increment(ref runs);
            if (!fiveRuns.IsSet)
            {
                fiveRuns.Signal();
            }
        });

        Assert.True(fiveRuns.Wait(Bound));
        cancelable.Cancel();
        // A run already taken when the cancel came may still finish: read the count after it.
        Thread.Sleep(50);
        var afterCancel = Volatile.Read(ref runs);
        Thread.Sleep(200);
        Assert.Equal(afterCancel, Volatile.Read(ref runs));
    }

    [Fact]
    public void Work_cancelled_before_it_is_due_never_runs()
    {
        var cancelledRan = false;
        using var laterRan = new ManualResetEventSlim();
        var cancelable = Advanced.ScheduleOnceCancelable(TimeSpan.FromMilliseconds(50), () => cancelledRan = true);
        Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(150), laterRan.Set);
        cancelable.Cancel();

        Assert.True(laterRan.Wait(Bound));
        Assert.False(cancelledRan);
    }

    [Fact]
    public void Earlier_work_wakes_a_thread_asleep_until_later_work()
    {
        using var earlyRan = new ManualResetEventSlim();
        Advanced.ScheduleOnce(TimeSpan.FromHours(1), () => { });
        Thread.Sleep(50); // the thread is now asleep for an hour
        Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(10), earlyRan.Set);

        Assert.True(earlyRan.Wait(Bound));
    }

    [Fact]
    public void The_thread_stays_asleep_while_nothing_is_due()
    {
        // Akka's wheel would wake 50 times in these 500 ms, once per 10-ms tick.
        using var nearRan = new ManualResetEventSlim();
        Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(10), nearRan.Set);
        Advanced.ScheduleOnce(TimeSpan.FromHours(1), () => { });
        Advanced.ScheduleOnce(TimeSpan.MaxValue, () => { });
        Assert.True(nearRan.Wait(Bound));
        Thread.Sleep(20);
        var wakeUps = scheduler.WakeUps;

        Thread.Sleep(500);

        Assert.Equal(wakeUps, scheduler.WakeUps);
    }

    [Fact]
    public void Work_that_throws_does_not_stop_the_scheduler_and_is_not_repeated()
    {
        var failures = 0;
        using var laterRan = new ManualResetEventSlim();
        Advanced.ScheduleRepeatedly(TimeSpan.Zero, TimeSpan.FromMilliseconds(10), () =>
        {
            Interlocked.Increment(ref failures);
            throw new InvalidOperationException("scheduled work failed");
        });
        Advanced.ScheduleOnce(TimeSpan.FromMilliseconds(100), laterRan.Set);

        Assert.True(laterRan.Wait(Bound));
        Assert.Equal(1, Volatile.Read(ref failures));
    }

    [Fact]
    public void Disposing_runs_what_is_still_scheduled_once_and_refuses_new_work()
    {
        var ran = 0;
        var cancelledRan = false;
        Advanced.ScheduleOnce(TimeSpan.FromHours(1), () => Interlocked.Increment(ref ran));
        Advanced.ScheduleRepeatedly(TimeSpan.FromHours(1), TimeSpan.FromHours(1), () => Interlocked.Increment(ref ran));
        Advanced.ScheduleOnceCancelable(TimeSpan.FromHours(1), () => cancelledRan = true).Cancel();

        scheduler.Dispose();

        Assert.Equal(2, ran);
        Assert.False(cancelledRan);
        Assert.Throws<SchedulerException>(() => Advanced.ScheduleOnce(TimeSpan.Zero, () => { }));
    }

    [Fact]
    public void Its_clocks_are_akkas()
    {
        using var wheel = new HashedWheelTimerScheduler(ConfigurationFactory.Default(), NoLogger.Instance);
        var difference = scheduler.HighResMonotonicClock - wheel.HighResMonotonicClock;
        Assert.InRange(difference, TimeSpan.FromSeconds(-1), TimeSpan.FromSeconds(1));
        Assert.InRange(scheduler.MonotonicClock - wheel.MonotonicClock, TimeSpan.FromSeconds(-1), TimeSpan.FromSeconds(1));
    }

    private sealed class Ticker : ReceiveActor, IWithTimers
    {
        public ITimerScheduler Timers { get; set; } = null!;

        public Ticker(IActorRef listener)
        {
            Receive<string>(tick => listener.Tell(tick));
        }

        protected override void PreStart() =>
            Timers.StartPeriodicTimer("tick", "tick", TimeSpan.FromMilliseconds(10));
    }

    [Fact]
    public async Task The_node_configuration_makes_it_the_actor_systems_scheduler_and_actor_timers_run_on_it()
    {
        // Disposed after the system has terminated: the listener adds to it until then.
        using var ticks = new BlockingCollection<string>();
        var system = ActorSystem.Create("scheduler-test", ActorKvSettings.Reference);
        try
        {
            Assert.IsType<DeadlineScheduler>(system.Scheduler);
            var listener = system.ActorOf(Props.Create(() => new ForwardTo(ticks)));
            system.ActorOf(Props.Create(() => new Ticker(listener)));
            for (var i = 0; i < 5; i++)
            {
                Assert.True(ticks.TryTake(out var tick, Bound));
                Assert.Equal("tick", tick);
            }
        }
        finally
        {
            await system.Terminate().WaitAsync(Bound);
        }
    }

    private sealed class ForwardTo : ReceiveActor
    {
        public ForwardTo(BlockingCollection<string> sink)
        {
            Receive<string>(sink.Add);
        }
    }
}
