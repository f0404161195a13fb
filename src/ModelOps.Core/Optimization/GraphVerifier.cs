using System.Diagnostics;
using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Optimization.Passes;
using ModelOps.Core.Protos;
using ModelOps.Core.Ops;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Optimization;

/// <summary>How one output of the optimized graph compared with the original.</summary>
public sealed record OutputComparison(string Name, string DType, string Shape, double MaxAbsDiff, double Scale, bool Passed, string? Problem = null)
{
    public override string ToString() => Problem ?? $"{Name} {DType}{Shape}: max|diff| {MaxAbsDiff:G3} (scale {Scale:G3})";
}

/// <summary>The result of running the original and the optimized graph on the same inputs.</summary>
public sealed class VerificationResult
{
    public bool Passed { get; init; }
    public bool Skipped { get; init; }
    /// <summary>Pass criterion: per output, max |optimized − original| ≤ Tolerance · max(1, max |original|).</summary>
    public double Tolerance { get; init; }
    /// <summary>The largest absolute difference seen over all outputs.</summary>
    public double MaxAbsDiff { get; init; }
    /// <summary>The output where it was seen.</summary>
    public string? WorstOutput { get; init; }
    /// <summary>"generated (seed N)" or "given".</summary>
    public string InputSource { get; init; } = "";
    public IReadOnlyList<OutputComparison> Outputs { get; init; } = Array.Empty<OutputComparison>();
    /// <summary>One warm run of each graph, in milliseconds.</summary>
    public double OriginalMilliseconds { get; init; }
    public double OptimizedMilliseconds { get; init; }
    public string Message { get; init; } = "";

    public override string ToString() => Message;
}

/// <summary>
/// Proves an optimization kept the outputs: runs the reference graph and the optimized graph on the same
/// inputs (generated from the input specs, or given) and compares every output.
/// </summary>
public static class GraphVerifier
{
    public const double DefaultTolerance = 1e-4;

    public static VerificationResult Verify(GraphDef reference, GraphDef optimized, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs,
        IReadOnlyDictionary<string, Tensor>? given = null, double tolerance = DefaultTolerance, int seed = 1, EngineOptions? options = null, string? referenceNote = null)
    {
        var feeds = given is { Count: > 0 } ? CheckGiven(reference, inputs, given) : GenerateInputs(reference, inputs, seed);
        var (refOut, refMs) = RunTwice(reference, feeds, outputs, options);
        var optFeeds = AdaptFeeds(optimized, feeds);
        var (optOut, optMs) = RunTwice(optimized, optFeeds, outputs, options);

        var comparisons = new List<OutputComparison>();
        double worst = 0;
        string? worstName = null;
        foreach (var name in outputs)
        {
            var c = Compare(name, refOut[name], optOut[name], tolerance);
            comparisons.Add(c);
            if (c.MaxAbsDiff > worst || worstName is null) { worst = c.MaxAbsDiff; worstName = name; }
        }
        bool passed = comparisons.All(c => c.Passed);
        string source = given is { Count: > 0 } ? "given" : $"generated (seed {seed})";
        string msg = passed
            ? $"Verified on {source} inputs: {outputs.Count} output(s) match; largest difference {worst:G3} (tolerance {tolerance:G3} x max(1, |value|))."
            : "Verification failed: " + string.Join("; ", comparisons.Where(c => !c.Passed).Select(c => c.Problem ?? c.ToString()))
              + $" (tolerance {tolerance:G3} x max(1, |value|), {source} inputs).";
        if (referenceNote is not null) msg += " " + referenceNote;
        return new VerificationResult
        {
            Passed = passed, Tolerance = tolerance, MaxAbsDiff = worst, WorstOutput = worstName, InputSource = source,
            Outputs = comparisons, OriginalMilliseconds = refMs, OptimizedMilliseconds = optMs, Message = msg,
        };
    }

    /// <summary>The original graph cut at the same inputs (no re-typing): what the optimized graph must reproduce.</summary>
    public static GraphDef Reference(GraphDef original, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs) =>
        Reference(original, inputs, outputs, out _);

