namespace ActorKv.Compat.Tests.Fixtures;

/// <summary>
/// Tests that run whole clusters share this collection, so that xunit runs them one after the
/// other: several clusters at once on two cores starve heartbeats and cause elections a test
/// did not ask for.
/// </summary>
[CollectionDefinition(Name)]
public sealed class ClusterCollection
{
    public const string Name = "clusters";
}
