using System.Collections.Concurrent;
using Akka.Configuration;
using Akka.Dispatch;

namespace ActorKv.Node.Threading;

/// <summary>
/// A dispatcher that gives each actor a thread of its own, as Akka's PinnedDispatcher does, for
/// actors that block on the disk. Unlike the PinnedDispatcher's pool of one (Helios'
/// DedicatedThreadPool), whose idle thread spins on sched_yield before it sleeps, the thread here
/// sleeps as soon as its queue is empty. Measured on the 2-core machine at 100 puts/s: a fifth of
/// a Raft leader's CPU samples were that spinning; with this dispatcher the 3-node cluster used
/// about a fifth less CPU (docs/benchmarks.md, session 14).
/// HOCON: <c>type = "ActorKv.Node.Threading.DedicatedThreadDispatcherConfigurator, ActorKv.Node"</c>.
/// </summary>
public sealed class DedicatedThreadDispatcherConfigurator(Config config, IDispatcherPrerequisites prerequisites)
    : MessageDispatcherConfigurator(config, prerequisites)
{
    /// <summary>A new dispatcher, and so a new thread, for every actor that looks it up.</summary>
    public override MessageDispatcher Dispatcher()
    {
        var deadline = Config.GetTimeSpan("throughput-deadline-time", null);
        return new PinnedDispatcher(
            this,
            Config.GetString("id"),
            Config.GetInt("throughput", 0),
            deadline.Ticks > 0 ? deadline.Ticks : null,
            new DedicatedThreadExecutorFactory(),
            Config.GetTimeSpan("shutdown-timeout", null));
    }

    private sealed class DedicatedThreadExecutorFactory : ExecutorServiceFactory
    {
        public override ExecutorService Produce(string id) => new DedicatedThreadExecutor(id);
    }
}

/// <summary>One thread running what it is given in order; it blocks (no spinning) while it has nothing.</summary>
public sealed class DedicatedThreadExecutor : ExecutorService
{
    private readonly ConcurrentQueue<IRunnable> work = new();
    // No spinning before the wait: the point of this executor.
    private readonly ManualResetEventSlim workQueued = new(false, spinCount: 0);
    private volatile bool shuttingDown;

    public DedicatedThreadExecutor(string id)
        : base(id)
    {
        new Thread(RunQueued) { IsBackground = true, Name = id }.Start();
    }

    public override void Execute(IRunnable run)
    {
        // Under the lock so that work is never queued after the thread's last look at the queue.
        lock (work)
        {
            if (shuttingDown)
            {
                throw new RejectedExecutionException($"the dedicated thread of {Id} is shut down");
            }

            work.Enqueue(run);
        }

        workQueued.Set();
    }

    public override void Shutdown()
    {
        lock (work)
        {
            shuttingDown = true;
        }

        workQueued.Set();
    }

    private void RunQueued()
    {
        while (true)
        {
            if (work.TryDequeue(out var run))
            {
                run.Run();
                continue;
            }

            if (shuttingDown)
            {
                lock (work)
                {
                    if (work.IsEmpty)
                    {
                        return;
                    }
                }

                continue;
            }

            workQueued.Reset();
            // Work queued between the failed dequeue and the reset set the event before the
            // reset cleared it: look again before sleeping.
            if (work.IsEmpty && !shuttingDown)
            {
                workQueued.Wait();
            }
        }
    }
}