    /// <summary>
    /// As <see cref="Reference(GraphDef, IReadOnlyList{string}, IReadOnlyList{string})"/>; when the outputs still depend on
    /// random ops (dropout frozen in training mode), the reference has dropout removed too, since a random reference
    /// proves nothing; <paramref name="note"/> then says so.
    /// </summary>
    public static GraphDef Reference(GraphDef original, IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, out string? note)
    {
        var r = new StripUnusedNodesPass().Apply(original, new PassContext(inputs, outputs));
        note = null;
        var random = r.Node.Where(n => RemoveDropoutPass.IsRandom(n.Op)).Select(n => n.Name).ToList();
        if (random.Count == 0) return r;
        var ctx = new PassContext(inputs, outputs);
        r = new RemoveDropoutPass().Apply(r, ctx);
        var left = r.Node.Where(n => RemoveDropoutPass.IsRandom(n.Op)).Select(n => n.Name).ToList();
        note = left.Count == 0
            ? $"The original outputs depend on random ops ({string.Join(", ", random.Take(3))}): dropout frozen in training mode; the reference has dropout removed as well."
            : $"The original outputs depend on random ops ({string.Join(", ", left.Take(3))}) that are not dropout; verification cannot be exact.";
        return r;
    }

    private static (IReadOnlyDictionary<string, Tensor> Values, double Ms) RunTwice(GraphDef g, IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyList<string> outputs, EngineOptions? options)
    {
        using var session = new GraphSession(g, outputs, options);
        var first = session.Run(feeds, outputs);
        var sw = Stopwatch.StartNew();
        session.Run(feeds, outputs);
        return (first, sw.Elapsed.TotalMilliseconds);
    }

