using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Formats.TfLite;
using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Runtime.TfLite;
using Xunit;
using Xunit.Abstractions;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Tests.Interop;

/// <summary>
/// The interpreter's RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR, SPLIT, SPLIT_V and GATHER kernels (float32 and int8)
/// against real TFLite: one small model holds every variant, each as a model output.
/// </summary>
[Trait("Category", "Interop")]
public sealed class TfLiteResizeSplitGatherTests(ITestOutputHelper log)
{
    private const float Scale = 0.05f;
    private const int ZeroPoint = -7;

    /// <summary>Builds the model; <paramref name="newerOps"/> adds the variants TFLite 2.2 lacks (nearest neighbour with align_corners / half_pixel_centers).</summary>
    private static (byte[] Model, List<string> Names) Build(bool newerOps)
    {
        var g = new TflGraph();
        int[] inShape = { 1, 5, 7, 3 };
        var x = g.AddTensor("x", TensorType.FLOAT32, inShape);
        g.Inputs.Add(x.Index); g.InputKeys.Add("x");
        var xq = g.AddTensor("xq", TensorType.INT8, inShape);
        xq.Quantization = Q();
        g.Operators.Add(new TflOperator(BuiltinOperator.QUANTIZE, new[] { x.Index }, new[] { xq.Index }, null, "q"));
        var names = new List<string>();

        int Const(string name, int[] v)
        {
            var t = g.AddTensor(name, TensorType.INT32, new[] { v.Length });
            var tv = Tensor.Create(v, v.Length);
            t.Data = ModelOps.Core.Tensors.TensorBytes.ToBytes(tv);
            t.Value = tv;
            return t.Index;
        }
        int Out(string name, TflTensor like, int[] shape)
        {
            var t = g.AddTensor(name, like.Type, shape);
            if (like.Type == TensorType.INT8) t.Quantization = Q();
            g.Outputs.Add(t.Index); g.OutputKeys.Add(name); names.Add(name);
            return t.Index;
        }
        foreach (var src in new[] { x, xq })
        {
            string p = src.Type == TensorType.INT8 ? "i8" : "f32";
            var sizes = new[] { (8, 11), (3, 4), (10, 14) };
            var modes = new[] { (false, false), (true, false), (false, true) };
            foreach (var (h, w) in sizes)
                foreach (var (align, half) in modes)
                {
                    int size = Const($"{p}_size_{h}x{w}_{align}_{half}", new[] { h, w });
                    g.Operators.Add(new TflOperator(BuiltinOperator.RESIZE_BILINEAR, new[] { src.Index, size }, new[] { Out($"{p}_bilinear_{h}x{w}_a{align}_h{half}", src, new[] { 1, h, w, 3 }) },
                        BuiltinOptionsUnion.FromResizeBilinearOptions(new ResizeBilinearOptionsT { AlignCorners = align, HalfPixelCenters = half }), "b"));
                    if ((align || half) && !newerOps) continue;
                    g.Operators.Add(new TflOperator(BuiltinOperator.RESIZE_NEAREST_NEIGHBOR, new[] { src.Index, size }, new[] { Out($"{p}_nearest_{h}x{w}_a{align}_h{half}", src, new[] { 1, h, w, 3 }) },
                        BuiltinOptionsUnion.FromResizeNearestNeighborOptions(new ResizeNearestNeighborOptionsT { AlignCorners = align, HalfPixelCenters = half }), "n"));
                }
            int axis3 = Const($"{p}_axis3", new[] { 3 });
            g.Operators.Add(new TflOperator(BuiltinOperator.SPLIT, new[] { axis3, src.Index },
                Enumerable.Range(0, 3).Select(i => Out($"{p}_split_{i}", src, new[] { 1, 5, 7, 1 })).ToArray(),
                BuiltinOptionsUnion.FromSplitOptions(new SplitOptionsT { NumSplits = 3 }), "s"));
            if (src.Type == TensorType.FLOAT32 || newerOps) // int8 SPLIT_V: TFLite 2.3
            {
                int sizesV = Const($"{p}_splitv_sizes", new[] { 2, -1, 1 });
                int axis2 = Const($"{p}_axis2", new[] { 2 });
                g.Operators.Add(new TflOperator(BuiltinOperator.SPLIT_V, new[] { src.Index, sizesV, axis2 },
                    new[] { 2, 4, 1 }.Select((n, i) => Out($"{p}_splitv_{i}", src, new[] { 1, 5, n, 3 })).ToArray(),
                    BuiltinOptionsUnion.FromSplitVOptions(new SplitVOptionsT { NumSplits = 3 }), "sv"));
            }
            int idx = Const($"{p}_indices", new[] { 6, 0, 3, 3 });
            g.Operators.Add(new TflOperator(BuiltinOperator.GATHER, new[] { src.Index, idx }, new[] { Out($"{p}_gather", src, new[] { 1, 5, 4, 3 }) },
                BuiltinOptionsUnion.FromGatherOptions(new GatherOptionsT { Axis = 2 }), "g"));
        }
        TfLiteOpVersions.Assign(g);
        return (TfLiteWriter.Write(g, TfLiteOpVersions.MinimumRuntime(g), out _), names);
    }

