using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.Kernels;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Ops;

/// <summary>
/// 2-D convolutions: Conv2D (im2col + packed GEMM; 1×1 stride-1 convolutions go straight to the GEMM),
/// DepthwiseConv2dNative (channel-vectorized direct loop, any depth multiplier), Conv2DBackpropInput
/// (GEMM + col2im), and the grappler-fused _FusedConv2D / _FusedDepthwiseConv2dNative. NHWC natively;
/// NCHW is transposed in and out. float32 (float16/bfloat16 computed in float32).
/// </summary>
public sealed partial class ConvolutionOps : OpFamily
{
    public override void RegisterKernels(KernelRegistry r)
    {
        r.Add("Conv2D", ctx => Conv2D(ctx, fused: false));
        r.Add("_FusedConv2D", ctx => Conv2D(ctx, fused: true));
        r.Add("DepthwiseConv2dNative", ctx => Depthwise(ctx, fused: false));
        r.Add("_FusedDepthwiseConv2dNative", ctx => Depthwise(ctx, fused: true));
        r.Add("Conv2DBackpropInput", Conv2DBackpropInput);
    }

    private static float[] InputNhwc(Tensor x, ConvGeometry g)
    {
        var f = FloatConvert.ToFloat(x).As<float>();
        return g.Nchw ? ConvGeometry.ToNhwc(f, x.Shape) : f;
    }

    private static Tensor Output(float[] nhwc, ConvGeometry g, int channels, DataType dtype)
    {
        int[] shapeNhwc = [g.N, g.OH, g.OW, channels];
        var data = g.Nchw ? ConvGeometry.ToNchw(nhwc, shapeNhwc) : nhwc;
        return FloatConvert.FromFloat(new Tensor(DataType.DtFloat, g.OutShape(channels), data), dtype);
    }

    private static void CheckFloat(KernelContext ctx, Tensor x)
    {
        if (x.DType != DataType.DtFloat && !FloatConvert.IsReducedFloat(x.DType))
            throw ctx.Error($"does not support dtype {x.DType.Name()} (float32, float16 and bfloat16 are supported).");
    }

    /// <summary>The fused epilogue in NHWC terms (a residual given in NCHW is transposed).</summary>
    private static Epilogue FusedEpilogue(KernelContext ctx, ConvGeometry g, int channels)
    {
        var e = FusedOps.Parse(ctx, 2, channels, g.OutShape(channels));
        if (g.Nchw && e.Residual is not null)
            e = new Epilogue
            {
                Scale = e.Scale, Shift = e.Shift, Activation = e.Activation, LeakyAlpha = e.LeakyAlpha,
                Residual = ConvGeometry.ToNhwc(e.Residual, g.OutShape(channels)),
            };
        return e;
    }

    // ------------------------------------------------------------------ Conv2D

    private static void Conv2D(KernelContext ctx, bool fused)
    {
        var x = ctx.Input(0);
        var f = ctx.Input(1);
        CheckFloat(ctx, x);
        if (f.Rank != 4) throw ctx.Error($"needs a 4-D filter [h, w, in, out], got {Tensor.FormatShape(f.Shape)}.");
        var g = ConvGeometry.Create(ctx, x.Shape, f.Shape[0], f.Shape[1]);
        int cin = f.Shape[2], cout = f.Shape[3];
        if (cin != g.C)
            throw ctx.Error($"has a filter for {cin} input channels but the input has {g.C} (grouped convolution is not supported).");
        var input = InputNhwc(x, g);
        var filter = FloatConvert.ToFloat(f).As<float>();
        var epi = fused ? FusedEpilogue(ctx, g, cout) : new Epilogue();
        var output = ctx.Allocate<float>((long)g.N * g.OH * g.OW * cout);
        Conv2DNhwc(input, filter, output, g, cout, epi, ctx.Options.IntraOpThreads);
        ctx.SetOutput(0, Output(output, g, cout, x.DType));
    }

