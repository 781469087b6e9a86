using Akka.Actor;
using Akka.Remote;

namespace ActorKv.Node.Chaos;

/// <summary>
/// Faults a chaos run injects into a running node (issue 6's nemeses): kill one of its actors so
/// that supervision restarts it from LMDB, or cut, thin or slow its Akka.Remote link to a member
/// with the faults transport adapter. Only reachable when actorkv.chaos.enabled is on.
/// </summary>
public sealed class ChaosControl(ActorKvNode node)
{
    /// <summary>The actors a chaos run may kill, by the name it gives, as paths under the node guardian.</summary>
    public static readonly IReadOnlyDictionary<string, string> KillableActors = new Dictionary<string, string>
    {
        ["raft"] = "/user/node/raft",
        ["log"] = "/user/node/log",
        ["apply"] = "/user/node/apply",
        ["watch"] = "/user/node/watch",
        ["leases"] = "/user/node/leases",
        ["gateway"] = "/user/node/gateway",
        ["peers"] = "/user/node/raft/peer-*",
    };

    /// <summary>Sends Akka's Kill to the named actor(s); answers the paths that were killed.</summary>
    public async Task<IReadOnlyList<string>> KillActorAsync(string name)
    {
        if (!KillableActors.TryGetValue(name, out var path))
        {
            throw new ArgumentException($"unknown actor '{name}'; one of: {string.Join(", ", KillableActors.Keys)}");
        }

        var killed = new List<string>();
        foreach (var target in await ResolveAsync(path))
        {
            target.Tell(Kill.Instance);
            killed.Add(target.Path.ToStringWithoutAddress());
        }

        return killed;
    }

    /// <summary>Every actor the path (with wildcards) selects now.</summary>
    private async Task<List<IActorRef>> ResolveAsync(string path)
    {
        // Identify is answered once per selected actor; a collector takes answers until none has
        // come for a moment. (Akka's Inbox did this before: once, under load, its ReceiveAsync
        // neither answered nor timed out, and a test hung; a receive timeout cannot be missed.)
        var collected = new TaskCompletionSource<List<IActorRef>>(TaskCreationOptions.RunContinuationsAsynchronously);
        var collector = node.System.ActorOf(Props.Create(() => new IdentityCollector(collected, TimeSpan.FromMilliseconds(500))));
        node.System.ActorSelection(path).Tell(new Identify(path), collector);
        try
        {
            return await collected.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            node.System.Stop(collector);
        }
    }

    /// <summary>Collects the actors that answer Identify until none has answered for a quiet period.</summary>
    private sealed class IdentityCollector : ReceiveActor
    {
        public IdentityCollector(TaskCompletionSource<List<IActorRef>> collected, TimeSpan quiet)
        {
            var found = new List<IActorRef>();
            Context.SetReceiveTimeout(quiet);
            Receive<ActorIdentity>(identity =>
            {
                if (identity.Subject is { } subject)
                {
                    found.Add(subject);
                }
            });
            Receive<ReceiveTimeout>(_ =>
            {
                collected.TrySetResult(found);
                Context.Stop(Self);
            });
        }
    }

    /// <summary>
    /// Sets what happens to what this node sends the member (<see cref="LinkFaultAdapter"/>):
    /// a link cut both ways is cut on both members.
    /// </summary>
    public async Task SetPeerLinkAsync(ulong memberId, LinkFault fault)
    {
        if (fault.DropProbability is < 0 or > 1 || fault.Delay < TimeSpan.Zero || fault.Delay > TimeSpan.FromMinutes(1))
        {
            throw new ArgumentException("drop must be 0 to 100 percent and delay 0 to 60000 ms");
        }

        var member = node.MemberList().Members.FirstOrDefault(m => m.ID == memberId)
            ?? throw new ArgumentException($"no member {memberId:x}");
        var peer = new Uri(member.PeerURLs.First());
        var system = (ExtendedActorSystem)node.System;
        if (!system.Provider.DefaultAddress.Protocol.Contains(LinkFaultAdapter.Scheme, StringComparison.Ordinal))
        {
            throw new InvalidOperationException("links can be cut only with applied-adapters = [faults] on the enabled Akka.Remote transport (hocon/chaos-links.conf)");
        }

        var transport = ((IRemoteActorRefProvider)system.Provider).Transport;
        await transport.ManagementCommand(new SetLinkFault(peer.Host, peer.Port, fault));
    }
}
