using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Ops;

public class ElementWiseTests
{
    [Fact]
    public void AddSameShapeScalarAndRowBroadcast()
    {
        var a = K.F([1, 2, 3, 4, 5, 6], 2, 3);
        Assert.Equal(new float[] { 2, 4, 6, 8, 10, 12 }, K.Run1("AddV2", a, a).As<float>());
        Assert.Equal(new float[] { 11, 12, 13, 14, 15, 16 }, K.Run1("Add", a, Tensor.Scalar(10f)).As<float>());
        Assert.Equal(new float[] { 9, 8, 7, 6, 5, 4 }, K.Run1("Sub", Tensor.Scalar(10f), a).As<float>());
        var row = K.F([10, 20, 30], 3);
        Assert.Equal(new float[] { 11, 22, 33, 14, 25, 36 }, K.Run1("Add", a, row).As<float>());
        var col = K.F([100, 200], 2, 1);
        Assert.Equal(new float[] { 101, 102, 103, 204, 205, 206 }, K.Run1("Add", a, col).As<float>());
    }

    [Fact]
    public void OuterBroadcastBothSides()
    {
        var a = K.F([1, 2, 3], 3, 1);
        var b = K.F([10, 20], 1, 2);
        var r = K.Run1("Mul", a, b);
        K.Shape([3, 2], r);
        Assert.Equal(new float[] { 10, 20, 20, 40, 30, 60 }, r.As<float>());
    }

    [Fact]
    public void RandomBroadcastsMatchNaive()
    {
        int[][][] cases =
        [
            [[2, 3, 4, 5], [4, 1]], [[2, 1, 4, 1], [3, 1, 5]], [[1], [3, 7]], [[5, 1, 6], [1, 4, 1]], [[2, 3, 1, 4], [2, 1, 5, 4]],
        ];
        int seed = 1;
        foreach (var c in cases)
        {
            var ta = K.F(K.Random((int)Tensor.ElementCount(c[0]), seed++), c[0]);
            var tb = K.F(K.Random((int)Tensor.ElementCount(c[1]), seed++), c[1]);
            var r = K.Run1("Sub", ta, tb);
            int rank = Math.Max(c[0].Length, c[1].Length);
            var os = new int[rank];
            for (int i = 0; i < rank; i++)
                os[i] = Math.Max(Dim(c[0], i, rank), Dim(c[1], i, rank));
            Assert.Equal(os, r.Shape);
            var exp = new float[Tensor.ElementCount(os)];
            var idx = new int[rank];
            for (int f = 0; f < exp.Length; f++)
            {
                int rem = f;
                for (int i = rank - 1; i >= 0; i--) { idx[i] = rem % os[i]; rem /= os[i]; }
                exp[f] = ta.As<float>()[Flat(c[0], idx)] - tb.As<float>()[Flat(c[1], idx)];
            }
            Assert.Equal(exp, r.As<float>());
        }

        static int Dim(int[] s, int i, int rank) => i - (rank - s.Length) >= 0 ? s[i - (rank - s.Length)] : 1;
        static int Flat(int[] s, int[] idx)
        {
            int off = 0, rank = idx.Length;
            for (int i = 0; i < s.Length; i++)
            {
                int d = s[i];
                int c = d == 1 ? 0 : idx[i + rank - s.Length];
                off = off * d + c;
            }
            return off;
        }
    }

    [Fact]
    public void IncompatibleShapesFail()
    {
        var e = Assert.Throws<ModelOpsException>(() => K.Run1("Add", K.F([1, 2, 3], 3), K.F([1, 2], 2)));
        Assert.Contains("broadcast", e.Message);
    }

    [Fact]
    public void ZeroSizeAndScalars()
    {
        var r = K.Run1("Mul", K.F([], 0, 3), K.F([1, 2, 3], 3));
        K.Shape([0, 3], r);
        var s = K.Run1("Mul", Tensor.Scalar(3f), Tensor.Scalar(4f));
        K.Shape([], s);
        Assert.Equal(12f, s.As<float>()[0]);
    }

    [Fact]
    public void IntegerDivisionsFollowTensorFlow()
    {
        var a = Tensor.Create(new[] { 7, -7, 7, -7 }, 4);
        var b = Tensor.Create(new[] { 2, 2, -2, -2 }, 4);
        Assert.Equal(new[] { 3, -4, -4, 3 }, K.Run1("FloorDiv", a, b).As<int>());
        Assert.Equal(new[] { 1, 1, -1, -1 }, K.Run1("FloorMod", a, b).As<int>());
        Assert.Equal(new[] { 3, -3, -3, 3 }, K.Run1("TruncateDiv", a, b).As<int>());
        Assert.Equal(new[] { 3, -3, -3, 3 }, K.Run1("Div", a, b).As<int>());
        Assert.Equal(new[] { 1, -1, 1, -1 }, K.Run1("TruncateMod", a, b).As<int>());
        var e = Assert.Throws<ModelOpsException>(() => K.Run1("FloorDiv", a, Tensor.Create(new[] { 0, 1, 1, 1 }, 4)));
        Assert.Equal("IntegerDivisionByZero", e.ErrorId);
    }

