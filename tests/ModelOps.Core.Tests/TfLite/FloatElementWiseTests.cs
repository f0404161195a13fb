using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Formats.TfLite;
using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Runtime.TfLite;
using Xunit;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Tests.TfLite;

/// <summary>The TFLite interpreter's float element-wise kernels (broadcasting arithmetic with fused activations, LOGISTIC, TANH) on one-op models.</summary>
public class FloatElementWiseTests
{
    private static TfLiteModel BinaryModel(BuiltinOperator op, int[] aShape, int[] bShape, int[] outShape, ActivationFunctionType act)
    {
        var g = new TflGraph();
        var a = g.AddTensor("a", TensorType.FLOAT32, aShape);
        var b = g.AddTensor("b", TensorType.FLOAT32, bShape);
        var y = g.AddTensor("y", TensorType.FLOAT32, outShape);
        BuiltinOptionsUnion? options = op switch
        {
            BuiltinOperator.ADD => BuiltinOptionsUnion.FromAddOptions(new AddOptionsT { FusedActivationFunction = act }),
            BuiltinOperator.SUB => BuiltinOptionsUnion.FromSubOptions(new SubOptionsT { FusedActivationFunction = act }),
            BuiltinOperator.MUL => BuiltinOptionsUnion.FromMulOptions(new MulOptionsT { FusedActivationFunction = act }),
            BuiltinOperator.DIV => BuiltinOptionsUnion.FromDivOptions(new DivOptionsT { FusedActivationFunction = act }),
            _ => null,
        };
        g.Operators.Add(new TflOperator(op, new[] { a.Index, b.Index }, new[] { y.Index }, options, "op"));
        g.Inputs.Add(a.Index); g.InputKeys.Add("a");
        g.Inputs.Add(b.Index); g.InputKeys.Add("b");
        g.Outputs.Add(y.Index); g.OutputKeys.Add("y");
        return TfLiteModelReader.Read("float-binary.tflite", TfLiteWriter.Write(g, "2.2.0", out _));
    }

    private static float Act(float v, ActivationFunctionType act) => act switch
    {
        ActivationFunctionType.RELU => v < 0 ? 0 : v,
        ActivationFunctionType.RELU6 => v < 0 ? 0 : v > 6 ? 6 : v,
        ActivationFunctionType.RELU_N1_TO_1 => v < -1 ? -1 : v > 1 ? 1 : v,
        _ => v,
    };

    public static IEnumerable<object[]> Cases()
    {
        var shapes = new (int[] A, int[] B)[]
        {
            ([2, 3, 17], [2, 3, 17]), ([2, 3, 17], [17]), ([5], [3, 1, 5]), ([1, 4, 1], [3, 1, 9]), ([6, 1], [6, 11]), ([1, 8, 8, 2], [1]),
        };
        var ops = new[] { BuiltinOperator.ADD, BuiltinOperator.SUB, BuiltinOperator.MUL, BuiltinOperator.DIV, BuiltinOperator.MAXIMUM, BuiltinOperator.MINIMUM, BuiltinOperator.SQUARED_DIFFERENCE };
        int k = 0;
        foreach (var op in ops)
            foreach (var (a, b) in shapes)
            {
                var act = op is BuiltinOperator.MAXIMUM or BuiltinOperator.MINIMUM or BuiltinOperator.SQUARED_DIFFERENCE
                    ? ActivationFunctionType.NONE
                    : (ActivationFunctionType)new[] { 0, 1, 2, 3 }[k++ % 4]; // NONE, RELU, RELU_N1_TO_1, RELU6
                yield return [op, a, b, act];
            }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void BroadcastingArithmeticMatchesTheDefinition(BuiltinOperator op, int[] aShape, int[] bShape, ActivationFunctionType act)
    {
        int rank = Math.Max(aShape.Length, bShape.Length);
        int Dim(int[] s, int i) => i - (rank - s.Length) >= 0 ? s[i - (rank - s.Length)] : 1;
        var outShape = Enumerable.Range(0, rank).Select(i => Math.Max(Dim(aShape, i), Dim(bShape, i))).ToArray();
        var rng = new Random(aShape.Sum() * 17 + bShape.Sum() + (int)op);
        float[] R(int[] s) => Enumerable.Range(0, s.Aggregate(1, (x, d) => x * d)).Select(_ => (float)(rng.NextDouble() * 8 - 4)).ToArray();
        var a = R(aShape);
        var b = R(bShape);
        using var session = new TfLiteSession(BinaryModel(op, aShape, bShape, outShape, act));
        var got = session.Run(new Dictionary<string, Tensor> { ["a"] = Tensor.Create(a, aShape), ["b"] = Tensor.Create(b, bShape) })["y"];
        Assert.Equal(outShape, got.Shape);
        var y = got.As<float>();
        var idx = new int[rank];
        for (int f = 0; f < y.Length; f++)
        {
            int rem = f;
            for (int i = rank - 1; i >= 0; i--) { idx[i] = rem % outShape[i]; rem /= outShape[i]; }
            int Flat(int[] s)
            {
                int off = 0;
                for (int i = 0; i < s.Length; i++) off = off * s[i] + (s[i] == 1 ? 0 : idx[i + rank - s.Length]);
                return off;
            }
            float p = a[Flat(aShape)], q = b[Flat(bShape)];
            float v = op switch
            {
                BuiltinOperator.ADD => p + q,
                BuiltinOperator.SUB => p - q,
                BuiltinOperator.MUL => p * q,
                BuiltinOperator.DIV => p / q,
                BuiltinOperator.MAXIMUM => Math.Max(p, q),
                BuiltinOperator.MINIMUM => Math.Min(p, q),
                _ => (p - q) * (p - q),
            };
            Assert.Equal(Act(v, act), y[f]);
        }
    }

    [Theory]
    [InlineData(BuiltinOperator.LOGISTIC)]
    [InlineData(BuiltinOperator.TANH)]
    public void LogisticAndTanhFloat(BuiltinOperator op)
    {
        int[] shape = [3, 37];
        var g = new TflGraph();
        var x = g.AddTensor("x", TensorType.FLOAT32, shape);
        var y = g.AddTensor("y", TensorType.FLOAT32, shape);
        g.Operators.Add(new TflOperator(op, new[] { x.Index }, new[] { y.Index }, null, "op"));
        g.Inputs.Add(x.Index); g.InputKeys.Add("x");
        g.Outputs.Add(y.Index); g.OutputKeys.Add("y");
        using var session = new TfLiteSession(TfLiteModelReader.Read("float-unary.tflite", TfLiteWriter.Write(g, "2.2.0", out _)));
        var input = Enumerable.Range(0, 111).Select(i => -12f + 24f * i / 110).ToArray();
        var got = session.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(input, shape) })["y"].As<float>();
        for (int i = 0; i < input.Length; i++)
        {
            double v = input[i];
            double e = op == BuiltinOperator.TANH ? Math.Tanh(v) : 1 / (1 + Math.Exp(-v));
            Assert.True(Math.Abs(got[i] - e) <= 3e-7 * Math.Abs(e), $"{op}({v}) = {got[i]:R}, expected {e:R}");
        }
    }
}