    /// <summary>NHWC convolution of input by filter [KH, KW, C, cout] into output [N, OH, OW, cout].</summary>
    public static void Conv2DNhwc(float[] input, float[] filter, float[] output, ConvGeometry g, int cout, Epilogue epi, int threads)
    {
        int cin = g.C;
        int kdim = g.KH * g.KW * cin;
        int pixels = g.OH * g.OW;
        if (pixels == 0 || cout == 0 || g.N == 0) return;
        bool direct = g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PadTop == 0 && g.PadLeft == 0 && g.OH == g.H && g.OW == g.W;
        // Rows of the im2col matrix per task: about 64K floats of patches, a multiple of the GEMM row tile.
        int chunk = Math.Max(Gemm.MR, Math.Min(pixels, 65_536 / Math.Max(1, kdim) / Gemm.MR * Gemm.MR));
        if (direct) chunk = Math.Max(chunk, Math.Min(pixels, 1024));
        int chunksPerImage = (pixels + chunk - 1) / chunk;
        int tasks = g.N * chunksPerImage;
        int gemmThreads = tasks >= threads ? 1 : Math.Max(1, threads / tasks);
        KernelParallel.ForEach(Math.Min(threads, tasks), tasks, t =>
        {
            int n = t / chunksPerImage;
            int p0 = (t % chunksPerImage) * chunk;
            int rows = Math.Min(chunk, pixels - p0);
            long outOff = ((long)n * pixels + p0) * cout;
            if (direct)
            {
                long inOff = ((long)n * pixels + p0) * cin;
                Gemm.Sgemm(false, false, rows, cout, cin, input, (int)inOff, cin, filter, 0, cout, output, (int)outOff, cout, false, gemmThreads);
            }
            else
            {
                var col = Im2ColBuffer(rows * kdim);
                Im2Col(input, n, g, p0, rows, col);
                Gemm.Sgemm(false, false, rows, cout, kdim, col, 0, kdim, filter, 0, cout, output, (int)outOff, cout, false, gemmThreads);
            }
            epi.Apply(output, (int)outOff, 0, rows, cout);
        });
    }

    [ThreadStatic] private static float[]? t_col;

    private static float[] Im2ColBuffer(int size)
    {
        var b = t_col;
        if (b is null || b.Length < size) b = t_col = new float[Math.Max(size, 65_536)];
        return b;
    }

    /// <summary>Patches of output pixels [p0, p0+rows) of image n, each KH·KW·C long (kh, kw, c order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Im2Col(float[] input, int n, ConvGeometry g, int p0, int rows, float[] col)
    {
        int c = g.C;
        int kdim = g.KH * g.KW * c;
        long imgOff = (long)n * g.H * g.W * c;
        for (int r = 0; r < rows; r++)
        {
            int p = p0 + r;
            int oh = p / g.OW, ow = p % g.OW;
            int ih0 = oh * g.SH - g.PadTop, iw0 = ow * g.SW - g.PadLeft;
            var dst = col.AsSpan(r * kdim, kdim);
            int d = 0;
            for (int kh = 0; kh < g.KH; kh++)
            {
                int ih = ih0 + kh * g.DH;
                if ((uint)ih >= (uint)g.H)
                {
                    dst.Slice(d, g.KW * c).Clear();
                    d += g.KW * c;
                    continue;
                }
                long rowOff = imgOff + (long)ih * g.W * c;
                for (int kw = 0; kw < g.KW; kw++, d += c)
                {
                    int iw = iw0 + kw * g.DW;
                    if ((uint)iw >= (uint)g.W) dst.Slice(d, c).Clear();
                    else input.AsSpan((int)(rowOff + (long)iw * c), c).CopyTo(dst.Slice(d, c));
                }
            }
        }
    }

    // ------------------------------------------------------------------ depthwise

    private static void Depthwise(KernelContext ctx, bool fused)
    {
        var x = ctx.Input(0);
        var f = ctx.Input(1);
        CheckFloat(ctx, x);
        if (f.Rank != 4) throw ctx.Error($"needs a 4-D filter [h, w, in, multiplier], got {Tensor.FormatShape(f.Shape)}.");
        var g = ConvGeometry.Create(ctx, x.Shape, f.Shape[0], f.Shape[1]);
        if (f.Shape[2] != g.C) throw ctx.Error($"has a filter for {f.Shape[2]} channels but the input has {g.C}.");
        int dm = f.Shape[3];
        int cout = g.C * dm;
        var input = InputNhwc(x, g);
        var filter = FloatConvert.ToFloat(f).As<float>();
        var epi = fused ? FusedEpilogue(ctx, g, cout) : new Epilogue();
        var output = ctx.Allocate<float>((long)g.N * g.OH * g.OW * cout);
        DepthwiseNhwc(input, filter, output, g, dm, epi, ctx.Options.IntraOpThreads);
        ctx.SetOutput(0, Output(output, g, cout, x.DType));
    }

    public static void DepthwiseNhwc(float[] input, float[] filter, float[] output, ConvGeometry g, int dm, Epilogue epi, int threads)
    {
        int c = g.C, cout = c * dm;
        int rows = g.N * g.OH;
        KernelParallel.For(threads, rows, (long)g.OW * cout * g.KH * g.KW, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (s, e) =>
        {
            for (int row = s; row < e; row++)
            {
                int n = row / g.OH, oh = row % g.OH;
                long imgOff = (long)n * g.H * g.W * c;
                int outRow = row * g.OW;
                for (int ow = 0; ow < g.OW; ow++)
                {
                    var acc = output.AsSpan((int)((long)(outRow + ow) * cout), cout);
                    int ih0 = oh * g.SH - g.PadTop, iw0 = ow * g.SW - g.PadLeft;
                    for (int kh = 0; kh < g.KH; kh++)
                    {
                        int ih = ih0 + kh * g.DH;
                        if ((uint)ih >= (uint)g.H) continue;
                        for (int kw = 0; kw < g.KW; kw++)
                        {
                            int iw = iw0 + kw * g.DW;
                            if ((uint)iw >= (uint)g.W) continue;
                            var pix = input.AsSpan((int)(imgOff + ((long)ih * g.W + iw) * c), c);
                            var w = filter.AsSpan((kh * g.KW + kw) * cout, cout);
                            if (dm == 1) MulAdd(pix, w, acc);
                            else
                                for (int ci = 0; ci < c; ci++)
                                {
                                    float v = pix[ci];
                                    for (int m = 0; m < dm; m++) acc[ci * dm + m] += v * w[ci * dm + m];
                                }
                        }
                    }
                }
                epi.Apply(output, outRow * cout, 0, g.OW, cout);
            }
        });
    }

