using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.Kernels;
using ModelOps.Core.Tensors;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Ops;

/// <summary>
/// MaxPool, MaxPoolV2 (ksize/strides as inputs) and AvgPool over NHWC or NCHW. AvgPool divides by the
/// number of in-bounds elements of each window (SAME padding is excluded from the average, as TF does).
/// float32 NHWC kernel: channel-vectorized, the window clipped to the image once per row and column.
/// </summary>
public sealed partial class PoolingOps : OpFamily
{
    public override void RegisterKernels(KernelRegistry r)
    {
        // Inputs are read by their geometry (never by their arrays' length); outputs are made with Tensor.Over.
        r = r.WithTraits(KernelTraits.SpareCapacity);
        r.Add("MaxPool", ctx => Pool(ctx, max: true, fromInputs: false));
        r.Add("MaxPoolV2", ctx => Pool(ctx, max: true, fromInputs: true));
        r.Add("AvgPool", ctx => Pool(ctx, max: false, fromInputs: false));
    }

    private static void Pool(KernelContext ctx, bool max, bool fromInputs)
    {
        var x = ctx.Input(0);
        if (x.DType != DataType.DtFloat && !FloatConvert.IsReducedFloat(x.DType))
            throw ctx.Error($"does not support dtype {x.DType.Name()} (float32, float16 and bfloat16 are supported).");
        long[] ksize = fromInputs ? ctx.Input(1).ToInt64Array() : ctx.Ints("ksize");
        long[] strides = fromInputs ? ctx.Input(2).ToInt64Array() : ctx.Ints("strides");
        if (ksize.Length != 4 || strides.Length != 4) throw ctx.Error("needs 4 ksize and 4 strides values.");
        bool nchw = ctx.String("data_format", "NHWC") == "NCHW";
        int hi = nchw ? 2 : 1, wi = nchw ? 3 : 2;
        if (ksize[0] != 1 || ksize[nchw ? 1 : 3] != 1) throw ctx.Error("does not support pooling over the batch or channel dimension.");
        var g = ConvGeometry.Create(ctx, x.Shape, (int)ksize[hi], (int)ksize[wi], strides);
        var input = FloatConvert.ToFloat(x).As<float>();
        if (nchw) input = ConvGeometry.ToNhwc(input, x.Shape);
        int c = g.C;
        var output = ctx.Allocate<float>((long)g.N * g.OH * g.OW * c, clear: false);
        PoolNhwc(input, output, g, max, ctx.Options.IntraOpThreads);
        int[] nhwc = [g.N, g.OH, g.OW, c];
        var data = nchw ? ConvGeometry.ToNchw(output, nhwc) : output;
        ctx.SetOutput(0, FloatConvert.FromFloat(Tensor.Over(DataType.DtFloat, g.OutShape(c), data), x.DType));
    }

    /// <summary>
    /// Max or average pooling of NHWC input into output [N, OH, OW, C] (every element written). The window
    /// is clipped to the image per row and column; each output pixel is reduced in registers, 8 channels at
    /// a time. An average divides by the number of in-bounds elements; an empty window gives -inf (max) or 0.
    /// </summary>
    public static void PoolNhwc(float[] input, float[] output, ConvGeometry g, bool max, int threads)
    {
        int rows = g.N * g.OH;
        if (rows == 0 || g.OW == 0 || g.C == 0) return;
        KernelParallel.For(threads, rows, (long)g.OW * g.C * g.KH * g.KW, (s, e) =>
        {
            for (int row = s; row < e; row++)
            {
                if (max) PoolRow<MaxOp>(input, output, g, row);
                else PoolRow<AvgOp>(input, output, g, row);
            }
        });
    }

    /// <summary>The reduction of a pooling window: its start value and how a value joins the accumulator.</summary>
    private interface IPoolOp
    {
        static abstract float Init { get; }
        static abstract Vector512<float> Join(Vector512<float> acc, Vector512<float> v);
        static abstract Vector256<float> Join(Vector256<float> acc, Vector256<float> v);
        static abstract float Join(float acc, float v);
    }

    private readonly struct MaxOp : IPoolOp
    {
        public static float Init => float.NegativeInfinity;

        // NaN sticks: maxps gives its second operand (v) when either is NaN, and a NaN acc is kept.
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Join(Vector512<float> acc, Vector512<float> v) =>
            Vector512.ConditionalSelect(Vector512.Equals(acc, acc), Avx512F.Max(acc, v), acc);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Join(Vector256<float> acc, Vector256<float> v) =>
            Vector256.ConditionalSelect(Vector256.Equals(acc, acc), Avx.IsSupported ? Avx.Max(acc, v) : Vector256.Max(acc, v), acc);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Join(float acc, float v) => v > acc || float.IsNaN(v) ? v : acc;
    }

    private readonly struct AvgOp : IPoolOp
    {
        public static float Init => 0f;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector512<float> Join(Vector512<float> acc, Vector512<float> v) => acc + v;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Join(Vector256<float> acc, Vector256<float> v) => acc + v;

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Join(float acc, float v) => acc + v;
    }

