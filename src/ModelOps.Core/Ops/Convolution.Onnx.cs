using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Protos;
using ModelOps.Core.Protos.Onnx;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Ops;

/// <summary>
/// ONNX lowerings of the convolution family: Conv2D, DepthwiseConv2dNative (Conv with group = C),
/// their grappler-fused forms _FusedConv2D / _FusedDepthwiseConv2dNative (bias into Conv's B, then the
/// activation) and Conv2DBackpropInput (ConvTranspose). ONNX convolves NCHW, so NHWC data goes through
/// inserted Transposes that the optimizer cancels between consecutive layers. TF filters
/// [kh,kw,in,out] become ONNX weights [out,in,kh,kw] at conversion time.
/// </summary>
public sealed partial class ConvolutionOps
{
    public override void RegisterOnnx(OnnxLoweringRegistry r)
    {
        const int v13 = OnnxLoweringRegistry.MinOpset;
        r.Add(new[] { "Conv2D", "_FusedConv2D" }, v13, ctx => Conv(ctx, depthwise: false));
        r.Add(new[] { "DepthwiseConv2dNative", "_FusedDepthwiseConv2dNative" }, v13, ctx => Conv(ctx, depthwise: true));
        r.Add("Conv2DBackpropInput", v13, ConvBackpropInput);
    }

    /// <summary>(strides, dilations) of the spatial dims, read in the node's data format.</summary>
    internal static (long[] Strides, long[] Dilations, bool Nhwc) Geometry(OnnxLoweringContext ctx)
    {
        string format = ctx.String("data_format", "NHWC");
        if (format is not ("NHWC" or "NCHW")) throw ctx.Fail($"uses data_format '{format}'; only NHWC and NCHW are handled.");
        bool nhwc = format == "NHWC";
        long[] Spatial(long[] v) => v.Length == 4 ? (nhwc ? new[] { v[1], v[2] } : new[] { v[2], v[3] }) : v.Length == 2 ? v : new long[] { 1, 1 };
        return (Spatial(ctx.Ints("strides", new long[] { 1, 1, 1, 1 })), Spatial(ctx.Ints("dilations", new long[] { 1, 1, 1, 1 })), nhwc);
    }

    /// <summary>Padding attributes for a 2-D window op: explicit pads where the input size is known, else SAME_UPPER.</summary>
    internal static List<AttributeProto> Padding(OnnxLoweringContext ctx, long[]? spatialIn, long[] kernel, long[] strides, long[] dilations, bool nhwc)
    {
        string padding = ctx.String("padding");
        var attrs = new List<AttributeProto>();
        switch (padding)
        {
            case "VALID":
                break;
            case "SAME":
                if (spatialIn is not null && spatialIn.All(d => d >= 0))
                {
                    var pads = new long[4];
                    for (int i = 0; i < 2; i++)
                    {
                        long k = (kernel[i] - 1) * dilations[i] + 1;
                        long outLen = (spatialIn[i] + strides[i] - 1) / strides[i];
                        long total = Math.Max((outLen - 1) * strides[i] + k - spatialIn[i], 0);
                        pads[i] = total / 2;          // TF puts the odd pixel at the end, as SAME_UPPER does
                        pads[i + 2] = total - total / 2;
                    }
                    if (pads.Any(p => p != 0)) attrs.Add(OnnxAttr.Ints("pads", pads));
                }
                else
                {
                    attrs.Add(OnnxAttr.String("auto_pad", "SAME_UPPER"));
                }
                break;
            case "EXPLICIT":
                var e = ctx.Ints("explicit_paddings");
                if (e.Length != 8) throw ctx.Fail($"has {e.Length} explicit_paddings; 8 were expected.");
                int h = nhwc ? 1 : 2, w = nhwc ? 2 : 3;
                attrs.Add(OnnxAttr.Ints("pads", new[] { e[2 * h], e[2 * w], e[2 * h + 1], e[2 * w + 1] }));
                break;
            default:
                throw ctx.Fail($"uses padding '{padding}'; SAME, VALID and EXPLICIT are handled.");
        }
        return attrs;
    }