    /// <summary>acc += x * w, element-wise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MulAdd(ReadOnlySpan<float> x, ReadOnlySpan<float> w, Span<float> acc)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= acc.Length - 8; i += 8)
            {
                var v = Vector256.Create(x.Slice(i, 8)) * Vector256.Create(w.Slice(i, 8)) + Vector256.Create((ReadOnlySpan<float>)acc.Slice(i, 8));
                v.CopyTo(acc.Slice(i, 8));
            }
        }
        for (; i < acc.Length; i++) acc[i] += x[i] * w[i];
    }

    // ------------------------------------------------------------------ transposed convolution

    private static void Conv2DBackpropInput(KernelContext ctx)
    {
        var sizes = ctx.Input(0).ToInt32Array();
        var f = ctx.Input(1);
        var dy = ctx.Input(2);
        CheckFloat(ctx, dy);
        if (sizes.Length != 4) throw ctx.Error($"needs input_sizes of 4 elements, got {sizes.Length}.");
        if (f.Rank != 4 || dy.Rank != 4) throw ctx.Error("needs a 4-D filter and a 4-D out_backprop.");
        var g = ConvGeometry.Create(ctx, sizes, f.Shape[0], f.Shape[1]);
        int cin = f.Shape[2], cout = f.Shape[3];
        if (cin != g.C) throw ctx.Error($"has a filter for {cin} input channels but input_sizes has {g.C}.");
        int[] dyNhwc = g.Nchw ? [dy.Shape[0], dy.Shape[2], dy.Shape[3], dy.Shape[1]] : dy.Shape;
        if (dyNhwc[0] != g.N || dyNhwc[1] != g.OH || dyNhwc[2] != g.OW || dyNhwc[3] != cout)
            throw ctx.Error($"has out_backprop of shape {Tensor.FormatShape(dy.Shape)} but the forward convolution gives {Tensor.FormatShape(g.OutShape(cout))}.");
        var dyf = FloatConvert.ToFloat(dy).As<float>();
        if (g.Nchw) dyf = ConvGeometry.ToNhwc(dyf, dy.Shape);
        var filter = FloatConvert.ToFloat(f).As<float>();
        int kdim = g.KH * g.KW * cin;
        int pixels = g.OH * g.OW;
        var result = new float[(long)g.N * g.H * g.W * cin];
        int threads = ctx.Options.IntraOpThreads;
        int gemmThreads = g.N >= threads ? 1 : Math.Max(1, threads / Math.Max(1, g.N));
        KernelParallel.ForEach(Math.Min(threads, Math.Max(1, g.N)), g.N, n =>
        {
            // cols[pixel, (kh, kw, ci)] = dy[pixel, :] · filter[(kh, kw, ci), :]ᵀ
            var cols = new float[(long)pixels * kdim];
            Gemm.Sgemm(false, true, pixels, kdim, cout, dyf, n * pixels * cout, cout, filter, 0, cout, cols, 0, kdim, false, gemmThreads);
            long imgOff = (long)n * g.H * g.W * cin;
            for (int p = 0; p < pixels; p++)
            {
                int oh = p / g.OW, ow = p % g.OW;
                int ih0 = oh * g.SH - g.PadTop, iw0 = ow * g.SW - g.PadLeft;
                for (int kh = 0; kh < g.KH; kh++)
                {
                    int ih = ih0 + kh * g.DH;
                    if ((uint)ih >= (uint)g.H) continue;
                    for (int kw = 0; kw < g.KW; kw++)
                    {
                        int iw = iw0 + kw * g.DW;
                        if ((uint)iw >= (uint)g.W) continue;
                        var dst = result.AsSpan((int)(imgOff + ((long)ih * g.W + iw) * cin), cin);
                        var src = cols.AsSpan(p * kdim + (kh * g.KW + kw) * cin, cin);
                        System.Numerics.Tensors.TensorPrimitives.Add(dst, src, dst);
                    }
                }
            }
        });
        int[] nhwc = [g.N, g.H, g.W, cin];
        var data = g.Nchw ? ConvGeometry.ToNchw(result, nhwc) : result;
        ctx.SetOutput(0, FloatConvert.FromFloat(new Tensor(DataType.DtFloat, sizes, data), dy.DType));
    }
}
