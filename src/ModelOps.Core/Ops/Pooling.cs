using System.Runtime.CompilerServices;
using System.Numerics.Tensors;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.Kernels;
using ModelOps.Core.Tensors;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Ops;

/// <summary>
/// MaxPool, MaxPoolV2 (ksize/strides as inputs) and AvgPool over NHWC or NCHW. AvgPool divides by the
/// number of in-bounds elements of each window (SAME padding is excluded from the average, as TF does).
/// </summary>
public sealed partial class PoolingOps : OpFamily
{
    public override void RegisterKernels(KernelRegistry r)
    {
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
        var output = ctx.Allocate<float>((long)g.N * g.OH * g.OW * c);
        KernelParallel.For(ctx.Options.IntraOpThreads, g.N * g.OH, (long)g.OW * c * g.KH * g.KW, [MethodImpl(MethodImplOptions.AggressiveOptimization)] (s, e) =>
        {
            for (int row = s; row < e; row++)
            {
                int n = row / g.OH, oh = row % g.OH;
                long imgOff = (long)n * g.H * g.W * c;
                int ih0 = oh * g.SH - g.PadTop;
                int h0 = Math.Max(0, ih0), h1 = Math.Min(g.H, ih0 + g.KH);
                for (int ow = 0; ow < g.OW; ow++)
                {
                    var acc = output.AsSpan((int)(((long)row * g.OW + ow) * c), c);
                    int iw0 = ow * g.SW - g.PadLeft;
                    int w0 = Math.Max(0, iw0), w1 = Math.Min(g.W, iw0 + g.KW);
                    acc.Fill(max ? float.NegativeInfinity : 0f);
                    for (int ih = h0; ih < h1; ih++)
                        for (int iw = w0; iw < w1; iw++)
                        {
                            var pix = input.AsSpan((int)(imgOff + ((long)ih * g.W + iw) * c), c);
                            if (max) TensorPrimitives.Max(acc, pix, acc);
                            else TensorPrimitives.Add(acc, pix, acc);
                        }
                    if (!max)
                    {
                        int count = (h1 - h0) * (w1 - w0);
                        if (count > 0) TensorPrimitives.Divide(acc, (float)count, acc);
                    }
                }
            }
        });
        int[] nhwc = [g.N, g.OH, g.OW, c];
        var data = nchw ? ConvGeometry.ToNchw(output, nhwc) : output;
        ctx.SetOutput(0, FloatConvert.FromFloat(new Tensor(DataType.DtFloat, g.OutShape(c), data), x.DType));
    }
}