    internal static long[]? SpatialOf(long[]? shape, bool nhwc) =>
        shape is { Length: 4 } ? (nhwc ? new[] { shape[1], shape[2] } : new[] { shape[2], shape[3] }) : null;

    /// <summary>Output shape of a 2-D window op in the node's layout.</summary>
    internal static long[]? WindowShape(OnnxLoweringContext ctx, long[]? input, long[] kernel, long[] strides, long[] dilations, bool nhwc, long channels)
    {
        if (input is not { Length: 4 }) return input is null ? null : OnnxShapes.Unknown(4);
        string padding = ctx.String("padding");
        var sp = SpatialOf(input, nhwc)!;
        long oh = padding == "EXPLICIT" ? -1 : OnnxShapes.WindowOut(sp[0], kernel[0], strides[0], dilations[0], padding);
        long ow = padding == "EXPLICIT" ? -1 : OnnxShapes.WindowOut(sp[1], kernel[1], strides[1], dilations[1], padding);
        return nhwc ? new[] { input[0], oh, ow, channels } : new[] { input[0], channels, oh, ow };
    }

    private static void Conv(OnnxLoweringContext ctx, bool depthwise)
    {
        var (strides, dilations, nhwc) = Geometry(ctx);
        var filter = ctx.ConstantInput(1, "filter");
        if (filter.Rank != 4) throw ctx.Fail($"has a filter of shape {Tensor.FormatShape(filter.Shape)}; a 4-D filter was expected.");
        int kh = filter.Shape[0], kw = filter.Shape[1], cin = filter.Shape[2], cout = filter.Shape[3];
        Tensor weights;
        long group = 1;
        if (depthwise)
        {
            // [kh,kw,C,M] → [C*M,1,kh,kw]: output channel c*M+m holds filter[:,:,c,m].
            weights = OnnxTensors.Transpose(filter.Reshape(kh, kw, cin * cout), new[] { 2, 0, 1 }).Reshape(cin * cout, 1, kh, kw);
            group = cin;
            cout = cin * cout;
        }
        else
        {
            weights = OnnxTensors.Transpose(filter, new[] { 3, 2, 0, 1 });
            var inShape = ctx.InputShape(0);
            long inC = inShape is { Length: 4 } ? (nhwc ? inShape[3] : inShape[1]) : -1;
            if (inC > 0 && inC != cin)
            {
                if (inC % cin != 0) throw ctx.Fail($"has {inC} input channels, which the filter's {cin} do not divide.");
                group = inC / cin;   // grouped convolution
            }
        }
        long[] kernel = { kh, kw };

        var fused = ctx.Node.Op.StartsWith("_Fused", StringComparison.Ordinal) ? ctx.Strings("fused_ops", Array.Empty<string>()) : Array.Empty<string>();
        var inputs = new List<string> { nhwc ? ctx.ToChannelsFirst(ctx.Input(0)) : ctx.Input(0), ctx.Initializer(weights, "weights") };
        int next = 0;
        if (next < fused.Length && fused[next] == "BiasAdd")
        {
            inputs.Add(ctx.Input(2));
            next++;
        }
        var attrs = new List<AttributeProto>
        {
            OnnxAttr.Ints("kernel_shape", kernel), OnnxAttr.Ints("strides", strides), OnnxAttr.Ints("dilations", dilations),
        };
        if (group != 1) attrs.Add(OnnxAttr.Int("group", group));
        attrs.AddRange(Padding(ctx, SpatialOf(ctx.InputShape(0), nhwc), kernel, strides, dilations, nhwc));
        string y = ctx.Op("Conv", inputs.ToArray(), attrs.ToArray());
        y = FinishFused(ctx, fused, next, y, nhwc);
        ctx.SetShape(0, WindowShape(ctx, ctx.InputShape(0), kernel, strides, dilations, nhwc, cout));
    }

