using System.Collections.Concurrent;
using Akka.Actor;
using Akka.Event;
using Xunit.Abstractions;

namespace ActorKv.Compat.Tests.Fixtures;

/// <summary>
/// An Akka logger for nodes that run inside the test process: each log event of the node goes to
/// the test's output, which xunit shows for a failed test, so that a failure in a cluster test
/// comes with its members' logs (elections, retried read indexes, lost associations). A node
/// started without a test output logs to the console as the executable does.
/// </summary>
public sealed class TestOutputLogger : ReceiveActor
{
    private const string SinkKey = "actorkv-tests.log-sink";

    private static readonly ConcurrentDictionary<string, ITestOutputHelper> Sinks = new();

    public TestOutputLogger()
    {
        var config = Context.System.Settings.Config;
        Sinks.TryGetValue(config.GetString(SinkKey, ""), out var sink);
        var member = config.GetString("actorkv.node.name", "?");
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(logEvent =>
        {
            try
            {
                sink?.WriteLine($"[{member}] {logEvent}");
            }
            catch (InvalidOperationException)
            {
                // The test has finished (xunit refuses output then); a node still stopping logs nowhere.
            }
        });
    }

    /// <summary>HOCON that sends a node's log to <paramref name="output"/>; dispose the registration when the node has stopped.</summary>
    public static (string Hocon, IDisposable Registration) For(ITestOutputHelper output)
    {
        var id = Guid.NewGuid().ToString("N");
        Sinks[id] = output;
        var hocon = $$"""
            akka.loggers = ["{{typeof(TestOutputLogger).FullName}}, {{typeof(TestOutputLogger).Assembly.GetName().Name}}"]
            {{SinkKey}} = "{{id}}"
            """;
        return (hocon, new Registration(id));
    }

    private sealed class Registration(string id) : IDisposable
    {
        public void Dispose() => Sinks.TryRemove(id, out _);
    }
}
