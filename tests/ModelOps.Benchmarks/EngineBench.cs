using System.Diagnostics;
using System.Text.Json;
using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Npy;
using ModelOps.Core.Ops;
using ModelOps.Core.Runtime;
using ModelOps.Core.Runtime.Onnx;
using ModelOps.Core.Tensors;

namespace ModelOps.Benchmarks;

/// <summary>
/// The managed engine against ONNX Runtime on every corpus model that converts, in the same run and
/// with the same inputs and thread count: median inference time of each and the ratio managed/ORT.
/// </summary>
public static class EngineBench
{
    public static int Run(bool quick)
    {
        string? corpus = LocateCorpus();
        if (corpus is null)
        {
            Console.WriteLine("Engine comparison skipped: the corpus is absent (set MODELOPS_CORPUS).");
            return 0;
        }
        int all = Environment.ProcessorCount;
        int runs = quick ? 3 : 9;
        Console.WriteLine();
        Console.WriteLine($"Managed engine vs ONNX Runtime (median of {runs} runs after 2 warm-ups; ratio > 1: ORT is faster)");
        Console.WriteLine($"{"model",-28} {"threads",7} {"managed ms",11} {"ORT ms",9} {"ratio",7}");
        foreach (var (name, graph, feeds, outputs) in Models(corpus))
        {
            foreach (int threads in all > 1 ? new[] { 1, all } : new[] { 1 })
            {
                try
                {
                    using var managed = new GraphSession(graph, outputs, new EngineOptions { IntraOpThreads = threads });
                    using var ort = OnnxSession.FromGraph(graph, new OnnxSessionOptions
                    {
                        IntraOpThreads = threads, Conversion = new OnnxConversionOptions { Outputs = outputs },
                    });
                    double m = Median(runs, () => managed.Run(feeds, outputs));
                    double o = Median(runs, () => ort.Run(feeds, outputs));
                    Console.WriteLine($"{name,-28} {threads,7} {m,11:F2} {o,9:F2} {m / o,7:F2}");
                }
                catch (ModelOps.Core.Errors.ModelOpsException ex)
                {
                    Console.WriteLine($"{name,-28} {threads,7}   not compared: {ex.ErrorId}");
                    break;
                }
            }
        }
        return 0;
    }

    /// <summary>Per-op-type time of the managed engine at 1 thread (5 profiled runs after 2 warm-ups) for each model (or those whose name contains <paramref name="filter"/>).</summary>
    public static int Profile(string? filter)
    {
        string? corpus = LocateCorpus();
        if (corpus is null)
        {
            Console.WriteLine("Profile skipped: the corpus is absent (set MODELOPS_CORPUS).");
            return 0;
        }
        foreach (var (name, graph, feeds, outputs) in Models(corpus))
        {
            if (filter is not null && !name.Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
            var profile = new OpProfile(Environment.GetEnvironmentVariable("PROFILE_SHAPES") == "1");
            using var managed = new GraphSession(graph, outputs, new EngineOptions { IntraOpThreads = 1, Profile = profile });
            managed.Run(feeds, outputs);
            managed.Run(feeds, outputs);
            profile.Reset();
            const int runs = 5;
            int g0 = GC.CollectionCount(0), g2 = GC.CollectionCount(2);
            long alloc = GC.GetTotalAllocatedBytes(true);
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < runs; i++) managed.Run(feeds, outputs);
            double wall = sw.Elapsed.TotalMilliseconds / runs;
            Console.WriteLine($"{name}: {wall:F2} ms/run, kernels {profile.TotalMs / runs:F2} ms/run, allocated {(GC.GetTotalAllocatedBytes(true) - alloc) / runs / 1e6:F1} MB/run, " +
                $"GCs gen0 {GC.CollectionCount(0) - g0} gen2 {GC.CollectionCount(2) - g2} (totals over {runs} runs below)");
            Console.Write(profile.Format(profile.ByShape ? 25 : 12));
        }
        return 0;
    }

    private static IEnumerable<(string, ModelOps.Core.Protos.GraphDef, Dictionary<string, Tensor>, List<string>)> Models(string corpus)
    {
        string human = Path.Combine(corpus, "tfjs-human");
        if (Directory.Exists(human))
        {
            foreach (var dir in Directory.GetDirectories(human).OrderBy(d => d, StringComparer.Ordinal))
            {
                if (!File.Exists(Path.Combine(dir, "meta.json"))) continue;
                using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "meta.json")));
                if (meta.RootElement.GetProperty("graph").GetProperty("has_control_flow").GetBoolean()) continue;
                var feeds = meta.RootElement.GetProperty("inputs").EnumerateArray()
                    .ToDictionary(i => i.GetProperty("name").GetString()!, i => NpyFile.Read(Path.Combine(dir, i.GetProperty("file").GetString()!)));
                var outputs = meta.RootElement.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()!).ToList();
                yield return (Path.GetFileName(dir), ModelReader.ReadGraphDef(Path.Combine(dir, "model.pb")), feeds, outputs);
            }
        }
        foreach (var m in new[] { "fc-layers", "ae0" })
        {
            string pb = Path.Combine(corpus, "tf", "frozen--tf2onnx-benchtf", m, "frozen.pb");
            if (!File.Exists(pb)) continue;
            var ramp = Tensor.Create(Enumerable.Range(1, 784).Select(i => (float)i).ToArray(), 1, 784);
            yield return ("benchtf/" + m, ModelReader.ReadGraphDef(pb), new Dictionary<string, Tensor> { ["X:0"] = ramp }, new List<string> { "output:0" });
        }
    }

    private static double Median(int runs, Action body)
    {
        body();
        body();
        var t = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            body();
            t[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(t);
        return t[runs / 2];
    }

    private static string? LocateCorpus()
    {
        string? env = Environment.GetEnvironmentVariable("MODELOPS_CORPUS");
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? env : null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ModelOps.sln")))
            {
                string c = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "corpus"));
                return Directory.Exists(c) ? c : null;
            }
        return null;
    }
}
