using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.Kernels;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Ops;

public class ConvolutionTests
{
    /// <summary>Naive NHWC convolution with explicit top/left padding, written from the definition.</summary>
    private static float[] NaiveConv(float[] x, int n, int h, int w, int c, float[] f, int kh, int kw, int cout,
        int sh, int sw, int dh, int dw, int oh, int ow, int pt, int pl, bool depthwise = false, int dm = 1)
    {
        int oc = depthwise ? c * dm : cout;
        var y = new float[n * oh * ow * oc];
        for (int b = 0; b < n; b++)
            for (int i = 0; i < oh; i++)
                for (int j = 0; j < ow; j++)
                    for (int o = 0; o < oc; o++)
                    {
                        double s = 0;
                        for (int a = 0; a < kh; a++)
                            for (int bb = 0; bb < kw; bb++)
                            {
                                int ih = i * sh - pt + a * dh, iw = j * sw - pl + bb * dw;
                                if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
                                if (depthwise)
                                {
                                    int ci = o / dm, m = o % dm;
                                    s += x[((b * h + ih) * w + iw) * c + ci] * f[((a * kw + bb) * c + ci) * dm + m];
                                }
                                else
                                    for (int ci = 0; ci < c; ci++)
                                        s += x[((b * h + ih) * w + iw) * c + ci] * f[((a * kw + bb) * c + ci) * cout + o];
                            }
                        y[((b * oh + i) * ow + j) * oc + o] = (float)s;
                    }
        return y;
    }

    private static (int Out, int Pad) Same(int inp, int k, int s, int d)
    {
        int eff = (k - 1) * d + 1;
        int o = (inp + s - 1) / s;
        return (o, Math.Max(0, (o - 1) * s + eff - inp) / 2);
    }

    private static Dictionary<string, AttrValue> ConvAttrs(string padding, int sh, int sw, int dh = 1, int dw = 1, string fmt = "NHWC") =>
        fmt == "NHWC"
            ? K.A(("padding", Attr.String(padding)), ("strides", Attr.Ints(1, sh, sw, 1)), ("dilations", Attr.Ints(1, dh, dw, 1)), ("data_format", Attr.String(fmt)))
            : K.A(("padding", Attr.String(padding)), ("strides", Attr.Ints(1, 1, sh, sw)), ("dilations", Attr.Ints(1, 1, dh, dw)), ("data_format", Attr.String(fmt)));

    [Fact]
    public void HandComputed3x3Same()
    {
        // 1x3x3x1 input 1..9, 2x2 filter of ones, SAME stride 1: pad bottom/right only (TF's asymmetric split)
        var x = K.F([1, 2, 3, 4, 5, 6, 7, 8, 9], 1, 3, 3, 1);
        var f = K.F([1, 1, 1, 1], 2, 2, 1, 1);
        var r = K.Run1("Conv2D", ConvAttrs("SAME", 1, 1), x, f);
        K.Shape([1, 3, 3, 1], r);
        Assert.Equal(new float[] { 12, 16, 9, 24, 28, 15, 15, 17, 9 }, r.As<float>());
        var v = K.Run1("Conv2D", ConvAttrs("VALID", 1, 1), x, f);
        Assert.Equal(new float[] { 12, 16, 24, 28 }, v.As<float>());
    }

