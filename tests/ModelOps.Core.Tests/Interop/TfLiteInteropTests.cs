using System.Collections.Concurrent;
using System.Text.Json;
using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Npy;
using ModelOps.Core.Samples;
using ModelOps.Core.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace ModelOps.Core.Tests.Interop;

/// <summary>
/// Proof with real consumers: every convertible tfjs-human corpus graph is converted by our converter
/// and run in real TFLite runtimes (../shared/validators); outputs are compared with the golden outputs
/// TensorFlow produced. Skips with the reason when the corpus or a runtime is absent.
/// </summary>
[Trait("Category", "Interop")]
public sealed class TfLiteInteropTests(ITestOutputHelper log)
{
    private const string Human = "tfjs-human";

    /// <summary>Models with a TF1 while loop + TensorArrays + NMS: not convertible to builtins.</summary>
    private static readonly HashSet<string> ControlFlowModels = new(StringComparer.Ordinal) { "faceboxes" };

    private static readonly string[] Models =
    {
        "age", "antispoof", "blazeface-front", "emotion", "facemesh-detection-short", "gender", "handlandmark-lite",
        "liveness", "meet", "mobileface", "nanodet", "selfie",
    };

    private static readonly string[] Runtimes = { TfLiteRuntimes.Wasm, TfLiteRuntimes.C22, TfLiteRuntimes.ArmNN };

    public static TheoryData<string, string> Float32Cases()
    {
        var d = new TheoryData<string, string>();
        foreach (var m in Models) foreach (var r in Runtimes) d.Add(m, r);
        return d;
    }

    public static TheoryData<string, string, string> QuantizedCases()
    {
        var d = new TheoryData<string, string, string>();
        foreach (var m in Models) foreach (var q in new[] { "Float16", "DynamicDequantize" }) d.Add(m, q, TfLiteRuntimes.Wasm);
        return d;
    }

    private static readonly ConcurrentDictionary<(string, TfLiteQuantization, bool), (TfLiteConversionResult Result, string Path)> Converted = new();

    [SkippableTheory]
    [MemberData(nameof(Float32Cases))]
    public void Float32_MatchesGolden(string model, string runtime)
    {
        var (result, path, inputs, golden) = Prepare(model, TfLiteQuantization.None);
        SkipIfCannotRun(runtime, result);
        var outs = TfLiteRuntimes.Run(runtime, path, inputs);
        Assert.Equal(golden.Count, outs.Count);
        for (int i = 0; i < golden.Count; i++)
        {
            var g = golden[i];
            var o = outs[i];
            Assert.Equal(g.Shape, o.Shape);
            double scale = Math.Max(1, MaxAbs(g));
            double err = MaxAbsDiff(g, o.Data);
            log.WriteLine($"{model} {runtime} float32 output {i} '{o.Name}': max|err| {err:G4} (max|golden| {MaxAbs(g):G4}); ops {string.Join(",", result.Ops.Select(x => $"{x.Op}v{x.Version}"))}");
            Assert.True(err <= 1e-4 * scale, $"{model} on {runtime}: output {i} differs from TF's golden output by {err:G6} (> 1e-4 x {scale:G4}).");
        }
    }

    /// <summary>
    /// Quantized files run in real TFLite with the accuracy the converter's report states. The report
    /// (TfLiteAccuracy: managed engine, same input, float graph vs graph with the rounded weights)
    /// measures weight rounding, which is all the error of float16 files and of dynamic-range files
    /// written with DEQUANTIZE instead of hybrid kernels: there the runtime must match the report
    /// (SNR within 3 dB, or max error within 1.5x). Float16 must also keep ≥ 40 dB.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(QuantizedCases))]
    public void Quantized_WithinReportedAccuracy(string model, string mode, string runtime)
    {
        bool hybrid = mode != "DynamicDequantize";
        var q = hybrid ? Enum.Parse<TfLiteQuantization>(mode) : TfLiteQuantization.Dynamic;
        var (result, path, inputs, golden) = Prepare(model, q, hybrid);
        SkipIfCannotRun(runtime, result);
        var outs = TfLiteRuntimes.Run(runtime, path, inputs);
        var report = Report(model, q, result, inputs);
        for (int i = 0; i < golden.Count; i++)
        {
            double snr = SnrDb(golden[i], outs[i].Data);
            double err = MaxAbsDiff(golden[i], outs[i].Data);
            log.WriteLine($"{model} {runtime} {mode} output {i}: runtime SNR {snr:F1} dB, max|err| {err:G4}; report SNR {report[i].SnrDb:F1} dB, max|err| {report[i].MaxAbsError:G4}; max|golden| {MaxAbs(golden[i]):G4}; {result.Model.Length} B");
            bool withinSnr = snr >= Math.Min(report[i].SnrDb, 60) - 3;
            bool withinErr = err <= 1.5 * report[i].MaxAbsError;
            Assert.True(withinSnr || withinErr,
                $"{model} {mode} on {runtime}: output {i} SNR {snr:F1} dB / max|err| {err:G4}, the report states {report[i].SnrDb:F1} dB / {report[i].MaxAbsError:G4}.");
            if (q == TfLiteQuantization.Float16) Assert.True(snr >= 40, $"{model} float16 on {runtime}: output {i} SNR {snr:F1} dB < 40 dB.");
        }
    }

