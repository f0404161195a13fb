using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Ops;

public class ReductionTests
{
    private static Tensor Axes(params int[] a) => Tensor.Create(a, a.Length);

    [Fact]
    public void SumMeanMaxMinProdOverAxes()
    {
        var x = K.F([1, 2, 3, 4, 5, 6], 2, 3);
        Assert.Equal(new float[] { 5, 7, 9 }, K.Run1("Sum", x, Axes(0)).As<float>());
        Assert.Equal(new float[] { 6, 15 }, K.Run1("Sum", x, Axes(1)).As<float>());
        Assert.Equal(new float[] { 6, 15 }, K.Run1("Sum", x, Axes(-1)).As<float>());
        Assert.Equal(new float[] { 21 }, K.Run1("Sum", x, Axes(0, 1)).As<float>());
        Assert.Equal(new float[] { 2.5f, 3.5f, 4.5f }, K.Run1("Mean", x, Axes(0)).As<float>());
        Assert.Equal(new float[] { 3, 6 }, K.Run1("Max", x, Axes(1)).As<float>());
        Assert.Equal(new float[] { 1, 2, 3 }, K.Run1("Min", x, Axes(0)).As<float>());
        Assert.Equal(new float[] { 6, 120 }, K.Run1("Prod", x, Axes(1)).As<float>());
        var keep = K.Run1("Sum", K.A(("keep_dims", Attr.Bool(true))), x, Axes(1));
        K.Shape([2, 1], keep);
        var scalarAxis = K.Run1("Sum", x, Tensor.Scalar(1L));
        Assert.Equal(new float[] { 6, 15 }, scalarAxis.As<float>());
    }

    [Fact]
    public void EmptyAxisListIsIdentity()
    {
        var x = K.F([1, 2, 3, 4], 2, 2);
        var r = K.Run1("Max", x, Tensor.Create(Array.Empty<int>(), 0));
        K.Shape([2, 2], r);
        Assert.Equal(x.As<float>(), r.As<float>());
        Assert.Equal(x.As<float>(), K.Run1("Mean", x, Tensor.Create(Array.Empty<long>(), 0)).As<float>());
    }

    [Fact]
    public void SpatialMeanAndSumOverChannelWidths()
    {
        // the rows-summed path of (kept, reduced, kept) float Sum/Mean: 16-lane, 8-lane and scalar channel parts,
        // batch 1 and 3, and a reduced span that ends the shape (one row kept per batch)
        foreach (int c in new[] { 1, 8, 16, 21, 40 })
            foreach (int n in new[] { 1, 3 })
            {
                int h = 5, w = 3;
                var data = K.Random(n * h * w * c, 100 + c + n);
                foreach (string op in new[] { "Sum", "Mean" })
                {
                    var r = K.Run1(op, K.F(data, n, h, w, c), Axes(1, 2)).As<float>();
                    Assert.Equal(n * c, r.Length);
                    for (int b = 0; b < n; b++)
                        for (int ch = 0; ch < c; ch++)
                        {
                            double sum = 0;
                            for (int i = 0; i < h * w; i++) sum += data[(b * h * w + i) * c + ch];
                            double expect = op == "Mean" ? sum / (h * w) : sum;
                            Assert.True(Math.Abs(r[b * c + ch] - expect) <= 1e-5 * Math.Max(1, Math.Abs(expect)), $"{op} c={c} n={n} [{b},{ch}]: {r[b * c + ch]} vs {expect}");
                        }
                }
            }
    }

    [Fact]
    public void GlobalAveragePoolPatternMatchesNaive()
    {
        // NHWC mean over [1,2] (kept, reduced, kept) and other mixed patterns vs a naive loop
        int[] shape = [3, 4, 5, 6];
        var data = K.Random(3 * 4 * 5 * 6, 11);
        var x = K.F(data, shape);
        foreach (var axes in new[] { new[] { 1, 2 }, new[] { 0, 2 }, new[] { 3 }, new[] { 0 }, new[] { 0, 3 }, new[] { 1, 3 }, new[] { 0, 1, 2, 3 } })
        {
            var r = K.Run1("Sum", K.A(("keep_dims", Attr.Bool(true))), x, Axes(axes));
            var os = shape.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray();
            Assert.Equal(os, r.Shape);
            var exp = new double[Tensor.ElementCount(os)];
            for (int a = 0; a < 3; a++)
            for (int b = 0; b < 4; b++)
            for (int c = 0; c < 5; c++)
            for (int d = 0; d < 6; d++)
            {
                int[] i = [a, b, c, d];
                int o = 0;
                for (int k = 0; k < 4; k++) o = o * os[k] + (os[k] == 1 ? 0 : i[k]);
                exp[o] += data[((a * 4 + b) * 5 + c) * 6 + d];
            }
            K.Close(exp.Select(v => (float)v).ToArray(), r.As<float>(), 1e-5f);
        }
    }

    [Fact]
    public void IntegerAndBoolReductions()
    {
        var x = Tensor.Create(new[] { 1, 2, 4, 7 }, 2, 2);
        Assert.Equal(new[] { 1, 5 }, K.Run1("Mean", x, Axes(1)).As<int>()); // integer mean truncates
        Assert.Equal(new[] { 7 }, K.Run1("Max", x, Axes(0, 1)).As<int>().Take(1).ToArray());
        var b = Tensor.Create(new[] { true, false, true, true }, 2, 2);
        Assert.Equal(new[] { false, true }, K.Run1("All", b, Axes(1)).As<bool>());
        Assert.Equal(new[] { true, true }, K.Run1("Any", b, Axes(1)).As<bool>());
        Assert.Equal(new[] { true, false }, K.Run1("All", b, Axes(0)).As<bool>());
    }

    [Fact]
    public void EmptyReductionGivesIdentity()
    {
        var x = K.F([], 0, 3);
        Assert.Equal(new float[] { 0, 0, 0 }, K.Run1("Sum", x, Axes(0)).As<float>());
        Assert.Equal(new float[] { float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity }, K.Run1("Max", x, Axes(0)).As<float>());
        Assert.True(float.IsNaN(K.Run1("Mean", x, Axes(0)).As<float>()[0]));
    }

    [Fact]
    public void BadAxisFails()
    {
        Assert.Throws<ModelOpsException>(() => K.Run1("Sum", K.F([1, 2], 2), Axes(1)));
    }

    [Fact]
    public void ArgMaxArgMin()
    {
        var x = K.F([1, 9, 9, 4, 0, 6], 2, 3);
        var r = K.Run1("ArgMax", x, Tensor.Scalar(1));
        Assert.Equal(DataType.DtInt64, r.DType);
        Assert.Equal(new long[] { 1, 2 }, r.As<long>()); // first of ties
        Assert.Equal(new long[] { 1, 0, 0 }, K.Run1("ArgMax", x, Tensor.Scalar(0)).As<long>());
        var r32 = K.Run1("ArgMin", K.A(("output_type", Attr.Type(DataType.DtInt32))), x, Tensor.Scalar(-1));
        Assert.Equal(new[] { 0, 1 }, r32.As<int>());
    }

    [Fact]
    public void HalfMean()
    {
        var x = Tensor.Create(new[] { (Half)1, (Half)2, (Half)3, (Half)4 }, 4);
        var r = K.Run1("Mean", x, Axes(0));
        Assert.Equal(DataType.DtHalf, r.DType);
        Assert.Equal((Half)2.5f, r.As<Half>()[0]);
    }
}
