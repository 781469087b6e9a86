using BenchmarkDotNet.Running;

// Micro-benchmarks of the hot paths, run on demand (never in CI):
//   dotnet run -c Release --project src/ActorKv.MicroBenchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(ActorKv.MicroBenchmarks.MvccBenchmarks).Assembly).Run(args);