    /// <summary>
    /// One output pixel, its window <paramref name="rows"/> rows of <paramref name="cols"/> pixels from <paramref name="win"/>
    /// (clipped to the image): the channels go 32 at a time in four registers (the window walked once per 32 channels),
    /// then 16 in one 16-lane register on AVX-512, then 8 at a time, then one by one; <paramref name="scale"/> multiplies
    /// by <paramref name="inv"/> (an average of a non-empty window). Every lane joins the same values in the same order on
    /// every path. (A method of its own, inlined per pixel: with the loops written out in the row's method, AvgPool
    /// [62,62,32] 2×2 took 9.5 µs, now 7.9.)
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Pixel<TOp>(float* win, long rowStride, int rows, int cols, int c, float* o, bool scale, float inv, bool vec, bool wide)
        where TOp : struct, IPoolOp
    {
        int ch = 0;
        if (vec)
        {
            var vinv = Vector256.Create(inv);
            for (; ch + 32 <= c; ch += 32)
            {
                Vector256<float> a0 = Vector256.Create(TOp.Init), a1 = a0, a2 = a0, a3 = a0;
                for (int r = 0; r < rows; r++)
                {
                    float* p = win + r * rowStride + ch;
                    for (int q = 0; q < cols; q++, p += c)
                    {
                        a0 = TOp.Join(a0, Vector256.Load(p));
                        a1 = TOp.Join(a1, Vector256.Load(p + 8));
                        a2 = TOp.Join(a2, Vector256.Load(p + 16));
                        a3 = TOp.Join(a3, Vector256.Load(p + 24));
                    }
                }
                if (scale) { a0 *= vinv; a1 *= vinv; a2 *= vinv; a3 *= vinv; }
                a0.Store(o + ch);
                a1.Store(o + ch + 8);
                a2.Store(o + ch + 16);
                a3.Store(o + ch + 24);
            }
            if (wide && ch + 16 <= c)
            {
                // 16 channels left (16 or 48 in all): one walk of the window with a 16-lane register instead of two.
                // (32-channel blocks stay in 8-lane registers: 16-lane loads straddle cache lines in unaligned arrays.)
                var acc = Vector512.Create(TOp.Init);
                for (int r = 0; r < rows; r++)
                {
                    float* p = win + r * rowStride + ch;
                    for (int q = 0; q < cols; q++, p += c) acc = TOp.Join(acc, Vector512.Load(p));
                }
                if (scale) acc *= Vector512.Create(inv);
                acc.Store(o + ch);
                ch += 16;
            }
            for (; ch + 8 <= c; ch += 8)
            {
                var acc = Vector256.Create(TOp.Init);
                for (int r = 0; r < rows; r++)
                {
                    float* p = win + r * rowStride + ch;
                    for (int q = 0; q < cols; q++, p += c) acc = TOp.Join(acc, Vector256.Load(p));
                }
                if (scale) acc *= vinv;
                acc.Store(o + ch);
            }
        }
        for (; ch < c; ch++)
        {
            float acc = TOp.Init;
            for (int r = 0; r < rows; r++)
            {
                float* p = win + r * rowStride + ch;
                for (int q = 0; q < cols; q++, p += c) acc = TOp.Join(acc, *p);
            }
            o[ch] = scale ? acc * inv : acc;
        }
    }

    /// <summary>One output row, pixel by pixel (<see cref="Pixel{TOp}"/>); the average scales by 1 / in-bounds count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void PoolRow<TOp>(float[] input, float[] output, ConvGeometry g, int row) where TOp : struct, IPoolOp
    {
        // Geometry in locals: the stores through pointers below would otherwise make the JIT reload g's fields.
        int c = g.C, W = g.W, OW = g.OW, KW = g.KW, SW = g.SW, padLeft = g.PadLeft;
        int n = row / g.OH, oh = row % g.OH;
        int ih0 = oh * g.SH - g.PadTop;
        int h0 = Math.Max(0, ih0), h1 = Math.Min(g.H, ih0 + g.KH);
        bool vec = Vector256.IsHardwareAccelerated;
        bool wide = Avx512F.IsSupported && Vector512.IsHardwareAccelerated;
        bool avg = typeof(TOp) == typeof(AvgOp);
        long rowStride = (long)W * c;
        int rows = Math.Max(0, h1 - h0);
        fixed (float* pin = input)
        fixed (float* pout = output)
        {
            float* img = pin + (long)n * g.H * rowStride;
            for (int ow = 0; ow < OW; ow++)
            {
                int iw0 = ow * SW - padLeft;
                int w0 = Math.Max(0, iw0), w1 = Math.Min(W, iw0 + KW);
                int cols = Math.Max(0, w1 - w0), count = rows * cols;
                Pixel<TOp>(img + ((long)h0 * W + w0) * c, rowStride, rows, cols, c, pout + ((long)row * OW + ow) * c,
                    avg && count > 0, count > 0 ? 1f / count : 0f, vec, wide);
            }
        }
    }
}
