using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Ops;

/// <summary>
/// ONNX lowerings of the reduction family (Ops/Reduction.cs): Mean/Sum/Max/Min/Prod → Reduce*, with the
/// axes as an attribute up to opset 17 and as an input from opset 18 (ReduceSum: from opset 13);
/// ArgMax/ArgMin with TF's output_type.
/// </summary>
public sealed partial class ReductionOps
{
    private static readonly Dictionary<string, string> OnnxReducers = new(StringComparer.Ordinal)
    {
        ["Mean"] = "ReduceMean", ["Sum"] = "ReduceSum", ["Max"] = "ReduceMax", ["Min"] = "ReduceMin", ["Prod"] = "ReduceProd",
    };

    public override void RegisterOnnx(OnnxLoweringRegistry r)
    {
        foreach (var (tf, onnx) in OnnxReducers)
        {
            r.Add(tf, 13, ctx => Lower(ctx, onnx, axesAsInput: onnx == "ReduceSum"));
            r.Add(tf, 18, ctx => Lower(ctx, onnx, axesAsInput: true));
        }
        r.Add(new[] { "ArgMax", "ArgMin" }, 13, ctx =>
        {
            long axis = ctx.ConstantInput(1, "dimension").GetInt64(0);
            string y = ctx.Op(ctx.Node.Op, new[] { ctx.Input(0) }, OnnxAttr.Int("axis", axis), OnnxAttr.Int("keepdims", 0));
            var outType = ctx.Type("output_type", DataType.DtInt64);
            if (outType == DataType.DtInt64) ctx.OpTo(ctx.Out(), "Identity", new[] { y });
            else ctx.OpTo(ctx.Out(), "Cast", new[] { y }, OnnxAttr.Int("to", (long)OnnxTensors.ToOnnx(outType)));
            ctx.SetType(0, outType);
            var s = ctx.InputShape(0);
            if (s is not null) ctx.SetShape(0, s.Where((_, i) => i != OnnxShapes.Axis(axis, s.Length)).ToArray());
        });
    }

    private static void Lower(OnnxLoweringContext ctx, string onnxOp, bool axesAsInput)
    {
        var axes = ctx.ConstantInput(1, "reduction axes").ToInt64Array();
        bool keep = ctx.Bool("keep_dims", false);
        var keepAttr = OnnxAttr.Int("keepdims", keep ? 1 : 0);
        if (axes.Length == 0)
        {
            // TF reduces nothing for empty axes; ONNX would reduce everything unless told otherwise.
            Basic.Forward(ctx, 0, 0);
            return;
        }
        if (axesAsInput) ctx.OpTo(ctx.Out(), onnxOp, new[] { ctx.Input(0), ctx.Int64s(axes) }, keepAttr);
        else ctx.OpTo(ctx.Out(), onnxOp, new[] { ctx.Input(0) }, OnnxAttr.Ints("axes", axes), keepAttr);
        var s = ctx.InputShape(0);
        if (s is not null)
        {
            var norm = axes.Select(a => OnnxShapes.Axis(a, s.Length)).ToHashSet();
            ctx.SetShape(0, keep ? s.Select((d, i) => norm.Contains(i) ? 1 : d).ToArray() : s.Where((_, i) => !norm.Contains(i)).ToArray());
        }
    }
}
