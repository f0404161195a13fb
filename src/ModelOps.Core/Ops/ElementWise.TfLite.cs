using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using static ModelOps.Core.Converters.TfLite.TfLiteLowerHelpers;

namespace ModelOps.Core.Ops;

/// <summary>
/// TFLite lowerings of the element-wise family: binary math (ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM,
/// SQUARED_DIFFERENCE, POW, FLOOR_DIV, FLOOR_MOD), BiasAdd → ADD (fused into the producer later),
/// AddN → ADD_N, unary math and activations (RELU, RELU6, LOGISTIC, TANH, ELU, LEAKY_RELU, EXP ...),
/// Softmax / LogSoftmax, Cast.
/// </summary>
public sealed partial class ElementWiseOps
{
    private static readonly Dictionary<string, BuiltinOperator> TfLiteBinaryOps = new()
    {
        ["Add"] = BuiltinOperator.ADD, ["AddV2"] = BuiltinOperator.ADD, ["BiasAdd"] = BuiltinOperator.ADD, ["BiasAddV1"] = BuiltinOperator.ADD,
        ["Sub"] = BuiltinOperator.SUB, ["Mul"] = BuiltinOperator.MUL, ["RealDiv"] = BuiltinOperator.DIV, ["Div"] = BuiltinOperator.DIV,
        ["Maximum"] = BuiltinOperator.MAXIMUM, ["Minimum"] = BuiltinOperator.MINIMUM, ["SquaredDifference"] = BuiltinOperator.SQUARED_DIFFERENCE,
        ["Pow"] = BuiltinOperator.POW, ["FloorDiv"] = BuiltinOperator.FLOOR_DIV, ["FloorMod"] = BuiltinOperator.FLOOR_MOD,
        ["Greater"] = BuiltinOperator.GREATER, ["GreaterEqual"] = BuiltinOperator.GREATER_EQUAL, ["Less"] = BuiltinOperator.LESS,
        ["LessEqual"] = BuiltinOperator.LESS_EQUAL, ["Equal"] = BuiltinOperator.EQUAL, ["NotEqual"] = BuiltinOperator.NOT_EQUAL,
        ["LogicalAnd"] = BuiltinOperator.LOGICAL_AND, ["LogicalOr"] = BuiltinOperator.LOGICAL_OR,
    };

    private static readonly Dictionary<string, BuiltinOperator> TfLiteUnaryOps = new()
    {
        ["Relu"] = BuiltinOperator.RELU, ["Relu6"] = BuiltinOperator.RELU6, ["Sigmoid"] = BuiltinOperator.LOGISTIC, ["Tanh"] = BuiltinOperator.TANH,
        ["Elu"] = BuiltinOperator.ELU, ["Exp"] = BuiltinOperator.EXP, ["Log"] = BuiltinOperator.LOG, ["Sqrt"] = BuiltinOperator.SQRT,
        ["Rsqrt"] = BuiltinOperator.RSQRT, ["Neg"] = BuiltinOperator.NEG, ["Abs"] = BuiltinOperator.ABS, ["Square"] = BuiltinOperator.SQUARE,
        ["Floor"] = BuiltinOperator.FLOOR, ["Ceil"] = BuiltinOperator.CEIL, ["Sin"] = BuiltinOperator.SIN, ["Cos"] = BuiltinOperator.COS,
        ["Round"] = BuiltinOperator.ROUND, ["LogicalNot"] = BuiltinOperator.LOGICAL_NOT, ["Sign"] = BuiltinOperator.SIGN,
    };

    private static readonly HashSet<string> Comparisons = new() { "Greater", "GreaterEqual", "Less", "LessEqual", "Equal", "NotEqual" };

    public override void RegisterTfLite(TfLiteLoweringRegistry r)
    {
        r.Add(TfLiteBinaryOps.Keys, Binary);
        r.Add(TfLiteUnaryOps.Keys, Unary);
        r.Add("LeakyRelu", ctx =>
        {
            var s = ctx.Shape(0);
            ctx.Emit(BuiltinOperator.LEAKY_RELU, new[] { ctx.Tensor(0) }, new[] { ctx.Output(0, ctx.DType(0), s) },
                BuiltinOptionsUnion.FromLeakyReluOptions(new LeakyReluOptionsT { Alpha = ctx.Float("alpha", 0.2f) }));
        });
        r.Add("Softmax", ctx => Softmax(ctx, log: false));
        r.Add("LogSoftmax", ctx => Softmax(ctx, log: true));
        r.Add("AddN", AddN);
        r.Add("Reciprocal", ctx =>
        {
            int one = ctx.AddConstant(Tensor.Create(new[] { 1f }, 1), "one");
            ctx.Emit(BuiltinOperator.DIV, new[] { one, ctx.Tensor(0) }, new[] { ctx.Output(0, ctx.DType(0), ctx.Shape(0)) },
                BuiltinOptionsUnion.FromDivOptions(new DivOptionsT()));
        });
        r.Add("Cast", Cast);
    }

