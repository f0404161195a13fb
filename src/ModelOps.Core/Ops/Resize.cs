using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.Kernels;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Ops;

/// <summary>
/// ResizeBilinear and ResizeNearestNeighbor (NHWC) with TensorFlow's align_corners / half_pixel_centers
/// rules. scale = (in−1)/(out−1) with align_corners (out &gt; 1), else in/out. Nearest: source index
/// floor(x·scale) (legacy) or floor((x+0.5)·scale) (half-pixel), rounded (half away from zero) instead of
/// floored with align_corners, clamped to [0, in−1]. Bilinear: source (x+0.5)·scale−0.5 (half-pixel) or
/// x·scale, lower = max(floor, 0), upper = min(ceil, in−1), lerp = src − floor(src). Bilinear outputs float32.
/// </summary>
public sealed partial class ResizeOps : OpFamily
{
    public override void RegisterKernels(KernelRegistry r)
    {
        // Inputs are read by their geometry; outputs are made with Tensor.Over.
        r = r.WithTraits(KernelTraits.SpareCapacity);
        r.Add("ResizeBilinear", ctx => Resize(ctx, bilinear: true));
        r.Add("ResizeNearestNeighbor", ctx => Resize(ctx, bilinear: false));
    }

    private static float Scale(int input, int output, bool alignCorners) =>
        alignCorners && output > 1 ? (input - 1) / (float)(output - 1) : input / (float)output;

    private static void Resize(KernelContext ctx, bool bilinear)
    {
        var x = ctx.Input(0);
        var size = ctx.Input(1).ToInt32Array();
        if (x.Rank != 4) throw ctx.Error($"needs a 4-D NHWC input, got {Tensor.FormatShape(x.Shape)}.");
        if (size.Length != 2 || size[0] <= 0 || size[1] <= 0) throw ctx.Error($"needs a size of two positive values, got [{string.Join(",", size)}].");
        bool align = ctx.Bool("align_corners", false), half = ctx.Bool("half_pixel_centers", false);
        if (align && half) throw ctx.Error("cannot use align_corners and half_pixel_centers together.");
        int n = x.Shape[0], ih = x.Shape[1], iw = x.Shape[2], c = x.Shape[3];
        int oh = size[0], ow = size[1];
        if ((ih == 0 || iw == 0) && n * c > 0) throw ctx.Error("cannot resize an empty image.");
        float hs = Scale(ih, oh, align), ws = Scale(iw, ow, align);
        int[] outShape = [n, oh, ow, c];
        if (!bilinear)
        {
            var ys = new int[oh];
            var xs = new int[ow];
            for (int i = 0; i < oh; i++) ys[i] = NearestIndex(i, hs, ih, align, half);
            for (int i = 0; i < ow; i++) xs[i] = NearestIndex(i, ws, iw, align, half);
            var src = x.Data;
            long count = (long)n * oh * ow * c;
            var dst = src is float[] ? ctx.Allocate<float>(count, clear: false) : Array.CreateInstance(src.GetType().GetElementType()!, count);
            for (int b = 0; b < n; b++)
                for (int y = 0; y < oh; y++)
                    for (int xx = 0; xx < ow; xx++)
                        Array.Copy(src, (((long)b * ih + ys[y]) * iw + xs[xx]) * c, dst, (((long)b * oh + y) * ow + xx) * c, c);
            ctx.SetOutput(0, Tensor.Over(x.DType, outShape, dst));
            return;
        }
        float[] input = x.DType switch
        {
            DataType.DtFloat or DataType.DtHalf or DataType.DtBfloat16 => FloatConvert.ToFloat(x).As<float>(),
            _ when x.DType.IsNumeric() => Enumerable.Range(0, x.Length).Select(i => (float)x.GetDouble(i)).ToArray(),
            _ => throw ctx.Error($"does not support dtype {x.DType.Name()}."),
        };
        var (yl, yu, yf) = Weights(oh, ih, hs, half);
        var (xl, xu, xf) = Weights(ow, iw, ws, half);
        var output = ctx.Allocate<float>((long)n * oh * ow * c, clear: false); // every element is written below
        KernelParallel.For(ctx.Options.IntraOpThreads, n * oh, (long)ow * c * 4, (s, e) =>
        {
            for (int row = s; row < e; row++) BilinearRow(input, output, row, oh, ih, iw, ow, c, yl, yu, yf, xl, xu, xf);
        });
        ctx.SetOutput(0, Tensor.Over(DataType.DtFloat, outShape, output));
    }

    /// <summary>One output row of a bilinear resize, 8 channels at a time (same arithmetic, and rounding, as the scalar tail).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void BilinearRow(float[] input, float[] output, int row, int oh, int ih, int iw, int ow, int c,
        int[] yl, int[] yu, float[] yf, int[] xl, int[] xu, float[] xf)
    {
        int b = row / oh, y = row % oh;
        long top = ((long)b * ih + yl[y]) * iw, bot = ((long)b * ih + yu[y]) * iw;
        float dy = yf[y];
        var vdy = Vector256.Create(dy);
        int vecEnd = Vector256.IsHardwareAccelerated ? c / 8 * 8 : 0;
        fixed (float* pin = input)
        fixed (float* pout = output)
        {
            for (int xx = 0; xx < ow; xx++)
            {
                float* tl = pin + (top + xl[xx]) * c, tr = pin + (top + xu[xx]) * c, bl = pin + (bot + xl[xx]) * c, br = pin + (bot + xu[xx]) * c;
                float dx = xf[xx];
                var vdx = Vector256.Create(dx);
                float* o = pout + ((long)row * ow + xx) * c;
                int ch = 0;
                for (; ch < vecEnd; ch += 8)
                {
                    var vtl = Vector256.Load(tl + ch);
                    var vbl = Vector256.Load(bl + ch);
                    var t = vtl + (Vector256.Load(tr + ch) - vtl) * vdx;
                    var bo = vbl + (Vector256.Load(br + ch) - vbl) * vdx;
                    (t + (bo - t) * vdy).Store(o + ch);
                }
                for (; ch < c; ch++)
                {
                    float t = tl[ch] + (tr[ch] - tl[ch]) * dx;
                    float bo = bl[ch] + (br[ch] - bl[ch]) * dx;
                    o[ch] = t + (bo - t) * dy;
                }
            }
        }
    }

    private static int NearestIndex(int i, float scale, int inSize, bool align, bool half)
    {
        float src = half ? (i + 0.5f) * scale : i * scale;
        long v = align ? (long)MathF.Round(src, MidpointRounding.AwayFromZero) : (long)MathF.Floor(src);
        v = Math.Min(v, inSize - 1);
        if (half) v = Math.Max(0, v);
        return (int)v;
    }

    private static (int[] Lower, int[] Upper, float[] Lerp) Weights(int outSize, int inSize, float scale, bool half)
    {
        var lo = new int[outSize];
        var up = new int[outSize];
        var lerp = new float[outSize];
        for (int i = 0; i < outSize; i++)
        {
            float src = half ? (i + 0.5f) * scale - 0.5f : i * scale;
            float fl = MathF.Floor(src);
            lo[i] = Math.Max((int)fl, 0);
            up[i] = Math.Min((int)MathF.Ceiling(src), inSize - 1);
            lerp[i] = src - fl;
        }
        return (lo, up, lerp);
    }
}