    [Fact]
    public void FloatDivisionsAndMods()
    {
        var a = K.F([7, -7, 7, -7, 1], 5);
        var b = K.F([2, 2, -2, -2, 0], 5);
        Assert.Equal(new float[] { 3, -4, -4, 3, float.PositiveInfinity }, K.Run1("FloorDiv", a, b).As<float>());
        var fm = K.Run1("FloorMod", a, b).As<float>();
        Assert.Equal(new float[] { 1, 1, -1, -1 }, fm[..4]);
        Assert.True(float.IsNaN(fm[4]));
        Assert.Equal(new float[] { 3.5f, -3.5f, -3.5f, 3.5f, 0 }, K.Run1("DivNoNan", a, b).As<float>());
        Assert.Equal(new float[] { 3.5f, -3.5f, -3.5f, 3.5f, float.PositiveInfinity }, K.Run1("RealDiv", a, b).As<float>());
        Assert.Equal(new float[] { 1, -1, 1, -1 }, K.Run1("Mod", a, b).As<float>()[..4]);
    }

    [Fact]
    public void MaxMinPowSquaredDifference()
    {
        var a = K.F([1, 5, float.NaN], 3);
        var b = K.F([3, 2, 1], 3);
        var mx = K.Run1("Maximum", a, b).As<float>();
        Assert.Equal(3, mx[0]); Assert.Equal(5, mx[1]); Assert.True(float.IsNaN(mx[2]));
        Assert.Equal(new float[] { 1, 2 }, K.Run1("Minimum", a, b).As<float>()[..2]);
        Assert.Equal(new float[] { 1, 25 }, K.Run1("Pow", a, b).As<float>()[..2]);
        Assert.Equal(new float[] { 4, 9 }, K.Run1("SquaredDifference", a, b).As<float>()[..2]);
        Assert.Equal(new long[] { 8, 1, 0 }, K.Run1("Pow", Tensor.Create(new long[] { 2, 7, 0 }, 3), Tensor.Create(new long[] { 3, 0, 5 }, 3)).As<long>());
        Assert.Throws<ModelOpsException>(() => K.Run1("Pow", Tensor.Create(new[] { 2 }, 1), Tensor.Create(new[] { -1 }, 1)));
    }

    [Fact]
    public void OtherDtypes()
    {
        var d = K.Run1("Mul", Tensor.Create(new[] { 1.5, 2.0 }, 2), Tensor.Scalar(2.0));
        Assert.Equal(new[] { 3.0, 4.0 }, d.As<double>());
        var h = K.Run1("Add", Tensor.Create(new[] { (Half)1.5f, (Half)2f }, 2), Tensor.Create(new[] { (Half)0.25f }, 1));
        Assert.Equal(DataType.DtHalf, h.DType);
        Assert.Equal(new[] { (Half)1.75f, (Half)2.25f }, h.As<Half>());
        var u8 = K.Run1("Add", Tensor.Create(new byte[] { 250, 3 }, 2), Tensor.Create(new byte[] { 10, 4 }, 2));
        Assert.Equal(new byte[] { 4, 7 }, u8.As<byte>()); // wraps like C++
        Assert.Throws<ModelOpsException>(() => K.Run1("Add", K.F([1], 1), Tensor.Create(new[] { 1 }, 1)));
    }