    [Fact]
    public void RandomConvsMatchNaive()
    {
        var rnd = new Random(7);
        for (int t = 0; t < 25; t++)
        {
            int n = 1 + rnd.Next(2), h = 1 + rnd.Next(9), w = 1 + rnd.Next(9), c = 1 + rnd.Next(7), cout = 1 + rnd.Next(19);
            int kh = 1 + rnd.Next(3), kw = 1 + rnd.Next(3), sh = 1 + rnd.Next(2), sw = 1 + rnd.Next(3), dh = 1 + rnd.Next(2), dw = 1 + rnd.Next(2);
            if (t % 5 == 0) { kh = kw = 1; sh = sw = dh = dw = 1; } // the direct 1x1 path
            bool same = rnd.Next(2) == 0 || (kh - 1) * dh + 1 > h || (kw - 1) * dw + 1 > w;
            var x = K.Random(n * h * w * c, 100 + t);
            var f = K.Random(kh * kw * c * cout, 200 + t);
            int oh, ow, pt, pl;
            if (same) { (oh, pt) = Same(h, kh, sh, dh); (ow, pl) = Same(w, kw, sw, dw); }
            else { oh = (h - ((kh - 1) * dh + 1)) / sh + 1; ow = (w - ((kw - 1) * dw + 1)) / sw + 1; pt = pl = 0; }
            var r = K.Run1("Conv2D", ConvAttrs(same ? "SAME" : "VALID", sh, sw, dh, dw), K.F(x, n, h, w, c), K.F(f, kh, kw, c, cout));
            K.Shape([n, oh, ow, cout], r);
            K.Close(NaiveConv(x, n, h, w, c, f, kh, kw, cout, sh, sw, dh, dw, oh, ow, pt, pl), r.As<float>(), 1e-4f);
        }
    }

    [Fact]
    public void WindowedConvMatchesNaive()
    {
        // On AVX-512 most of these take the windowed path (register tiles of 12 pixels × 16 channels or 6 × 32
        // read from the image, the last tile shifted back, border pixels one by one, window rows clipped at the
        // top and bottom; several filter panels; 40 × 40 with a depth over one k block falls back to im2col);
        // elsewhere im2col + GEMM. Both must equal the definition: strides, height dilation, SAME / VALID /
        // EXPLICIT, 1- to 40-channel images, batch 2, widths with and without leftover pixels, a fused
        // bias + Relu6 epilogue and a Sigmoid one.
        var rnd = new Random(41);
        int t = 0, windowed = 0;
        foreach (var (kh, kw) in new[] { (3, 3), (5, 5), (1, 3), (3, 1), (1, 1) })
            foreach (var (c, cout) in new[] { (1, 8), (3, 16), (8, 8), (5, 13), (3, 24), (6, 32), (20, 16), (2, 1), (3, 64), (2, 40), (20, 24), (12, 32), (40, 20), (40, 40) })
                foreach (var (s, dh, pad) in new[] { (1, 1, "SAME"), (2, 1, "SAME"), (1, 2, "VALID"), (1, 1, "EXPLICIT") })
                {
                    t++;
                    int n = 1 + t % 2, h = 3 + rnd.Next(7), w = 12 * s + kw + rnd.Next(20);
                    var x = K.Random(n * h * w * c, 900 + t);
                    var f = K.Random(kh * kw * c * cout, 1000 + t);
                    var attrs = ConvAttrs(pad == "EXPLICIT" ? "EXPLICIT" : pad, s, s, dh, 1);
                    int oh, ow, pt, pl;
                    if (pad == "SAME") { (oh, pt) = Same(h, kh, s, dh); (ow, pl) = Same(w, kw, s, 1); }
                    else if (pad == "VALID")
                    {
                        oh = (h - ((kh - 1) * dh + 1)) / s + 1; ow = (w - kw) / s + 1; pt = pl = 0;
                        if (oh <= 0) continue;
                    }
                    else
                    {
                        int top = rnd.Next(3), bottom = rnd.Next(3), left = rnd.Next(3), right = rnd.Next(3);
                        attrs["explicit_paddings"] = Attr.Ints(0, 0, top, bottom, left, right, 0, 0);
                        oh = (h + top + bottom - ((kh - 1) * dh + 1)) / s + 1;
                        ow = (w + left + right - kw) / s + 1;
                        pt = top; pl = left;
                        if (oh <= 0) continue;
                    }
                    var g = new ConvGeometry { N = n, H = h, W = w, C = c, KH = kh, KW = kw, SH = s, SW = s, DH = dh, DW = 1, OH = oh, OW = ow, PadTop = pt, PadLeft = pl };
                    if (ConvolutionOps.WindowedApplies(g, Gemm.PackB(false, kh * kw * c, cout, f, 0, cout))) windowed++;
                    var expected = NaiveConv(x, n, h, w, c, f, kh, kw, cout, s, s, dh, 1, oh, ow, pt, pl);
                    var r = K.Run1("Conv2D", attrs, K.F(x, n, h, w, c), K.F(f, kh, kw, c, cout));
                    K.Shape([n, oh, ow, cout], r);
                    K.Close(expected, r.As<float>(), 1e-4f);
                    if (t % 3 != 0) continue;
                    var bias = K.Random(cout, 1100 + t);
                    var fused = new Dictionary<string, AttrValue>(attrs);
                    bool sigmoid = t % 2 == 0;
                    fused["fused_ops"] = sigmoid ? Attr.Strings("BiasAdd", "Sigmoid") : Attr.Strings("BiasAdd", "Relu6");
                    fused["num_args"] = Attr.Int(1);
                    var rf = K.Run1("_FusedConv2D", fused, K.F(x, n, h, w, c), K.F(f, kh, kw, c, cout), K.F(bias, cout));
                    K.Close(expected.Select((v, i) =>
                    {
                        float y = v + bias[i % cout];
                        return sigmoid ? 1 / (1 + MathF.Exp(-y)) : Math.Min(6, Math.Max(0, y));
                    }).ToArray(), rf.As<float>(), 1e-4f);
                }
        if (System.Runtime.Intrinsics.X86.Avx512F.IsSupported && System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated)
            Assert.True(windowed > 100, $"only {windowed} of {t} cases took the windowed path");
    }

