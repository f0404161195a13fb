using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using static ModelOps.Core.Converters.TfLite.TfLiteLowerHelpers;

namespace ModelOps.Core.Ops;

/// <summary>
/// TFLite lowerings of the convolution family: Conv2D → CONV_2D (filter HWIO → OHWI),
/// DepthwiseConv2dNative → DEPTHWISE_CONV_2D (filter [H,W,I,M] → [1,H,W,I·M]),
/// Conv2DBackpropInput → TRANSPOSE_CONV (filter {2,0,1,3}), and grappler's _FusedConv2D /
/// _FusedDepthwiseConv2dNative (BiasAdd, FusedBatchNorm, activations).
/// </summary>
public sealed partial class ConvolutionOps
{
    public override void RegisterTfLite(TfLiteLoweringRegistry r)
    {
        r.Add(["Conv2D", "_FusedConv2D"], ctx => Conv(ctx, depthwise: false));
        r.Add(["DepthwiseConv2dNative", "_FusedDepthwiseConv2dNative"], ctx => Conv(ctx, depthwise: true));
        r.Add("Conv2DBackpropInput", TransposeConv);
    }

    private static void Conv(TfLiteLoweringContext ctx, bool depthwise)
    {
        RequireNhwc(ctx);
        if (!IsFloat(ctx.DType(0))) throw ctx.Error($"has {ctx.DType(0).Name()} input; TFLite convolutions take float32 here.");
        var x = ctx.Shape(0);
        if (x.Length != 4) throw ctx.Error($"has input of rank {x.Length}; expected NHWC rank 4.");
        var filter = AsFloat32(ctx.Constant(1));
        if (filter.Rank != 4) throw ctx.Error($"has a filter of rank {filter.Rank}; expected [H,W,I,O].");
        var (sh, sw) = Nhwc2(ctx, "strides");
        var (dh, dw) = Nhwc2(ctx, "dilations");
        var padding = PaddingOf(ctx);
        int kh = filter.Shape[0], kw = filter.Shape[1], ci = filter.Shape[2], m = filter.Shape[3];
        if (x[3] != ci)
            throw ctx.Error(depthwise ? $"has {x[3]} input channels but a filter for {ci}."
                : $"is a grouped convolution ({x[3]} input channels, filter for {ci}); grouped CONV_2D is not written by this converter.");
        int co = depthwise ? ci * m : m;

        // Fused ops (grappler): BiasAdd or FusedBatchNorm, then an optional activation.
        var fused = ctx.Strings("fused_ops", Array.Empty<string>());
        var weights = filter.As<float>();
        var bias = new float[co];
        int k = 0;
        string? activation = null;
        if (fused.Length > 0)
        {
            if (fused[0] == "BiasAdd")
            {
                var b = AsFloat32(ctx.Constant(2)).As<float>();
                if (b.Length != co) throw ctx.Error($"has a bias of {b.Length} values for {co} channels.");
                Array.Copy(b, bias, co);
                k = 1;
            }
            else if (fused[0] is "FusedBatchNorm" or "FusedBatchNormV3")
            {
                // y = (conv - mean) * scale / sqrt(var + eps) + offset, folded into weights and bias.
                float eps = ctx.Float("epsilon", 1e-4f);
                var scale = AsFloat32(ctx.Constant(2)).As<float>();
                var offset = AsFloat32(ctx.Constant(3)).As<float>();
                var mean = AsFloat32(ctx.Constant(4)).As<float>();
                var variance = AsFloat32(ctx.Constant(5)).As<float>();
                weights = (float[])weights.Clone();
                for (int c = 0; c < co; c++)
                {
                    float f = scale[c] / MathF.Sqrt(variance[c] + eps);
                    bias[c] = offset[c] - mean[c] * f;
                    for (int i = c; i < weights.Length; i += co) weights[i] *= f;
                }
                k = 1;
            }
            else throw ctx.Error($"fuses '{fused[0]}', which has no TFLite lowering.");
            if (fused.Length > k) activation = fused[k];
            if (fused.Length > k + 1) throw ctx.Error($"fuses {string.Join(",", fused)}; at most one activation after the bias is supported.");
        }

        int oh = WindowOut(x[1], kh, sh, dh, padding), ow = WindowOut(x[2], kw, sw, dw, padding);
        var outShape = new[] { x[0], oh, ow, co };
        var act = activation is null ? ActivationFunctionType.NONE : FusableActivation(activation) ?? ActivationFunctionType.NONE;
        bool separateActivation = activation is not null && FusableActivation(activation) is null;

        int wt, opOut;
        int input = ctx.Tensor(0);
        int biasT = ctx.AddConstant(Tensor.Create(bias, co), "bias", TfLiteWeightRole.Bias);
        opOut = separateActivation ? ctx.AddTensor("conv", DataType.DtFloat, outShape) : ctx.Output(0, DataType.DtFloat, outShape);
        if (depthwise)
        {
            // [H,W,I,M] row-major is already [1,H,W,I*M].
            wt = ctx.AddConstant(Tensor.Create(weights, 1, kh, kw, co), "filter", TfLiteWeightRole.Weight, channelAxis: 3);
            ctx.Emit(BuiltinOperator.DEPTHWISE_CONV_2D, new[] { input, wt, biasT }, new[] { opOut },
                BuiltinOptionsUnion.FromDepthwiseConv2DOptions(new DepthwiseConv2DOptionsT
                {
                    Padding = padding, StrideH = sh, StrideW = sw, DepthMultiplier = m,
                    DilationHFactor = dh, DilationWFactor = dw, FusedActivationFunction = act,
                }));
        }
        else
        {
            var ohwi = Transpose(Tensor.Create(weights, kh, kw, ci, co), new[] { 3, 0, 1, 2 });
            wt = ctx.AddConstant(ohwi, "filter", TfLiteWeightRole.Weight, channelAxis: 0);
            ctx.Emit(BuiltinOperator.CONV_2D, new[] { input, wt, biasT }, new[] { opOut },
                BuiltinOptionsUnion.FromConv2DOptions(new Conv2DOptionsT
                {
                    Padding = padding, StrideH = sh, StrideW = sw, DilationHFactor = dh, DilationWFactor = dw, FusedActivationFunction = act,
                }));
        }
        if (separateActivation)
            EmitActivation(ctx, activation!, opOut, ctx.Output(0, DataType.DtFloat, outShape), ctx.Float("leakyrelu_alpha", 0.2f));
    }

