using ActorKv.Node.Threading;
using Akka.Actor;
using Akka.Dispatch;
using Akka.TestKit.Xunit2;

namespace ActorKv.Node.Tests;

/// <summary>
/// The storage dispatcher (<see cref="DedicatedThreadDispatcherConfigurator"/>) gives every actor
/// a thread of its own: one actor blocked on the disk never holds up another.
/// </summary>
public sealed class DedicatedThreadDispatcherTests : TestKit
{
    private const string Dispatcher = "test-storage-dispatcher";

    public DedicatedThreadDispatcherTests()
        : base($$"""
            {{Dispatcher}}.type = "{{typeof(DedicatedThreadDispatcherConfigurator).AssemblyQualifiedName}}"
            """)
    {
    }

    /// <summary>Answers with the name of the thread it runs on; blocks on "block" until the gate opens.</summary>
    private sealed class ThreadReporter : ReceiveActor
    {
        public ThreadReporter(ManualResetEventSlim gate)
        {
            Receive<string>(message => message == "block", _ =>
            {
                gate.Wait(TimeSpan.FromSeconds(30));
                Sender.Tell("unblocked");
            });
            Receive<int>(n => Sender.Tell((n, Environment.CurrentManagedThreadId, Thread.CurrentThread.Name)));
        }
    }

    [Fact]
    public void Each_actor_keeps_one_thread_of_its_own_named_after_the_dispatcher_and_gets_its_messages_in_order()
    {
        using var gate = new ManualResetEventSlim();
        var first = Sys.ActorOf(Props.Create(() => new ThreadReporter(gate)).WithDispatcher(Dispatcher));
        var second = Sys.ActorOf(Props.Create(() => new ThreadReporter(gate)).WithDispatcher(Dispatcher));

        var firstProbe = CreateTestProbe();
        var secondProbe = CreateTestProbe();
        var firstThreads = new HashSet<int>();
        var secondThreads = new HashSet<int>();
        for (var i = 0; i < 200; i++)
        {
            first.Tell(i, firstProbe.Ref);
            second.Tell(i, secondProbe.Ref);
        }

        for (var i = 0; i < 200; i++)
        {
            var (n, thread, name) = firstProbe.ExpectMsg<(int, int, string?)>();
            Assert.Equal(i, n);
            Assert.Equal(Dispatcher, name);
            firstThreads.Add(thread);
        }

        for (var i = 0; i < 200; i++)
        {
            var (n, thread, _) = secondProbe.ExpectMsg<(int, int, string?)>();
            Assert.Equal(i, n);
            secondThreads.Add(thread);
        }

        Assert.Single(firstThreads);
        Assert.Single(secondThreads);
        Assert.NotEqual(firstThreads.Single(), secondThreads.Single());
    }

    [Fact]
    public void An_actor_blocked_on_its_thread_does_not_hold_up_another_on_the_same_dispatcher()
    {
        using var gate = new ManualResetEventSlim();
        var blocked = Sys.ActorOf(Props.Create(() => new ThreadReporter(gate)).WithDispatcher(Dispatcher));
        var other = Sys.ActorOf(Props.Create(() => new ThreadReporter(gate)).WithDispatcher(Dispatcher));

        blocked.Tell("block");
        blocked.Tell(1);
        other.Tell(2);
        Assert.Equal(2, ExpectMsg<(int, int, string?)>().Item1);

        gate.Set();
        ExpectMsg("unblocked");
        Assert.Equal(1, ExpectMsg<(int, int, string?)>().Item1);
    }

    private sealed class Runnable(Action run) : IRunnable
    {
        public void Run() => run();

        // IRunnable is also a thread-pool work item.
        public void Execute() => run();
    }

    [Fact]
    public void Work_queued_before_shutdown_still_runs_in_order_and_work_after_it_is_refused()
    {
        var executor = new DedicatedThreadExecutor("test-executor");
        var ran = new List<int>();
        using var gate = new ManualResetEventSlim();
        using var allRan = new CountdownEvent(100);
        executor.Execute(new Runnable(() => gate.Wait(TimeSpan.FromSeconds(30))));
        for (var i = 0; i < 100; i++)
        {
            var n = i;
            executor.Execute(new Runnable(() =>
            {
                ran.Add(n);
                allRan.Signal();
            }));
        }

        executor.Shutdown();
        Assert.Throws<RejectedExecutionException>(() => executor.Execute(new Runnable(() => { })));
        gate.Set();
        Assert.True(allRan.Wait(TimeSpan.FromSeconds(10)));
        Assert.Equal(Enumerable.Range(0, 100), ran);
    }
}