    [SkippableFact]
    public void WindowedTilesApplyBiasAndActivationWithTheBitsOfTheRowPass()
    {
        // The register tiles (12 × 16 and 6 × 32) take the bias and a piecewise-linear activation before storing
        // (border pixels and the shifted-back last tile included); the same convolution with the epilogue run over each
        // output row afterwards must give the same bits. 13 and 40 output channels leave partial panels; NaN inputs propagate.
        Skip.IfNot(System.Runtime.Intrinsics.X86.Avx512F.IsSupported, "the windowed path needs AVX-512");
        var acts = new[] { FusedActivation.None, FusedActivation.Relu, FusedActivation.Relu6, FusedActivation.LeakyRelu, FusedActivation.Sigmoid };
        int t = 0;
        foreach (var (c, cout) in new[] { (3, 16), (6, 13), (3, 32), (8, 40), (5, 64) })
            foreach (bool same in new[] { true, false })
                foreach (var act in acts)
                {
                    t++;
                    int h = 7, w = 23;
                    var x = K.Random(h * w * c, 1300 + t);
                    x[5] = float.NaN;
                    var packed = Gemm.PackB(false, 9 * c, cout, K.Random(9 * c * cout, 1400 + t), 0, cout);
                    int oh = same ? h : h - 2, ow = same ? w : w - 2;
                    var g = new ConvGeometry { N = 1, H = h, W = w, C = c, KH = 3, KW = 3, SH = 1, SW = 1, DH = 1, DW = 1, OH = oh, OW = ow, PadTop = same ? 1 : 0, PadLeft = same ? 1 : 0 };
                    Assert.True(ConvolutionOps.WindowedApplies(g, packed));
                    var epi = new Epilogue { Shift = K.Random(cout, 1500 + t), Activation = act, LeakyAlpha = 0.15f };
                    var inTiles = new float[oh * ow * cout];
                    var rowPass = new float[oh * ow * cout];
                    try
                    {
                        ConvolutionOps.FuseWindowedEpilogue = true;
                        ConvolutionOps.Windowed(x, packed, inTiles, g, cout, epi, 1);
                        ConvolutionOps.FuseWindowedEpilogue = false;
                        ConvolutionOps.Windowed(x, packed, rowPass, g, cout, epi, 1);
                    }
                    finally
                    {
                        ConvolutionOps.FuseWindowedEpilogue = true;
                    }
                    for (int i = 0; i < inTiles.Length; i++)
                        Assert.True(BitConverter.SingleToInt32Bits(inTiles[i]) == BitConverter.SingleToInt32Bits(rowPass[i]),
                            $"C={c} cout={cout} {(same ? "SAME" : "VALID")} {act} [{i}]: {inTiles[i]:R} vs {rowPass[i]:R}");
                    Assert.Contains(inTiles, float.IsNaN);
                }
    }

