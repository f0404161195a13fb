using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Protos;
using OnnxType = ModelOps.Core.Protos.Onnx.TensorProto.Types.DataType;

namespace ModelOps.Core.Ops;

/// <summary>
/// ONNX lowerings of the element-wise family (Ops/ElementWise.cs: arithmetic with broadcasting, unary
/// math, activations, Softmax). TF and ONNX broadcast alike (numpy rules), so most ops map one to one;
/// Relu6 becomes Clip(0, 6), Rsqrt Reciprocal(Sqrt), BiasAdd an Add (reshaped bias for NCHW).
/// </summary>
public sealed partial class ElementWiseOps
{
    private static readonly Dictionary<string, string> OnnxBinaryOps = new(StringComparer.Ordinal)
    {
        ["Add"] = "Add", ["AddV2"] = "Add", ["Sub"] = "Sub", ["Mul"] = "Mul", ["RealDiv"] = "Div",
        ["Maximum"] = "Max", ["Minimum"] = "Min", ["Pow"] = "Pow",
    };

    private static readonly Dictionary<string, string> OnnxUnaryOps = new(StringComparer.Ordinal)
    {
        ["Relu"] = "Relu", ["Sigmoid"] = "Sigmoid", ["Tanh"] = "Tanh", ["Exp"] = "Exp", ["Log"] = "Log", ["Neg"] = "Neg",
        ["Abs"] = "Abs", ["Sqrt"] = "Sqrt", ["Reciprocal"] = "Reciprocal", ["Inv"] = "Reciprocal", ["Floor"] = "Floor",
        ["Ceil"] = "Ceil", ["Elu"] = "Elu", ["Selu"] = "Selu", ["Softplus"] = "Softplus", ["Softsign"] = "Softsign",
        ["Sign"] = "Sign", ["Erf"] = "Erf", ["Sin"] = "Sin", ["Cos"] = "Cos", ["Rint"] = "Round", ["Round"] = "Round",
    };

    public override void RegisterOnnx(OnnxLoweringRegistry r)
    {
        const int v13 = OnnxLoweringRegistry.MinOpset;
        foreach (var (tf, onnx) in OnnxBinaryOps) r.Add(tf, v13, ctx => Binary(ctx, onnx));
        r.Add("Div", v13, ctx =>
        {
            // TF Div on integers floors toward negative infinity; ONNX Div truncates. Only floats map directly.
            if (!Tensors.DataTypes.IsFloating(ctx.InputType(0))) throw ctx.Fail($"divides {Tensors.DataTypes.Name(ctx.InputType(0))} values; integer Div (floor division) has no lowering.");
            Binary(ctx, "Div");
        });
        r.Add("SquaredDifference", v13, ctx =>
        {
            string d = ctx.Op("Sub", new[] { ctx.Input(0), ctx.Input(1) });
            ctx.OpTo(ctx.Out(), "Mul", new[] { d, d });
            ctx.SetShape(0, OnnxShapes.Broadcast(ctx.InputShape(0), ctx.InputShape(1)));
        });
        foreach (var (tf, onnx) in OnnxUnaryOps) r.Add(tf, v13, ctx => Unary(ctx, onnx));
        r.Add("Square", v13, ctx => { ctx.OpTo(ctx.Out(), "Mul", new[] { ctx.Input(0), ctx.Input(0) }); Same(ctx); });
        r.Add("Rsqrt", v13, ctx => { ctx.OpTo(ctx.Out(), "Reciprocal", new[] { ctx.Op("Sqrt", new[] { ctx.Input(0) }) }); Same(ctx); });
        r.Add("Relu6", v13, ctx =>
        {
            var t = ctx.InputType(0);
            ctx.OpTo(ctx.Out(), "Clip", new[] { ctx.Input(0), ctx.ScalarOf(t, 0), ctx.ScalarOf(t, 6) });
            Same(ctx);
        });
        r.Add("ClipByValue", v13, ctx =>
        {
            var lo = ctx.ConstInput(1);
            var hi = ctx.ConstInput(2);
            if (lo is null || hi is null || lo.Length != 1 || hi.Length != 1)
            {
                // Tensor bounds broadcast in TF; Max/Min do the same in ONNX.
                ctx.OpTo(ctx.Out(), "Min", new[] { ctx.Op("Max", new[] { ctx.Input(0), ctx.Input(1) }), ctx.Input(2) });
            }
            else
            {
                ctx.OpTo(ctx.Out(), "Clip", new[] { ctx.Input(0), ctx.ScalarOf(ctx.InputType(0), lo.GetDouble(0)), ctx.ScalarOf(ctx.InputType(0), hi.GetDouble(0)) });
            }
            Same(ctx);
        });
        r.Add("LeakyRelu", v13, ctx =>
        {
            ctx.OpTo(ctx.Out(), "LeakyRelu", new[] { ctx.Input(0) }, OnnxAttr.Float("alpha", ctx.Float("alpha", 0.2f)));
            Same(ctx);
        });
        r.Add(new[] { "Softmax", "LogSoftmax" }, v13, ctx =>
        {
            // Opset 13+ Softmax works along one axis, as TF's does (the last).
            ctx.OpTo(ctx.Out(), ctx.Node.Op, new[] { ctx.Input(0) }, OnnxAttr.Int("axis", -1));
            Same(ctx);
        });
        r.Add(new[] { "BiasAdd", "BiasAddV1" }, v13, ctx =>
        {
            string format = ctx.String("data_format", "NHWC");
            string bias = ctx.Input(1);
            if (format == "NCHW")
            {
                int? rank = ctx.InputRank(0);
                if (rank is null) throw ctx.Fail("adds a bias in NCHW layout to a value of unknown rank.");
                bias = ctx.Op("Reshape", new[] { bias, ctx.Int64s(new long[] { -1 }.Concat(Enumerable.Repeat(1L, rank.Value - 2)).ToArray()) });
            }
            ctx.OpTo(ctx.Out(), "Add", new[] { ctx.Input(0), bias });
            Same(ctx);
        });
        r.Add("AddN", v13, ctx =>
        {
            if (ctx.InputCount == 1) { Basic.Forward(ctx, 0, 0); return; }
            ctx.OpTo(ctx.Out(), "Sum", Enumerable.Range(0, ctx.InputCount).Select(ctx.Input).ToArray());
            Same(ctx);
        });
    }

