using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using static ModelOps.Core.Converters.TfLite.TfLiteLowerHelpers;

namespace ModelOps.Core.Ops;

/// <summary>
/// TFLite lowerings of the matrix family: MatMul / _FusedMatMul with constant weights →
/// FULLY_CONNECTED (weights stored [out,in]); BatchMatMul(V2/V3) → FULLY_CONNECTED (keep_num_dims)
/// for 2-D constant weights, else BATCH_MATMUL.
/// </summary>
public sealed partial class MatMulOps
{
    public override void RegisterTfLite(TfLiteLoweringRegistry r)
    {
        r.Add(["MatMul", "_FusedMatMul"], MatMul);
        r.Add(["BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"], BatchMatMul);
    }

    private static void MatMul(TfLiteLoweringContext ctx)
    {
        bool ta = ctx.Bool("transpose_a", false), tb = ctx.Bool("transpose_b", false);
        var a = ctx.Shape(0);
        if (a.Length != 2) throw ctx.Error($"has a rank-{a.Length} input; MatMul takes matrices.");
        if (!ctx.IsConstant(1) || ta)
        {
            if (ctx.Strings("fused_ops", Array.Empty<string>()).Length > 0) throw ctx.Error("has run-time weights with fused ops; not supported.");
            EmitBatchMatMul(ctx, ta, tb);
            return;
        }
        var w = AsFloat32(ctx.Constant(1));
        // FULLY_CONNECTED wants [units, depth].
        var weights = tb ? w : Transpose(w, new[] { 1, 0 });
        int units = weights.Shape[0];
        if (weights.Shape[1] != a[1]) throw ctx.Error($"multiplies [{a[0]},{a[1]}] by weights for depth {weights.Shape[1]}.");
        var bias = new float[units];
        var fused = ctx.Strings("fused_ops", Array.Empty<string>());
        string? activation = null;
        if (fused.Length > 0)
        {
            if (fused[0] != "BiasAdd") throw ctx.Error($"fuses '{fused[0]}', which has no TFLite lowering.");
            Array.Copy(AsFloat32(ctx.Constant(2)).As<float>(), bias, units);
            if (fused.Length > 1) activation = fused[1];
            if (fused.Length > 2) throw ctx.Error($"fuses {string.Join(",", fused)}; at most BiasAdd and one activation are supported.");
        }
        var outShape = new[] { a[0], units };
        var fusedAct = activation is null ? ActivationFunctionType.NONE : FusableActivation(activation) ?? ActivationFunctionType.NONE;
        bool separate = activation is not null && FusableActivation(activation) is null;
        int input = ctx.Tensor(0);
        int wt = ctx.AddConstant(weights, "weights", TfLiteWeightRole.Weight, channelAxis: 0);
        int bt = ctx.AddConstant(Tensor.Create(bias, units), "bias", TfLiteWeightRole.Bias);
        int o = separate ? ctx.AddTensor("matmul", DataType.DtFloat, outShape) : ctx.Output(0, DataType.DtFloat, outShape);
        ctx.Emit(BuiltinOperator.FULLY_CONNECTED, new[] { input, wt, bt }, new[] { o },
            BuiltinOptionsUnion.FromFullyConnectedOptions(new FullyConnectedOptionsT { FusedActivationFunction = fusedAct }));
        if (separate) EmitActivation(ctx, activation!, o, ctx.Output(0, DataType.DtFloat, outShape), ctx.Float("leakyrelu_alpha", 0.2f));
    }

    private static void BatchMatMul(TfLiteLoweringContext ctx)
    {
        bool ax = ctx.Bool("adj_x", false), ay = ctx.Bool("adj_y", false);
        var a = ctx.Shape(0);
        if (ctx.IsConstant(1) && !ax && ctx.Rank(1) == 2 && a.Length >= 2 && IsFloat(ctx.DType(0)))
        {
            var w = AsFloat32(ctx.Constant(1));
            var weights = ay ? w : Transpose(w, new[] { 1, 0 });
            int units = weights.Shape[0];
            var outShape = a.ToArray();
            outShape[^1] = units;
            int wt = ctx.AddConstant(weights, "weights", TfLiteWeightRole.Weight, channelAxis: 0);
            int bt = ctx.AddConstant(ZeroBias(units), "bias", TfLiteWeightRole.Bias);
            ctx.Emit(BuiltinOperator.FULLY_CONNECTED, new[] { ctx.Tensor(0), wt, bt }, new[] { ctx.Output(0, DataType.DtFloat, outShape) },
                BuiltinOptionsUnion.FromFullyConnectedOptions(new FullyConnectedOptionsT { KeepNumDims = a.Length > 2 }));
            return;
        }
        EmitBatchMatMul(ctx, ax, ay);
    }

    private static void EmitBatchMatMul(TfLiteLoweringContext ctx, bool adjX, bool adjY)
    {
        var a = ctx.Shape(0);
        var b = ctx.Shape(1);
        if (a.Length < 2 || b.Length < 2) throw ctx.Error("needs inputs of rank >= 2.");
        int m = adjX ? a[^1] : a[^2], n = adjY ? b[^2] : b[^1];
        var batch = Broadcast(ctx, a[..^2], b[..^2]);
        var outShape = batch.Concat(new[] { m, n }).ToArray();
        ctx.Emit(BuiltinOperator.BATCH_MATMUL, new[] { ctx.Tensor(0), ctx.Tensor(1) }, new[] { ctx.Output(0, ctx.DType(0), outShape) },
            BuiltinOptionsUnion.FromBatchMatMulOptions(new BatchMatMulOptionsT { AdjX = adjX, AdjY = adjY }));
    }
}