    [Fact]
    public void LargerConvUsesThreadsAndMatchesNaive()
    {
        int n = 1, h = 30, w = 30, c = 16, cout = 40;
        var x = K.Random(n * h * w * c, 1);
        var f = K.Random(3 * 3 * c * cout, 2);
        var r = K.Run1("Conv2D", ConvAttrs("SAME", 2, 2), K.F(x, n, h, w, c), K.F(f, 3, 3, c, cout));
        var (oh, pt) = Same(h, 3, 2, 1);
        K.Close(NaiveConv(x, n, h, w, c, f, 3, 3, cout, 2, 2, 1, 1, oh, oh, pt, pt), r.As<float>(), 1e-4f);
    }

    [Fact]
    public void ExplicitPaddingAndNchw()
    {
        int h = 5, w = 4, c = 3, cout = 2;
        var x = K.Random(h * w * c, 1);
        var f = K.Random(3 * 3 * c * cout, 2);
        var attrs = ConvAttrs("EXPLICIT", 1, 1);
        attrs["explicit_paddings"] = Attr.Ints(0, 0, 2, 0, 1, 1, 0, 0); // top 2, bottom 0, left 1, right 1
        var r = K.Run1("Conv2D", attrs, K.F(x, 1, h, w, c), K.F(f, 3, 3, c, cout));
        int oh = (h + 2 - 3) + 1, ow = (w + 2 - 3) + 1;
        K.Shape([1, oh, ow, cout], r);
        K.Close(NaiveConv(x, 1, h, w, c, f, 3, 3, cout, 1, 1, 1, 1, oh, ow, 2, 1), r.As<float>(), 1e-4f);

        // NCHW: same numbers, transposed in and out
        var xc = new float[x.Length];
        for (int i = 0; i < h; i++) for (int j = 0; j < w; j++) for (int k = 0; k < c; k++) xc[(k * h + i) * w + j] = x[(i * w + j) * c + k];
        var rc = K.Run1("Conv2D", ConvAttrs("SAME", 2, 1, fmt: "NCHW"), K.F(xc, 1, c, h, w), K.F(f, 3, 3, c, cout));
        var rn = K.Run1("Conv2D", ConvAttrs("SAME", 2, 1), K.F(x, 1, h, w, c), K.F(f, 3, 3, c, cout));
        int o1 = rn.Shape[1], o2 = rn.Shape[2];
        K.Shape([1, cout, o1, o2], rc);
        for (int i = 0; i < o1; i++) for (int j = 0; j < o2; j++) for (int k = 0; k < cout; k++)
            Assert.Equal(rn.As<float>()[(i * o2 + j) * cout + k], rc.As<float>()[(k * o1 + i) * o2 + j], 5);
    }

    [Fact]
    public void FusedConvBiasReluAndBatchNorm()
    {
        var x = K.Random(1 * 4 * 4 * 2, 1);
        var f = K.Random(3 * 3 * 2 * 3, 2);
        var bias = K.F([0.1f, -5f, 0.2f], 3);
        var attrs = ConvAttrs("SAME", 1, 1);
        attrs["fused_ops"] = Attr.Strings("BiasAdd", "Relu");
        attrs["num_args"] = Attr.Int(1);
        var r = K.Run1("_FusedConv2D", attrs, K.F(x, 1, 4, 4, 2), K.F(f, 3, 3, 2, 3), bias);
        var plain = NaiveConv(x, 1, 4, 4, 2, f, 3, 3, 3, 1, 1, 1, 1, 4, 4, 1, 1);
        K.Close(plain.Select((v, i) => Math.Max(0, v + bias.As<float>()[i % 3])).ToArray(), r.As<float>(), 1e-4f);

        float[] scale = [1, 2, 0.5f], offset = [0, 1, -1], mean = [0.1f, 0.2f, 0.3f], variance = [1, 4, 0.25f];
        attrs = ConvAttrs("SAME", 1, 1);
        attrs["fused_ops"] = Attr.Strings("FusedBatchNorm", "Relu6");
        attrs["num_args"] = Attr.Int(4);
        attrs["epsilon"] = Attr.Float(0.001f);
        var rb = K.Run1("_FusedConv2D", attrs, K.F(x, 1, 4, 4, 2), K.F(f, 3, 3, 2, 3), K.F(scale, 3), K.F(offset, 3), K.F(mean, 3), K.F(variance, 3));
        var exp = plain.Select((v, i) =>
        {
            int ch = i % 3;
            float y = (v - mean[ch]) * scale[ch] / MathF.Sqrt(variance[ch] + 0.001f) + offset[ch];
            return Math.Min(6, Math.Max(0, y));
        }).ToArray();
        K.Close(exp, rb.As<float>(), 1e-4f);
    }

