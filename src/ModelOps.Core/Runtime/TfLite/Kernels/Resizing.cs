using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Protos;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.TfLite.Kernels;

/// <summary>
/// RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (NHWC, size input [height, width]) with the sampling arithmetic of
/// TFLite's reference kernels: align_corners / half_pixel_centers coordinates in float, int8 bilinear in 10-bit
/// fixed point (or, with <see cref="TfLiteSessionOptions.FloatInt8ResizeBilinear"/>, in float as TFLite 2.2 did).
/// Quantized tensors keep their input's parameters: the values are only interpolated.
/// </summary>
internal static class Resizing
{
    public static void Register(Dictionary<BuiltinOperator, TfLiteKernel> r)
    {
        r[BuiltinOperator.RESIZE_BILINEAR] = Bilinear;
        r[BuiltinOperator.RESIZE_NEAREST_NEIGHBOR] = Nearest;
    }

    private static (Tensor Input, int N, int IH, int IW, int C, int OH, int OW) Operands(OpContext ctx)
    {
        var input = ctx.Input(0);
        var size = ctx.Input(1).ToInt32Array();
        if (input.Rank != 4) throw ctx.Unsupported("the input must be 4-D (NHWC)");
        if (size.Length != 2 || size[0] <= 0 || size[1] <= 0) throw ctx.Unsupported($"the size must be two positive values, not [{string.Join(",", size)}]");
        return (input, input.Shape[0], input.Shape[1], input.Shape[2], input.Shape[3], size[0], size[1]);
    }

    /// <summary>The source coordinate of an output row/column, and the two rows/columns around it (float form).</summary>
    private static (float At, int Lo, int Hi) Sample(int value, float scale, bool halfPixel, int inputSize)
    {
        float at = halfPixel ? (value + 0.5f) * scale - 0.5f : value * scale;
        int lo = Math.Max((int)MathF.Floor(at), 0);
        int hi = Math.Min((int)MathF.Ceiling(at), inputSize - 1);
        return (at, lo, hi);
    }

    /// <summary>The same in 10-bit fixed point (the int8 kernel): coordinate × 1024.</summary>
    private static (int At, int Lo, int Hi) Sample10(int value, int scale10, bool halfPixel, int inputSize)
    {
        int at = halfPixel ? value * scale10 + scale10 / 2 - (1 << 9) : value * scale10;
        int lo = Math.Max(at / (1 << 10), 0);                              // C division: toward zero
        int hi = Math.Min((at + (1 << 10) - 1) / (1 << 10), inputSize - 1);
        return (at, lo, hi);
    }

