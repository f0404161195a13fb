using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Ops;

public class PoolingTests
{
    private static Dictionary<string, AttrValue> P(string padding, int k, int s, string fmt = "NHWC") =>
        fmt == "NHWC"
            ? K.A(("ksize", Attr.Ints(1, k, k, 1)), ("strides", Attr.Ints(1, s, s, 1)), ("padding", Attr.String(padding)))
            : K.A(("ksize", Attr.Ints(1, 1, k, k)), ("strides", Attr.Ints(1, 1, s, s)), ("padding", Attr.String(padding)), ("data_format", Attr.String(fmt)));

    [Fact]
    public void MaxAndAvgValid()
    {
        var x = K.F([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], 1, 4, 4, 1);
        Assert.Equal(new float[] { 6, 8, 14, 16 }, K.Run1("MaxPool", P("VALID", 2, 2), x).As<float>());
        Assert.Equal(new float[] { 3.5f, 5.5f, 11.5f, 13.5f }, K.Run1("AvgPool", P("VALID", 2, 2), x).As<float>());
    }

    [Fact]
    public void AvgSameExcludesPadding()
    {
        // 3x3 input, 2x2 window stride 1 SAME: padding only bottom/right; edge windows average fewer values
        var x = K.F([1, 2, 3, 4, 5, 6, 7, 8, 9], 1, 3, 3, 1);
        var r = K.Run1("AvgPool", P("SAME", 2, 1), x);
        K.Shape([1, 3, 3, 1], r);
        K.Close([3, 4, 4.5f, 6, 7, 7.5f, 7.5f, 8.5f, 9], r.As<float>());
        var m = K.Run1("MaxPool", P("SAME", 3, 2), x);
        K.Shape([1, 2, 2, 1], m);
        Assert.Equal(new float[] { 5, 6, 8, 9 }, m.As<float>()); // pad 1 split 0 before? (out-1)*2+3-3 = 2 → 1 before, 1 after
    }

    [Fact]
    public void NegativeValuesIgnorePaddingInMax()
    {
        var x = K.F([-5, -6, -7, -8], 1, 2, 2, 1);
        Assert.Equal(new float[] { -5, -5, -5, -5 }, K.Run1("MaxPool", P("SAME", 3, 1), x).As<float>()); // padding never wins
        Assert.Equal(new float[] { -5 }, K.Run1("MaxPool", P("VALID", 2, 2), x).As<float>());
    }

    [Fact]
    public void MultiChannelNchwAndV2()
    {
        var x = K.Random(2 * 3 * 4 * 4, 1);
        var nhwc = K.F(x, 2, 4, 4, 3);
        var rn = K.Run1("MaxPool", P("VALID", 2, 2), nhwc);
        var xc = new float[x.Length];
        for (int b = 0; b < 2; b++) for (int i = 0; i < 4; i++) for (int j = 0; j < 4; j++) for (int c = 0; c < 3; c++)
            xc[((b * 3 + c) * 4 + i) * 4 + j] = x[((b * 4 + i) * 4 + j) * 3 + c];
        var rc = K.Run1("MaxPool", P("VALID", 2, 2, "NCHW"), K.F(xc, 2, 3, 4, 4));
        K.Shape([2, 3, 2, 2], rc);
        for (int b = 0; b < 2; b++) for (int i = 0; i < 2; i++) for (int j = 0; j < 2; j++) for (int c = 0; c < 3; c++)
            Assert.Equal(rn.As<float>()[((b * 2 + i) * 2 + j) * 3 + c], rc.As<float>()[((b * 3 + c) * 2 + i) * 2 + j]);
        var v2 = K.Run1("MaxPoolV2", K.A(("padding", Attr.String("VALID"))), nhwc, Tensor.Create(new[] { 1, 2, 2, 1 }, 4), Tensor.Create(new[] { 1, 2, 2, 1 }, 4));
        Assert.True(v2.ContentEquals(rn));
        // naive check of one channel
        for (int c = 0; c < 3; c++)
        {
            float e = new[] { x[(0 * 4 + 0) * 3 + c], x[(0 * 4 + 1) * 3 + c], x[(1 * 4 + 0) * 3 + c], x[(1 * 4 + 1) * 3 + c] }.Max();
            Assert.Equal(e, rn.As<float>()[c]);
        }
    }
}