    [Fact]
    public void DepthwiseMatchesNaive()
    {
        var rnd = new Random(9);
        for (int t = 0; t < 12; t++)
        {
            int h = 2 + rnd.Next(8), w = 2 + rnd.Next(8), c = 1 + rnd.Next(20), dm = 1 + (t % 3 == 0 ? 1 : 0);
            int k = 1 + rnd.Next(3), s = 1 + rnd.Next(2), d = t % 4 == 1 ? 2 : 1;
            var x = K.Random(h * w * c, t);
            var f = K.Random(k * k * c * dm, t + 50);
            var (oh, pt) = Same(h, k, s, d);
            var (ow, pl) = Same(w, k, s, d);
            var r = K.Run1("DepthwiseConv2dNative", ConvAttrs("SAME", s, s, d, d), K.F(x, 1, h, w, c), K.F(f, k, k, c, dm));
            K.Shape([1, oh, ow, c * dm], r);
            K.Close(NaiveConv(x, 1, h, w, c, f, k, k, 0, s, s, d, d, oh, ow, pt, pl, depthwise: true, dm: dm), r.As<float>(), 1e-4f);
        }
        // fused depthwise with bias + relu6
        var xx = K.Random(5 * 5 * 4, 3);
        var ff = K.Random(3 * 3 * 4, 4);
        var attrs = ConvAttrs("VALID", 1, 1);
        attrs["fused_ops"] = Attr.Strings("BiasAdd", "Relu6");
        attrs["num_args"] = Attr.Int(1);
        var bias = new float[] { 10, -10, 0, 0.5f };
        var rf = K.Run1("_FusedDepthwiseConv2dNative", attrs, K.F(xx, 1, 5, 5, 4), K.F(ff, 3, 3, 4, 1), K.F(bias, 4));
        var naive = NaiveConv(xx, 1, 5, 5, 4, ff, 3, 3, 0, 1, 1, 1, 1, 3, 3, 0, 0, depthwise: true);
        K.Close(naive.Select((v, i) => Math.Min(6, Math.Max(0, v + bias[i % 4]))).ToArray(), rf.As<float>(), 1e-4f);
    }

    [Fact]
    public void DepthwiseInteriorPathsMatchNaive()
    {
        // The unrolled 3×3 path (filter in registers, two pixels per step) and the four-pixel path of other
        // windows (5×5, 3×5), with masked partial channel groups, beside the clipped border columns and rows;
        // on AVX-512 the interior of each 16-channel group (28 and 42 channels) in 512-bit registers:
        // strides, dilations, SAME and VALID, batch 2, widths with and without a leftover pixel.
        var rnd = new Random(33);
        int t = 0;
        foreach (var (kh, kw) in new[] { (3, 3), (5, 5), (3, 5) })
            foreach (int c in new[] { 1, 5, 8, 12, 28, 42 })
                foreach (var (s, d, pad) in new[] { (1, 1, "SAME"), (2, 1, "SAME"), (1, 2, "SAME"), (1, 1, "VALID"), (2, 1, "VALID") })
                {
                    t++;
                    int n = 1 + t % 2, h = 6 + rnd.Next(8), w = 7 + rnd.Next(14);
                    var x = K.Random(n * h * w * c, 700 + t);
                    var f = K.Random(kh * kw * c, 800 + t);
                    int oh, ow, pt, pl;
                    if (pad == "SAME") { (oh, pt) = Same(h, kh, s, d); (ow, pl) = Same(w, kw, s, d); }
                    else
                    {
                        oh = (h - ((kh - 1) * d + 1)) / s + 1;
                        ow = (w - ((kw - 1) * d + 1)) / s + 1;
                        pt = pl = 0;
                        if (oh <= 0 || ow <= 0) continue;
                    }
                    var r = K.Run1("DepthwiseConv2dNative", ConvAttrs(pad, s, s, d, d), K.F(x, n, h, w, c), K.F(f, kh, kw, c, 1));
                    K.Shape([n, oh, ow, c], r);
                    K.Close(NaiveConv(x, n, h, w, c, f, kh, kw, 0, s, s, d, d, oh, ow, pt, pl, depthwise: true, dm: 1), r.As<float>(), 1e-4f);
                }
    }

