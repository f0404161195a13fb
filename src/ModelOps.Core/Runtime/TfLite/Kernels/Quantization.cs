using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Protos;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.TfLite.Kernels;

/// <summary>QUANTIZE (float → int, and int → int requantization) and DEQUANTIZE (int8/uint8/int16/float16 → float32).</summary>
internal static class Quantization
{
    public static void Register(Dictionary<BuiltinOperator, TfLiteKernel> r)
    {
        r[BuiltinOperator.QUANTIZE] = Quantize;
        r[BuiltinOperator.DEQUANTIZE] = Dequantize;
    }

    private static void Quantize(OpContext ctx)
    {
        var input = ctx.Input(0);
        var spec = ctx.OutputInfo(0);
        if (input.DType is DataType.DtFloat or DataType.DtHalf)
        {
            ctx.SetOutput(0, TfLiteQuantizer.Quantize(input, spec, ctx.Session.Options.QuantizeDividesInDouble));
            return;
        }
        if (input.DType is not (DataType.DtInt8 or DataType.DtUint8 or DataType.DtInt16 or DataType.DtInt32)) throw ctx.UnsupportedType(input);
        // Requantize: (q − zp_in) × (scale_in / scale_out) + zp_out with the integer multiplier.
        var qi = ctx.InQ(0);
        var qo = ctx.OutQ();
        var outType = ctx.OutputType();
        var (tmin, tmax) = Ints.Range(outType);
        var (m, s) = QuantMath.QuantizeMultiplier((double)qi.Scale / qo.Scale);
        var xi = Ints.Of(input);
        for (int i = 0; i < xi.Length; i++)
            xi[i] = Math.Clamp(QuantMath.MultiplyByQuantizedMultiplier(xi[i] - qi.ZeroPoint, m, s) + qo.ZeroPoint, tmin, tmax);
        ctx.SetOutput(0, Ints.ToTensor(xi, outType, input.Shape));
    }

    private static void Dequantize(OpContext ctx)
    {
        var input = ctx.Input(0);
        if (input.DType is DataType.DtHalf or DataType.DtFloat)
        {
            ctx.SetOutput(0, new Tensor(DataType.DtFloat, input.Shape, (float[])Ints.Floats(input).Clone()));
            return;
        }
        if (!Ints.IsQuantizedInt(input.DType)) throw ctx.UnsupportedType(input);
        ctx.SetOutput(0, TfLiteQuantizer.Dequantize(input, ctx.InputInfo(0)));
    }
}