    private static BuiltinOptionsUnion? BinaryOptions(BuiltinOperator code) => code switch
    {
        BuiltinOperator.ADD => BuiltinOptionsUnion.FromAddOptions(new AddOptionsT()),
        BuiltinOperator.SUB => BuiltinOptionsUnion.FromSubOptions(new SubOptionsT()),
        BuiltinOperator.MUL => BuiltinOptionsUnion.FromMulOptions(new MulOptionsT()),
        BuiltinOperator.DIV => BuiltinOptionsUnion.FromDivOptions(new DivOptionsT()),
        _ => null,
    };

    private static void Binary(TfLiteLoweringContext ctx)
    {
        var code = TfLiteBinaryOps[ctx.Op];
        if (ctx.Op.StartsWith("BiasAdd", StringComparison.Ordinal)) RequireNhwc(ctx);
        var shape = Broadcast(ctx, ctx.Shape(0), ctx.Shape(1));
        var outType = Comparisons.Contains(ctx.Op) ? DataType.DtBool : ctx.DType(0);
        if (ctx.AllInputsConstant && TryFoldBinary(ctx, shape, outType)) return;
        // Rank-0 constants become [1] (same broadcasting; some runtimes reject scalars).
        int Operand(int i) =>
            ctx.IsConstant(i) && ctx.Rank(i) == 0 && shape.Length > 0 ? ctx.AddConstant(ctx.Constant(i).Reshape(1), $"operand{i}") : ctx.Tensor(i);
        int a = Operand(0), b = Operand(1);
        ctx.Emit(code, new[] { a, b }, new[] { ctx.Output(0, outType, shape) }, BinaryOptions(code));
    }

    private static void Unary(TfLiteLoweringContext ctx)
    {
        var code = TfLiteUnaryOps[ctx.Op];
        ctx.Emit(code, new[] { ctx.Tensor(0) }, new[] { ctx.Output(0, ctx.DType(0), ctx.Shape(0)) });
    }

    private static void Softmax(TfLiteLoweringContext ctx, bool log)
    {
        var s = ctx.Shape(0);
        int o = ctx.Output(0, ctx.DType(0), s);
        if (log) ctx.Emit(BuiltinOperator.LOG_SOFTMAX, new[] { ctx.Tensor(0) }, new[] { o }, BuiltinOptionsUnion.FromLogSoftmaxOptions(new LogSoftmaxOptionsT()));
        else ctx.Emit(BuiltinOperator.SOFTMAX, new[] { ctx.Tensor(0) }, new[] { o }, BuiltinOptionsUnion.FromSoftmaxOptions(new SoftmaxOptionsT { Beta = 1f }));
    }

    private static void AddN(TfLiteLoweringContext ctx)
    {
        var shape = ctx.Shape(0);
        for (int i = 1; i < ctx.InputCount; i++) shape = Broadcast(ctx, shape, ctx.Shape(i));
        var ins = Enumerable.Range(0, ctx.InputCount).Select(ctx.Tensor).ToArray();
        if (ins.Length == 2)
        {
            ctx.Emit(BuiltinOperator.ADD, ins, new[] { ctx.Output(0, ctx.DType(0), shape) }, BinaryOptions(BuiltinOperator.ADD));
            return;
        }
        // A chain of ADDs runs everywhere (ADD_N is missing from several runtimes) and is exact in float.
        int acc = ins[0];
        for (int i = 1; i < ins.Length; i++)
        {
            int o = i == ins.Length - 1 ? ctx.Output(0, ctx.DType(0), shape) : ctx.AddTensor($"sum{i}", ctx.DType(0), shape);
            ctx.Emit(BuiltinOperator.ADD, new[] { acc, ins[i] }, new[] { o }, BinaryOptions(BuiltinOperator.ADD));
            acc = o;
        }
    }

    private static void Cast(TfLiteLoweringContext ctx)
    {
        var to = ctx.Type("DstT");
        if (ctx.IsConstant(0))
        {
            var src = ctx.Constant(0);
            var arr = Array.CreateInstance(to.StorageType(), src.Length);
            for (int i = 0; i < src.Length; i++)
                arr.SetValue(to.IsFloating() ? System.Convert.ChangeType(src.GetDouble(i), to.StorageType(), System.Globalization.CultureInfo.InvariantCulture)
                    : to == DataType.DtBool ? src.GetDouble(i) != 0 : System.Convert.ChangeType(src.GetInt64(i), to.StorageType(), System.Globalization.CultureInfo.InvariantCulture), i);
            ctx.SetConstant(0, new Tensor(to, src.Shape, arr));
            return;
        }
        ctx.Emit(BuiltinOperator.CAST, new[] { ctx.Tensor(0) }, new[] { ctx.Output(0, to, ctx.Shape(0)) });
    }

