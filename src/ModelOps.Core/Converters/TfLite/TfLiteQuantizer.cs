using ModelOps.Core.Errors;
using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Converters.TfLite;

/// <summary>
/// Post-training quantization of a built <see cref="TflGraph"/>, with TFLite's numerics
/// (quantization spec: real = (q - zero_point) * scale; weights symmetric int8 in [-127,127]).
/// </summary>
internal static partial class TfLiteQuantizer
{
    // ---------------------------------------------------------------- float16

    /// <summary>Every float32 constant becomes float16 data + a DEQUANTIZE to float32 before its consumers.</summary>
    public static void ToFloat16(TflGraph g)
    {
        var dequantOps = new List<TflOperator>();
        var consts = g.Tensors.Where(t => t.IsConstant && t.Type == TensorType.FLOAT32 && t.Value is not null).ToList();
        var remap = new Dictionary<int, int>();
        foreach (var t in consts)
        {
            var src = t.Value!.As<float>();
            var half = new Half[src.Length];
            for (int i = 0; i < half.Length; i++) half[i] = (Half)src[i];
            var f16 = g.AddTensor(t.Name + "/fp16", TensorType.FLOAT16, t.Shape);
            var hv = Tensor.Create(half, t.Shape);
            f16.Data = TensorBytes.ToBytes(hv);
            f16.Value = hv;
            f16.Role = t.Role;
            // The float32 tensor stays (same name, same index) but is now computed by DEQUANTIZE.
            t.Data = null;
            dequantOps.Add(new TflOperator(BuiltinOperator.DEQUANTIZE, new[] { f16.Index }, new[] { t.Index }, null, t.Name));
            remap[t.Index] = f16.Index;
        }
        g.Operators.InsertRange(0, dequantOps);
    }

    // ---------------------------------------------------------------- dynamic range

    private static readonly Dictionary<BuiltinOperator, (int Input, int Axis, bool Hybrid)> DynamicWeights = new()
    {
        [BuiltinOperator.CONV_2D] = (1, 0, true),
        [BuiltinOperator.DEPTHWISE_CONV_2D] = (1, 3, true),
        [BuiltinOperator.FULLY_CONNECTED] = (1, -1, true),
        [BuiltinOperator.BATCH_MATMUL] = (1, -1, false),
        [BuiltinOperator.TRANSPOSE_CONV] = (1, -1, false),
    };

    /// <summary>
    /// Weights of conv/depthwise/FC (and BATCH_MATMUL / TRANSPOSE_CONV) with at least
    /// <paramref name="minElements"/> elements become int8: per-channel for CONV_2D (axis 0) and
    /// DEPTHWISE_CONV_2D (axis 3), per-tensor otherwise. CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED
    /// read them directly (hybrid kernels); other consumers get a DEQUANTIZE.
    /// </summary>
    public static void ToDynamicRange(TflGraph g, int minElements, bool hybrid = true)
    {
        var quantized = new Dictionary<int, TflTensor>();   // float tensor index → int8 tensor
        var dequantized = new Dictionary<int, int>();       // float tensor index → float32 tensor from DEQUANTIZE
        var prefix = new List<TflOperator>();
        foreach (var op in g.Operators)
        {
            if (!DynamicWeights.TryGetValue(op.Code, out var spec) || op.Inputs.Count <= spec.Input) continue;
            int wi = op.Inputs[spec.Input];
            if (wi < 0) continue;
            var w = g.Tensors[wi];
            if (!w.IsConstant || w.Type != TensorType.FLOAT32 || w.Value is null || w.ElementCount < minElements) continue;
            if (g.Tensors[op.Inputs[0]].Type != TensorType.FLOAT32) continue;
            bool useHybrid = spec.Hybrid && hybrid;
            // Per channel for CONV_2D / DEPTHWISE_CONV_2D also without hybrid kernels (DEQUANTIZE v5 handles it).
            int axis = spec.Hybrid ? spec.Axis : -1;
            if (!quantized.TryGetValue(wi, out var q))
            {
                q = g.AddTensor(w.Name + "/int8", TensorType.INT8, w.Shape);
                var (data, scales) = QuantizeSymmetric(w.Value.As<float>(), w.Shape, axis);
                var qv = Tensor.Create(data, w.Shape);
                q.Data = TensorBytes.ToBytes(qv);
                q.Value = qv;
                q.Role = TfLiteWeightRole.Weight;
                q.Quantization = new QuantizationParametersT
                {
                    Scale = scales.ToList(),
                    ZeroPoint = new long[scales.Length].ToList(),
                    QuantizedDimension = axis < 0 ? 0 : axis,
                };
                quantized[wi] = q;
            }
            if (useHybrid)
            {
                op.Inputs[spec.Input] = q.Index;
            }
            else
            {
                if (!dequantized.TryGetValue(wi, out int f))
                {
                    var ft = g.AddTensor(w.Name + "/dequantized", TensorType.FLOAT32, w.Shape);
                    prefix.Add(new TflOperator(BuiltinOperator.DEQUANTIZE, new[] { q.Index }, new[] { ft.Index }, null, w.Name));
                    f = ft.Index;
                    dequantized[wi] = f;
                }
                op.Inputs[spec.Input] = f;
            }
        }
        g.Operators.InsertRange(0, prefix);
    }

    /// <summary>Symmetric int8 in [-127,127]: per channel along <paramref name="axis"/>, or per tensor when axis &lt; 0.</summary>
    public static (sbyte[] Data, float[] Scales) QuantizeSymmetric(ReadOnlySpan<float> w, int[] shape, int axis)
    {
        int channels = axis < 0 ? 1 : shape[axis];
        int inner = 1;
        if (axis >= 0) for (int d = axis + 1; d < shape.Length; d++) inner *= shape[d];
        int Channel(int i) => axis < 0 ? 0 : i / inner % channels;
        var maxAbs = new float[channels];
        for (int i = 0; i < w.Length; i++)
        {
            int c = Channel(i);
            maxAbs[c] = Math.Max(maxAbs[c], Math.Abs(w[i]));
        }
        var scales = new float[channels];
        for (int c = 0; c < channels; c++) scales[c] = maxAbs[c] > 0 ? maxAbs[c] / 127f : 1f;
        var q = new sbyte[w.Length];
        for (int i = 0; i < w.Length; i++)
        {
            double v = Math.Round(w[i] / scales[Channel(i)], MidpointRounding.AwayFromZero);
            q[i] = (sbyte)Math.Clamp(v, -127, 127);
        }
        return (q, scales);
    }

    internal static ModelOpsException Error(string id, string message) => new(id, ErrorKind.InvalidArgument, message);

    internal static bool IsFloat(DataType t) => t == DataType.DtFloat;
}