    /// <summary>A one-to-one broadcasting binary op.</summary>
    internal static void Binary(OnnxLoweringContext ctx, string onnxOp)
    {
        ctx.OpTo(ctx.Out(), onnxOp, new[] { ctx.Input(0), ctx.Input(1) });
        ctx.SetShape(0, OnnxShapes.Broadcast(ctx.InputShape(0), ctx.InputShape(1)));
        if (onnxOp is "Less" or "Greater" or "LessOrEqual" or "GreaterOrEqual" or "Equal" or "And" or "Or") ctx.SetType(0, DataType.DtBool);
    }

    internal static void Unary(OnnxLoweringContext ctx, string onnxOp)
    {
        ctx.OpTo(ctx.Out(), onnxOp, new[] { ctx.Input(0) });
        Same(ctx);
    }

    private static void Same(OnnxLoweringContext ctx) => ctx.SetShape(0, ctx.InputShape(0));

    /// <summary>Appends a TF fused activation (from _Fused* ops' fused_ops) to a value; returns the activated value.</summary>
    internal static string OnnxActivation(OnnxLoweringContext ctx, string activation, string value, DataType type, string? output)
    {
        string Emit(string op, string[] inputs, params Protos.Onnx.AttributeProto[] attrs) =>
            output is null ? ctx.Op(op, inputs, attrs) : ctx.OpTo(output, op, inputs, attrs);
        return activation switch
        {
            "Relu" => Emit("Relu", new[] { value }),
            "Relu6" => Emit("Clip", new[] { value, ctx.ScalarOf(type, 0), ctx.ScalarOf(type, 6) }),
            "Elu" => Emit("Elu", new[] { value }),
            "Sigmoid" => Emit("Sigmoid", new[] { value }),
            "Tanh" => Emit("Tanh", new[] { value }),
            "LeakyRelu" => Emit("LeakyRelu", new[] { value }, OnnxAttr.Float("alpha", ctx.Float("leakyrelu_alpha", 0.2f))),
            _ => throw ctx.Fail($"fuses the activation '{activation}', which has no ONNX lowering."),
        };
    }

    internal static OnnxType Onnx(DataType t) => OnnxTensors.ToOnnx(t);
}
