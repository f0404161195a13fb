using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Ops;

/// <summary>
/// ONNX lowerings of the comparison family (Ops/Comparison.cs): comparisons and logical ops map one to
/// one (numpy broadcasting on both sides); SelectV2 is Where; TF1 Select with a vector condition picks
/// whole rows, so the condition is reshaped to broadcast along the first axis.
/// </summary>
public sealed partial class Comparison
{
    private static readonly Dictionary<string, string> Ops = new(StringComparer.Ordinal)
    {
        ["Less"] = "Less", ["Greater"] = "Greater", ["LessEqual"] = "LessOrEqual", ["GreaterEqual"] = "GreaterOrEqual",
        ["Equal"] = "Equal", ["LogicalAnd"] = "And", ["LogicalOr"] = "Or",
    };

    public override void RegisterOnnx(OnnxLoweringRegistry r)
    {
        const int v13 = OnnxLoweringRegistry.MinOpset;
        foreach (var (tf, onnx) in Ops) r.Add(tf, v13, ctx => ElementWiseOps.Binary(ctx, onnx));
        r.Add("NotEqual", v13, ctx =>
        {
            ctx.OpTo(ctx.Out(), "Not", new[] { ctx.Op("Equal", new[] { ctx.Input(0), ctx.Input(1) }) });
            ctx.SetType(0, DataType.DtBool);
            ctx.SetShape(0, OnnxShapes.Broadcast(ctx.InputShape(0), ctx.InputShape(1)));
        });
        r.Add("LogicalNot", v13, ctx => { ElementWiseOps.Unary(ctx, "Not"); ctx.SetType(0, DataType.DtBool); });
        r.Add("SelectV2", v13, ctx =>
        {
            ctx.OpTo(ctx.Out(), "Where", new[] { ctx.Input(0), ctx.Input(1), ctx.Input(2) });
            ctx.SetType(0, ctx.InputType(1));
            ctx.SetShape(0, OnnxShapes.Broadcast(ctx.InputShape(0), OnnxShapes.Broadcast(ctx.InputShape(1), ctx.InputShape(2))));
        });
        r.Add("Select", v13, ctx =>
        {
            var cond = ctx.InputShape(0);
            var x = ctx.InputShape(1);
            string c = ctx.Input(0);
            if (cond is { Length: 1 } && x is { Length: > 1 })
                c = ctx.Op("Reshape", new[] { c, ctx.Int64s(new long[] { -1 }.Concat(Enumerable.Repeat(1L, x.Length - 1)).ToArray()) });
            else if (cond is null || x is null || (cond.Length != x.Length && cond.Length != 0))
                throw ctx.Fail("selects with a condition whose rank relative to the values is unknown.");
            ctx.OpTo(ctx.Out(), "Where", new[] { c, ctx.Input(1), ctx.Input(2) });
            ctx.SetType(0, ctx.InputType(1));
            ctx.SetShape(0, x);
        });
    }
}
