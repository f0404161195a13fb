using System.Numerics.Tensors;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.Kernels;
using ModelOps.Core.Tensors;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Ops;

/// <summary>
/// FusedBatchNorm/V2/V3 (inference with the given mean/variance, or batch statistics when is_training),
/// BatchNormWithGlobalNormalization and LRN. y = (x − mean) · scale / sqrt(var + ε) + offset per channel.
/// </summary>
public sealed partial class NormalizationOps : OpFamily
{
    public override void RegisterKernels(KernelRegistry r)
    {
        // Inputs are read as their first Length elements; outputs are made with Tensor.Over or are exact arrays.
        r = r.WithTraits(KernelTraits.SpareCapacity);
        r.Add(["FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"], FusedBatchNorm);
        r.Add("BatchNormWithGlobalNormalization", GlobalNorm);
        r.Add("LRN", Lrn);
    }

    private static void FusedBatchNorm(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.DType != DataType.DtFloat && !FloatConvert.IsReducedFloat(x.DType))
            throw ctx.Error($"does not support dtype {x.DType.Name()}.");
        if (x.Rank != 4) throw ctx.Error($"needs a 4-D input, got {Tensor.FormatShape(x.Shape)}.");
        bool nchw = ctx.String("data_format", "NHWC") == "NCHW";
        float eps = ctx.Float("epsilon", 0.0001f);
        bool training = ctx.Bool("is_training", true);
        float factor = ctx.Float("exponential_avg_factor", 1f);
        var xf = FloatConvert.ToFloat(x).As<float>();
        var data = nchw ? ConvGeometry.ToNhwc(xf, x.Shape) : xf;
        int c = nchw ? x.Shape[1] : x.Shape[3];
        float[] Vec(int i, string name)
        {
            var t = FloatConvert.ToFloat(ctx.Input(i));
            if (t.Length != c && !(training && t.Length == 0 && i >= 3))
                throw ctx.Error($"has a {name} of {t.Length} elements for {c} channels.");
            return t.Exact().As<float>(); // mean and variance pass through to outputs 1-4 in inference
        }
        var scale = Vec(1, "scale");
        var offset = Vec(2, "offset");
        var mean = Vec(3, "mean");
        var variance = Vec(4, "variance");
        int rows = c == 0 ? 0 : x.Length / c;
        float[] batchMean = mean, batchVar = variance, runMean = mean, runVar = variance;
        if (training)
        {
            batchMean = new float[c];
            var sq = new double[c];
            var sum = new double[c];
            for (int r = 0; r < rows; r++)
                for (int j = 0; j < c; j++)
                {
                    double v = data[r * c + j];
                    sum[j] += v;
                    sq[j] += v * v;
                }
            batchVar = new float[c];
            var unbiased = new float[c];
            for (int j = 0; j < c; j++)
            {
                double m = rows == 0 ? 0 : sum[j] / rows;
                double var = rows == 0 ? 0 : Math.Max(0, sq[j] / rows - m * m);
                batchMean[j] = (float)m;
                batchVar[j] = (float)var;
                unbiased[j] = rows > 1 ? (float)(var * rows / (rows - 1)) : (float)var;
            }
            // running statistics (outputs 1 and 2), as TF: new = (1 - factor) * old + factor * batch
            runMean = new float[c];
            runVar = new float[c];
            for (int j = 0; j < c; j++)
            {
                bool hasOld = ctx.Input(3).Length == c && factor != 1f;
                runMean[j] = hasOld ? (1 - factor) * mean[j] + factor * batchMean[j] : batchMean[j];
                runVar[j] = hasOld ? (1 - factor) * variance[j] + factor * unbiased[j] : unbiased[j];
            }
        }
        var mul = new float[c];
        var add = new float[c];
        for (int j = 0; j < c; j++)
        {
            mul[j] = scale[j] / MathF.Sqrt(batchVar[j] + eps);
            add[j] = offset[j] - batchMean[j] * mul[j];
        }
        var y = nchw ? new float[x.Length] : ctx.Allocate<float>(x.Length, clear: false); // every element is written below
        KernelParallel.For(ctx.Options.IntraOpThreads, rows, c * 2L, (s, e) =>
        {
            for (int r = s; r < e; r++)
            {
                var dst = y.AsSpan(r * c, c);
                TensorPrimitives.MultiplyAdd(data.AsSpan(r * c, c), mul, add, dst);
            }
        });
        if (nchw) y = ConvGeometry.ToNchw(y, [x.Shape[0], x.Shape[2], x.Shape[3], c]);
        ctx.SetOutput(0, FloatConvert.FromFloat(Tensor.Over(DataType.DtFloat, x.Shape, y), x.DType));
        int outs = ctx.Outputs.Length;
        var st = new[] { runMean, runVar, batchMean, batchVar, Array.Empty<float>() };
        for (int i = 1; i < outs && i <= 5; i++)
        {
            var v = i == 5 ? Array.Empty<float>() : (float[])st[i - 1].Clone();
            ctx.SetOutput(i, new Tensor(DataType.DtFloat, [v.Length], v));
        }
    }

    private static void GlobalNorm(KernelContext ctx)
    {
        // inputs t, m, v, beta, gamma; attrs variance_epsilon, scale_after_normalization
        var x = ctx.Input(0);
        if (x.DType != DataType.DtFloat && !FloatConvert.IsReducedFloat(x.DType))
            throw ctx.Error($"does not support dtype {x.DType.Name()}.");
        float eps = ctx.Float("variance_epsilon");
        bool scaleAfter = ctx.Bool("scale_after_normalization");
        var xf = FloatConvert.ToFloat(x).As<float>();
        int c = x.Shape[^1];
        float[] V(int i) => FloatConvert.ToFloat(ctx.Input(i)).As<float>();
        var m = V(1); var v = V(2); var beta = V(3); var gamma = V(4);
        var mul = new float[c];
        var add = new float[c];
        for (int j = 0; j < c; j++)
        {
            mul[j] = 1f / MathF.Sqrt(v[j] + eps) * (scaleAfter ? gamma[j] : 1f);
            add[j] = beta[j] - m[j] * mul[j];
        }
        var y = ctx.Allocate<float>(x.Length, clear: false); // every element is written below
        for (int r = 0; r < (c == 0 ? 0 : x.Length / c); r++)
            TensorPrimitives.MultiplyAdd(xf.AsSpan(r * c, c), mul, add, y.AsSpan(r * c, c));
        ctx.SetOutput(0, FloatConvert.FromFloat(Tensor.Over(DataType.DtFloat, x.Shape, y), x.DType));
    }

    /// <summary>LRN over the last dim: out = x / (bias + alpha · Σ_{|j−c|≤r} x_j²)^beta.</summary>
    private static void Lrn(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (x.DType != DataType.DtFloat && !FloatConvert.IsReducedFloat(x.DType))
            throw ctx.Error($"does not support dtype {x.DType.Name()}.");
        int radius = (int)ctx.Int("depth_radius", 5);
        float bias = ctx.Float("bias", 1f), alpha = ctx.Float("alpha", 1f), beta = ctx.Float("beta", 0.5f);
        var xf = FloatConvert.ToFloat(x).As<float>();
        int c = x.Shape[^1];
        var y = new float[x.Length];
        for (int r = 0; r < (c == 0 ? 0 : x.Length / c); r++)
            for (int j = 0; j < c; j++)
            {
                double s = 0;
                for (int k = Math.Max(0, j - radius); k <= Math.Min(c - 1, j + radius); k++) s += (double)xf[r * c + k] * xf[r * c + k];
                y[r * c + j] = (float)(xf[r * c + j] / Math.Pow(bias + alpha * s, beta));
            }
        ctx.SetOutput(0, FloatConvert.FromFloat(new Tensor(DataType.DtFloat, x.Shape, y), x.DType));
    }
}
