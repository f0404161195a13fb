using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Protos;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.TfLite.Kernels;

/// <summary>AVERAGE_POOL_2D and MAX_POOL_2D (NHWC), float and integer.</summary>
internal static class Pooling
{
    public static void Register(Dictionary<BuiltinOperator, TfLiteKernel> r)
    {
        r[BuiltinOperator.AVERAGE_POOL_2D] = ctx => Pool(ctx, average: true);
        r[BuiltinOperator.MAX_POOL_2D] = ctx => Pool(ctx, average: false);
    }

    private static void Pool(OpContext ctx, bool average)
    {
        var o = ctx.Options<Pool2DOptions>();
        var padding = o?.Padding ?? Padding.VALID;
        int sw = o?.StrideW ?? 1, sh = o?.StrideH ?? 1, fw = o?.FilterWidth ?? 1, fh = o?.FilterHeight ?? 1;
        var act = o?.FusedActivationFunction ?? ActivationFunctionType.NONE;
        var input = ctx.Input(0);
        if (input.Rank != 4) throw ctx.Unsupported("the input must be 4-D (NHWC)");
        int n = input.Shape[0], ih = input.Shape[1], iw = input.Shape[2], c = input.Shape[3];
        var (oh, padH) = Convolution.OutAndPad(padding, ih, fh, sh, 1);
        var (ow, padW) = Convolution.OutAndPad(padding, iw, fw, sw, 1);
        int[] shape = { n, oh, ow, c };
        bool isFloat = input.DType == DataType.DtFloat;
        if (!isFloat && !Ints.IsQuantizedInt(input.DType)) throw ctx.UnsupportedType(input);
        float[]? xf = isFloat ? Ints.Floats(input) : null;
        int[]? xi = isFloat ? null : Ints.Of(input);
        var yf = isFloat ? new float[n * oh * ow * c] : null;
        var yi = isFloat ? null : new int[n * oh * ow * c];
        int amin = 0, amax = 0;
        if (!isFloat)
        {
            var qo = ctx.OutQ();
            var (tmin, tmax) = Ints.Range(ctx.OutputType());
            (amin, amax) = QuantMath.ActivationRange(act, qo.Scale, qo.ZeroPoint, tmin, tmax);
        }
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                {
                    int y0 = oy * sh - padH, x0 = ox * sw - padW;
                    int fy0 = Math.Max(0, -y0), fy1 = Math.Min(fh, ih - y0), fx0 = Math.Max(0, -x0), fx1 = Math.Min(fw, iw - x0);
                    for (int ch = 0; ch < c; ch++)
                    {
                        int count = 0;
                        float sumF = 0, maxF = float.NegativeInfinity;
                        int sumI = 0, maxI = int.MinValue;
                        for (int fy = fy0; fy < fy1; fy++)
                            for (int fx = fx0; fx < fx1; fx++)
                            {
                                int idx = ((b * ih + y0 + fy) * iw + x0 + fx) * c + ch;
                                count++;
                                if (isFloat) { sumF += xf![idx]; maxF = Math.Max(maxF, xf[idx]); }
                                else { sumI += xi![idx]; maxI = Math.Max(maxI, xi[idx]); }
                            }
                        int oIdx = ((b * oh + oy) * ow + ox) * c + ch;
                        if (isFloat) yf![oIdx] = QuantMath.ApplyActivation(average ? (count == 0 ? 0 : sumF / count) : maxF, act);
                        else
                        {
                            int v;
                            if (!average) v = maxI;
                            else if (count == 0) v = 0;
                            else v = sumI > 0 ? (sumI + count / 2) / count : (sumI - count / 2) / count; // rounds half away from zero
                            yi![oIdx] = Math.Clamp(v, amin, amax);
                        }
                    }
                }
        ctx.SetOutput(0, isFloat ? new Tensor(DataType.DtFloat, shape, yf!) : Ints.ToTensor(yi!, ctx.OutputType(), shape));
    }
}