    [Fact]
    public void DepthwiseWideBorderColumnsGiveTheBitsOfTheEightLaneOnes()
    {
        // The border columns of a 16-channel block in one 512-bit register add the same taps in the same order as two
        // 8-lane groups: 7×7 and 14×14 maps under 5×5 windows (most columns are border ones), 3×3, stride 2, dilation 2,
        // and a map 3 wide under a 5×5 window (no column has its whole window inside: all are border columns).
        foreach (var (h, w, c, k, s, d) in new[] { (7, 7, 32, 5, 1, 1), (14, 17, 48, 5, 1, 1), (9, 12, 40, 3, 1, 1), (11, 14, 16, 3, 2, 1), (12, 15, 32, 3, 1, 2), (8, 11, 16, 5, 2, 1), (4, 3, 16, 5, 1, 1) })
        {
            var x = K.Random(h * w * c, h + c);
            x[(h / 2 * w + 1) * c + 17 % c] = float.NaN; // a NaN in a border window
            var f = K.Random(k * k * c, k + c);
            float[] Run(bool wide)
            {
                ConvolutionOps.DepthwiseWideBorders = wide;
                try { return K.Run1("DepthwiseConv2dNative", ConvAttrs("SAME", s, s, d, d), K.F(x, 1, h, w, c), K.F(f, k, k, c, 1)).As<float>(); }
                finally { ConvolutionOps.DepthwiseWideBorders = true; }
            }
            var wideBits = Run(true).Select(BitConverter.SingleToInt32Bits).ToArray();
            Assert.Equal(Run(false).Select(BitConverter.SingleToInt32Bits), wideBits);
        }
    }

    [Fact]
    public void DepthwiseVectorAndBorderPathsMatchNaive()
    {
        // channel counts around the 8-lane vector width, depth multipliers > 1, even kernels with SAME
        // (asymmetric padding), strides, dilations, batch 2, and EXPLICIT padding.
        int[] channels = [1, 3, 8, 13, 24, 35];
        var rnd = new Random(21);
        int t = 0;
        foreach (int c in channels)
            foreach (int dm in new[] { 1, 2, 3 })
            {
                t++;
                int n = 1 + t % 2, h = 3 + rnd.Next(9), w = 3 + rnd.Next(9);
                int kh = 1 + rnd.Next(4), kw = 1 + rnd.Next(4), sh = 1 + rnd.Next(2), sw = 1 + rnd.Next(3), dh = 1 + (t % 3 == 0 ? 1 : 0), dw = 1 + (t % 4 == 0 ? 1 : 0);
                var x = K.Random(n * h * w * c, 300 + t);
                var f = K.Random(kh * kw * c * dm, 400 + t);
                string pad = t % 3 == 2 ? "EXPLICIT" : (kh - 1) * dh + 1 > h || (kw - 1) * dw + 1 > w || t % 2 == 0 ? "SAME" : "VALID";
                var attrs = ConvAttrs(pad, sh, sw, dh, dw);
                int oh, ow, pt, pl;
                if (pad == "SAME") { (oh, pt) = Same(h, kh, sh, dh); (ow, pl) = Same(w, kw, sw, dw); }
                else if (pad == "VALID") { oh = (h - ((kh - 1) * dh + 1)) / sh + 1; ow = (w - ((kw - 1) * dw + 1)) / sw + 1; pt = pl = 0; }
                else
                {
                    int top = rnd.Next(3), bottom = rnd.Next(3), left = rnd.Next(3), right = rnd.Next(3);
                    attrs["explicit_paddings"] = Attr.Ints(0, 0, top, bottom, left, right, 0, 0);
                    int spanH = h + top + bottom - ((kh - 1) * dh + 1), spanW = w + left + right - ((kw - 1) * dw + 1);
                    if (spanH < 0 || spanW < 0) continue;
                    oh = spanH / sh + 1;
                    ow = spanW / sw + 1;
                    pt = top; pl = left;
                }
                var r = K.Run1("DepthwiseConv2dNative", attrs, K.F(x, n, h, w, c), K.F(f, kh, kw, c, dm));
                K.Shape([n, oh, ow, c * dm], r);
                K.Close(NaiveConv(x, n, h, w, c, f, kh, kw, 0, sh, sw, dh, dw, oh, ow, pt, pl, depthwise: true, dm: dm), r.As<float>(), 1e-4f);
            }
    }

