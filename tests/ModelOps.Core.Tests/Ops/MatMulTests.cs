using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.Kernels;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Ops;

public class MatMulTests
{
    private static float[] Naive(float[] a, float[] b, int m, int n, int k, bool ta, bool tb)
    {
        var c = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++)
                    s += (double)(ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
                c[i * n + j] = (float)s;
            }
        return c;
    }

    [Fact]
    public void ConstantWeightsArePackedOncePerContext()
    {
        int m = 9, n = 37, k = 270;
        foreach (bool ta in new[] { false, true })
            foreach (bool tb in new[] { false, true })
            {
                var a = K.Random(m * k, 1);
                var b1 = K.Random(k * n, 2);
                var b2 = K.Random(k * n, 3);
                var attrs = K.A(("transpose_a", Attr.Bool(ta)), ("transpose_b", Attr.Bool(tb)));
                int[] ashape = ta ? [k, m] : [m, k], bshape = tb ? [n, k] : [k, n];
                // Naive expects b as k×n or n×k per tb, a as m×k or k×m per ta.
                var ctx = K.Context("MatMul", attrs, [false, true], null, K.F(a, ashape), K.F(b1, bshape));
                K.Close(Naive(a, b1, m, n, k, ta, tb), K.Rerun(ctx).As<float>(), 1e-4f);
                Assert.NotNull(ctx.State);
                K.Close(Naive(a, b1, m, n, k, ta, tb), K.Rerun(ctx).As<float>(), 1e-4f);
                ctx.Inputs[1] = K.F(b2, bshape);
                var r = K.Rerun(ctx);
                K.Shape([m, n], r);
                K.Close(Naive(a, b2, m, n, k, ta, tb), r.As<float>(), 1e-4f);
            }
    }

    [Fact]
    public void PackedGemmMatchesUnpacked()
    {
        // several K blocks (KC = 256), partial row and column tiles, row and column thread splits, transposed A.
        var rnd = new Random(11);
        foreach (var (m, n, k) in new[] { (1, 5, 3), (7, 33, 300), (13, 200, 260), (50, 17, 513), (6, 64, 256), (20, 16, 40), (9, 10, 300) })
            foreach (bool ta in new[] { false, true })
                foreach (int threads in new[] { 1, 2 })
                {
                    var a = K.Random(m * k, rnd.Next());
                    var b = K.Random(k * n, rnd.Next());
                    var packed = Gemm.PackB(false, k, n, b, 0, n);
                    var c = new float[m * n];
                    Gemm.SgemmPacked(ta, m, a, 0, ta ? m : k, packed, c, 0, n, false, threads);
                    K.Close(Naive(a, b, m, n, k, ta, false), c, 1e-4f);
                    Gemm.SgemmPacked(ta, m, a, 0, ta ? m : k, packed, c, 0, n, true, threads); // accumulate: twice the product
                    K.Close(Naive(a, b, m, n, k, ta, false).Select(v => 2 * v).ToArray(), c, 1e-4f);
                    var u = new float[m * n];
                    Gemm.Sgemm(ta, false, m, n, k, a, 0, ta ? m : k, b, 0, n, u, 0, n, false, threads); // unpacked, same panel width rules
                    K.Close(Naive(a, b, m, n, k, ta, false), u, 1e-4f);
                }
    }

    [Fact]
    public void GemmMatchesNaiveOnOddSizesAndTransposes()
    {
        int[] sizes = [1, 2, 3, 5, 6, 7, 13, 16, 17, 31, 33, 64, 67];
        var rnd = new Random(3);
        for (int t = 0; t < 60; t++)
        {
            int m = sizes[rnd.Next(sizes.Length)], n = sizes[rnd.Next(sizes.Length)], k = sizes[rnd.Next(sizes.Length)];
            bool ta = rnd.Next(2) == 1, tb = rnd.Next(2) == 1;
            var a = K.Random(m * k, t * 2);
            var b = K.Random(k * n, t * 2 + 1);
            var c = new float[m * n];
            Gemm.Sgemm(ta, tb, m, n, k, a, 0, ta ? m : k, b, 0, tb ? k : n, c, 0, n, false, 1 + t % 3);
            K.Close(Naive(a, b, m, n, k, ta, tb), c, 1e-4f);
        }
    }

    [Fact]
    public void GemmWritesOnlyItsTileOfAWiderC()
    {
        // Edge tiles are stored with lane masks straight into C: the columns right of n in each row of a
        // wider C (and the rows below m) must keep their values, with and without accumulation.
        var rnd = new Random(5);
        foreach (var (m, n, k) in new[] { (7, 5, 9), (13, 24, 30), (4, 17, 300), (11, 40, 7), (6, 32, 1), (25, 3, 64) })
            foreach (bool acc in new[] { false, true })
            {
                int ldc = n + 7, rowsC = m + 2;
                var a = K.Random(m * k, rnd.Next());
                var b = K.Random(k * n, rnd.Next());
                var c = Enumerable.Repeat(-3f, rowsC * ldc).ToArray();
                var packed = Gemm.PackB(false, k, n, b, 0, n);
                Gemm.SgemmPacked(false, m, a, 0, k, packed, c, ldc, ldc, acc, 1);
                var expect = Naive(a, b, m, n, k, false, false);
                for (int i = 0; i < rowsC; i++)
                    for (int j = 0; j < ldc; j++)
                    {
                        float v = c[i * ldc + j];
                        bool inside = i >= 1 && i <= m && j < n;
                        if (!inside) Assert.Equal(-3f, v);
                        else Assert.True(Math.Abs(v - (expect[(i - 1) * n + j] + (acc ? -3f : 0f))) <= 1e-4f * (1 + Math.Abs(v)), $"({m},{n},{k}) [{i - 1},{j}]");
                    }
            }
    }

    [Fact]
    public void EpilogueMatchesItsDefinitionOnEveryLanePath()
    {
        // widths covering the 16-lane (AVX-512), 8-lane, masked 8-lane and scalar paths; each part alone and all
        // together (the bias-only form has its own loop); values around 0 and 6, NaN kept.
        var rnd = new Random(23);
        foreach (int cols in new[] { 1, 5, 8, 16, 21, 37, 48 })
            foreach (var act in new[] { FusedActivation.None, FusedActivation.Relu, FusedActivation.Relu6, FusedActivation.LeakyRelu })
                foreach (var (scale, shift, res) in new[] { (false, true, false), (true, true, true), (true, false, false), (false, false, true) })
                {
                    int rows = 3;
                    var c = K.Random(rows * cols, rnd.Next()).Select(v => v * 8).ToArray();
                    c[rows * cols / 2] = float.NaN;
                    var epi = new Epilogue
                    {
                        Scale = scale ? K.Random(cols, rnd.Next()) : null,
                        Shift = shift ? K.Random(cols, rnd.Next()) : null,
                        Residual = res ? K.Random(rows * cols, rnd.Next()) : null,
                        Activation = act,
                        LeakyAlpha = 0.3f,
                    };
                    var expect = c.Select((v, i) =>
                    {
                        int j = i % cols;
                        if (epi.Scale is not null) v *= epi.Scale[j];
                        if (epi.Shift is not null) v += epi.Shift[j];
                        if (epi.Residual is not null) v += epi.Residual[i];
                        return float.IsNaN(v) ? v : act switch
                        {
                            FusedActivation.Relu => Math.Max(0, v),
                            FusedActivation.Relu6 => Math.Min(6, Math.Max(0, v)),
                            FusedActivation.LeakyRelu => v < 0 ? v * 0.3f : v,
                            _ => v,
                        };
                    }).ToArray();
                    epi.Apply(c, 0, 0, rows, cols);
                    Assert.Equal(expect, c);
                    Assert.True(float.IsNaN(c[rows * cols / 2]));
                }
    }

    [Fact]
    public void InGemmEpilogueEqualsTheSeparatePassBitForBit()
    {
        // tiles with partial rows/columns, several K blocks, row and column thread splits; every part of the
        // epilogue (scale, shift, residual) and each piecewise-linear activation
        var rnd = new Random(17);
        foreach (var (m, n, k) in new[] { (7, 5, 9), (13, 24, 30), (40, 70, 300), (3, 100, 20), (64, 33, 17) })
            foreach (var act in new[] { FusedActivation.None, FusedActivation.Relu, FusedActivation.Relu6, FusedActivation.LeakyRelu })
                foreach (int threads in new[] { 1, 2 })
                {
                    var a = K.Random(m * k, rnd.Next());
                    var b = K.Random(k * n, rnd.Next()).Select(v => v * 8).ToArray(); // values around Relu6's bound
                    var packed = Gemm.PackB(false, k, n, b, 0, n);
                    var epi = new Epilogue
                    {
                        Scale = K.Random(n, rnd.Next()),
                        Shift = K.Random(n, rnd.Next()),
                        Residual = K.Random(m * n, rnd.Next()),
                        Activation = act,
                        LeakyAlpha = 0.3f,
                    };
                    var expect = new float[m * n];
                    Gemm.SgemmPacked(false, m, a, 0, k, packed, expect, 0, n, false, threads);
                    epi.Apply(expect, 0, 0, m, n);
                    var got = new float[m * n];
                    Gemm.SgemmPacked(false, m, a, 0, k, packed, got, 0, n, epi, threads);
                    Assert.Equal(expect, got);
                    Assert.Contains(got, v => v != 0);
                }
        var sigmoid = new Epilogue { Activation = FusedActivation.Sigmoid };
        Assert.Throws<ArgumentException>(() => Gemm.SgemmPacked(false, 1, new float[1], 0, 1, Gemm.PackB(false, 1, 1, new float[1], 0, 1), new float[1], 0, 1, sigmoid));
    }

    [Fact]
    public void GemmLargeKAndAccumulate()
    {
        int m = 70, n = 90, k = 600; // k spans several KC blocks
        var a = K.Random(m * k, 1);
        var b = K.Random(k * n, 2);
        var c = Enumerable.Repeat(1f, m * n).ToArray();
        Gemm.Sgemm(false, false, m, n, k, a, 0, k, b, 0, n, c, 0, n, accumulate: true, threads: 2);
        K.Close(Naive(a, b, m, n, k, false, false).Select(v => v + 1).ToArray(), c, 1e-4f);
    }

    [Fact]
    public void MatMulWithTransposeAttrs()
    {
        var a = K.F([1, 2, 3, 4, 5, 6], 2, 3);
        var b = K.F([7, 8, 9, 10, 11, 12], 3, 2);
        var r = K.Run1("MatMul", a, b);
        K.Shape([2, 2], r);
        Assert.Equal(new float[] { 58, 64, 139, 154 }, r.As<float>());
        var rt = K.Run1("MatMul", K.A(("transpose_a", Attr.Bool(true)), ("transpose_b", Attr.Bool(true))), b, a);
        K.Shape([2, 2], rt);
        Assert.Equal(new float[] { 58, 139, 64, 154 }, rt.As<float>()); // (a·b)ᵀ
        Assert.Throws<ModelOpsException>(() => K.Run1("MatMul", a, a));
    }

    [Fact]
    public void MatMulOtherDtypes()
    {
        var a = Tensor.Create(new[] { 1, 2, 3, 4 }, 2, 2);
        Assert.Equal(new[] { 7, 10, 15, 22 }, K.Run1("MatMul", a, a).As<int>());
        var d = Tensor.Create(new[] { 1.0, 2, 3, 4 }, 2, 2);
        Assert.Equal(new[] { 7.0, 10, 15, 22 }, K.Run1("MatMul", d, d).As<double>());
        var h = Tensor.Create(new[] { (Half)1, (Half)2, (Half)3, (Half)4 }, 2, 2);
        Assert.Equal(new[] { (Half)7, (Half)10, (Half)15, (Half)22 }, K.Run1("MatMul", h, h).As<Half>());
    }

    [Fact]
    public void FusedEpilogueIsKeptOnlyForConstantArguments()
    {
        // A plan keeps one context per node; the epilogue made from constant arguments is reused, one made from a fed
        // bias (or a batch norm) is made again on every run, and a new constant tensor makes a new one.
        var a = K.F([1, 2, 3, 4, 5, 6], 2, 3);
        var b = K.F([1, 0, 0, 1, -1, -1], 3, 2); // a·b = [[-2,-1],[-2,-1]]
        var attrs = K.A(("fused_ops", Attr.Strings("BiasAdd", "Relu")), ("num_args", Attr.Int(1)));
        var fed = K.Context("_FusedMatMul", attrs, [false, true, false], null, a, b, K.F([0.5f, 3], 2));
        Assert.Equal(new float[] { 0, 2, 0, 2 }, K.Rerun(fed).As<float>());
        fed.Inputs[2] = K.F([4, -10], 2);
        Assert.Equal(new float[] { 2, 0, 2, 0 }, K.Rerun(fed).As<float>());
        var constant = K.Context("_FusedMatMul", attrs, [false, true, true], null, a, b, K.F([0.5f, 3], 2));
        Assert.Equal(new float[] { 0, 2, 0, 2 }, K.Rerun(constant).As<float>());
        Assert.NotNull(constant.EpilogueCache);
        Assert.Equal(new float[] { 0, 2, 0, 2 }, K.Rerun(constant).As<float>());
        constant.Inputs[2] = K.F([4, -10], 2); // another constant tensor: the kept epilogue is not its epilogue
        Assert.Equal(new float[] { 2, 0, 2, 0 }, K.Rerun(constant).As<float>());
        // Folded batch norm: scale and shift computed from four fed vectors, again each run.
        var bn = K.A(("fused_ops", Attr.Strings("FusedBatchNorm")), ("num_args", Attr.Int(4)), ("epsilon", Attr.Float(0)));
        var norm = K.Context("_FusedMatMul", bn, [false, true, false, false, false, false], null,
            a, b, K.F([1, 1], 2), K.F([0, 0], 2), K.F([0, 0], 2), K.F([1, 1], 2));
        Assert.Equal(new float[] { -2, -1, -2, -1 }, K.Rerun(norm).As<float>());
        norm.Inputs[2] = K.F([2, 4], 2); // scale
        Assert.Equal(new float[] { -4, -4, -4, -4 }, K.Rerun(norm).As<float>());
        Assert.Null(norm.EpilogueCache);
    }

    [Fact]
    public void FusedMatMulBiasAndActivations()
    {
        var a = K.F([1, 2, 3, 4, 5, 6], 2, 3);
        var b = K.F([1, 0, 0, 1, -1, -1], 3, 2); // rows: [1,0],[0,1],[-1,-1]
        var bias = K.F([0.5f, -10], 2);
        // a·b = [[1-3, 2-3],[4-6, 5-6]] = [[-2,-1],[-2,-1]]; + bias = [[-1.5,-11],[-1.5,-11]]
        var attrs = K.A(("fused_ops", Attr.Strings("BiasAdd")), ("num_args", Attr.Int(1)));
        Assert.Equal(new float[] { -1.5f, -11, -1.5f, -11 }, K.Run1("_FusedMatMul", attrs, a, b, bias).As<float>());
        attrs = K.A(("fused_ops", Attr.Strings("BiasAdd", "Relu")), ("num_args", Attr.Int(1)));
        Assert.Equal(new float[] { 0, 0, 0, 0 }, K.Run1("_FusedMatMul", attrs, a, b, bias).As<float>());
        attrs = K.A(("fused_ops", Attr.Strings("BiasAdd", "LeakyRelu")), ("num_args", Attr.Int(1)), ("leakyrelu_alpha", Attr.Float(0.1f)));
        K.Close([-0.15f, -1.1f, -0.15f, -1.1f], K.Run1("_FusedMatMul", attrs, a, b, bias).As<float>());
        attrs = K.A(("fused_ops", Attr.Strings("BiasAdd", "GeluExact")), ("num_args", Attr.Int(1)));
        float g(float v) => (float)(0.5 * v * (1 + SpecialFunctions.Erf(v / Math.Sqrt(2))));
        K.Close([g(-1.5f), g(-11), g(-1.5f), g(-11)], K.Run1("_FusedMatMul", attrs, a, b, bias).As<float>());
        attrs = K.A(("fused_ops", Attr.Strings("BiasAdd", "GeluApproximate")), ("num_args", Attr.Int(1)));
        float ga(float v) => (float)(0.5 * v * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v))));
        K.Close([ga(-1.5f), ga(-11), ga(-1.5f), ga(-11)], K.Run1("_FusedMatMul", attrs, a, b, bias).As<float>());
        attrs = K.A(("fused_ops", Attr.Strings("BiasAdd", "Bogus")), ("num_args", Attr.Int(1)));
        Assert.Throws<ModelOpsException>(() => K.Run1("_FusedMatMul", attrs, a, b, bias));
    }

    [Fact]
    public void BatchMatMulAdjointsAndBroadcast()
    {
        var x = K.F(K.Random(2 * 3 * 4 * 5, 1), 2, 3, 4, 5);
        var y = K.F(K.Random(3 * 6 * 5, 2), 3, 6, 5); // broadcast over the leading 2, adj_y
        var r = K.Run1("BatchMatMulV2", K.A(("adj_y", Attr.Bool(true))), x, y);
        K.Shape([2, 3, 4, 6], r);
        for (int b0 = 0; b0 < 2; b0++)
            for (int b1 = 0; b1 < 3; b1++)
            {
                var xa = x.As<float>().AsSpan((b0 * 3 + b1) * 20, 20).ToArray();
                var ya = y.As<float>().AsSpan(b1 * 30, 30).ToArray();
                K.Close(Naive(xa, ya, 4, 6, 5, false, true), r.As<float>().AsSpan((b0 * 3 + b1) * 24, 24).ToArray(), 1e-5f);
            }
        var xt = K.F(K.Random(2 * 5 * 4, 3), 2, 5, 4);
        var yt = K.F(K.Random(2 * 5 * 3, 4), 2, 5, 3);
        var rt = K.Run1("BatchMatMul", K.A(("adj_x", Attr.Bool(true))), xt, yt);
        K.Shape([2, 4, 3], rt);
        K.Close(Naive(xt.As<float>()[20..], yt.As<float>()[15..], 4, 3, 5, true, false), rt.As<float>()[12..], 1e-5f);
    }

    [Fact]
    public void EinsumPatterns()
    {
        var a = K.F(K.Random(3 * 4, 1), 3, 4);
        var b = K.F(K.Random(4 * 5, 2), 4, 5);
        var r = K.Run1("Einsum", K.A(("equation", Attr.String("ij,jk->ik")), ("N", Attr.Int(2))), a, b);
        K.Shape([3, 5], r);
        K.Close(Naive(a.As<float>(), b.As<float>(), 3, 5, 4, false, false), r.As<float>(), 1e-5f);

        // attention scores: bhqd,bhkd->bhqk
        var q = K.F(K.Random(2 * 2 * 3 * 4, 3), 2, 2, 3, 4);
        var kk = K.F(K.Random(2 * 2 * 5 * 4, 4), 2, 2, 5, 4);
        var s = K.Run1("Einsum", K.A(("equation", Attr.String("bhqd,bhkd->bhqk"))), q, kk);
        K.Shape([2, 2, 3, 5], s);
        var bm = K.Run1("BatchMatMulV2", K.A(("adj_y", Attr.Bool(true))), q, kk);
        K.Close(bm.As<float>(), s.As<float>(), 1e-5f);

        // ellipsis batch matmul
        var e = K.Run1("Einsum", K.A(("equation", Attr.String("...ij,...jk->...ik"))), q, K.F(K.Random(2 * 2 * 4 * 3, 5), 2, 2, 4, 3));
        K.Shape([2, 2, 3, 3], e);

        // transpose and sum with one operand; output with free dims in swapped order
        var t = K.Run1("Einsum", K.A(("equation", Attr.String("ij->ji"))), a);
        K.Shape([4, 3], t);
        Assert.Equal(a.As<float>()[1], t.As<float>()[3]);
        var sum = K.Run1("Einsum", K.A(("equation", Attr.String("ij->i"))), a);
        K.Close(Enumerable.Range(0, 3).Select(i => a.As<float>().Skip(i * 4).Take(4).Sum()).ToArray(), sum.As<float>());
        var swapped = K.Run1("Einsum", K.A(("equation", Attr.String("ij,jk->ki"))), a, b);
        K.Shape([5, 3], swapped);
        Assert.Equal(r.As<float>()[1 * 5 + 2], swapped.As<float>()[2 * 3 + 1], 5);
        // contraction over a label summed only on one side: "ij,k->i" = rowsum(a) * sum(k)
        var outer = K.Run1("Einsum", K.A(("equation", Attr.String("bi,bj->bij"))), a, K.F(K.Random(3 * 2, 6), 3, 2));
        K.Shape([3, 4, 2], outer);
        Assert.Throws<ModelOpsException>(() => K.Run1("Einsum", K.A(("equation", Attr.String("ii->i"))), K.F(new float[9], 3, 3)));
    }
}
