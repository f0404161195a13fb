using System.Globalization;
using ModelOps.Core.Errors;
using ModelOps.Core.Runtime.TfLite;
using ModelOps.Core.Tensors;
using ModelOps.Core.Tests.Interop;
using Xunit;
using Xunit.Abstractions;
using static ModelOps.Core.Tests.TfLite.TfLiteReaderTests;

namespace ModelOps.Core.Tests.TfLite;

public class TfLiteInferenceTests(ITestOutputHelper output)
{
    private static Tensor Run1(TfLiteSession s, Tensor input, bool dequantize = false) =>
        s.Run(new Dictionary<string, Tensor> { [s.Inputs[0].Name] = input }, dequantize)[s.Outputs[0].Name];

    private static double[] Doubles(Tensor t) => Enumerable.Range(0, t.Length).Select(t.GetDouble).ToArray();

    // Which real TFLite a comparison runs against (TfLiteRuntimes): C22 is TFLite 2.2's C library, TFLite's own builtin
    // kernels, the arithmetic the managed interpreter implements. Wasm is TFLite 2.13 compiled to WASM; it hands float and
    // (in this build) int8/uint8 convolutions, FULLY_CONNECTED and ADD to the XNNPACK delegate, whose quantized kernels
    // round differently from TFLite's builtin ones (see SimpleAddInt8EqualsTfLite); ops XNNPACK does not take (the LSTMs,
    // SOFTMAX ...) run on TFLite 2.13's builtin kernels.

    /// <summary>Our outputs equal real TFLite's element for element. Also logs how far the other runtime is.</summary>
    private void AssertEqualsTfLite(string runtime, string model, IReadOnlyDictionary<string, Tensor> inputs, params Tensor[] ours)
    {
        Skip.If(TfLiteRuntimes.Unavailable(runtime) is not null, TfLiteRuntimes.Unavailable(runtime));
        var real = TfLiteRuntimes.Run(runtime, model, inputs);
        Assert.Equal(ours.Length, real.Count);
        for (int i = 0; i < ours.Length; i++)
        {
            var mine = Doubles(ours[i]);
            int diff = mine.Zip(real[i].Data).Count(p => p.First != p.Second);
            output.WriteLine($"{Path.GetFileName(model)} output {i}: {diff} of {mine.Length} elements differ from TFLite ({runtime})");
            for (int k = 0, shown = 0; k < mine.Length && shown < 5; k++)
                if (mine[k] != real[i].Data[k])
                {
                    shown++;
                    output.WriteLine($"  [{k}] ours {mine[k]} tflite {real[i].Data[k]}");
                }
            Assert.Equal(real[i].Data, mine);
        }
    }

    /// <summary>How many elements differ from the other runtime (information only: a different kernel library).</summary>
    private int CountDifferences(string runtime, string model, IReadOnlyDictionary<string, Tensor> inputs, Tensor ours)
    {
        if (!TfLiteRuntimes.Available(runtime)) return -1;
        var real = TfLiteRuntimes.Run(runtime, model, inputs)[0].Data;
        int diff = Doubles(ours).Zip(real).Count(p => p.First != p.Second);
        output.WriteLine($"{Path.GetFileName(model)}: {diff} of {ours.Length} elements differ from TFLite ({runtime}) — not asserted");
        return diff;
    }

