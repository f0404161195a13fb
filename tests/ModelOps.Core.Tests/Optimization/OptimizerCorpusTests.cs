using System.Text.Json;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Npy;
using ModelOps.Core.Optimization;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace ModelOps.Core.Tests.Optimization;

/// <summary>
/// Every tfjs-human frozen graph optimizes with the default transforms, passes verification against the
/// original, and still reproduces the golden outputs TensorFlow.js computed (same criterion as the engine's
/// golden test: max |ours − golden| ≤ 1e-4 · max(1, max |golden|)).
/// </summary>
public class OptimizerCorpusTests
{
    private readonly ITestOutputHelper _out;

    public OptimizerCorpusTests(ITestOutputHelper output) => _out = output;

    public static IEnumerable<object[]> Models()
    {
        if (!Corpus.Available || !Directory.Exists(Corpus.Path("tfjs-human"))) return new[] { new object[] { "(corpus absent)" } };
        return Directory.GetDirectories(Corpus.Path("tfjs-human")).Select(Path.GetFileName).Order(StringComparer.Ordinal).Select(n => new object[] { n! });
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Optimizes_verifies_and_reproduces_golden_outputs(string model)
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string dir = Corpus.Path("tfjs-human", model);
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "meta.json")));
        var inputs = meta.RootElement.GetProperty("inputs").EnumerateArray()
            .ToDictionary(i => i.GetProperty("name").GetString()!, i => NpyFile.Read(Path.Combine(dir, i.GetProperty("file").GetString()!)));
        var outputs = meta.RootElement.GetProperty("outputs").EnumerateArray()
            .Select(o => (Name: o.GetProperty("name").GetString()!, Golden: NpyFile.Read(Path.Combine(dir, o.GetProperty("file").GetString()!))))
            .ToList();
        var outNames = outputs.Select(o => o.Name).ToList();

        var original = ModelReader.ReadGraphDef(Path.Combine(dir, "model.pb"));
        var steps = TransformRegistry.BuiltIn.Parse(TransformRegistry.DefaultTransforms);
        var result = GraphOptimizer.Optimize(original, steps, inputs: null, outputs: outNames);
        var optimized = result.Graph;
        _out.WriteLine($"{model}: {original.Node.Count} -> {optimized.Node.Count} nodes, {original.CalculateSize()} -> {optimized.CalculateSize()} bytes, {result.Elapsed.TotalMilliseconds:F0} ms");
        foreach (var p in result.Passes) _out.WriteLine($"  {p}{(p.Notes.Count > 0 ? "  [" + string.Join(" | ", p.Notes) + "]" : "")}");

        // Verification on generated inputs (what the cmdlet does by default).
        var reference = GraphVerifier.Reference(original, result.Inputs, result.Outputs);
        var v = GraphVerifier.Verify(reference, optimized, result.Inputs, result.Outputs);
        _out.WriteLine($"  verification: {v.Message} ({v.OriginalMilliseconds:F1} ms -> {v.OptimizedMilliseconds:F1} ms)");
        Assert.True(v.Passed, v.Message);

        // Golden outputs from the optimized graph.
        var feeds = inputs.ToDictionary(kv => ModelOps.Core.Graph.TensorName.Parse(kv.Key).Node, kv => kv.Value);
        using var session = new GraphSession(optimized, outNames);
        var got = session.Run(feeds, outNames);
        var failures = new List<string>();
        foreach (var (name, golden) in outputs)
        {
            var ours = got[name];
            if (ours.DType != golden.DType || !ours.Shape.AsSpan().SequenceEqual(golden.Shape)) { failures.Add($"{name}: got {ours}, golden {golden}"); continue; }
            double maxGolden = 0, maxDiff = 0;
            for (int i = 0; i < golden.Length; i++)
            {
                double g = golden.GetDouble(i), o = ours.GetDouble(i);
                maxGolden = Math.Max(maxGolden, Math.Abs(g));
                double d = g.Equals(o) ? 0 : Math.Abs(o - g);
                maxDiff = Math.Max(maxDiff, double.IsNaN(d) ? double.PositiveInfinity : d);
            }
            double tol = 1e-4 * Math.Max(1, maxGolden);
            _out.WriteLine($"  golden {name}: max|diff| {maxDiff:G4} (tolerance {tol:G4})");
            if (maxDiff > tol) failures.Add($"{name}: max|optimized - golden| = {maxDiff:G6} > {tol:G6}");
        }
        Assert.True(failures.Count == 0, $"{model}: " + string.Join("; ", failures));
        Assert.True(optimized.Node.Count <= original.Node.Count, "the optimized graph has more nodes than the original");
    }

    [SkippableTheory]
    [InlineData("ae0")]
    [InlineData("fc-layers")]
    [InlineData("gru")]
    [InlineData("lstm")]
    public void Tf2onnx_frozen_graphs_optimize_and_verify(string model)
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var original = ModelReader.ReadGraphDef(Corpus.Path("tf", "frozen--tf2onnx-benchtf", model, "frozen.pb"));
        var result = GraphOptimizer.Optimize(original, TransformRegistry.BuiltIn.Parse(TransformRegistry.DefaultTransforms), null, new[] { "output" });
        var reference = GraphVerifier.Reference(original, result.Inputs, result.Outputs, out string? note);
        // tf2onnx's manifest input: X = 1..784 as [1,784] (X has no static shape in gru/lstm).
        var ramp = Tensor.Create(Enumerable.Range(1, 784).Select(i => (float)i).ToArray(), 1, 784);
        var v = GraphVerifier.Verify(reference, result.Graph, result.Inputs, result.Outputs, new Dictionary<string, Tensor> { ["X"] = ramp }, referenceNote: note);
        _out.WriteLine($"{model}: {original.Node.Count} -> {result.Graph.Node.Count} nodes; {v.Message}");
        Assert.True(v.Passed, v.Message);
        Assert.True(result.Graph.Node.Count < original.Node.Count);
        Assert.Contains(result.Graph.Node, n => n.Op == "_FusedMatMul");
        Assert.DoesNotContain(result.Graph.Node, n => n.Op == "RandomUniform");
    }
}
