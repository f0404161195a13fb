using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;
using static ModelOps.Core.Converters.TfLite.TfLiteLowerHelpers;

namespace ModelOps.Core.Ops;

/// <summary>TFLite lowerings of the pooling family: MaxPool → MAX_POOL_2D, AvgPool → AVERAGE_POOL_2D (NHWC).</summary>
public sealed partial class PoolingOps
{
    public override void RegisterTfLite(TfLiteLoweringRegistry r)
    {
        r.Add("MaxPool", ctx => Pool(ctx, BuiltinOperator.MAX_POOL_2D));
        r.Add("AvgPool", ctx => Pool(ctx, BuiltinOperator.AVERAGE_POOL_2D));
    }

    private static void Pool(TfLiteLoweringContext ctx, BuiltinOperator code)
    {
        RequireNhwc(ctx);
        var x = ctx.Shape(0);
        if (x.Length != 4) throw ctx.Error($"has input of rank {x.Length}; expected NHWC rank 4.");
        var (kh, kw) = Nhwc2(ctx, "ksize");
        var (sh, sw) = Nhwc2(ctx, "strides");
        var padding = PaddingOf(ctx);
        var outShape = new[] { x[0], WindowOut(x[1], kh, sh, 1, padding), WindowOut(x[2], kw, sw, 1, padding), x[3] };
        ctx.Emit(code, new[] { ctx.Tensor(0) }, new[] { ctx.Output(0, ctx.DType(0), outShape) },
            BuiltinOptionsUnion.FromPool2DOptions(new Pool2DOptionsT { Padding = padding, StrideH = sh, StrideW = sw, FilterHeight = kh, FilterWidth = kw }));
    }
}
