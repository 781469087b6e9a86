using Xunit.Abstractions;

namespace ActorKv.Raft.Tests.Simulation;

/// <summary>
/// Seeded runs of whole clusters under faults. A failure names its seed: set
/// ACTORKV_SIMULATION_SEED to that seed to replay exactly that run; set ACTORKV_SIMULATION_SEEDS
/// to run more seeds per cluster size than CI's 250.
/// </summary>
public sealed class SimulationTests(ITestOutputHelper output)
{
    private const int SeedsPerSize = 250;
    private const int ChaosSteps = 1500;
    private const int ConvergenceTicks = 300;

    public static TheoryData<int> ClusterSizes => new() { 3, 5 };

    [Theory]
    [MemberData(nameof(ClusterSizes))]
    public void Clusters_stay_safe_under_faults_and_recover_when_they_stop(int voters)
    {
        var seeds = Environment.GetEnvironmentVariable("ACTORKV_SIMULATION_SEED") is { } replay
            ? [int.Parse(replay)]
            : Enumerable.Range(voters * 100_000, int.TryParse(Environment.GetEnvironmentVariable("ACTORKV_SIMULATION_SEEDS"), out var count) ? count : SeedsPerSize);
        var committed = 0;
        var membershipChanges = 0;
        foreach (var seed in seeds)
        {
            // Two spare nodes join and leave through membership changes during the run.
            var cluster = new SimulatedCluster(seed, voters, new FaultProfile(), spares: 2);
            for (var step = 0; step < ChaosSteps; step++)
            {
                cluster.ChaosStep();
            }

            cluster.AwaitConvergence(ConvergenceTicks);
            committed += cluster.CommittedProposals;
            membershipChanges += cluster.AppliedMembershipChanges;
        }

        output.WriteLine($"{voters} voters (+2 spares): {committed} proposals committed, {membershipChanges} membership changes applied over all seeds");
        Assert.True(membershipChanges > 0, "no membership change was applied in any run");
        Assert.True(committed > 0, "no proposal committed in any run: the simulation exercises nothing");
    }
}