    /// <summary>Applies the remaining fused ops (activations) to an NCHW value and writes the node's output.</summary>
    internal static string FinishFused(OnnxLoweringContext ctx, string[] fused, int next, string y, bool nhwc)
    {
        for (; next < fused.Length; next++)
        {
            if (fused[next] == "BiasAdd") throw ctx.Fail("fuses BiasAdd after an activation, which is not a TF fusion.");
            bool last = next == fused.Length - 1;
            y = ElementWiseOps.OnnxActivation(ctx, fused[next], y, ctx.Type("T", DataType.DtFloat), last && !nhwc ? ctx.Out() : null);
        }
        return nhwc ? ctx.FromChannelsFirst(y, ctx.Out()) : y == ctx.Out() ? y : ctx.OpTo(ctx.Out(), "Identity", new[] { y });
    }

    private static void ConvBackpropInput(OnnxLoweringContext ctx)
    {
        var (strides, dilations, nhwc) = Geometry(ctx);
        var sizes = ctx.ConstantInput(0, "input_sizes").ToInt64Array();
        var filter = ctx.ConstantInput(1, "filter");
        if (filter.Rank != 4 || sizes.Length != 4) throw ctx.Fail("needs a 4-D filter and 4 input_sizes.");
        // TF filter [kh,kw,out_channels_of_result,in_channels_of_grad] → ONNX ConvTranspose W [C_in, C_out, kh, kw].
        var weights = OnnxTensors.Transpose(filter, new[] { 3, 2, 0, 1 });
        long[] kernel = { filter.Shape[0], filter.Shape[1] };
        long[] target = nhwc ? new[] { sizes[1], sizes[2] } : new[] { sizes[2], sizes[3] };
        var attrs = new List<AttributeProto>
        {
            OnnxAttr.Ints("kernel_shape", kernel), OnnxAttr.Ints("strides", strides), OnnxAttr.Ints("dilations", dilations),
        };
        string padding = ctx.String("padding");
        var grad = SpatialOf(ctx.InputShape(2), nhwc);
        if (grad is not null && grad.All(d => d >= 0))
        {
            // out = s*(in-1) + output_padding + k - pads: choose pads as the forward conv had them, output_padding for the rest.
            var pads = new long[4];
            var outPad = new long[2];
            for (int i = 0; i < 2; i++)
            {
                long k = (kernel[i] - 1) * dilations[i] + 1;
                long full = strides[i] * (grad[i] - 1) + k;
                long total = padding == "SAME" ? Math.Max(full - target[i], 0) : 0;
                if (padding is not ("SAME" or "VALID")) throw ctx.Fail($"uses padding '{padding}'; SAME and VALID are handled.");
                pads[i] = total / 2;
                pads[i + 2] = total - total / 2;
                outPad[i] = target[i] - (full - total);
                if (outPad[i] < 0 || outPad[i] >= Math.Max(strides[i], dilations[i]))
                    throw ctx.Fail($"asks for an output of size {target[i]} from {grad[i]} gradient rows, which no convolution of stride {strides[i]} produces.");
            }
            attrs.Add(OnnxAttr.Ints("pads", pads));
            if (outPad.Any(p => p != 0)) attrs.Add(OnnxAttr.Ints("output_padding", outPad));
        }
        else if (padding == "SAME")
        {
            attrs.Add(OnnxAttr.Ints("output_shape", target));
            attrs.Add(OnnxAttr.String("auto_pad", "SAME_UPPER"));
        }
        else
        {
            throw ctx.Fail("needs the spatial size of its gradient input to be known for VALID padding.");
        }
        string x = nhwc ? ctx.ToChannelsFirst(ctx.Input(2)) : ctx.Input(2);
        string y = ctx.Op("ConvTranspose", new[] { x, ctx.Initializer(weights, "weights") }, attrs.ToArray());
        if (nhwc) ctx.FromChannelsFirst(y, ctx.Out()); else ctx.OpTo(ctx.Out(), "Identity", new[] { y });
        var batch = ctx.InputShape(2)?[0] ?? -1;
        ctx.SetShape(0, nhwc ? new[] { batch, target[0], target[1], sizes[3] } : new[] { batch, sizes[1], target[0], target[1] });
    }
}