    [Fact]
    public void BiasAddNhwcAndNchw()
    {
        var x = K.F([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 1, 2, 2, 3);
        var bias = K.F([1, 2, 3], 3);
        Assert.Equal(new float[] { 1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3 }, K.Run1("BiasAdd", x, bias).As<float>());
        var xc = K.F(new float[12], 1, 3, 2, 2);
        var r = K.Run1("BiasAdd", K.A(("data_format", Attr.String("NCHW"))), xc, bias);
        Assert.Equal(new float[] { 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3 }, r.As<float>());
        Assert.Throws<ModelOpsException>(() => K.Run1("BiasAdd", x, K.F([1, 2], 2)));
    }

    [Fact]
    public void AddNSumsAll()
    {
        var a = K.F([1, 2], 2);
        Assert.Equal(new float[] { 3, 6 }, K.Run1("AddN", a, a, a).As<float>());
    }

    [Fact]
    public void UnaryMath()
    {
        var x = K.F([-2.5f, -0.5f, 0.5f, 1.5f, 2.5f], 5);
        Assert.Equal(new float[] { -2, -0f, 0, 2, 2 }, K.Run1("Round", x).As<float>());
        Assert.Equal(new float[] { -2, -0f, 0, 2, 2 }, K.Run1("Rint", x).As<float>());
        Assert.Equal(new float[] { -3, -1, 0, 1, 2 }, K.Run1("Floor", x).As<float>());
        Assert.Equal(new float[] { -2, -0f, 1, 2, 3 }, K.Run1("Ceil", x).As<float>());
        Assert.Equal(new float[] { 2.5f, 0.5f, 0.5f, 1.5f, 2.5f }, K.Run1("Abs", x).As<float>());
        Assert.Equal(new float[] { -1, -1, 1, 1, 1 }, K.Run1("Sign", x).As<float>());
        Assert.Equal(new float[] { 6.25f, 0.25f, 0.25f, 2.25f, 6.25f }, K.Run1("Square", x).As<float>());
        Assert.Equal(new float[] { 2.5f, 0.5f, -0.5f, -1.5f, -2.5f }, K.Run1("Neg", x).As<float>());
        var p = K.F([0.25f, 1, 4, 100], 4);
        K.Close([0.5f, 1, 2, 10], K.Run1("Sqrt", p).As<float>());
        K.Close([2, 1, 0.5f, 0.1f], K.Run1("Rsqrt", p).As<float>());
        K.Close([4, 1, 0.25f, 0.01f], K.Run1("Reciprocal", p).As<float>());
        K.Close([MathF.Log(0.25f), 0, MathF.Log(4), MathF.Log(100)], K.Run1("Log", p).As<float>());
        K.Close([MathF.Exp(0.25f), MathF.E, MathF.Exp(4), MathF.Exp(100)], K.Run1("Exp", p).As<float>());
        K.Close([1e-10f], K.Run1("Log1p", K.F([1e-10f], 1)).As<float>(), 1e-6f);
        Assert.Equal(new[] { -3, 2 }, K.Run1("Neg", Tensor.Create(new[] { 3, -2 }, 2)).As<int>());
        Assert.Equal(new[] { 3, 0 }, K.Run1("Relu", Tensor.Create(new[] { 3, -2 }, 2)).As<int>());
    }

    [Fact]
    public void ErfIsAccurate()
    {
        // reference values of erf
        double[] xs = [0, 0.1, 0.5, 1, 2, 2.5, 3, 4, -1.5];
        double[] ys = [0, 0.1124629160182849, 0.5204998778130465, 0.8427007929497149, 0.9953222650189527, 0.9995930479825550, 0.9999779095030014, 0.9999999845827421, -0.9661051464753108];
        var r = K.Run1("Erf", Tensor.Create(xs, xs.Length)).As<double>();
        for (int i = 0; i < xs.Length; i++) Assert.Equal(ys[i], r[i], 1e-14);
        var rf = K.Run1("Erf", K.F(xs.Select(v => (float)v).ToArray(), xs.Length)).As<float>();
        for (int i = 0; i < xs.Length; i++) Assert.Equal((float)ys[i], rf[i], 6);
    }

    [Fact]
    public void Activations()
    {
        var x = K.F([-3, -1, 0, 2, 7], 5);
        Assert.Equal(new float[] { 0, 0, 0, 2, 7 }, K.Run1("Relu", x).As<float>());
        Assert.Equal(new float[] { 0, 0, 0, 2, 6 }, K.Run1("Relu6", x).As<float>());
        K.Close([-0.6f, -0.2f, 0, 2, 7], K.Run1("LeakyRelu", x).As<float>());
        K.Close([-0.3f, -0.1f, 0, 2, 7], K.Run1("LeakyRelu", K.A(("alpha", Attr.Float(0.1f))), x).As<float>());
        K.Close([MathF.Exp(-3) - 1, MathF.Exp(-1) - 1, 0, 2, 7], K.Run1("Elu", x).As<float>());
        const float s = 1.0507009873554805f, al = 1.6732632423543772f;
        K.Close([s * al * (MathF.Exp(-3) - 1), s * al * (MathF.Exp(-1) - 1), 0, 2 * s, 7 * s], K.Run1("Selu", x).As<float>());
        K.Close(x.As<float>().Select(v => 1 / (1 + MathF.Exp(-v))).ToArray(), K.Run1("Sigmoid", x).As<float>());
        K.Close(x.As<float>().Select(MathF.Tanh).ToArray(), K.Run1("Tanh", x).As<float>());
        K.Close(x.As<float>().Select(v => MathF.Log(1 + MathF.Exp(v))).ToArray(), K.Run1("Softplus", x).As<float>());
        K.Close([1000f], K.Run1("Softplus", K.F([1000f], 1)).As<float>());
        K.Close(x.As<float>().Select(v => v / (1 + MathF.Abs(v))).ToArray(), K.Run1("Softsign", x).As<float>());
    }

    [Fact]
    public void PiecewiseLinearActivationsMatchScalarDefinitionAtAnyLength()
    {
        // lengths around the unrolled 32-float and 8-float loops; NaN, infinities and the clamp edges.
        foreach (int n in new[] { 1, 7, 8, 9, 31, 32, 33, 77 })
        {
            var x = K.Random(n, n, -10, 10);
            x[0] = float.NaN;
            if (n > 3) { x[1] = float.PositiveInfinity; x[2] = float.NegativeInfinity; x[3] = 6f; }
            if (n > 20) x[20] = float.NaN;
            var t = K.F(x, n);
            K.Close(x.Select(v => float.IsNaN(v) ? v : Math.Max(v, 0)).ToArray(), K.Run1("Relu", t).As<float>(), 0);
            K.Close(x.Select(v => float.IsNaN(v) ? v : Math.Min(Math.Max(v, 0), 6)).ToArray(), K.Run1("Relu6", t).As<float>(), 0);
            K.Close(x.Select(v => v < 0 ? v * 0.3f : v).ToArray(), K.Run1("LeakyRelu", K.A(("alpha", Attr.Float(0.3f))), t).As<float>(), 0);
        }
    }

    [Fact]
    public void ChannelVectorBroadcastMatchesNaiveBothWays()
    {
        // [.., C] op [C] and [C] op [.., C] (the bias/scale fast path) for C around the vector width.
        foreach (int c in new[] { 1, 3, 8, 13, 64 })
            foreach (var op in new[] { "AddV2", "Sub", "Mul", "RealDiv" })
            {
                var big = K.Random(2 * 5 * 3 * c, c, 0.5f, 2);
                var vec = K.Random(c, c + 1, 0.5f, 2);
                Func<float, float, float> f = op switch { "AddV2" => (a, b) => a + b, "Sub" => (a, b) => a - b, "Mul" => (a, b) => a * b, _ => (a, b) => a / b };
                var r1 = K.Run1(op, K.F(big, 2, 5, 3, c), K.F(vec, c));
                K.Shape([2, 5, 3, c], r1);
                K.Close(big.Select((v, i) => f(v, vec[i % c])).ToArray(), r1.As<float>(), 0);
                var r2 = K.Run1(op, K.F(vec, 1, 1, 1, c), K.F(big, 2, 5, 3, c));
                K.Close(big.Select((v, i) => f(vec[i % c], v)).ToArray(), r2.As<float>(), 0);
            }
    }

    [Fact]
    public void SoftmaxAndLogSoftmaxLastAxis()
    {
        var x = K.F([1, 2, 3, 1000, 1000, 1000], 2, 3);
        var sm = K.Run1("Softmax", x).As<float>();
        double z = Math.Exp(1) + Math.Exp(2) + Math.Exp(3);
        K.Close([(float)(Math.Exp(1) / z), (float)(Math.Exp(2) / z), (float)(Math.Exp(3) / z), 1 / 3f, 1 / 3f, 1 / 3f], sm);
        var lsm = K.Run1("LogSoftmax", x).As<float>();
        K.Close([(float)(1 - Math.Log(z)), (float)(2 - Math.Log(z)), (float)(3 - Math.Log(z)), -MathF.Log(3), -MathF.Log(3), -MathF.Log(3)], lsm);
    }

    [Fact]
    public void PredicatesAndClip()
    {
        var x = K.F([float.NaN, float.PositiveInfinity, 1], 3);
        Assert.Equal(new[] { true, false, false }, K.Run1("IsNan", x).As<bool>());
        Assert.Equal(new[] { false, true, false }, K.Run1("IsInf", x).As<bool>());
        Assert.Equal(new[] { false, false, true }, K.Run1("IsFinite", x).As<bool>());
        Assert.Equal(new float[] { 0, 0.5f, 1 }, K.Run1("ClipByValue", K.F([-1, 0.5f, 2], 3), Tensor.Scalar(0f), Tensor.Scalar(1f)).As<float>());
    }

    [Fact]
    public void LargeTensorsUseThreadsAndMatchSingleThread()
    {
        var a = K.F(K.Random(300_000, 5), 300, 1000);
        var b = K.F(K.Random(1000, 6), 1000);
        var multi = K.RunWith("Mul", null, 1, new ModelOps.Core.Ops.EngineOptions { IntraOpThreads = 4 }, a, b)[0];
        var single = K.RunWith("Mul", null, 1, new ModelOps.Core.Ops.EngineOptions { IntraOpThreads = 1 }, a, b)[0];
        Assert.True(multi.ContentEquals(single));
        Assert.Equal(a.As<float>()[1500] * b.As<float>()[500], multi.As<float>()[1500]);
    }
}