    [Fact]
    public void FusedDepthwiseWithResidualAndLeakyReluOddChannels()
    {
        int h = 6, w = 7, c = 11;
        var x = K.Random(h * w * c, 31);
        var f = K.Random(3 * 3 * c, 32);
        var bias = K.Random(c, 33);
        var (oh, pt) = Same(h, 3, 1, 1);
        var (ow, pl) = Same(w, 3, 1, 1);
        var residual = K.Random(oh * ow * c, 34);
        var attrs = ConvAttrs("SAME", 1, 1);
        attrs["fused_ops"] = Attr.Strings("BiasAdd", "Add", "LeakyRelu");
        attrs["num_args"] = Attr.Int(2);
        attrs["leakyrelu_alpha"] = Attr.Float(0.1f);
        var r = K.Run1("_FusedDepthwiseConv2dNative", attrs, K.F(x, 1, h, w, c), K.F(f, 3, 3, c, 1), K.F(bias, c), K.F(residual, 1, oh, ow, c));
        var naive = NaiveConv(x, 1, h, w, c, f, 3, 3, 0, 1, 1, 1, 1, oh, ow, pt, pl, depthwise: true);
        var exp = naive.Select((v, i) =>
        {
            float y = v + bias[i % c] + residual[i];
            return y < 0 ? y * 0.1f : y;
        }).ToArray();
        K.Close(exp, r.As<float>(), 1e-4f);
    }

    [Fact]
    public void PackedFilterIsReusedOnlyWhileTheFilterIsTheSameConstant()
    {
        // kdim = 3·3·32 = 288 spans two GEMM K blocks; cout = 40 leaves a partial column panel.
        int h = 9, w = 8, c = 32, cout = 40;
        var x1 = K.Random(h * w * c, 1);
        var x2 = K.Random(h * w * c, 2);
        var f1 = K.Random(3 * 3 * c * cout, 3);
        var f2 = K.Random(3 * 3 * c * cout, 4);
        var (oh, pt) = Same(h, 3, 1, 1);
        var (ow, pl) = Same(w, 3, 1, 1);
        foreach (bool constant in new[] { true, false })
        {
            var ctx = K.Context("Conv2D", ConvAttrs("SAME", 1, 1), [false, constant], null, K.F(x1, 1, h, w, c), K.F(f1, 3, 3, c, cout));
            K.Close(NaiveConv(x1, 1, h, w, c, f1, 3, 3, cout, 1, 1, 1, 1, oh, ow, pt, pl), K.Rerun(ctx).As<float>(), 1e-4f);
            Assert.Equal(constant, ctx.State is not null);
            ctx.Inputs[0] = K.F(x2, 1, h, w, c); // new input, same filter
            K.Close(NaiveConv(x2, 1, h, w, c, f1, 3, 3, cout, 1, 1, 1, 1, oh, ow, pt, pl), K.Rerun(ctx).As<float>(), 1e-4f);
            ctx.Inputs[1] = K.F(f2, 3, 3, c, cout); // another filter tensor: packed again
            K.Close(NaiveConv(x2, 1, h, w, c, f2, 3, 3, cout, 1, 1, 1, 1, oh, ow, pt, pl), K.Rerun(ctx).As<float>(), 1e-4f);
        }
    }

