using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;
using static ModelOps.Core.Converters.TfLite.TfLiteLowerHelpers;

namespace ModelOps.Core.Ops;

/// <summary>TFLite lowerings of the resize family: ResizeBilinear / ResizeNearestNeighbor (NHWC, constant size).</summary>
public sealed partial class ResizeOps
{
    public override void RegisterTfLite(TfLiteLoweringRegistry r)
    {
        r.Add(["ResizeBilinear", "ResizeNearestNeighbor"], Resize);
        r.Add("DepthToSpace", ctx => SpaceDepth(ctx, toSpace: true));
        r.Add("SpaceToDepth", ctx => SpaceDepth(ctx, toSpace: false));
    }

    private static void Resize(TfLiteLoweringContext ctx)
    {
        var x = ctx.Shape(0);
        var size = ctx.Constant(1).ToInt32Array();
        if (x.Length != 4 || size.Length != 2) throw ctx.Error("expects an NHWC image and a [height,width] size.");
        bool align = ctx.Bool("align_corners", false), half = ctx.Bool("half_pixel_centers", false);
        int sizeT = ctx.AddConstant(Int32s(size), "size");
        int o = ctx.Output(0, ctx.DType(0), new[] { x[0], size[0], size[1], x[3] });
        if (ctx.Op == "ResizeBilinear")
            ctx.Emit(BuiltinOperator.RESIZE_BILINEAR, new[] { ctx.Tensor(0), sizeT }, new[] { o },
                BuiltinOptionsUnion.FromResizeBilinearOptions(new ResizeBilinearOptionsT { AlignCorners = align, HalfPixelCenters = half }));
        else
            ctx.Emit(BuiltinOperator.RESIZE_NEAREST_NEIGHBOR, new[] { ctx.Tensor(0), sizeT }, new[] { o },
                BuiltinOptionsUnion.FromResizeNearestNeighborOptions(new ResizeNearestNeighborOptionsT { AlignCorners = align, HalfPixelCenters = half }));
    }

    private static void SpaceDepth(TfLiteLoweringContext ctx, bool toSpace)
    {
        RequireNhwc(ctx);
        var x = ctx.Shape(0);
        int b = (int)ctx.Int("block_size");
        var outShape = toSpace ? new[] { x[0], x[1] * b, x[2] * b, x[3] / (b * b) } : new[] { x[0], x[1] / b, x[2] / b, x[3] * b * b };
        int o = ctx.Output(0, ctx.DType(0), outShape);
        if (toSpace)
            ctx.Emit(BuiltinOperator.DEPTH_TO_SPACE, new[] { ctx.Tensor(0) }, new[] { o }, BuiltinOptionsUnion.FromDepthToSpaceOptions(new DepthToSpaceOptionsT { BlockSize = b }));
        else
            ctx.Emit(BuiltinOperator.SPACE_TO_DEPTH, new[] { ctx.Tensor(0) }, new[] { o }, BuiltinOptionsUnion.FromSpaceToDepthOptions(new SpaceToDepthOptionsT { BlockSize = b }));
    }
}