    private static void TransposeConv(TfLiteLoweringContext ctx)
    {
        RequireNhwc(ctx);
        var sizes = ctx.Constant(0).ToInt32Array();
        var filter = AsFloat32(ctx.Constant(1));
        var x = ctx.Shape(2);
        if (sizes.Length != 4 || filter.Rank != 4 || x.Length != 4) throw ctx.Error("expects 4-D input_sizes, filter and input.");
        var (sh, sw) = Nhwc2(ctx, "strides");
        var (dh, dw) = Nhwc2(ctx, "dilations");
        if (dh != 1 || dw != 1) throw ctx.Error("uses dilations; TRANSPOSE_CONV has none.");
        var padding = PaddingOf(ctx);
        // TF filter [H,W,out,in] → TFLite [out,H,W,in].
        var w = Transpose(filter, new[] { 2, 0, 1, 3 });
        int shapeT = ctx.AddConstant(Int32s(sizes), "output_shape");
        int wt = ctx.AddConstant(w, "filter", TfLiteWeightRole.Weight, channelAxis: 0);
        int outT = ctx.Output(0, DataType.DtFloat, sizes);
        ctx.Emit(BuiltinOperator.TRANSPOSE_CONV, new[] { shapeT, wt, ctx.Tensor(2) }, new[] { outT },
            BuiltinOptionsUnion.FromTransposeConvOptions(new TransposeConvOptionsT { Padding = padding, StrideH = sh, StrideW = sw }));
    }
}