    internal static OutputComparison Compare(string name, Tensor expected, Tensor actual, double tolerance)
    {
        string shape = Tensor.FormatShape(expected.Shape);
        if (expected.DType != actual.DType || !expected.Shape.AsSpan().SequenceEqual(actual.Shape))
            return new OutputComparison(name, expected.DType.Name(), shape, double.PositiveInfinity, 1, false,
                $"{name}: the optimized graph gives {actual}, the original {expected}");
        if (!expected.DType.IsNumeric() && expected.DType != DataType.DtBool)
        {
            bool same = expected.ContentEquals(actual);
            return new OutputComparison(name, expected.DType.Name(), shape, same ? 0 : double.PositiveInfinity, 1, same, same ? null : $"{name}: values differ");
        }
        double maxRef = 0, maxDiff = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected.GetDouble(i), a = actual.GetDouble(i);
            if (!double.IsNaN(e) && !double.IsInfinity(e)) maxRef = Math.Max(maxRef, Math.Abs(e));
            double d = e.Equals(a) ? 0 : Math.Abs(a - e);
            if (double.IsNaN(d)) d = double.PositiveInfinity;
            maxDiff = Math.Max(maxDiff, d);
        }
        double scale = Math.Max(1, maxRef);
        bool ok = maxDiff <= tolerance * scale;
        return new OutputComparison(name, expected.DType.Name(), shape, maxDiff, scale, ok,
            ok ? null : $"{name}: max|diff| {maxDiff:G4} > {tolerance * scale:G4}");
    }

    /// <summary>Deterministic inputs from the placeholders' dtypes and shapes (unknown dimensions become 1).</summary>
    public static Dictionary<string, Tensor> GenerateInputs(GraphDef g, IReadOnlyList<string> inputs, int seed = 1)
    {
        var view = new TfGraph(g);
        var rng = new Random(seed);
        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var name in inputs)
        {
            var n = view.Find(name);
            if (n is null || n.Op is not ("Placeholder" or "PlaceholderV2")) continue;
            var dtype = n.Attr.TryGetValue("dtype", out var dt) ? dt.Type.Base() : DataType.DtFloat;
            long[]? shape = n.Attr.TryGetValue("shape", out var sh) && sh.Shape is not null ? TensorProtoCodec.ToPartialShape(sh.Shape) : null;
            if (shape is null && n.Attr.TryGetValue("_output_shapes", out var os) && os.List is { Shape.Count: > 0 } l)
                shape = TensorProtoCodec.ToPartialShape(l.Shape[0]);
            if (shape is null)
                throw new ModelOpsException(OptimizationErrorIds.VerificationInputInvalid, ErrorKind.InvalidArgument,
                    $"Input '{name}' has no known rank, so no verification input can be generated. Give one with -VerificationInput @{{ '{name}' = ... }} or skip verification.", name);
            var dims = shape.Select(d => d < 0 ? 1 : (int)d).ToArray();
            feeds[name] = Random(dtype, dims, rng, name);
        }
        return feeds;
    }

    private static Tensor Random(DataType dtype, int[] dims, Random rng, string name)
    {
        int n = (int)Tensor.ElementCount(dims);
        Array data = dtype switch
        {
            DataType.DtFloat => Enumerable.Range(0, n).Select(_ => (float)rng.NextDouble()).ToArray(),
            DataType.DtDouble => Enumerable.Range(0, n).Select(_ => rng.NextDouble()).ToArray(),
            DataType.DtHalf => Enumerable.Range(0, n).Select(_ => (Half)rng.NextDouble()).ToArray(),
            DataType.DtUint8 => Enumerable.Range(0, n).Select(_ => (byte)rng.Next(256)).ToArray(),
            DataType.DtInt8 => Enumerable.Range(0, n).Select(_ => (sbyte)rng.Next(-128, 128)).ToArray(),
            DataType.DtInt32 => Enumerable.Range(0, n).Select(_ => rng.Next(4)).ToArray(),
            DataType.DtInt64 => Enumerable.Range(0, n).Select(_ => (long)rng.Next(4)).ToArray(),
            DataType.DtBool => Enumerable.Range(0, n).Select(_ => rng.Next(2) == 1).ToArray(),
            _ => throw new ModelOpsException(OptimizationErrorIds.VerificationInputInvalid, ErrorKind.NotImplemented,
                $"No verification input can be generated for the {dtype.Name()} input '{name}'. Give one with -VerificationInput or skip verification.", name),
        };
        return new Tensor(dtype, dims, data);
    }

    private static IReadOnlyDictionary<string, Tensor> CheckGiven(GraphDef g, IReadOnlyList<string> inputs, IReadOnlyDictionary<string, Tensor> given)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in given)
        {
            string node = TensorName.Parse(k).Node;
            if (!inputs.Contains(node))
                throw new ModelOpsException(OptimizationErrorIds.VerificationInputInvalid, ErrorKind.InvalidArgument,
                    $"The verification input '{k}' is not an input of the graph. Its inputs are: {string.Join(", ", inputs)}.", k);
            result[node] = v;
        }
        var missing = inputs.Where(i => !result.ContainsKey(i) && new TfGraph(g).Find(i)?.Op is "Placeholder" or "PlaceholderV2").ToList();
        if (missing.Count > 0)
        {
            // Fill the rest with generated values so a partial set still verifies.
            foreach (var (k, v) in GenerateInputs(g, missing)) result[k] = v;
        }
        return result;
    }

    /// <summary>Feeds for the optimized graph: only its placeholders, converted to the dtype it now takes (re-typed inputs).</summary>
    private static IReadOnlyDictionary<string, Tensor> AdaptFeeds(GraphDef optimized, IReadOnlyDictionary<string, Tensor> feeds)
    {
        var view = new TfGraph(optimized);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in feeds)
        {
            var n = view.Find(k);
            if (n is null || n.Op is not ("Placeholder" or "PlaceholderV2" or "PlaceholderWithDefault")) continue;
            var dtype = n.Attr.TryGetValue("dtype", out var dt) ? dt.Type.Base() : v.DType;
            result[k] = dtype == v.DType ? v : Convert(v, dtype);
        }
        return result;
    }

    private static Tensor Convert(Tensor t, DataType to)
    {
        var z = Tensor.Zeros(to, t.Shape);
        // Switch on the dtype, not the array type: the CLR lets byte[] pass as sbyte[].
        for (int i = 0; i < t.Length; i++)
        {
            double d = t.GetDouble(i);
            switch (to)
            {
                case DataType.DtFloat: ((float[])z.Data)[i] = (float)d; break;
                case DataType.DtDouble: ((double[])z.Data)[i] = d; break;
                case DataType.DtHalf: ((Half[])z.Data)[i] = (Half)d; break;
                case DataType.DtUint8: ((byte[])z.Data)[i] = (byte)Math.Clamp(Math.Round(d), 0, 255); break;
                case DataType.DtInt8: ((sbyte[])z.Data)[i] = (sbyte)Math.Clamp(Math.Round(d), -128, 127); break;
                case DataType.DtInt32: ((int[])z.Data)[i] = (int)d; break;
                case DataType.DtInt64: ((long[])z.Data)[i] = (long)d; break;
                case DataType.DtBool: ((bool[])z.Data)[i] = d != 0; break;
                default: throw new ModelOpsException(OptimizationErrorIds.VerificationInputInvalid, ErrorKind.NotImplemented, $"Cannot convert a verification input to {to.Name()}.");
            }
        }
        return z;
    }
}
