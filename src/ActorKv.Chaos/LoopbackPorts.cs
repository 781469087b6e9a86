using System.Net;
using System.Net.Sockets;

namespace ActorKv.Chaos;

/// <summary>
/// Ports on 127.0.0.1 for the processes tests and chaos runs start. Both take them below Linux's
/// ephemeral range (32768 and up), where outgoing connections take their local ports, and apart:
/// tests 10000-19999, chaos runs 20000-31999.
/// </summary>
public static class LoopbackPorts
{
    /// <summary>
    /// Whether scripts/cluster.sh can start <paramref name="slots"/> members from this base port:
    /// member i takes the client port base + 10 i and the peer port one above it.
    /// </summary>
    public static bool ClusterPortsFree(int basePort, int slots) =>
        Enumerable.Range(0, slots).All(i => IsFree(basePort + (10 * i)) && IsFree(basePort + (10 * i) + 1));

    /// <summary>Whether a listener can bind the port now.</summary>
    public static bool IsFree(int port)
    {
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