    /// <summary>
    /// Dynamic-range files with TFLite's hybrid kernels (the default) run in real TFLite. Their error
    /// (weights + on-the-fly activation quantization) is logged next to the report's weight-only figure;
    /// the assertion is that every output has TF's shape and finite values.
    /// </summary>
    [SkippableTheory]
    [MemberData(nameof(Float32Cases))]
    public void DynamicHybrid_Runs(string model, string runtime)
    {
        var (result, path, inputs, golden) = Prepare(model, TfLiteQuantization.Dynamic);
        SkipIfCannotRun(runtime, result);
        var outs = TfLiteRuntimes.Run(runtime, path, inputs);
        var report = Report(model, TfLiteQuantization.Dynamic, result, inputs);
        Assert.Equal(golden.Count, outs.Count);
        for (int i = 0; i < golden.Count; i++)
        {
            Assert.Equal(golden[i].Shape, outs[i].Shape);
            Assert.All(outs[i].Data, v => Assert.True(double.IsFinite(v)));
            log.WriteLine($"{model} {runtime} Dynamic(hybrid) output {i}: runtime SNR {SnrDb(golden[i], outs[i].Data):F1} dB, max|err| {MaxAbsDiff(golden[i], outs[i].Data):G4}; report (weights only) {report[i].SnrDb:F1} dB");
        }
    }

