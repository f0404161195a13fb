using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Formats.TfLite;
using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Runtime.TfLite;
using ModelOps.Core.Runtime.TfLite.Kernels;
using Xunit;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Tests.TfLite;

/// <summary>
/// The 8-bit CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED kernels (packed int16 filters, vector dot products)
/// against a naive integer reference written here: every tap of (x − input zero point)·(f − filter zero point) summed
/// in 64 bits, truncated to int32, + bias, TFLite's MultiplyByQuantizedMultiplier, + output zero point, clamped. Odd
/// shapes on purpose: channel counts that are not multiples of the vector widths (8, 16), padding, stride 2,
/// dilation, depth multiplier &gt; 1, batches, per-channel and per-tensor scales, nonzero uint8 zero points.
/// Each model runs twice with different inputs so the per-session packed state is exercised when reused.
/// </summary>
public sealed class IntegerKernelTests
{
    private sealed record Q(float[] Scales, long[] ZeroPoints, int Axis = 0);

    private sealed record Case(string Name, BuiltinOperator Op, TensorType Type, int[] InShape, int[] FilterShape,
        int StrideH = 1, int StrideW = 1, int DilH = 1, int DilW = 1, Padding Pad = Padding.SAME, int DepthMultiplier = 1,
        ActivationFunctionType Act = ActivationFunctionType.NONE, int InZp = 0, int FilterZp = 0, int OutZp = 0,
        bool PerChannel = true, int Seed = 1);

    public static TheoryData<string> Cases() => new(AllCases.Select(c => c.Name));

