using System.Text.Json;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Npy;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace ModelOps.Core.Tests.Runtime;

/// <summary>
/// Runs every tfjs-human corpus model on the managed engine and compares with the golden outputs
/// TensorFlow.js computed: per output, max |ours − golden| ≤ 1e-4 · max(1, max |golden|), with the
/// same dtype and shape, and a second run (after the session released its graph's constant values) gives the same bits.
/// Skips only when the corpus itself is absent.
/// </summary>
public class CorpusGoldenTests
{
    private readonly ITestOutputHelper _out;

    public CorpusGoldenTests(ITestOutputHelper output) => _out = output;

    public static IEnumerable<object[]> Models()
    {
        string? dir = Corpus.Path("tfjs-human");
        if (dir is null || !Directory.Exists(dir)) return new[] { new object[] { "(corpus absent)" } };
        return Directory.GetDirectories(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).Select(n => new object[] { n! });
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Model_reproduces_golden_outputs(string model)
    {
        string? dir = Corpus.Path("tfjs-human", model);
        Skip.If(dir is null || !Directory.Exists(dir), "The corpus is not available: set MODELOPS_CORPUS or put it at ../shared/corpus.");

        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir!, "meta.json")));
        var inputs = meta.RootElement.GetProperty("inputs").EnumerateArray()
            .ToDictionary(i => i.GetProperty("name").GetString()!, i => NpyFile.Read(Path.Combine(dir!, i.GetProperty("file").GetString()!)));
        var outputs = meta.RootElement.GetProperty("outputs").EnumerateArray()
            .Select(o => (Name: o.GetProperty("name").GetString()!, Golden: NpyFile.Read(Path.Combine(dir!, o.GetProperty("file").GetString()!))))
            .ToList();

        var graph = ModelReader.ReadGraphDef(Path.Combine(dir!, "model.pb"));
        // As Invoke-TfInference runs them: the session owns its graph and drops the constant values it holds after the
        // first run, so the second run below also proves nothing still reads them from the graph.
        using var session = new GraphSession(graph, outputs.Select(o => o.Name).ToList(), new ModelOps.Core.Ops.EngineOptions { ReleaseGraphConstants = true });
        var results = session.Run(inputs);
        var firstCopies = results.ToDictionary(kv => kv.Key, kv => new Tensor(kv.Value.DType, kv.Value.Shape, (Array)kv.Value.Data.Clone()));
        var inputCopies = inputs.ToDictionary(kv => kv.Key, kv => new Tensor(kv.Value.DType, kv.Value.Shape, (Array)kv.Value.Data.Clone()));
        // A second run reuses the plan's buffers: it must give the same bits, leave the first run's
        // results untouched (they belong to the caller) and never write the feeds.
        var again = session.Run(inputs);
        foreach (var (name, first) in firstCopies)
        {
            Assert.True(again[name].ContentEquals(first), $"{model} {name}: the second run differs from the first");
            Assert.True(results[name].ContentEquals(first), $"{model} {name}: the second run overwrote the first run's result");
            Assert.False(ReferenceEquals(again[name].Data, results[name].Data), $"{model} {name}: two runs returned the same array");
        }
        foreach (var (name, copy) in inputCopies)
            Assert.True(inputs[name].ContentEquals(copy), $"{model}: the run wrote the feed '{name}'");

        var failures = new List<string>();
        foreach (var (name, golden) in outputs)
        {
            var ours = results[name];
            if (ours.DType != golden.DType || !ours.Shape.AsSpan().SequenceEqual(golden.Shape))
            {
                failures.Add($"{name}: got {ours}, golden is {golden}");
                continue;
            }
            double maxGolden = 0, maxDiff = 0;
            for (int i = 0; i < golden.Length; i++)
            {
                double g = golden.GetDouble(i), o = ours.GetDouble(i);
                maxGolden = Math.Max(maxGolden, Math.Abs(g));
                double d = double.IsNaN(g) && double.IsNaN(o) || g == o ? 0 : Math.Abs(o - g);
                if (double.IsNaN(d)) d = double.PositiveInfinity;
                maxDiff = Math.Max(maxDiff, d);
            }
            double tol = 1e-4 * Math.Max(1, maxGolden);
            _out.WriteLine($"{model} {name}: max|diff| = {maxDiff:G4} (tolerance {tol:G4})");
            if (maxDiff > tol) failures.Add($"{name}: max|ours - golden| = {maxDiff:G6} > {tol:G6}");
        }
        Assert.True(failures.Count == 0, $"{model}: " + string.Join("; ", failures));
    }
}