    [SkippableFact]
    public void HelloWorldFloatFollowsSine()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        using var s = TfLiteSession.Open(Tf("tflite--tflite-micro-hello_world", "hello_world_float.tflite"));
        foreach (float x in new[] { 0f, 1f, 3f, 5f })
        {
            float y = Run1(s, Tensor.Create(new[] { x }, 1, 1)).As<float>()[0];
            Assert.InRange(Math.Abs(y - MathF.Sin(x)), 0, 0.05);
        }
    }

    [SkippableFact]
    public void HelloWorldInt8FollowsSineAndEqualsTfLite()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string path = Tf("tflite--tflite-micro-hello_world", "hello_world_int8.tflite");
        using var s = TfLiteSession.Open(path);
        var qs = new sbyte[] { -96, -63, -34, 0 };
        var outs = new List<Tensor>();
        foreach (var q in qs)
        {
            var y = Run1(s, Tensor.Create(new[] { q }, 1, 1));
            outs.Add(y);
            float x = (q + 128) * 0.024480116f;
            Assert.InRange(Math.Abs((y.As<sbyte>()[0] - 5) * 0.008290957f - MathF.Sin(x)), 0, 0.05);
        }
        // Float in, real values out: the quantize/dequantize helpers.
        var real = Run1(s, Tensor.Create(new[] { 1.5f }, 1, 1), dequantize: true).As<float>()[0];
        Assert.InRange(Math.Abs(real - MathF.Sin(1.5f)), 0, 0.05);
        // FULLY_CONNECTED int8: TFLite's builtin kernels and XNNPACK agree here, and so do we.
        foreach (var runtime in new[] { TfLiteRuntimes.C22, TfLiteRuntimes.Wasm })
            for (int i = 0; i < qs.Length; i++)
                AssertEqualsTfLite(runtime, path, new Dictionary<string, Tensor> { ["0"] = Tensor.Create(new[] { qs[i] }, 1, 1) }, outs[i]);
        // The float product of scales (TFLite 2.2's) gives other FULLY_CONNECTED multipliers, but the same outputs here.
        using var legacy = TfLiteSession.Open(path, new TfLiteSessionOptions { FloatScaleProduct = true });
        for (int i = 0; i < qs.Length; i++)
            AssertEqualsTfLite(TfLiteRuntimes.C22, path, new Dictionary<string, Tensor> { ["0"] = Tensor.Create(new[] { qs[i] }, 1, 1) }, Run1(legacy, Tensor.Create(new[] { qs[i] }, 1, 1)));
    }

    [SkippableFact]
    public void HalfPlusTwoFromBothConverters()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        foreach (var dir in new[] { "saved_model_half_plus_two_tflite", "saved_model_half_plus_two_tflite_with_sigdef" })
        {
            using var s = TfLiteSession.Open(Tf("tflite--tfserving-half_plus_two", dir, "00000123", "model.tflite"));
            foreach (float x in new[] { 1f, 0f, -3f, 10f })
                Assert.Equal(0.5f * x + 2f, Run1(s, Tensor.Create(new[] { x }, 1, 1)).As<float>()[0]);
        }
        // By tensor name (this file keeps its SignatureDef only as a serialized TF proto in metadata).
        using var sig = TfLiteSession.Open(Tf("tflite--tfserving-half_plus_two", "saved_model_half_plus_two_tflite_with_sigdef", "00000123", "model.tflite"));
        Assert.Equal(2.5f, sig.Run(new Dictionary<string, Tensor> { ["tflite_input"] = Tensor.Create(new[] { 1f }, 1, 1) })["y"].As<float>()[0]);
    }

    [SkippableFact]
    public void SimpleAddInt8EqualsTfLite()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string path = Tf("tflite--tflite-micro-simple_add", "simple_add_model.tflite");
        using var s = TfLiteSession.Open(path);
        var rng = new Random(7);
        var a = Enumerable.Range(0, 128 * 128).Select(_ => (sbyte)rng.Next(-128, 128)).ToArray();
        var b = Enumerable.Range(0, 128 * 128).Select(_ => (sbyte)rng.Next(-128, 128)).ToArray();
        var r = s.Run(new Dictionary<string, Tensor> { ["0"] = Tensor.Create(a, 1, 128, 128, 1), ["1"] = Tensor.Create(b, 1, 128, 128, 1) });
        var y = r.Values.Single().As<sbyte>();
        for (int i = 0; i < y.Length; i++)
        {
            double want = 0.040725365 * (a[i] + 2) + 0.041245613 * (b[i] + 1);
            double got = 0.058377411 * (y[i] + 3);
            if (want > -0.058377411 * 125 && want < 0.058377411 * 130) Assert.InRange(Math.Abs(got - want), 0, 0.0584);
        }
        var feeds = new Dictionary<string, Tensor> { ["0"] = Tensor.Create(a, 1, 128, 128, 1), ["1"] = Tensor.Create(b, 1, 128, 128, 1) };
        // Bit-exact with TFLite's builtin int8 ADD (TFLite 2.2's C library). The WASM build differs in one element,
        // a = −118, b = 18, whose real sum is −70.500008 output steps: TFLite rescales both inputs to Q31 with 20 bits
        // of headroom and rounds to −71; the WASM build runs ADD on XNNPACK, whose qs8 add uses 21-bit multipliers
        // (s_a/s_out·2^21 = 1463019, s_b/s_out·2^21 = 1481709) and one rounding, and gets −70. A kernel-library
        // difference, not a TFLite bug of ours: see IsolatedAddTieShowsTheXnnpackDifference.
        AssertEqualsTfLite(TfLiteRuntimes.C22, path, feeds, r.Values.Single());
        CountDifferences(TfLiteRuntimes.Wasm, path, feeds, r.Values.Single());
    }

    /// <summary>
    /// The one simple_add element where the runtimes part, alone: TFLite's builtin ADD (2.2), and we, give −71;
    /// the WASM build, which runs int8 ADD on XNNPACK, gives −70. Proof that the difference is the kernel library.
    /// </summary>
    [SkippableFact]
    public void IsolatedAddTieShowsTheXnnpackDifference()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string? why = TfLiteRuntimes.Unavailable(TfLiteRuntimes.C22) ?? TfLiteRuntimes.Unavailable(TfLiteRuntimes.Wasm);
        Skip.If(why is not null, why);
        string path = Tf("tflite--tflite-micro-simple_add", "simple_add_model.tflite");
        using var s = TfLiteSession.Open(path);
        var a = new sbyte[128 * 128];
        var b = new sbyte[128 * 128];
        a[0] = -118;
        b[0] = 18;
        var ours = s.Run(new Dictionary<string, Tensor> { ["0"] = Tensor.Create(a, 1, 128, 128, 1), ["1"] = Tensor.Create(b, 1, 128, 128, 1) }).Values.Single().As<sbyte>();
        var feeds = new Dictionary<string, Tensor> { ["0"] = Tensor.Create(a, 1, 128, 128, 1), ["1"] = Tensor.Create(b, 1, 128, 128, 1) };
        Assert.Equal(-71, ours[0]);
        Assert.Equal(-71, TfLiteRuntimes.Run(TfLiteRuntimes.C22, path, feeds)[0].Data[0]);
        Assert.Equal(-70, TfLiteRuntimes.Run(TfLiteRuntimes.Wasm, path, feeds)[0].Data[0]);
    }

    [SkippableFact]
    public void MobileNetQuantizedFindsTheCheeseburger()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string dir = "tflite--tflite-support-mobilenet_v1_0.25_224_quant";
        string path = Tf(dir, "mobilenet_v1_0.25_224_quant.tflite");
        var rgb = File.ReadAllBytes(Tf(dir, "burger-224.rgb"));
        var feeds = new Dictionary<string, Tensor> { ["0"] = Tensor.Create(rgb, 1, 224, 224, 3) };
        foreach (bool legacy in new[] { false, true })
        {
            using var s = TfLiteSession.Open(path, new TfLiteSessionOptions { FloatScaleProduct = legacy });
            var y = Run1(s, Tensor.Create(rgb, 1, 224, 224, 3));
            var scores = y.As<byte>();
            int top = Array.IndexOf(scores, scores.Max());
            output.WriteLine($"FloatScaleProduct={legacy}: top-1 {top} ({s.Model.Labels![top]}) score {scores[top]}");
            Assert.Equal(934, top);
            Assert.True(scores[934] >= 231, $"score {scores[934]} < 231");
            // TFLite 2.2 forms the uint8 conv multipliers from a float product of scales: with that, every one of the
            // 31 intermediate tensors and the scores equal its own. Current TFLite multiplies in double (our default),
            // which lands one step apart in a few values per layer, so the default must differ from 2.2 somewhere; no
            // runtime here runs that kernel (the WASM build hands uint8 convolutions to XNNPACK, which requantizes its
            // own way and differs from both settings in a few scores), so the WASM count is only logged.
            if (legacy) AssertEqualsTfLite(TfLiteRuntimes.C22, path, feeds, y);
            else Assert.NotEqual(0, CountDifferences(TfLiteRuntimes.C22, path, feeds, y)); // −1: runtime absent; 0 would mean the option changes nothing
            CountDifferences(TfLiteRuntimes.Wasm, path, feeds, y);
        }
    }

    [SkippableFact]
    public void PersonDetectionTellsPersonFromNoPerson()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string dir = "tflite--tflite-micro-person_detection";
        string path = Tf(dir, "person_detect.tflite");
        using var s = TfLiteSession.Open(path);
        foreach (var (file, person) in new[] { ("person.tobytes.raw", true), ("no_person.tobytes.raw", false) })
        {
            var pixels = File.ReadAllBytes(Tf(dir, "testdata", file)).Select(b => unchecked((sbyte)b)).ToArray();
            var y = Run1(s, Tensor.Create(pixels, 1, 96, 96, 1)).As<sbyte>();
            output.WriteLine($"{file}: no_person {y[0]} person {y[1]}");
            // No comparison with real TFLite here: both TFLite 2.2 and 2.13 refuse this file (its conv biases carry
            // quantized_dimension 3 on rank-1 tensors); TFLite Micro, which the model was made for, accepts it, as we do.
            Assert.Equal(person, y[1] > y[0]);
        }
    }

    [SkippableFact]
    public void MnistLstmFloatClassifiesTheTenDigits()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string dir = "tflite--tflite-micro-mnist_lstm";
        for (int n = 0; n <= 9; n++)
        {
            using var s = TfLiteSession.Open(Tf(dir, "trained_lstm.tflite"));
            var px = File.ReadAllBytes(Tf(dir, "samples", $"sample{n}.u8.raw"));
            float max = px.Max();
            var x = px.Select(p => max > 1 ? p / 255f : p).ToArray();
            var y = Run1(s, Tensor.Create(x, 1, 28, 28)).As<float>();
            Assert.Equal(n, Array.IndexOf(y, y.Max()));
        }
    }

    /// <summary>
    /// The full-integer MNIST LSTM (UNIDIRECTIONAL_SEQUENCE_LSTM 8x8→16, then FULLY_CONNECTED and SOFTMAX): each of the
    /// ten sample digits is classified as itself, and the int8 scores equal TFLite 2.13's bit for bit (TFLite 2.2 has no
    /// integer UNIDIRECTIONAL_SEQUENCE_LSTM: it refuses the model in Prepare).
    /// </summary>
    [SkippableFact]
    public void MnistLstmInt8ClassifiesTheTenDigitsAndEqualsTfLite()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string dir = "tflite--tflite-micro-mnist_lstm";
        string path = Tf(dir, "trained_lstm_int8.tflite");
        using var s = TfLiteSession.Open(path);
        var q = s.Inputs[0].Quantization!;
        for (int n = 0; n <= 9; n++)
        {
            // evaluate.py: pixels / 255, then (x / scale + zero_point).astype(int8), which truncates toward zero.
            var px = File.ReadAllBytes(Tf(dir, "samples", $"sample{n}.u8.raw"));
            var x = px.Select(p => (sbyte)(int)(p / 255f / q.Scale[0] + q.ZeroPoint[0])).ToArray();
            s.ResetState();
            var input = Tensor.Create(x, 1, 28, 28);
            var y = Run1(s, input);
            var scores = y.As<sbyte>();
            output.WriteLine($"sample{n}: [{string.Join(",", scores)}]");
            Assert.Equal(n, Array.IndexOf(scores, scores.Max()));
            AssertEqualsTfLite(TfLiteRuntimes.Wasm, path, new Dictionary<string, Tensor> { ["0"] = input }, y);
        }
        // The digits end in saturated scores; blends of two digits leave the softmax undecided, so that more of the
        // LSTM's output shows through.
        int spread = 0;
        foreach (var (a, b) in new[] { (3, 8), (1, 7), (4, 9), (5, 6), (0, 2) })
        {
            var pa = File.ReadAllBytes(Tf(dir, "samples", $"sample{a}.u8.raw"));
            var pb = File.ReadAllBytes(Tf(dir, "samples", $"sample{b}.u8.raw"));
            var input = Tensor.Create(pa.Zip(pb, (u, v) => (sbyte)((u + v) / 2 - 128)).ToArray(), 1, 28, 28);
            s.ResetState();
            var y = Run1(s, input);
            output.WriteLine($"blend {a}+{b}: [{string.Join(",", y.As<sbyte>())}]");
            spread += y.As<sbyte>().Count(v => v is > -120 and < 120);
            AssertEqualsTfLite(TfLiteRuntimes.Wasm, path, new Dictionary<string, Tensor> { ["0"] = input }, y);
        }
        output.WriteLine($"blends: {spread} of 50 scores unsaturated");
        if (TfLiteRuntimes.Available(TfLiteRuntimes.C22))
            Assert.Throws<RuntimeFailedException>(() => TfLiteRuntimes.Run(TfLiteRuntimes.C22, path, new[] { Tensor.Create(new sbyte[784], 1, 28, 28) }));
    }

    /// <summary>The LSTM keeps its state between runs, as TFLite's variable tensors do, until <see cref="TfLiteSession.ResetState"/>.</summary>
    [SkippableFact]
    public void MnistLstmInt8StateCarriesOverUntilReset()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string dir = "tflite--tflite-micro-mnist_lstm";
        using var s = TfLiteSession.Open(Tf(dir, "trained_lstm_int8.tflite"));
        var x = Tensor.Create(File.ReadAllBytes(Tf(dir, "samples", "sample7.u8.raw")).Select(p => (sbyte)(p / 2 - 128)).ToArray(), 1, 28, 28);
        var first = Run1(s, x).As<sbyte>();
        var second = Run1(s, x).As<sbyte>();
        s.ResetState();
        var third = Run1(s, x).As<sbyte>();
        Assert.Equal(first, third);
        Assert.NotEqual(first, second);
    }

    /// <summary>
    /// TFLite's own quantizer test model (lstm_quantized.bin): one LSTM step, full integer, with layer normalization on all
    /// four gates, a projection, and a hidden zero point of −128 — the paths mnist_lstm does not take. Its dequantized
    /// output equals TFLite 2.2's and TFLite 2.13's for each input.
    /// </summary>
    [SkippableTheory]
    [InlineData(TfLiteRuntimes.C22)]
    [InlineData(TfLiteRuntimes.Wasm)]
    public void LayerNormProjectionLstmInt8EqualsTfLite(string runtime)
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string path = Tf("tflite--tf-lite-optimize-testdata", "lstm_quantized.bin");
        using var s = TfLiteSession.Open(path);
        var rng = new Random(11);
        var outs = new List<Tensor>();
        var ins = new List<Tensor>();
        for (int i = 0; i < 12; i++)
        {
            var x = Tensor.Create(new[] { (float)(rng.NextDouble() * 0.4 - 0.05), (float)(rng.NextDouble() * 0.4 - 0.05) }, 1, 2);
            s.ResetState();
            ins.Add(x);
            outs.Add(Run1(s, x));
        }
        Assert.Contains(outs, o => o.As<float>().Any(v => v != 0));
        for (int i = 0; i < ins.Count; i++)
            AssertEqualsTfLite(runtime, path, new Dictionary<string, Tensor> { ["0"] = ins[i] }, outs[i]);
    }

    /// <summary>
    /// The float twin of lstm_quantized.bin (TFLite's lstm.bin: one LSTM step with layer norm on every gate and a
    /// projection) agrees with TFLite 2.2 and 2.13 to float rounding (1e-6): float sums are not bit-exact across kernels.
    /// </summary>
    [SkippableTheory]
    [InlineData(TfLiteRuntimes.C22)]
    [InlineData(TfLiteRuntimes.Wasm)]
    public void LayerNormProjectionLstmFloatMatchesTfLite(string runtime)
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        Skip.If(TfLiteRuntimes.Unavailable(runtime) is not null, TfLiteRuntimes.Unavailable(runtime));
        string path = Tf("tflite--tf-lite-testdata", "lstm.bin");
        using var s = TfLiteSession.Open(path);
        var rng = new Random(12);
        for (int i = 0; i < 4; i++)
        {
            var x = Tensor.Create(new[] { (float)(rng.NextDouble() * 2 - 1), (float)(rng.NextDouble() * 2 - 1) }, 1, 2);
            s.ResetState();
            var ours = Run1(s, x).As<float>();
            var real = TfLiteRuntimes.Run(runtime, path, new[] { x })[0].Data;
            output.WriteLine($"x [{string.Join(", ", x.As<float>())}]: ours [{string.Join(", ", ours)}] TFLite [{string.Join(", ", real)}]");
            Assert.Equal(real.Length, ours.Length);
            for (int k = 0; k < ours.Length; k++) Assert.InRange(Math.Abs(ours[k] - real[k]), 0, 1e-6);
        }
    }

    public static TheoryData<string, string> SeanetLayers => new()
    {
        { "add", "add0" }, { "conv", "conv0" }, { "conv", "conv1" }, { "leaky_relu", "leaky_relu0" }, { "pad", "pad0" },
        { "quantize", "quantize0" }, { "strided_slice", "strided_slice0" }, { "sub", "sub0" }, { "transpose_conv", "transpose_conv4" },
    };

    [SkippableTheory]
    [MemberData(nameof(SeanetLayers))]
    public void SeanetInt16LayersAreBitExact(string folder, string name)
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string dir = Tf("tflite--tflite-micro-seanet-int16-golden", folder);
        using var s = TfLiteSession.Open(Path.Combine(dir, name + ".tflite"));
        var inputs = new Dictionary<string, Tensor>();
        for (int i = 0; i < s.Inputs.Count; i++)
        {
            var file = Directory.GetFiles(dir, $"{name}_input{i}_*.csv").Single();
            var vals = File.ReadAllText(file).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            var spec = s.Inputs[i];
            inputs[spec.Name] = spec.DType == Protos.DataType.DtInt32
                ? new Tensor(spec.DType, spec.Shape, vals.Select(v => (int)v).ToArray())
                : new Tensor(spec.DType, spec.Shape, vals.Select(v => (short)v).ToArray());
        }
        var golden = File.ReadAllText(Path.Combine(dir, name + "_golden_int16.csv")).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(v => short.Parse(v, CultureInfo.InvariantCulture)).ToArray();
        var y = s.Run(inputs)[s.Outputs[0].Name].As<short>();
        int diff = golden.Zip(y).Count(p => p.First != p.Second);
        output.WriteLine($"{name}: {diff} of {golden.Length} differ; max |d| {golden.Zip(y).Max(p => Math.Abs(p.First - p.Second))}");
        Assert.Equal(golden, y);
    }

    [SkippableFact]
    public void SmallFloatAndQuantizedTestModels()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        // add.bin (lite/testdata): output = 3 × input; add_quantized: uint8 [1, 3] → [3, 9].
        using (var s = TfLiteSession.Open(Tf("tflite--tf-lite-testdata", "add.bin")))
        {
            var x = Enumerable.Range(0, 192).Select(i => i * 0.5f).ToArray();
            Assert.Equal(x.Select(v => 3 * v), Run1(s, Tensor.Create(x, 1, 8, 8, 3)).As<float>());
        }
        using (var s = TfLiteSession.Open(Tf("tflite--tf-lite-testdata", "add_quantized.bin")))
        {
            var x = new byte[192];
            x[0] = 1; x[1] = 3;
            var y = Run1(s, Tensor.Create(x, 1, 8, 8, 3)).As<byte>();
            Assert.Equal(new byte[] { 3, 9 }, y.Take(2));
        }
        using (var s = TfLiteSession.Open(Tf("tflite--tf-lite-testdata", "multi_add.bin")))
        {
            float[] F(params float[] v) => Enumerable.Range(0, 192).Select(i => v[i % v.Length]).ToArray();
            var r = s.Run(new Dictionary<string, Tensor>
            {
                ["a"] = Tensor.Create(F(0.1f, 0.2f, 0.3f, 0.4f), 1, 8, 8, 3), ["b"] = Tensor.Create(F(0.001f, 0.002f, 0.003f, 0.004f), 1, 8, 8, 3),
                ["c"] = Tensor.Create(F(0f), 1, 8, 8, 3), ["d"] = Tensor.Create(F(0.01f, 0.02f, 0.03f, 0.04f), 1, 8, 8, 3),
            });
            Assert.Equal(0.101f, r["x"].As<float>()[0], 6);
            Assert.Equal(0.044f, r["y"].As<float>()[3], 6);
        }
        using (var s = TfLiteSession.Open(Tf("tflite--tf-lite-java-testdata", "float32.bin")))
        {
            var x = Enumerable.Range(0, 192).Select(i => (float)i).ToArray();
            var y = Run1(s, Tensor.Create(x, 1, 8, 8, 3));
            Assert.Equal(new[] { 1, 4, 4, 12 }, y.Shape);
            // Output (0,0,0,:) = input pixels (0,0) (0,1) (1,0) (1,1), 3 channels each.
            Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5, 24, 25, 26, 27, 28, 29 }, y.As<float>().Take(12));
        }
        using (var s = TfLiteSession.Open(Tf("tflite--tfjs-tflite-add4", "add4.tflite")))
        {
            var r = s.Run(new Dictionary<string, Tensor> { ["input_1"] = Tensor.Create(new float[] { 1, 2, 3, 4 }, 1, 4), ["input_2"] = Tensor.Create(new float[] { 5, 6, 7, 8 }, 1, 4) });
            Assert.Equal(new float[] { 6, 8, 10, 12 }, r.Values.Single().As<float>());
        }
    }

    /// <summary>The sample .tflite files ModelOps writes (used by the Pester tests) load in real TFLite and agree with it.</summary>
    [SkippableFact]
    public void SampleTfLiteModelsRunInTfLite()
    {
        string dir = Path.Combine(Path.GetTempPath(), "tflsamples-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string f = Samples.SampleModels.WriteTfLite(Path.Combine(dir, "float.tflite"), Samples.SampleModels.TfLiteFloat());
            using (var s = TfLiteSession.Open(f))
            {
                var r = s.Run(new Dictionary<string, Tensor> { ["features"] = Tensor.Create(new float[] { 1, 0, -1, 2 }, 1, 4) });
                Assert.Equal(new float[] { 6.5f, 0 }, r["dense"].As<float>());
                Assert.Equal(new float[] { 2, 0, -2, 4 }, r["doubled"].As<float>());
                AssertEqualsTfLite(TfLiteRuntimes.C22, f, new Dictionary<string, Tensor> { ["0"] = Tensor.Create(new float[] { 1, 0, -1, 2 }, 1, 4) }, r["dense"], r["doubled"]);
            }
            string q = Samples.SampleModels.WriteTfLite(Path.Combine(dir, "add_int8.tflite"), Samples.SampleModels.TfLiteInt8Add());
            using (var s = TfLiteSession.Open(q))
            {
                var rng = new Random(3);
                sbyte[] a = Enumerable.Range(0, 4).Select(_ => (sbyte)rng.Next(-128, 128)).ToArray(), b = Enumerable.Range(0, 4).Select(_ => (sbyte)rng.Next(-128, 128)).ToArray();
                var y = s.Run(new Dictionary<string, Tensor> { ["left"] = Tensor.Create(a, 1, 4), ["right"] = Tensor.Create(b, 1, 4) })["sum"];
                AssertEqualsTfLite(TfLiteRuntimes.C22, q, new Dictionary<string, Tensor> { ["0"] = Tensor.Create(a, 1, 4), ["1"] = Tensor.Create(b, 1, 4) }, y);
            }
        }
        finally { Directory.Delete(dir, true); }
    }

    [SkippableFact]
    public void CustomOpsAreListedInOneError()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var ex = Assert.Throws<ModelOpsException>(() => TfLiteSession.Open(Tf("tflite--tf-lite-testdata", "multi_add_flex.bin")));
        Assert.Equal(ErrorIds.UnsupportedOps, ex.ErrorId);
        Assert.Contains("FlexAdd ×3", ex.Message);
        var ex2 = Assert.Throws<ModelOpsException>(() => TfLiteSession.Open(Tf("tflite--tflite-micro-micro_speech", "models", "audio_preprocessor_int8.tflite")));
        Assert.Equal(ErrorIds.UnsupportedOps, ex2.ErrorId);
        Assert.Contains("SignalWindow", ex2.Message);
    }

    [SkippableFact]
    public void WrongInputsAreClearErrors()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        using var s = TfLiteSession.Open(Tf("tflite--tflite-micro-hello_world", "hello_world_float.tflite"));
        Assert.Equal(ErrorIds.TfLiteInputMismatch, Assert.Throws<ModelOpsException>(() => s.Run(new Dictionary<string, Tensor>())).ErrorId);
        Assert.Equal(ErrorIds.TfLiteInputMismatch, Assert.Throws<ModelOpsException>(() => s.Run(new Dictionary<string, Tensor> { ["nope"] = Tensor.Create(new[] { 1f }, 1, 1) })).ErrorId);
        Assert.Equal(ErrorIds.TfLiteInputMismatch, Assert.Throws<ModelOpsException>(() => Run1(s, Tensor.Create(new[] { 1, 2 }, 1, 2))).ErrorId);
    }
}
