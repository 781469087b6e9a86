using Akka.Actor;
using Akka.Remote;
using Akka.Remote.Transport;

namespace ActorKv.Node.Chaos;

/// <summary>
/// Faults a chaos run injects into a running node (issue 6's nemeses): kill one of its actors so
/// that supervision restarts it from LMDB, or cut its Akka.Remote link to a member with the
/// throttler transport adapter. Only reachable when actorkv.chaos.enabled is on.
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
        // Identify answers once per selected actor; a short wait collects them all.
        using var inbox = Inbox.Create(node.System);
        node.System.ActorSelection(path).Tell(new Identify(path), inbox.Receiver);
        var found = new List<IActorRef>();
        while (true)
        {
            object answer;
            try
            {
                answer = await inbox.ReceiveAsync(TimeSpan.FromMilliseconds(500));
            }
            catch (TimeoutException)
            {
                break;
            }

            if (answer is ActorIdentity { Subject: { } subject })
            {
                found.Add(subject);
            }
        }

        return found;
    }

    /// <summary>Cuts (both directions) or heals this node's link to the member.</summary>
    public async Task SetPeerLinkAsync(ulong memberId, bool cut)
    {
        var member = node.MemberList().Members.FirstOrDefault(m => m.ID == memberId)
            ?? throw new ArgumentException($"no member {memberId:x}");
        var peer = new Uri(member.PeerURLs.First());
        var system = (ExtendedActorSystem)node.System;
        var local = system.Provider.DefaultAddress;
        if (!local.Protocol.Contains("trttl", StringComparison.Ordinal))
        {
            throw new InvalidOperationException("links can be cut only with akka.remote.dot-netty.tcp.applied-adapters = [trttl]");
        }

        var target = new Address(local.Protocol, local.System, peer.Host, peer.Port);
        var transport = ((IRemoteActorRefProvider)system.Provider).Transport;
        ThrottleMode mode = cut ? Blackhole.Instance : Unthrottled.Instance;
        await transport.ManagementCommand(new SetThrottle(target, ThrottleTransportAdapter.Direction.Both, mode));
    }
}
