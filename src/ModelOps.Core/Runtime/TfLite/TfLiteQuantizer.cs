using ModelOps.Core.Errors;
using ModelOps.Core.Formats.TfLite;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.TfLite.Kernels;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.TfLite;

/// <summary>
/// Real ⇄ quantized conversion with a TFLite tensor's parameters: q = clamp(round(x / scale) + zero_point)
/// (round half away from zero, as TFLite's QUANTIZE does) and x = scale × (q − zero_point), per tensor or per channel.
/// </summary>
public static class TfLiteQuantizer
{
    /// <summary>
    /// Quantizes float values for a quantized int8/uint8/int16 tensor (e.g. a model input). Current TFLite divides
    /// by the scale in float; with <paramref name="divideInDouble"/> the division is in double, as TFLite 2.2 did.
    /// </summary>
    public static Tensor Quantize(Tensor real, TfLiteTensor spec, bool divideInDouble = false)
    {
        var q = spec.Quantization;
        if (q is null || !q.HasScale)
            throw new ModelOpsException(ErrorIds.TfLiteInputMismatch, ErrorKind.InvalidArgument, $"Tensor '{spec.Name}' is not quantized; there is no scale to quantize with.", spec.Name);
        var (qmin, qmax) = spec.DType switch
        {
            DataType.DtInt8 => (sbyte.MinValue, sbyte.MaxValue),
            DataType.DtUint8 => (byte.MinValue, byte.MaxValue),
            DataType.DtInt16 => (short.MinValue, (int)short.MaxValue),
            _ => throw new ModelOpsException(ErrorIds.TfLiteInputMismatch, ErrorKind.InvalidArgument, $"Tensor '{spec.Name}' is {spec.DTypeName}; only int8, uint8 and int16 tensors can be quantized to.", spec.Name),
        };
        int n = real.Length;
        var vals = new int[n];
        int channels = q.Scale.Length, inner = Inner(real.Shape, q, channels);
        for (int i = 0; i < n; i++)
        {
            int c = channels == 1 ? 0 : i / inner % channels;
            float scale = q.Scale[c];
            int zp = q.ZeroPoint.Length > c ? (int)q.ZeroPoint[c] : 0;
            float x = (float)real.GetDouble(i);
            double r = divideInDouble ? QuantMath.Round(x / (double)scale) : QuantMath.Round(x / scale);
            vals[i] = (int)Math.Clamp(r + zp, qmin, qmax);
        }
        return Ints.ToTensor(vals, spec.DType, real.Shape);
    }

    /// <summary>Real values (float32) of a quantized tensor.</summary>
    public static Tensor Dequantize(Tensor quantized, TfLiteTensor spec)
    {
        var q = spec.Quantization;
        if (q is null || !q.HasScale) return quantized;
        int n = quantized.Length;
        var r = new float[n];
        int channels = q.Scale.Length, inner = Inner(quantized.Shape, q, channels);
        for (int i = 0; i < n; i++)
        {
            int c = channels == 1 ? 0 : i / inner % channels;
            long zp = q.ZeroPoint.Length > c ? q.ZeroPoint[c] : 0;
            r[i] = q.Scale[c] * (float)(quantized.GetInt64(i) - zp);
        }
        return new Tensor(DataType.DtFloat, quantized.Shape, r);
    }

    private static int Inner(int[] shape, TfLiteQuantization q, int channels)
    {
        if (channels == 1) return 1;
        int inner = 1;
        for (int d = Math.Min(q.Axis, shape.Length - 1) + 1; d < shape.Length; d++) inner *= shape[d];
        return inner;
    }
}