    /// <summary>Constant folding of binary math (shape arithmetic and constant subgraphs).</summary>
    private static bool TryFoldBinary(TfLiteLoweringContext ctx, int[] shape, DataType outType)
    {
        var a = ctx.Constant(0);
        var b = ctx.Constant(1);
        if (!a.DType.IsNumeric() || !b.DType.IsNumeric()) return false;
        long n = Tensor.ElementCount(shape);
        var ai = BroadcastIndex(a.Shape, shape);
        var bi = BroadcastIndex(b.Shape, shape);
        bool floating = a.DType.IsFloating();
        var arr = Array.CreateInstance(outType.StorageType(), n);
        for (int i = 0; i < n; i++)
        {
            if (floating)
            {
                double x = a.GetDouble(ai[i]), y = b.GetDouble(bi[i]);
                double r = ctx.Op switch
                {
                    "Add" or "AddV2" or "BiasAdd" or "BiasAddV1" => x + y,
                    "Sub" => x - y, "Mul" => x * y, "RealDiv" or "Div" => x / y,
                    "Maximum" => Math.Max(x, y), "Minimum" => Math.Min(x, y), "SquaredDifference" => (x - y) * (x - y),
                    "Pow" => Math.Pow(x, y), "FloorDiv" => Math.Floor(x / y), "FloorMod" => x - Math.Floor(x / y) * y,
                    "Greater" => x > y ? 1 : 0, "GreaterEqual" => x >= y ? 1 : 0, "Less" => x < y ? 1 : 0,
                    "LessEqual" => x <= y ? 1 : 0, "Equal" => x == y ? 1 : 0, "NotEqual" => x != y ? 1 : 0,
                    _ => double.NaN,
                };
                if (outType == DataType.DtBool) arr.SetValue(r != 0, i);
                else if (outType == DataType.DtFloat) arr.SetValue((float)r, i);
                else if (outType == DataType.DtDouble) arr.SetValue(r, i);
                else return false;
            }
            else
            {
                long x = a.GetInt64(ai[i]), y = b.GetInt64(bi[i]);
                long? r = ctx.Op switch
                {
                    "Add" or "AddV2" => x + y, "Sub" => x - y, "Mul" => x * y,
                    "Maximum" => Math.Max(x, y), "Minimum" => Math.Min(x, y),
                    "FloorDiv" => y == 0 ? null : (long)Math.Floor((double)x / y),
                    "FloorMod" => y == 0 ? null : ((x % y) + y) % y,
                    "Greater" => x > y ? 1 : 0, "GreaterEqual" => x >= y ? 1 : 0, "Less" => x < y ? 1 : 0,
                    "LessEqual" => x <= y ? 1 : 0, "Equal" => x == y ? 1 : 0, "NotEqual" => x != y ? 1 : 0,
                    "LogicalAnd" => (x != 0 && y != 0) ? 1 : 0, "LogicalOr" => (x != 0 || y != 0) ? 1 : 0,
                    _ => null,
                };
                if (r is null) return false;
                if (outType == DataType.DtBool) arr.SetValue(r.Value != 0, i);
                else arr.SetValue(System.Convert.ChangeType(r.Value, outType.StorageType(), System.Globalization.CultureInfo.InvariantCulture), i);
            }
        }
        ctx.SetConstant(0, new Tensor(outType, shape, arr));
        return true;
    }

    /// <summary>For each element of the broadcast output, the flat index in an input of shape <paramref name="s"/>.</summary>
    internal static int[] BroadcastIndex(int[] s, int[] outShape)
    {
        long n = Tensor.ElementCount(outShape);
        var r = new int[n];
        int rank = outShape.Length;
        var inStr = new int[rank];
        int acc = 1;
        for (int d = rank - 1; d >= 0; d--)
        {
            int k = d - (rank - s.Length);
            int dim = k >= 0 ? s[k] : 1;
            inStr[d] = dim == 1 ? 0 : acc;
            acc *= dim;
        }
        var outStr = Strides(outShape);
        for (int i = 0; i < n; i++)
        {
            int rem = i, off = 0;
            for (int d = 0; d < rank; d++)
            {
                int q = rem / outStr[d];
                rem -= q * outStr[d];
                off += q * inStr[d];
            }
            r[i] = off;
        }
        return r;
    }
}
