using ModelOps.Core.Converters.Onnx;

namespace ModelOps.Core.Ops;

/// <summary>
/// ONNX lowerings of the basic ops (constants, identities). The engine's kernels for these live in the
/// </summary>
public sealed partial class Basic
{
    public override void RegisterOnnx(OnnxLoweringRegistry r)
    {
        r.Add("Const", OnnxLoweringRegistry.MinOpset, ctx => ctx.SetConst(0, ctx.Node.Attr.TryGetValue("value", out var v) && v.Tensor is not null
            ? Tensors.TensorProtoCodec.Decode(v.Tensor, $"value of Const node '{ctx.Name}'")
            : throw ctx.Fail("has no 'value' attribute.")));
        r.Add(new[] { "Identity", "Snapshot", "StopGradient", "PreventGradient", "PlaceholderWithDefault", "EnsureShape", "CheckNumerics" },
            OnnxLoweringRegistry.MinOpset, PassThrough);
        r.Add("IdentityN", OnnxLoweringRegistry.MinOpset, ctx =>
        {
            for (int i = 0; i < ctx.InputCount; i++) Forward(ctx, i, i);
        });
    }

    private static void PassThrough(OnnxLoweringContext ctx) => Forward(ctx, 0, 0);

    /// <summary>Output o is input i: a constant stays a constant, anything else is aliased.</summary>
    internal static void Forward(OnnxLoweringContext ctx, int input, int output)
    {
        var c = ctx.ConstInput(input);
        if (c is not null) { ctx.SetConst(output, c); return; }
        ctx.Alias(output, ctx.Input(input));
        ctx.SetType(output, ctx.InputType(input));
        ctx.SetShape(output, ctx.InputShape(input));
    }
}
