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

    private static float[] NaivePool(float[] x, int n, int h, int w, int c, int kh, int kw, int sh, int sw, int oh, int ow, int pt, int pl, bool max)
    {
        var y = new float[n * oh * ow * c];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                    for (int ch = 0; ch < c; ch++)
                    {
                        double acc = max ? double.NegativeInfinity : 0;
                        int count = 0;
                        for (int a = 0; a < kh; a++)
                            for (int bb = 0; bb < kw; bb++)
                            {
                                int ih = i * sh - pt + a, iw = j * sw - pl + bb;
                                if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                                double v = x[((b * h + ih) * w + iw) * c + ch];
                                acc = max ? (double.IsNaN(v) || double.IsNaN(acc) ? double.NaN : Math.Max(acc, v)) : acc + v;
                                count++;
                            }
                        y[((b * oh + i) * ow + j) * c + ch] = (float)(max ? acc : count > 0 ? acc / count : 0);
                    }
        return y;
    }

    [Fact]
    public void RandomPoolsMatchNaive()
    {
        // channels below, at and above the 8-lane vector width, the 16-lane register (AVX-512) and the 32-channel
        // register block (32 + 16 + 8 + tail); non-square windows; SAME with asymmetric padding.
        var rnd = new Random(17);
        int t = 0;
        foreach (int c in new[] { 1, 3, 8, 13, 16, 21, 32, 45, 59, 70 })
            for (int rep = 0; rep < 4; rep++, t++)
            {
                int n = 1 + rep % 2, h = 2 + rnd.Next(9), w = 2 + rnd.Next(9), kh = 1 + rnd.Next(3), kw = 1 + rnd.Next(4), sh = 1 + rnd.Next(2), sw = 1 + rnd.Next(3);
                bool same = rep % 2 == 0 || kh > h || kw > w;
                int oh, ow, pt = 0, pl = 0;
                if (same)
                {
                    oh = (h + sh - 1) / sh; ow = (w + sw - 1) / sw;
                    pt = Math.Max(0, (oh - 1) * sh + kh - h) / 2; pl = Math.Max(0, (ow - 1) * sw + kw - w) / 2;
                }
                else { oh = (h - kh) / sh + 1; ow = (w - kw) / sw + 1; }
                var x = K.Random(n * h * w * c, 60 + t, -3, 3);
                var attrs = K.A(("ksize", Attr.Ints(1, kh, kw, 1)), ("strides", Attr.Ints(1, sh, sw, 1)), ("padding", Attr.String(same ? "SAME" : "VALID")));
                foreach (bool max in new[] { true, false })
                {
                    var r = K.Run1(max ? "MaxPool" : "AvgPool", attrs, K.F(x, n, h, w, c));
                    K.Shape([n, oh, ow, c], r);
                    K.Close(NaivePool(x, n, h, w, c, kh, kw, sh, sw, oh, ow, pt, pl, max), r.As<float>(), 1e-5f);
                }
            }
    }

    [Fact]
    public void MaxPoolPropagatesNaNInVectorAndTailChannels()
    {
        int c = 10; // 8 vector lanes + 2 tail channels
        var x = K.Random(4 * 4 * c, 3);
        x[(1 * 4 + 1) * c + 2] = float.NaN; // vector lane, window (0,0)
        x[(0 * 4 + 0) * c + 9] = float.NaN; // tail channel, first element of window (0,0)
        var r = K.Run1("MaxPool", P("VALID", 2, 2), K.F(x, 1, 4, 4, c)).As<float>();
        K.Close(NaivePool(x, 1, 4, 4, c, 2, 2, 2, 2, 2, 2, 0, 0, true), r);
        Assert.True(float.IsNaN(r[2]) && float.IsNaN(r[9]) && !float.IsNaN(r[c + 2]));

        c = 42; // a 32-channel register block, one 8-lane vector, 2 tail channels
        x = K.Random(4 * 4 * c, 4);
        x[(1 * 4 + 0) * c + 17] = float.NaN; // third register of the block, window (0,0)
        x[(3 * 4 + 3) * c + 35] = float.NaN; // the 8-lane vector, last element of window (1,1)
        r = K.Run1("MaxPool", P("VALID", 2, 2), K.F(x, 1, 4, 4, c)).As<float>();
        K.Close(NaivePool(x, 1, 4, 4, c, 2, 2, 2, 2, 2, 2, 0, 0, true), r);
        Assert.True(float.IsNaN(r[17]) && float.IsNaN(r[3 * c + 35]) && !float.IsNaN(r[c + 17]));

        c = 18; // one 16-lane register (AVX-512; two 8-lane vectors elsewhere), 2 tail channels
        x = K.Random(4 * 4 * c, 5);
        x[(0 * 4 + 1) * c + 5] = float.NaN; // window (0,0), its second element
        x[(2 * 4 + 2) * c + 13] = float.NaN; // window (1,1), its first element
        r = K.Run1("MaxPool", P("VALID", 2, 2), K.F(x, 1, 4, 4, c)).As<float>();
        K.Close(NaivePool(x, 1, 4, 4, c, 2, 2, 2, 2, 2, 2, 0, 0, true), r);
        Assert.True(float.IsNaN(r[5]) && float.IsNaN(r[3 * c + 13]) && !float.IsNaN(r[c + 5]) && !float.IsNaN(r[13]));
    }
}