    [Fact]
    public void PackedOneByOneConvSplitsColumnsOverThreads()
    {
        // few pixels and many output channels: the GEMM splits the (packed) columns between two threads.
        int h = 3, w = 4, c = 200, cout = 200;
        var x = K.Random(h * w * c, 5);
        var f = K.Random(c * cout, 6);
        var ctx = K.Context("_FusedConv2D", new Dictionary<string, AttrValue>(ConvAttrs("VALID", 1, 1))
        {
            ["fused_ops"] = Attr.Strings("BiasAdd", "Relu6"), ["num_args"] = Attr.Int(1),
        }, [false, true, true], new EngineOptions { IntraOpThreads = 2 }, K.F(x, 1, h, w, c), K.F(f, 1, 1, c, cout), K.F(K.Random(cout, 7), cout));
        var bias = ctx.Inputs[2].As<float>();
        var naive = NaiveConv(x, 1, h, w, c, f, 1, 1, cout, 1, 1, 1, 1, h, w, 0, 0);
        var exp = naive.Select((v, i) => Math.Min(6, Math.Max(0, v + bias[i % cout]))).ToArray();
        K.Close(exp, K.Rerun(ctx).As<float>(), 1e-4f);
        K.Close(exp, K.Rerun(ctx).As<float>(), 1e-4f);
    }

    [Fact]
    public void BackpropInputIsTheAdjointOfConv()
    {
        // <conv(x, f), dy> == <x, conv_backprop_input(f, dy)> for random x, dy: checks every index mapping.
        var rnd = new Random(5);
        for (int t = 0; t < 8; t++)
        {
            int h = 3 + rnd.Next(6), w = 3 + rnd.Next(6), c = 1 + rnd.Next(4), cout = 1 + rnd.Next(5), k = 1 + rnd.Next(3), s = 1 + rnd.Next(2);
            string pad = t % 2 == 0 ? "SAME" : "VALID";
            var x = K.Random(h * w * c, t);
            var f = K.Random(k * k * c * cout, t + 10);
            var y = K.Run1("Conv2D", ConvAttrs(pad, s, s), K.F(x, 1, h, w, c), K.F(f, k, k, c, cout));
            var dy = K.Random(y.Length, t + 20);
            var dx = K.Run1("Conv2DBackpropInput", ConvAttrs(pad, s, s), Tensor.Create(new[] { 1, h, w, c }, 4), K.F(f, k, k, c, cout), K.F(dy, y.Shape));
            K.Shape([1, h, w, c], dx);
            double lhs = y.As<float>().Zip(dy, (a, b) => (double)a * b).Sum();
            double rhs = x.Zip(dx.As<float>(), (a, b) => (double)a * b).Sum();
            Assert.True(Math.Abs(lhs - rhs) < 1e-3 * Math.Max(1, Math.Abs(lhs)), $"{lhs} vs {rhs}");
        }
        // hand case: 1x1 input expanded by a 2x2 transposed conv, stride 2, VALID
        var r = K.Run1("Conv2DBackpropInput", ConvAttrs("VALID", 2, 2), Tensor.Create(new[] { 1, 2, 2, 1 }, 4), K.F([1, 2, 3, 4], 2, 2, 1, 1), K.F([10], 1, 1, 1, 1));
        Assert.Equal(new float[] { 10, 20, 30, 40 }, r.As<float>());
    }

    [Fact]
    public void BadShapesFail()
    {
        Assert.Throws<ModelOpsException>(() => K.Run1("Conv2D", ConvAttrs("SAME", 1, 1), K.F(new float[9], 1, 3, 3, 1), K.F(new float[8], 2, 2, 2, 1)));
        Assert.Throws<ModelOpsException>(() => K.Run1("Conv2D", ConvAttrs("VALID", 1, 1), K.F(new float[4], 1, 2, 2, 1), K.F(new float[9], 3, 3, 1, 1)));
    }
}