    private static IReadOnlyList<TfLiteOutputAccuracy> Report(string model, TfLiteQuantization q, TfLiteConversionResult result, IReadOnlyList<Tensor> inputs)
    {
        var graph = ModelReader.ReadGraphDef(Corpus.Path(Human, model, "model.pb"));
        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int i = 0; i < inputs.Count; i++) feeds[result.Inputs[i].SignatureKey] = inputs[i];
        return TfLiteAccuracy.Measure(graph, result, new TfLiteConverterOptions { Quantization = q }, new[] { (IReadOnlyDictionary<string, Tensor>)feeds });
    }

    [SkippableFact]
    public void ControlFlowModel_ListsEveryUnsupportedOp()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var g = ModelReader.ReadGraphDef(Corpus.Path(Human, "faceboxes", "model.pb"));
        // Its image input is [-1,-1,-1,3]: without a shape the converter asks for one.
        Assert.Equal(TfLiteErrorIds.UnknownShape, Assert.Throws<ModelOpsException>(() => TfLiteConverter.Convert(g)).ErrorId);
        var shapes = new Dictionary<string, int[]> { ["image_tensor"] = new[] { 1, 256, 256, 3 } };
        var ex = Assert.Throws<ModelOpsException>(() => TfLiteConverter.Convert(g, new TfLiteConverterOptions { InputShapes = shapes }));
        Assert.Equal(TfLiteErrorIds.UnsupportedOps, ex.ErrorId);
        foreach (var op in new[] { "Enter", "Exit", "LoopCond", "Merge", "NextIteration", "Switch", "TensorArrayV3", "NonMaxSuppressionV3" })
            Assert.Contains(op, ex.Message);
        Assert.Contains("-AllowCustomOps", ex.Message);
    }

    [SkippableTheory]
    [InlineData(TfLiteRuntimes.Wasm)]
    [InlineData(TfLiteRuntimes.C22)]
    [InlineData(TfLiteRuntimes.ArmNN)]
    public void SampleCnn_RunsInRealTfLite_SameAcrossRuntimes(string runtime)
    {
        var why = TfLiteRuntimes.Unavailable(runtime);
        Skip.If(why is not null, why);
        var result = TfLiteConverter.Convert(SampleModels.FrozenCnn());
        string path = Path.Combine(Path.GetTempPath(), $"modelops-sample-{Guid.NewGuid():N}.tflite");
        File.WriteAllBytes(path, result.Model);
        try
        {
            var input = SampleModels.CnnInput();
            var outs = TfLiteRuntimes.Run(runtime, path, new[] { input });
            Assert.Single(outs);
            Assert.Equal(new[] { 1, 5 }, outs[0].Shape);
            var expected = SampleCnnReference.Run(input);
            double err = outs[0].Data.Zip(expected, (a, b) => Math.Abs(a - b)).Max();
            log.WriteLine($"sample on {runtime}: {string.Join(", ", outs[0].Data.Select(v => v.ToString("F6", System.Globalization.CultureInfo.InvariantCulture)))}; max|err| vs reference {err:G3}");
            Assert.True(err <= 1e-4, $"sample CNN on {runtime} differs from the reference by {err:G4}.");
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static void SkipIfCannotRun(string runtime, TfLiteConversionResult result)
    {
        var why = TfLiteRuntimes.Unavailable(runtime);
        Skip.If(why is not null, why);
        if (runtime == TfLiteRuntimes.C22)
            Skip.If(TfLiteOpVersions.Compare(result.MinRuntimeVersion, "2.2.0") > 0,
                $"The file needs TFLite {result.MinRuntimeVersion} (min_runtime_version); the C library is TFLite 2.2.");
        if (runtime == TfLiteRuntimes.ArmNN)
        {
            var missing = result.Ops.Select(o => o.Op).Where(o => !TfLiteRuntimes.ArmNNOps.Contains(o)).Distinct().ToList();
            Skip.If(missing.Count > 0, $"Arm NN 20.08's TfLite parser has no {string.Join(", ", missing)}.");
            Skip.If(result.Graph.Tensors.Any(t => t.Type == ModelOps.Core.Formats.TfLite.Schema.TensorType.INT64), "Arm NN rejects INT64 tensors.");
            Skip.If(result.Graph.Operators.Any(o => o.Inputs.Count > 1 && o.Inputs[1] >= 0 && result.Graph.Tensors[o.Inputs[0]].Type == ModelOps.Core.Formats.TfLite.Schema.TensorType.FLOAT32
                    && result.Graph.Tensors[o.Inputs[1]].Type == ModelOps.Core.Formats.TfLite.Schema.TensorType.INT8),
                "Arm NN 20.08's CpuRef has no hybrid kernels (float activations x int8 weights: 'input and weights types mismatched').");
            // Measured: Arm NN 20.08 resizes as if half_pixel_centers were false (1x2x3 → 4x6 gives the align-less grid).
            Skip.If(result.Graph.Operators.Any(o => o.Options?.Value is ModelOps.Core.Formats.TfLite.Schema.ResizeBilinearOptionsT { HalfPixelCenters: true }),
                "Arm NN 20.08 ignores RESIZE_BILINEAR's half_pixel_centers (TF2 resize semantics), so its result differs from TF by design.");
        }
    }

    private (TfLiteConversionResult Result, string Path, IReadOnlyList<Tensor> Inputs, IReadOnlyList<Tensor> Golden) Prepare(string model, TfLiteQuantization q, bool hybrid = true)
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string dir = Corpus.Path(Human, model);
        Skip.IfNot(File.Exists(Path.Combine(dir, "model.pb")), $"The corpus has no {Human}/{model}.");
        var conv = Converted.GetOrAdd((model, q, hybrid), key =>
        {
            var g = ModelReader.ReadGraphDef(Path.Combine(dir, "model.pb"));
            using var m = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "meta.json")));
            var outputNames = m.RootElement.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()!).ToList();
            var sw = System.Diagnostics.Stopwatch.StartNew();
            var r = TfLiteConverter.Convert(g, new TfLiteConverterOptions { Quantization = q, Outputs = outputNames, DynamicHybridKernels = hybrid });
            string path = Path.Combine(Path.GetTempPath(), $"modelops-{model}-{q}{(hybrid ? "" : "-dq")}-{Environment.ProcessId}.tflite");
            File.WriteAllBytes(path, r.Model);
            log.WriteLine($"converted {model} ({q}) in {sw.ElapsedMilliseconds} ms: {r.Model.Length} bytes, {r.OperatorCount} ops, min runtime {r.MinRuntimeVersion}");
            return (r, path);
        });
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "meta.json")));
        var inputs = meta.RootElement.GetProperty("inputs").EnumerateArray().Select(i => NpyFile.Read(Path.Combine(dir, i.GetProperty("file").GetString()!))).ToList();
        var golden = meta.RootElement.GetProperty("outputs").EnumerateArray().Select(o => NpyFile.Read(Path.Combine(dir, o.GetProperty("file").GetString()!))).ToList();
        return (conv.Result, conv.Path, inputs, golden);
    }

    internal static double MaxAbs(Tensor t)
    {
        double m = 0;
        for (int i = 0; i < t.Length; i++) m = Math.Max(m, Math.Abs(t.GetDouble(i)));
        return m;
    }

    internal static double MaxAbsDiff(Tensor g, double[] o)
    {
        Assert.Equal(g.Length, o.Length);
        double m = 0;
        for (int i = 0; i < o.Length; i++) m = Math.Max(m, Math.Abs(g.GetDouble(i) - o[i]));
        return m;
    }

    internal static double SnrDb(Tensor g, double[] o)
    {
        double signal = 0, noise = 0;
        for (int i = 0; i < o.Length; i++)
        {
            double x = g.GetDouble(i);
            signal += x * x;
            noise += (x - o[i]) * (x - o[i]);
        }
        return noise == 0 ? double.PositiveInfinity : 10 * Math.Log10(Math.Max(signal, 1e-30) / noise);
    }
}
