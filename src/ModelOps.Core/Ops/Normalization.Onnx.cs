using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Ops;

/// <summary>
/// ONNX lowerings of the normalization family (Ops/Normalization.cs): inference-mode FusedBatchNorm
/// (V1..V3) becomes BatchNormalization on NCHW (through inserted Transposes for NHWC).
/// </summary>
public sealed partial class NormalizationOps
{
    public override void RegisterOnnx(OnnxLoweringRegistry r)
    {
        r.Add(new[] { "FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3" }, OnnxLoweringRegistry.MinOpset, ctx =>
        {
            if (ctx.Bool("is_training", true))
                throw ctx.Fail("is in training mode: it normalizes with batch statistics, not the stored mean and variance; export the graph for inference.");
            string format = ctx.String("data_format", "NHWC");
            bool nhwc = format is "NHWC" or "NDHWC";
            int rank = ctx.InputRank(0) ?? 4;
            string x = nhwc ? ctx.ToChannelsFirst(ctx.Input(0), rank) : ctx.Input(0);
            string y = ctx.Op("BatchNormalization", new[] { x, ctx.Input(1), ctx.Input(2), ctx.Input(3), ctx.Input(4) },
                OnnxAttr.Float("epsilon", ctx.Float("epsilon", 1e-4f)));
            if (nhwc) ctx.FromChannelsFirst(y, ctx.Out(), rank);
            else ctx.OpTo(ctx.Out(), "Identity", new[] { y });
            ctx.SetType(0, ctx.InputType(0));
            ctx.SetShape(0, ctx.InputShape(0));
        });
    }
}
