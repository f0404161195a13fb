using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Converters.TfLite;

/// <summary>
/// Accuracy of a quantized conversion against the float graph, measured with the managed engine on
/// the calibration inputs (or generated ones): the float graph vs the same graph whose weights carry
/// the quantization round trip of the chosen mode (float16 rounding; symmetric int8 per channel for
/// convolutions, per tensor for matrices). This measures weight quantization; dynamic-range hybrid
/// kernels add activation quantization at run time on top of it.
/// </summary>
public static class TfLiteAccuracy
{
    private static readonly Dictionary<string, int> WeightAxis = new(StringComparer.Ordinal)
    {
        ["Conv2D"] = 3, ["_FusedConv2D"] = 3, ["DepthwiseConv2dNative"] = -2, ["_FusedDepthwiseConv2dNative"] = -2,
        ["MatMul"] = -1, ["_FusedMatMul"] = -1, ["BatchMatMul"] = -1, ["BatchMatMulV2"] = -1, ["BatchMatMulV3"] = -1,
    };

    public static IReadOnlyList<TfLiteOutputAccuracy> Measure(GraphDef graph, TfLiteConversionResult result, TfLiteConverterOptions options,
        IReadOnlyList<IReadOnlyDictionary<string, Tensor>> samples)
    {
        var quantized = QuantizeWeights(graph, options);
        var outputs = result.Graph.OutputKeys.Select(k => k.Contains(':', StringComparison.Ordinal) ? k : k + ":0").ToList();
        using var reference = new GraphSession(graph, outputs);
        using var simulated = new GraphSession(quantized, outputs);
        var maxErr = new double[outputs.Count];
        var signal = new double[outputs.Count];
        var noise = new double[outputs.Count];
        foreach (var feeds in samples)
        {
            var a = reference.Run(feeds, outputs);
            var b = simulated.Run(feeds, outputs);
            for (int i = 0; i < outputs.Count; i++)
            {
                var x = a[outputs[i]];
                var y = b[outputs[i]];
                for (int k = 0; k < x.Length; k++)
                {
                    double u = x.GetDouble(k), v = y.GetDouble(k);
                    maxErr[i] = Math.Max(maxErr[i], Math.Abs(u - v));
                    signal[i] += u * u;
                    noise[i] += (u - v) * (u - v);
                }
            }
        }
        return outputs.Select((o, i) => new TfLiteOutputAccuracy(result.Graph.OutputKeys[i], maxErr[i],
            noise[i] == 0 ? double.PositiveInfinity : 10 * Math.Log10(Math.Max(signal[i], 1e-30) / noise[i]), samples.Count)).ToList();
    }

    /// <summary>
    /// Accuracy of a full-integer model: the float graph in the managed engine against the .tflite itself run with
    /// TFLite's integer arithmetic in the managed TFLite interpreter (float inputs quantized, outputs dequantized).
    /// </summary>
    public static IReadOnlyList<TfLiteOutputAccuracy> MeasureModel(GraphDef graph, TfLiteConversionResult result,
        IReadOnlyList<IReadOnlyDictionary<string, Tensor>> samples)
    {
        var outputs = result.Graph.OutputKeys.Select(k => k.Contains(':', StringComparison.Ordinal) ? k : k + ":0").ToList();
        using var reference = new GraphSession(graph, outputs);
        using var model = new Runtime.TfLite.TfLiteSession(Formats.TfLite.TfLiteModelReader.Read("converted.tflite", result.Model));
        var maxErr = new double[outputs.Count];
        var signal = new double[outputs.Count];
        var noise = new double[outputs.Count];
        foreach (var feeds in samples)
        {
            var a = reference.Run(feeds, outputs);
            var b = model.Run(feeds, dequantizeOutputs: true);
            for (int i = 0; i < outputs.Count; i++)
            {
                var x = a[outputs[i]];
                var y = b[result.Graph.Tensors[result.Graph.Outputs[i]].Name];
                for (int k = 0; k < x.Length; k++)
                {
                    double u = x.GetDouble(k), v = y.GetDouble(k);
                    maxErr[i] = Math.Max(maxErr[i], Math.Abs(u - v));
                    signal[i] += u * u;
                    noise[i] += (u - v) * (u - v);
                }
            }
        }
        return outputs.Select((o, i) => new TfLiteOutputAccuracy(result.Graph.OutputKeys[i], maxErr[i],
            noise[i] == 0 ? double.PositiveInfinity : 10 * Math.Log10(Math.Max(signal[i], 1e-30) / noise[i]), samples.Count)).ToList();
    }

