using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace ModelOps.Core.Tests.Interop;

/// <summary>
/// tf2onnx's frozen benchmark graphs (fc-layers, ae0: MatMul/BiasAdd/Relu stacks, fed tf2onnx's ramp) in float32,
/// float16 and dynamic-range form, run in real TFLite. The corpus gives no TF output for them, so the reference is the
/// managed engine's float output (the engine matches TF's golden outputs on the tfjs-human models and ONNX Runtime on
/// these two, see OnnxDifferentialTests). Int8 is in <see cref="TfLiteInt8Tests"/>.
/// </summary>
public sealed class TfLiteBenchTfTests(ITestOutputHelper log)
{
    public static TheoryData<string, string, string> Cases()
    {
        var d = new TheoryData<string, string, string>();
        foreach (var m in new[] { "benchtf/fc-layers", "benchtf/ae0" })
            foreach (var mode in new[] { "None", "Float16", "Dynamic", "DynamicDequantize" })
                foreach (var r in new[] { TfLiteRuntimes.C22, TfLiteRuntimes.Wasm })
                    d.Add(m, mode, r);
        return d;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Converts_and_runs_in_TfLite(string model, string mode, string runtime)
    {
        var why = TfLiteRuntimes.Unavailable(runtime);
        Skip.If(why is not null, why);
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        Skip.IfNot(File.Exists(Corpus.Path("tf", "frozen--tf2onnx-benchtf", model["benchtf/".Length..], "frozen.pb")), $"The corpus has no {model}.");
        var (graph, feeds, outputs, _) = OnnxDifferentialTests.Load(model);
        bool hybrid = mode == "Dynamic";
        var q = mode switch { "None" => TfLiteQuantization.None, "Float16" => TfLiteQuantization.Float16, _ => TfLiteQuantization.Dynamic };
        var result = TfLiteConverter.Convert(graph, new TfLiteConverterOptions { Quantization = q, Outputs = outputs, DynamicHybridKernels = hybrid });
        if (runtime == TfLiteRuntimes.C22)
            Skip.If(TfLiteOpVersions.Compare(result.MinRuntimeVersion, "2.2.0") > 0,
                $"The file needs TFLite {result.MinRuntimeVersion} (min_runtime_version); the C library is TFLite 2.2.");
        using var session = new GraphSession(graph, outputs);
        var reference = session.Run(feeds, outputs)[outputs[0]];
        string path = Path.Combine(Path.GetTempPath(), $"modelops-{model.Replace('/', '-')}-{mode}-{Guid.NewGuid():N}.tflite");
        File.WriteAllBytes(path, result.Model);
        try
        {
            var outs = TfLiteRuntimes.Run(runtime, path, feeds.Values.ToList());
            var o = Assert.Single(outs);
            Assert.Equal(reference.Shape, o.Shape);
            double err = TfLiteInteropTests.MaxAbsDiff(reference, o.Data);
            double snr = TfLiteInteropTests.SnrDb(reference, o.Data);
            double scale = Math.Max(1, TfLiteInteropTests.MaxAbs(reference));
            log.WriteLine($"{model} {mode} on {runtime}: max|err| {err:G4} (max|ref| {scale:G4}), SNR {snr:F1} dB; ops {string.Join(",", result.Ops.Select(x => $"{x.Op}v{x.Version}"))}; {result.Model.Length} B");
            switch (mode)
            {
                case "None":
                    Assert.True(err <= 1e-4 * scale, $"{model} float32 on {runtime} differs from the graph by {err:G6} (> 1e-4 x {scale:G4}).");
                    break;
                case "Float16":
                    Assert.True(snr >= 40, $"{model} float16 on {runtime}: SNR {snr:F1} dB < 40 dB.");
                    break;
                default:
                    // Weights rounded to int8 (and, with hybrid kernels, activations quantized on the fly): finite values
                    // that still carry the signal.
                    Assert.All(o.Data, v => Assert.True(double.IsFinite(v)));
                    Assert.True(snr >= 10, $"{model} {mode} on {runtime}: SNR {snr:F1} dB < 10 dB.");
                    break;
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
