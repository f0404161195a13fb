using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Protos;
using Tensor = ModelOps.Core.Tensors.Tensor;
using static ModelOps.Core.Converters.TfLite.TfLiteLowerHelpers;

namespace ModelOps.Core.Ops;

/// <summary>
/// TFLite lowerings of the normalization family: an inference-mode FusedBatchNorm / V2 / V3 (and
/// BatchNormWithGlobalNormalization) with constant parameters becomes MUL by scale = γ/√(σ²+ε) and ADD of
/// offset = β − μ·scale over the channel axis (NHWC), as TF's converter does before it fuses them further.
/// </summary>
public sealed partial class NormalizationOps
{
    public override void RegisterTfLite(TfLiteLoweringRegistry r)
    {
        r.Add(new[] { "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3" }, ctx => BatchNorm(ctx, scaleIndex: 1, offsetIndex: 2, meanIndex: 3, varianceIndex: 4, useScale: true));
        r.Add("BatchNormWithGlobalNormalization", ctx => BatchNorm(ctx, scaleIndex: 4, offsetIndex: 3, meanIndex: 1, varianceIndex: 2,
            useScale: ctx.Bool("scale_after_normalization", false), epsilonAttr: "variance_epsilon"));
    }

    private static void BatchNorm(TfLiteLoweringContext ctx, int scaleIndex, int offsetIndex, int meanIndex, int varianceIndex, bool useScale, string epsilonAttr = "epsilon")
    {
        if (ctx.Op.StartsWith("FusedBatchNorm", StringComparison.Ordinal))
        {
            RequireNhwc(ctx);
            if (ctx.Bool("is_training", true))
                throw ctx.Error("is in training mode (is_training=true); freeze the graph for inference (batch statistics cannot be converted).");
        }
        foreach (int i in new[] { scaleIndex, offsetIndex, meanIndex, varianceIndex })
            if (!ctx.IsConstant(i))
                throw ctx.Error($"has a non-constant parameter (input {i}); freeze the graph first so the batch-norm parameters are constants.");
        var x = ctx.Shape(0);
        if (x.Length == 0) throw ctx.Error("has a scalar input; a channel axis is needed.");
        int c = x[^1];
        float eps = ctx.Float(epsilonAttr, 0.0001f);
        float[] gamma = Floats(ctx.Constant(scaleIndex)), beta = Floats(ctx.Constant(offsetIndex));
        float[] mean = Floats(ctx.Constant(meanIndex)), variance = Floats(ctx.Constant(varianceIndex));
        if (new[] { gamma.Length, beta.Length, mean.Length, variance.Length }.Any(n => n != c))
            throw ctx.Error($"has parameters whose length is not the channel count {c}.");
        var scale = new float[c];
        var offset = new float[c];
        for (int i = 0; i < c; i++)
        {
            scale[i] = (float)((useScale ? gamma[i] : 1.0) / Math.Sqrt(variance[i] + (double)eps));
            offset[i] = (float)(beta[i] - mean[i] * (double)scale[i]);
        }
        var dtype = ctx.DType(0);
        int scaled = ctx.AddTensor("scaled", dtype, x);
        ctx.Emit(BuiltinOperator.MUL, new[] { ctx.Tensor(0), ctx.AddConstant(Tensor.Create(scale, c), "scale") }, new[] { scaled },
            BuiltinOptionsUnion.FromMulOptions(new MulOptionsT()));
        ctx.Emit(BuiltinOperator.ADD, new[] { scaled, ctx.AddConstant(Tensor.Create(offset, c), "offset") }, new[] { ctx.Output(0, dtype, x) },
            BuiltinOptionsUnion.FromAddOptions(new AddOptionsT()));
    }

    private static float[] Floats(Tensor t) =>
        t.DType == DataType.DtFloat ? t.As<float>() : Enumerable.Range(0, t.Length).Select(i => (float)t.GetDouble(i)).ToArray();
}