    private static void Bilinear(OpContext ctx)
    {
        var o = ctx.Options<ResizeBilinearOptions>();
        bool align = o?.AlignCorners ?? false, half = o?.HalfPixelCenters ?? false;
        if (align && half) throw ctx.Unsupported("align_corners and half_pixel_centers cannot both be set");
        var (input, n, ih, iw, c, oh, ow) = Operands(ctx);
        int[] shape = { n, oh, ow, c };
        var dtype = input.DType;
        if (dtype == DataType.DtInt8 && !ctx.Session.Options.FloatInt8ResizeBilinear)
        {
            ctx.SetOutput(0, Ints.ToTensor(BilinearFixed(Ints.Of(input), n, ih, iw, c, oh, ow, align, half), dtype, shape));
            return;
        }
        bool isFloat = dtype == DataType.DtFloat;
        if (!isFloat && !Ints.IsQuantizedInt(dtype)) throw ctx.UnsupportedType(input);

        float hs = (float)ih / oh, ws = (float)iw / ow;
        if (align && oh > 1) hs = (float)(ih - 1) / (oh - 1);
        if (align && ow > 1) ws = (float)(iw - 1) / (ow - 1);
        float[] x = isFloat ? Ints.Floats(input) : Ints.Of(input).Select(v => (float)v).ToArray();
        var y = new float[n * oh * ow * c];
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < oh; oy++)
            {
                var (iy, y0, y1) = Sample(oy, hs, half, ih);
                float dy = iy - y0;
                for (int ox = 0; ox < ow; ox++)
                {
                    var (ix, x0, x1) = Sample(ox, ws, half, iw);
                    float dx = ix - x0;
                    int p00 = ((b * ih + y0) * iw + x0) * c, p10 = ((b * ih + y1) * iw + x0) * c;
                    int p01 = ((b * ih + y0) * iw + x1) * c, p11 = ((b * ih + y1) * iw + x1) * c;
                    int q = ((b * oh + oy) * ow + ox) * c;
                    for (int ch = 0; ch < c; ch++)
                        y[q + ch] = x[p00 + ch] * (1 - dy) * (1 - dx) + x[p10 + ch] * dy * (1 - dx)
                                  + x[p01 + ch] * (1 - dy) * dx + x[p11 + ch] * dy * dx;
                }
            }
        if (isFloat)
        {
            ctx.SetOutput(0, new Tensor(DataType.DtFloat, shape, y));
            return;
        }
        // The templated reference kernel casts the float interpolation to the integer type: truncation toward zero.
        var r = new int[y.Length];
        for (int i = 0; i < r.Length; i++) r[i] = (int)y[i];
        ctx.SetOutput(0, Ints.ToTensor(r, dtype, shape));
    }

    /// <summary>int8 bilinear in fixed point: weights in 1/1024 steps, the 2^20-scaled sum rounded half away from zero.</summary>
    private static int[] BilinearFixed(int[] x, int n, int ih, int iw, int c, int oh, int ow, bool align, bool half)
    {
        int hs = ((1 << 10) * ih + oh / 2) / oh, ws = ((1 << 10) * iw + ow / 2) / ow;
        if (align && oh > 1) hs = ((1 << 10) * (ih - 1) + (oh - 1) / 2) / (oh - 1);
        if (align && ow > 1) ws = ((1 << 10) * (iw - 1) + (ow - 1) / 2) / (ow - 1);
        var r = new int[n * oh * ow * c];
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < oh; oy++)
            {
                var (iy, y0, y1) = Sample10(oy, hs, half, ih);
                long fy = iy - (1 << 10) * y0, gy = (1 << 10) - fy;
                for (int ox = 0; ox < ow; ox++)
                {
                    var (ix, x0, x1) = Sample10(ox, ws, half, iw);
                    long fx = ix - (1 << 10) * x0, gx = (1 << 10) - fx;
                    int p00 = ((b * ih + y0) * iw + x0) * c, p10 = ((b * ih + y1) * iw + x0) * c;
                    int p01 = ((b * ih + y0) * iw + x1) * c, p11 = ((b * ih + y1) * iw + x1) * c;
                    int q = ((b * oh + oy) * ow + ox) * c;
                    for (int ch = 0; ch < c; ch++)
                    {
                        long sum = x[p00 + ch] * gy * gx + x[p10 + ch] * fy * gx + x[p01 + ch] * gy * fx + x[p11 + ch] * fy * fx;
                        long round = sum > 0 ? 1 << 19 : -(1 << 19);
                        r[q + ch] = (int)(sbyte)((sum + round) / (1 << 20)); // C division toward zero, then the int8 cast
                    }
                }
            }
        return r;
    }

    /// <summary>The source row/column of an output row/column (reference GetNearestNeighbor).</summary>
    private static int NearestIndex(int value, int inputSize, int outputSize, bool align, bool half)
    {
        float scale = align && outputSize > 1 ? (inputSize - 1) / (float)(outputSize - 1) : inputSize / (float)outputSize;
        float offset = half ? 0.5f : 0f;
        float at = (value + offset) * scale;
        int v = Math.Min(align ? (int)QuantMath.Round(at) : (int)MathF.Floor(at), inputSize - 1);
        return half ? Math.Max(0, v) : v;
    }

    private static void Nearest(OpContext ctx)
    {
        var o = ctx.Options<ResizeNearestNeighborOptions>();
        bool align = o?.AlignCorners ?? false, half = o?.HalfPixelCenters ?? false;
        var (input, n, ih, iw, c, oh, ow) = Operands(ctx);
        var rows = Enumerable.Range(0, oh).Select(y => NearestIndex(y, ih, oh, align, half)).ToArray();
        var cols = Enumerable.Range(0, ow).Select(x => NearestIndex(x, iw, ow, align, half)).ToArray();
        var idx = new int[n * oh * ow * c];
        int p = 0;
        for (int b = 0; b < n; b++)
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++)
                {
                    int src = ((b * ih + rows[y]) * iw + cols[x]) * c;
                    for (int ch = 0; ch < c; ch++) idx[p++] = src + ch;
                }
        ctx.SetOutput(0, new Tensor(input.DType, new[] { n, oh, ow, c }, Reshaping.Take(input.Data, idx)));
    }
}