    /// <summary>Generated inputs for graphs without calibration data: uniform [0,1) floats, seeded, batch 1.</summary>
    public static IReadOnlyList<IReadOnlyDictionary<string, Tensor>> GeneratedSamples(TfLiteConversionResult result, int count = 4, int seed = 1234)
    {
        var rng = new Random(seed);
        var list = new List<IReadOnlyDictionary<string, Tensor>>();
        for (int s = 0; s < count; s++)
        {
            var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var io in result.Inputs)
            {
                var data = new float[Tensor.ElementCount(io.Shape)];
                for (int i = 0; i < data.Length; i++) data[i] = (float)rng.NextDouble();
                d[io.SignatureKey] = Tensor.Create(data, io.Shape);
            }
            list.Add(d);
        }
        return list;
    }

    /// <summary>The graph with its weight constants replaced by their quantize→dequantize round trip.</summary>
    internal static GraphDef QuantizeWeights(GraphDef graph, TfLiteConverterOptions options)
    {
        var copy = graph.Clone();
        var tg = new TfGraph(copy);
        var done = new HashSet<string>(StringComparer.Ordinal);
        foreach (var node in copy.Node)
        {
            if (options.Quantization == TfLiteQuantization.Float16)
            {
                if (node.Op == "Const" && node.Attr["value"].Tensor.Dtype == DataType.DtFloat) RoundTrip(node, null);
                continue;
            }
            if (!WeightAxis.TryGetValue(node.Op, out int axis) || tg.InputsOf(node).Count < 2) continue;
            var w = tg.Find(tg.InputsOf(node)[1].Node);
            if (w is null || w.Op != "Const" || !done.Add(w.Name)) continue;
            var t = TensorProtoCodec.Decode(w.Attr["value"].Tensor);
            if (t.DType != DataType.DtFloat || t.Length < options.MinWeightElementsForDynamic) continue;
            RoundTrip(w, axis);
        }
        return copy;
    }

    private static void RoundTrip(NodeDef constNode, int? axis)
    {
        var t = TensorProtoCodec.Decode(constNode.Attr["value"].Tensor);
        var src = t.As<float>();
        float[] r;
        if (axis is null)
        {
            r = src.Select(v => (float)(Half)v).ToArray();
        }
        else
        {
            // Conv2D HWIO: channel = last axis; depthwise [H,W,I,M]: channel = I*M (last two); matrices: per tensor.
            int[] shape;
            int ax;
            if (axis == -2) { shape = new[] { t.Length / (t.Shape[2] * t.Shape[3]), t.Shape[2] * t.Shape[3] }; ax = 1; }
            else if (axis == -1) { shape = t.Shape; ax = -1; }
            else { shape = t.Shape; ax = axis.Value; }
            var (q, scales) = TfLiteQuantizer.QuantizeSymmetric(src, shape, ax);
            int channels = ax < 0 ? 1 : shape[ax];
            int inner = 1;
            if (ax >= 0) for (int d = ax + 1; d < shape.Length; d++) inner *= shape[d];
            r = new float[src.Length];
            for (int i = 0; i < r.Length; i++) r[i] = q[i] * scales[ax < 0 ? 0 : i / inner % channels];
        }
        constNode.Attr["value"] = new AttrValue { Tensor = TensorProtoCodec.Encode(Tensor.Create(r, t.Shape)) };
    }
}
