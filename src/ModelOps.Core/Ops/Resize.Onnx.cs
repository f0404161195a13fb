using ModelOps.Core.Converters.Onnx;

namespace ModelOps.Core.Ops;

/// <summary>
/// ONNX lowerings of the resize family (Ops/Resize.cs): ResizeBilinear / ResizeNearestNeighbor → Resize on NCHW with
/// explicit output sizes. TF's flags choose the coordinate mapping: align_corners → "align_corners",
/// half_pixel_centers → "half_pixel" (bilinear) or "tf_half_pixel_for_nn" (nearest, before opset 18
/// removed it; "half_pixel" with round_prefer_ceil after), neither → "asymmetric". Nearest rounding
/// follows TF: floor, or round-half-up with align_corners.
/// </summary>
public sealed partial class ResizeOps
{
    public override void RegisterOnnx(OnnxLoweringRegistry r)
    {
        r.Add("ResizeBilinear", 13, ctx => Resize(ctx, nearest: false));
        r.Add("ResizeNearestNeighbor", 13, ctx => Resize(ctx, nearest: true));
    }

    private static void Resize(OnnxLoweringContext ctx, bool nearest)
    {
        bool align = ctx.Bool("align_corners", false), half = ctx.Bool("half_pixel_centers", false);
        if (align && half) throw ctx.Fail("sets both align_corners and half_pixel_centers, which TF rejects.");
        var attrs = new List<Protos.Onnx.AttributeProto>();
        if (nearest)
        {
            attrs.Add(OnnxAttr.String("mode", "nearest"));
            if (align)
            {
                attrs.Add(OnnxAttr.String("coordinate_transformation_mode", "align_corners"));
                attrs.Add(OnnxAttr.String("nearest_mode", "round_prefer_ceil"));
            }
            else if (half)
            {
                attrs.Add(OnnxAttr.String("coordinate_transformation_mode", ctx.Opset < 18 ? "tf_half_pixel_for_nn" : "half_pixel"));
                attrs.Add(OnnxAttr.String("nearest_mode", ctx.Opset < 18 ? "floor" : "round_prefer_ceil"));
            }
            else
            {
                attrs.Add(OnnxAttr.String("coordinate_transformation_mode", "asymmetric"));
                attrs.Add(OnnxAttr.String("nearest_mode", "floor"));
            }
        }
        else
        {
            attrs.Add(OnnxAttr.String("mode", "linear"));
            attrs.Add(OnnxAttr.String("coordinate_transformation_mode", align ? "align_corners" : half ? "half_pixel" : "asymmetric"));
        }
        // sizes = [N, C] of the NCHW input followed by the requested [H, W].
        string x = ctx.ToChannelsFirst(ctx.Input(0));
        var size = ctx.ConstInput(1);
        var inShape = ctx.InputShape(0);
        string sizes;
        if (size is not null && inShape is { Length: 4 } && inShape[0] >= 0 && inShape[3] >= 0)
        {
            var hw = size.ToInt64Array();
            sizes = ctx.Int64s(inShape[0], inShape[3], hw[0], hw[1]);
        }
        else
        {
            string shape = ctx.Op("Shape", new[] { x });
            string nc = ctx.Op("Slice", new[] { shape, ctx.Int64s(0), ctx.Int64s(2), ctx.Int64s(0) });
            sizes = ctx.Op("Concat", new[] { nc, ctx.AsInt64(1) }, OnnxAttr.Int("axis", 0));
        }
        string y = ctx.Op("Resize", new[] { x, "", "", sizes }, attrs.ToArray());
        ctx.FromChannelsFirst(y, ctx.Out());
        if (inShape is { Length: 4 })
        {
            var hw = size?.ToInt64Array() ?? new long[] { -1, -1 };
            ctx.SetShape(0, new[] { inShape[0], hw[0], hw[1], inShape[3] });
        }
    }
}
