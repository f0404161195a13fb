using System.Diagnostics;
using System.Text.Json;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Npy;
using ModelOps.Core.Graph;
using ModelOps.Core.Optimization;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;

namespace ModelOps.Benchmarks;

/// <summary>
/// Optimizer benchmark (<c>build.ps1 Bench -BenchArgs optimize</c>): time to optimize the largest tfjs-human
/// corpus graph with the default transforms, and inference latency before vs after (median of N runs on its
/// golden input). Other corpus graphs can be named: <c>-BenchArgs optimize,selfie</c>.
/// </summary>
public static class OptimizeBench
{
    public static int Run(string[] args)
    {
        string? corpus = LocateCorpus();
        if (corpus is null)
        {
            Console.WriteLine("optimize: the corpus is absent (set MODELOPS_CORPUS or place it at <repo>/../shared/corpus); nothing to measure.");
            return 0;
        }
        var root = Path.Combine(corpus, "tfjs-human");
        var named = args.Where(a => a != "optimize" && !a.StartsWith("--", StringComparison.Ordinal)).ToList();
        var models = named.Count > 0 ? named
            : new[] { Directory.GetDirectories(root).OrderByDescending(d => new FileInfo(Path.Combine(d, "model.pb")).Length).Select(Path.GetFileName).First()! }.ToList();
        int runs = args.Contains("--quick") ? 3 : 9;
        foreach (var m in models) Bench(Path.Combine(root, m), runs);
        return 0;
    }

    private static void Bench(string dir, int runs)
    {
        string pb = Path.Combine(dir, "model.pb");
        var graph = ModelReader.ReadGraphDef(pb);
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "meta.json")));
        var feeds = meta.RootElement.GetProperty("inputs").EnumerateArray().ToDictionary(
            i => TensorName.Parse(i.GetProperty("name").GetString()!).Node, i => NpyFile.Read(Path.Combine(dir, i.GetProperty("file").GetString()!)));
        var outputs = meta.RootElement.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()!).ToList();
        string? only = Environment.GetEnvironmentVariable("MODELOPS_BENCH_TRANSFORMS");
        var steps = TransformRegistry.BuiltIn.Parse(only is { Length: > 0 } ? new[] { only } : TransformRegistry.DefaultTransforms);

        OptimizationResult? result = null;
        double optimizeMs = Median(Math.Min(runs, 3), () => result = GraphOptimizer.Optimize(graph, steps, null, outputs));
        var optimized = result!.Graph;
        Console.WriteLine($"optimize {Path.GetFileName(dir)}: {new FileInfo(pb).Length:N0} bytes, {graph.Node.Count} -> {optimized.Node.Count} nodes, optimize {optimizeMs:F0} ms (median of {Math.Min(runs, 3)})");
        foreach (var p in result.Passes.Where(p => p.NodesRemoved + p.NodesAdded > 0 || p.Elapsed.TotalMilliseconds > 50))
            Console.WriteLine($"  {p.Name,-26} -{p.NodesRemoved,-4} +{p.NodesAdded,-4} {p.Elapsed.TotalMilliseconds,8:F1} ms");

        using var before = new GraphSession(graph, outputs);
        using var after = new GraphSession(optimized, outputs);
        // Interleaved (before, after, before, ...) so load from other processes hits both alike.
        before.Run(feeds, outputs);
        after.Run(feeds, outputs);
        var tb = new double[runs];
        var ta = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            before.Run(feeds, outputs);
            tb[i] = sw.Elapsed.TotalMilliseconds;
            sw.Restart();
            after.Run(feeds, outputs);
            ta[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(tb);
        Array.Sort(ta);
        double tBefore = tb[runs / 2], tAfter = ta[runs / 2];
        Console.WriteLine($"  latency before {tBefore,8:F2} ms (min {tb[0]:F2})   after {tAfter,8:F2} ms (min {ta[0]:F2})   ({(tBefore - tAfter) / tBefore * 100:+0.0;-0.0}% median, interleaved, {runs} runs, {Environment.ProcessorCount} cores)");
    }

    private static double Median(int runs, Action body)
    {
        body();
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            body();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[runs / 2];
    }

    private static string? LocateCorpus()
    {
        string? env = Environment.GetEnvironmentVariable("MODELOPS_CORPUS");
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? env : null;
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
            if (File.Exists(Path.Combine(d.FullName, "ModelOps.sln")))
            {
                string c = Path.GetFullPath(Path.Combine(d.FullName, "..", "shared", "corpus"));
                return Directory.Exists(c) ? c : null;
            }
        return null;
    }
}