    private static readonly Case[] AllCases =
    {
        // CONV_2D: filter OHWI.
        new("conv int8 3x3 same s1 ic5 oc7 relu6", BuiltinOperator.CONV_2D, TensorType.INT8, new[] { 1, 6, 7, 5 }, new[] { 7, 3, 3, 5 }, Act: ActivationFunctionType.RELU6, InZp: -3, OutZp: 4),
        new("conv int8 3x3 valid s2 dil2 ic19 oc6", BuiltinOperator.CONV_2D, TensorType.INT8, new[] { 1, 11, 10, 19 }, new[] { 6, 3, 3, 19 }, 2, 2, 2, 2, Padding.VALID, InZp: 17, OutZp: -9),
        new("conv int8 3x3 same s2 ic40 oc13 batch2", BuiltinOperator.CONV_2D, TensorType.INT8, new[] { 2, 9, 8, 40 }, new[] { 13, 3, 3, 40 }, 2, 2, InZp: -128, OutZp: -128, Act: ActivationFunctionType.RELU),
        new("conv int8 1x1 s1 ic8 oc4", BuiltinOperator.CONV_2D, TensorType.INT8, new[] { 1, 5, 5, 8 }, new[] { 4, 1, 1, 8 }, InZp: 5),
        new("conv int8 1x1 s2 ic33 oc10 per-tensor", BuiltinOperator.CONV_2D, TensorType.INT8, new[] { 1, 7, 6, 33 }, new[] { 10, 1, 1, 33 }, 2, 2, InZp: -7, PerChannel: false),
        new("conv uint8 1x1 s2 ic37 oc9", BuiltinOperator.CONV_2D, TensorType.UINT8, new[] { 1, 7, 7, 37 }, new[] { 9, 1, 1, 37 }, 2, 2, InZp: 131, FilterZp: 119, OutZp: 128, PerChannel: false),
        new("conv uint8 5x3 same s(2,1) ic3 oc17 relu6", BuiltinOperator.CONV_2D, TensorType.UINT8, new[] { 1, 9, 8, 3 }, new[] { 17, 5, 3, 3 }, 2, 1, Act: ActivationFunctionType.RELU6, InZp: 90, FilterZp: 140, OutZp: 10, PerChannel: false),
        new("conv uint8 3x3 same s1 ic24 oc5 zero zps", BuiltinOperator.CONV_2D, TensorType.UINT8, new[] { 1, 4, 5, 24 }, new[] { 5, 3, 3, 24 }, PerChannel: false),
        // DEPTHWISE_CONV_2D: filter [1, KH, KW, IC·M].
        new("dw int8 3x3 same s2 ic13", BuiltinOperator.DEPTHWISE_CONV_2D, TensorType.INT8, new[] { 1, 9, 10, 13 }, new[] { 1, 3, 3, 13 }, 2, 2, InZp: -20, OutZp: 3, Act: ActivationFunctionType.RELU6),
        new("dw int8 3x3 same s1 ic16 batch2", BuiltinOperator.DEPTHWISE_CONV_2D, TensorType.INT8, new[] { 2, 6, 5, 16 }, new[] { 1, 3, 3, 16 }, InZp: 9, OutZp: -1),
        new("dw int8 5x5 same m2 ic9", BuiltinOperator.DEPTHWISE_CONV_2D, TensorType.INT8, new[] { 1, 7, 6, 9 }, new[] { 1, 5, 5, 18 }, DepthMultiplier: 2, InZp: 1),
        new("dw uint8 3x3 valid dil2 m3 ic5", BuiltinOperator.DEPTHWISE_CONV_2D, TensorType.UINT8, new[] { 1, 9, 9, 5 }, new[] { 1, 3, 3, 15 }, DilH: 2, DilW: 2, Pad: Padding.VALID, DepthMultiplier: 3, InZp: 127, FilterZp: 101, OutZp: 131, PerChannel: false),
        new("dw uint8 3x3 same s2 ic3", BuiltinOperator.DEPTHWISE_CONV_2D, TensorType.UINT8, new[] { 1, 8, 7, 3 }, new[] { 1, 3, 3, 3 }, 2, 2, InZp: 0, FilterZp: 255, OutZp: 0, PerChannel: false, Act: ActivationFunctionType.RELU),
        // FULLY_CONNECTED: filter [units, depth], per-tensor.
        new("fc int8 depth45 units11 batch3", BuiltinOperator.FULLY_CONNECTED, TensorType.INT8, new[] { 3, 45 }, new[] { 11, 45 }, InZp: -5, OutZp: 2, PerChannel: false),
        new("fc int8 depth7 units2", BuiltinOperator.FULLY_CONNECTED, TensorType.INT8, new[] { 1, 7 }, new[] { 2, 7 }, InZp: 100, PerChannel: false),
        new("fc uint8 depth20 units9 relu", BuiltinOperator.FULLY_CONNECTED, TensorType.UINT8, new[] { 2, 20 }, new[] { 9, 20 }, InZp: 128, FilterZp: 77, OutZp: 100, PerChannel: false, Act: ActivationFunctionType.RELU),
        new("fc uint8 depth300 units16", BuiltinOperator.FULLY_CONNECTED, TensorType.UINT8, new[] { 1, 300 }, new[] { 16, 300 }, InZp: 3, FilterZp: 250, OutZp: 128, PerChannel: false),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Kernel_EqualsNaiveIntegerReference(string name)
    {
        var c = AllCases.Single(x => x.Name == name);
        var rng = new Random(c.Seed * 7919 + name.Length);
        bool u8 = c.Type == TensorType.UINT8;
        int lo = u8 ? 0 : -128, hi = u8 ? 255 : 127;
        int filterLen = c.FilterShape.Aggregate(1, (a, d) => a * d);
        int[] filter = Enumerable.Range(0, filterLen).Select(_ => rng.Next(lo, hi + 1)).ToArray();
        int channels = c.Op == BuiltinOperator.DEPTHWISE_CONV_2D ? c.FilterShape[3] : c.FilterShape[0];
        float inScale = 0.05f;
        float[] fScales = c.PerChannel
            ? Enumerable.Range(0, channels).Select(_ => 0.002f + 0.02f * (float)rng.NextDouble()).ToArray()
            : new[] { 0.0123f };
        int inLen = c.InShape.Aggregate(1, (a, d) => a * d);
        var inputs = Enumerable.Range(0, 2).Select(_ => Enumerable.Range(0, inLen).Select(_ => rng.Next(lo, hi + 1)).ToArray()).ToArray();
        // Bias and output scale from both inputs' accumulators, so that the outputs spread over the range instead of
        // saturating: the bias cancels each channel's mean (± noise), the scale maps ~3 rms to ~100 steps.
        long[] acc0 = Accumulators(c, inputs[0], filter, out _).Concat(Accumulators(c, inputs[1], filter, out _)).ToArray();
        var sums = new double[channels];
        var counts = new int[channels];
        for (int i = 0; i < acc0.Length; i++) { sums[i % channels] += acc0[i]; counts[i % channels]++; }
        int[] bias = Enumerable.Range(0, channels).Select(ch => (int)-Math.Round(sums[ch] / counts[ch]) + rng.Next(-300, 300)).ToArray();
        double meanSquare = acc0.Select((a, i) => Math.Pow((a + bias[i % channels]) * fScales[fScales.Length == 1 ? 0 : i % channels], 2)).Average();
        float outScale = (float)(inScale * Math.Max(Math.Sqrt(meanSquare), 1e-3) * 3 / 100);
        var model = BuildModel(c, filter, bias, inScale, fScales, outScale);
        using var session = new TfLiteSession(model);

        for (int run = 0; run < 2; run++)
        {
            int[] x = inputs[run];
            var input = u8 ? Tensor.Create(x.Select(v => (byte)v).ToArray(), c.InShape) : Tensor.Create(x.Select(v => (sbyte)v).ToArray(), c.InShape);
            var got = session.Run(new Dictionary<string, Tensor> { ["x"] = input })["y"];
            var expected = Reference(c, x, filter, bias, inScale, fScales, outScale, out int[] outShape);
            Assert.Equal(outShape, got.Shape);
            int[] actual = Enumerable.Range(0, got.Length).Select(i => (int)got.GetInt64(i)).ToArray();
            Assert.Equal(expected, actual);
            // The case must say something: outputs not all one value.
            Assert.True(expected.Distinct().Count() > Math.Min(expected.Length, 8) / 2, $"{name}: outputs barely vary");
        }
    }

    private static TfLiteModel BuildModel(Case c, int[] filter, int[] bias, float inScale, float[] fScales, float outScale)
    {
        var g = new TflGraph();
        var x = g.AddTensor("x", c.Type, c.InShape);
        x.Quantization = Quant(new[] { inScale }, new long[] { c.InZp });
        var f = g.AddTensor("w", c.Type, c.FilterShape);
        f.Data = c.Type == TensorType.UINT8 ? filter.Select(v => (byte)v).ToArray() : filter.Select(v => unchecked((byte)(sbyte)v)).ToArray();
        int axis = c.Op == BuiltinOperator.DEPTHWISE_CONV_2D ? 3 : 0;
        f.Quantization = Quant(fScales, Enumerable.Repeat((long)c.FilterZp, fScales.Length).ToArray(), axis);
        var b = g.AddTensor("b", TensorType.INT32, new[] { bias.Length });
        b.Data = bias.SelectMany(BitConverter.GetBytes).ToArray();
        b.Quantization = Quant(fScales.Select(s => s * inScale).ToArray(), new long[fScales.Length], 0);
        int[] outShape = OutShape(c);
        var y = g.AddTensor("y", c.Type, outShape);
        y.Quantization = Quant(new[] { outScale }, new long[] { c.OutZp });
        BuiltinOptionsUnion options = c.Op switch
        {
            BuiltinOperator.CONV_2D => BuiltinOptionsUnion.FromConv2DOptions(new Conv2DOptionsT
            {
                Padding = c.Pad, StrideH = c.StrideH, StrideW = c.StrideW, DilationHFactor = c.DilH, DilationWFactor = c.DilW, FusedActivationFunction = c.Act,
            }),
            BuiltinOperator.DEPTHWISE_CONV_2D => BuiltinOptionsUnion.FromDepthwiseConv2DOptions(new DepthwiseConv2DOptionsT
            {
                Padding = c.Pad, StrideH = c.StrideH, StrideW = c.StrideW, DilationHFactor = c.DilH, DilationWFactor = c.DilW,
                DepthMultiplier = c.DepthMultiplier, FusedActivationFunction = c.Act,
            }),
            _ => BuiltinOptionsUnion.FromFullyConnectedOptions(new FullyConnectedOptionsT { FusedActivationFunction = c.Act }),
        };
        g.Operators.Add(new TflOperator(c.Op, new[] { x.Index, f.Index, b.Index }, new[] { y.Index }, options, "op"));
        g.Inputs.Add(x.Index); g.InputKeys.Add("x");
        g.Outputs.Add(y.Index); g.OutputKeys.Add("y");
        return TfLiteModelReader.Read("kernel-test.tflite", TfLiteWriter.Write(g, "2.2.0", out _));
    }

    private static QuantizationParametersT Quant(float[] scales, long[] zps, int axis = 0) =>
        new() { Scale = scales.ToList(), ZeroPoint = zps.ToList(), QuantizedDimension = axis };

    private static (int Out, int Pad) Window(Padding p, int input, int k, int stride, int dil)
    {
        int eff = (k - 1) * dil + 1;
        int o = p == Padding.SAME ? (input + stride - 1) / stride : (input - eff) / stride + 1;
        return (o, p == Padding.SAME ? Math.Max((o - 1) * stride + eff - input, 0) / 2 : 0);
    }

    private static int[] OutShape(Case c)
    {
        if (c.Op == BuiltinOperator.FULLY_CONNECTED) return new[] { c.InShape[0], c.FilterShape[0] };
        int kh = c.FilterShape[1], kw = c.FilterShape[2];
        int oc = c.Op == BuiltinOperator.CONV_2D ? c.FilterShape[0] : c.FilterShape[3];
        return new[] { c.InShape[0], Window(c.Pad, c.InShape[1], kh, c.StrideH, c.DilH).Out, Window(c.Pad, c.InShape[2], kw, c.StrideW, c.DilW).Out, oc };
    }

    /// <summary>The naive integer reference (TFLite's reference kernels' arithmetic, one tap at a time).</summary>
    private static int[] Reference(Case c, int[] x, int[] f, int[] bias, float inScale, float[] fScales, float outScale, out int[] outShape)
    {
        long[] acc = Accumulators(c, x, f, out outShape);
        int channels = outShape[^1];
        var mul = new int[channels];
        var shift = new int[channels];
        for (int ch = 0; ch < channels; ch++)
            (mul[ch], shift[ch]) = QuantMath.QuantizeMultiplier((double)inScale * fScales[fScales.Length == 1 ? 0 : ch] / outScale);
        int qmin = c.Type == TensorType.UINT8 ? 0 : -128, qmax = c.Type == TensorType.UINT8 ? 255 : 127;
        var (amin, amax) = QuantMath.ActivationRange(c.Act, outScale, c.OutZp, qmin, qmax);
        var y = new int[acc.Length];
        for (int i = 0; i < y.Length; i++)
        {
            int ch = i % channels;
            y[i] = Math.Clamp(QuantMath.MultiplyByQuantizedMultiplier(unchecked((int)acc[i] + bias[ch]), mul[ch], shift[ch]) + c.OutZp, amin, amax);
        }
        return y;
    }

    /// <summary>Σ (x − input zero point)·(f − filter zero point) over the taps inside the input, per output element, in 64 bits.</summary>
    private static long[] Accumulators(Case c, int[] x, int[] f, out int[] outShape)
    {
        outShape = OutShape(c);
        int channels = outShape[^1];
        var y = new long[outShape.Aggregate(1, (a, d) => a * d)];
        if (c.Op == BuiltinOperator.FULLY_CONNECTED)
        {
            int depth = c.FilterShape[1];
            for (int b = 0; b < outShape[0]; b++)
                for (int u = 0; u < channels; u++)
                {
                    long acc = 0;
                    for (int k = 0; k < depth; k++) acc += (long)(x[b * depth + k] - c.InZp) * (f[u * depth + k] - c.FilterZp);
                    y[b * channels + u] = acc;
                }
            return y;
        }
        int n = c.InShape[0], ih = c.InShape[1], iw = c.InShape[2], ic = c.InShape[3];
        int kh = c.FilterShape[1], kw = c.FilterShape[2];
        int padH = Window(c.Pad, ih, kh, c.StrideH, c.DilH).Pad, padW = Window(c.Pad, iw, kw, c.StrideW, c.DilW).Pad;
        int oh = outShape[1], ow = outShape[2];
        for (int b = 0; b < n; b++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int ch = 0; ch < channels; ch++)
                    {
                        long acc = 0;
                        for (int ky = 0; ky < kh; ky++)
                            for (int kx = 0; kx < kw; kx++)
                            {
                                int iy = oy * c.StrideH - padH + ky * c.DilH, ix = ox * c.StrideW - padW + kx * c.DilW;
                                if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) continue;
                                if (c.Op == BuiltinOperator.CONV_2D)
                                    for (int k = 0; k < ic; k++)
                                        acc += (long)(x[((b * ih + iy) * iw + ix) * ic + k] - c.InZp) * (f[((ch * kh + ky) * kw + kx) * ic + k] - c.FilterZp);
                                else
                                    acc += (long)(x[((b * ih + iy) * iw + ix) * ic + ch / c.DepthMultiplier] - c.InZp) * (f[(ky * kw + kx) * channels + ch] - c.FilterZp);
                            }
                        y[((b * oh + oy) * ow + ox) * channels + ch] = acc;
                    }
        return y;
    }
}
