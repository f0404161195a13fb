using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Freezing;
using ModelOps.Core.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace ModelOps.Core.Tests.Interop;

/// <summary>
/// The whole way from TF's own SavedModels to real TFLite: half_plus_two (TF1 and TF2) frozen, converted in every
/// mode and run in TFLite 2.2 and 2.13, where y must be 0.5·x + 2 (PROVENANCE.md) — to 1e-6 in float32, float16 (0.5 and 2
/// are exact in half) and dynamic range, and within one quantization step in Int8.
/// </summary>
public sealed class TfLiteHalfPlusTwoTests(ITestOutputHelper log)
{
    public static TheoryData<string, string, string> Cases()
    {
        var d = new TheoryData<string, string, string>();
        foreach (var m in new[] { "saved_model_half_plus_two_cpu", "saved_model_half_plus_two_tf2_cpu" })
            foreach (var mode in new[] { "None", "Float16", "Dynamic", "Int8" })
                foreach (var r in new[] { TfLiteRuntimes.C22, TfLiteRuntimes.Wasm })
                    d.Add(m, mode, r);
        return d;
    }

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Frozen_converted_and_run_computes_half_x_plus_two(string model, string mode, string runtime)
    {
        var why = TfLiteRuntimes.Unavailable(runtime);
        Skip.If(why is not null, why);
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string dir = Corpus.Path("tf", "savedmodel--tfserving-half_plus_two-family", model, "00000123");
        Skip.IfNot(Directory.Exists(dir), $"The corpus has no {model}.");
        using var frozen = GraphFreezer.FreezeSavedModel(dir, new FreezeOptions());
        string input = frozen.Inputs.Single().Name, output = frozen.Outputs.Single().Name;
        var x = Tensor.Create(new[] { 0f, 1f, 2.5f, 4f }, 4);
        var q = Enum.Parse<TfLiteQuantization>(mode);
        var calibration = Enumerable.Range(0, 5).Select(i => (IReadOnlyDictionary<string, Tensor>)new Dictionary<string, Tensor>
        {
            [input] = Tensor.Create(new[] { 0f, i, 2f * i / 5, 4f - i / 2f }, 4),
        }).ToList();
        var result = TfLiteConverter.Convert(frozen.Graph, new TfLiteConverterOptions
        {
            Quantization = q, Outputs = [output], InputShapes = new Dictionary<string, int[]> { [input] = [4] },
            CalibrationData = q == TfLiteQuantization.Int8 ? calibration : null,
        });
        string path = Path.Combine(Path.GetTempPath(), $"modelops-h2-{model}-{mode}-{Guid.NewGuid():N}.tflite");
        File.WriteAllBytes(path, result.Model);
        try
        {
            var o = Assert.Single(TfLiteRuntimes.Run(runtime, path, [x]));
            Assert.Equal(new[] { 4 }, o.Shape);
            // Int8: calibration saw x in [0, 4] and y in [2, 4], so both are quantized over [0, 4] (ranges always hold 0):
            // a step of 4/255 each; y's error is at most half an output step plus half of half an input step, 1 step bounds it.
            double tolerance = q == TfLiteQuantization.Int8 ? 4.0 / 255 : 1e-6;
            log.WriteLine($"{model} {mode} on {runtime}: y = [{string.Join(", ", o.Data)}], tolerance {tolerance:G4}; ops {string.Join(",", result.Ops.Select(v => $"{v.Op}v{v.Version}"))}");
            for (int i = 0; i < 4; i++)
                Assert.True(Math.Abs(o.Data[i] - (0.5 * x.GetDouble(i) + 2)) <= tolerance,
                    $"{model} {mode} on {runtime}: y[{i}] = {o.Data[i]}, expected {0.5 * x.GetDouble(i) + 2} ± {tolerance:G4}.");
        }
        finally
        {
            File.Delete(path);
        }
    }
}