    private static ModelOps.Core.Formats.TfLite.Schema.QuantizationParametersT Q() => new() { Scale = new List<float> { Scale }, ZeroPoint = new List<long> { ZeroPoint } };

    private static Tensor Input()
    {
        var rng = new Random(11);
        var v = new float[1 * 5 * 7 * 3];
        for (int i = 0; i < v.Length; i++) v[i] = (float)(rng.NextDouble() * 12 - 6); // spans the int8 range of scale 0.05
        return Tensor.Create(v, 1, 5, 7, 3);
    }

    [SkippableTheory]
    [InlineData(TfLiteRuntimes.C22)]
    [InlineData(TfLiteRuntimes.Wasm)]
    public void Kernels_MatchTfLite(string runtime)
    {
        var why = TfLiteRuntimes.Unavailable(runtime);
        Skip.If(why is not null, why);
        bool is22 = runtime == TfLiteRuntimes.C22;
        var (model, names) = Build(newerOps: !is22);
        string path = Path.Combine(Path.GetTempPath(), $"modelops-resize-{Guid.NewGuid():N}.tflite");
        File.WriteAllBytes(path, model);
        try
        {
            var input = Input();
            var rt = TfLiteRuntimes.Run(runtime, path, new[] { input });
            using var ours = new TfLiteSession(TfLiteModelReader.Read(path, model), options: is22 ? TfLiteSessionOptions.TfLite22 : null);
            using var other = new TfLiteSession(TfLiteModelReader.Read(path, model), options: is22 ? null : TfLiteSessionOptions.TfLite22);
            var mine = ours.Run(new Dictionary<string, Tensor> { ["x"] = input });
            var alt = other.Run(new Dictionary<string, Tensor> { ["x"] = input });
            Assert.Equal(names.Count, rt.Count);
            for (int i = 0; i < names.Count; i++)
            {
                var m = mine[names[i]];
                var a = alt[names[i]];
                Assert.Equal(m.Shape, rt[i].Shape);
                int differ = 0, altDiffer = 0;
                double max = 0;
                for (int k = 0; k < m.Length; k++)
                {
                    double d = Math.Abs(m.GetDouble(k) - rt[i].Data[k]);
                    if (d != 0) differ++;
                    if (a.GetDouble(k) != rt[i].Data[k]) altDiffer++;
                    max = Math.Max(max, d);
                }
                log.WriteLine($"{runtime} {names[i]}: {differ}/{m.Length} differ (max {max:G3}); with the other version's choices {altDiffer}");
                if (names[i].StartsWith("f32", StringComparison.Ordinal)) Assert.True(max <= 1e-5, $"{names[i]}: max |diff| {max}");
                else if (is22) Assert.Equal(0, differ); // TFLite 2.2's reference integer kernels: exact
                else Assert.True(max <= 1, $"{names[i]}: max |diff| {max} steps"); // WASM: XNNPACK may take the int8 op
            }
        }
        finally
        {
            File.Delete(path);
        }
    }
}
