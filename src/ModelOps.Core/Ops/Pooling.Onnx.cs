using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Protos.Onnx;

namespace ModelOps.Core.Ops;

/// <summary>
/// ONNX lowerings of the pooling family: MaxPool and AvgPool (NHWC through inserted Transposes).
/// TF's SAME average pooling divides by the number of real (unpadded) inputs: ONNX's count_include_pad=0.
/// </summary>
public sealed partial class PoolingOps
{
    public override void RegisterOnnx(OnnxLoweringRegistry r)
    {
        r.Add("MaxPool", OnnxLoweringRegistry.MinOpset, ctx => Pool(ctx, "MaxPool"));
        r.Add("AvgPool", OnnxLoweringRegistry.MinOpset, ctx => Pool(ctx, "AveragePool"));
    }

    private static void Pool(OnnxLoweringContext ctx, string onnxOp)
    {
        var (strides, _, nhwc) = ConvolutionOps.Geometry(ctx);
        var k = ctx.Ints("ksize");
        if (k.Length != 4) throw ctx.Fail($"has ksize of {k.Length} values; 4 were expected.");
        if ((nhwc ? k[0] * k[3] : k[0] * k[1]) != 1) throw ctx.Fail("pools across the batch or channel axis, which ONNX pooling cannot do.");
        long[] kernel = nhwc ? new[] { k[1], k[2] } : new[] { k[2], k[3] };
        long[] ones = { 1, 1 };
        var attrs = new List<AttributeProto> { OnnxAttr.Ints("kernel_shape", kernel), OnnxAttr.Ints("strides", strides) };
        attrs.AddRange(ConvolutionOps.Padding(ctx, ConvolutionOps.SpatialOf(ctx.InputShape(0), nhwc), kernel, strides, ones, nhwc));
        string x = nhwc ? ctx.ToChannelsFirst(ctx.Input(0)) : ctx.Input(0);
        string y = ctx.Op(onnxOp, new[] { x }, attrs.ToArray());
        ConvolutionOps.FinishFused(ctx, Array.Empty<string>(), 0, y, nhwc);
        var s = ctx.InputShape(0);
        long c = s is { Length: 4 } ? (nhwc ? s[3] : s[1]) : -1;
        ctx.SetShape(0, ConvolutionOps.WindowShape(ctx, s, kernel, strides, ones, nhwc, c));
    }
}
