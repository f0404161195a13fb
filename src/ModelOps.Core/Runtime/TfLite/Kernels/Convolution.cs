using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Protos;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.TfLite.Kernels;

/// <summary>CONV_2D, DEPTHWISE_CONV_2D, TRANSPOSE_CONV and FULLY_CONNECTED: float, hybrid and integer (per-tensor and per-channel, int16×8).</summary>
internal static class Convolution
{
    public static void Register(Dictionary<BuiltinOperator, TfLiteKernel> r)
    {
        r[BuiltinOperator.CONV_2D] = Conv2D;
        r[BuiltinOperator.DEPTHWISE_CONV_2D] = DepthwiseConv2D;
        r[BuiltinOperator.FULLY_CONNECTED] = FullyConnected;
        r[BuiltinOperator.TRANSPOSE_CONV] = TransposeConv;
    }

    /// <summary>Output size and leading padding for SAME / VALID (TFLite's ComputePaddingHeightWidth).</summary>
    internal static (int Out, int Pad) OutAndPad(Padding p, int input, int filter, int stride, int dilation)
    {
        int eff = (filter - 1) * dilation + 1;
        int o = p == Padding.SAME ? (input + stride - 1) / stride : (input - eff + stride) / stride;
        int pad = Math.Max(((o - 1) * stride + eff - input) / 2, 0);
        return (Math.Max(o, 0), pad);
    }

    /// <summary>
    /// Per-output-channel requantization multipliers: input_scale × filter_scale[c] / output_scale, in double.
    /// Where TFLite takes the per-tensor path (GetQuantizedConvolutionMultipler: uint8 convolutions and every
    /// quantized FULLY_CONNECTED), <see cref="TfLiteSessionOptions.FloatScaleProduct"/> forms input × filter scale
    /// in float first, as TFLite 2.2 did; current TFLite multiplies the two in double.
    /// </summary>
    private static (int[] M, int[] S) ChannelMultipliers(OpContext ctx, int filterIndex, int channels, bool perTensorPath)
    {
        var fq = ctx.InputInfo(filterIndex).Quantization ?? throw ctx.Unsupported("the quantized filter has no scale");
        bool floatProduct = perTensorPath && ctx.Session.Options.FloatScaleProduct && fq.Scale.Length == 1;
        double inScale = ctx.InQ(0).Scale, outScale = ctx.OutQ().Scale;
        var m = new int[channels];
        var s = new int[channels];
        for (int c = 0; c < channels; c++)
        {
            double fs = fq.Scale[fq.Scale.Length == 1 ? 0 : c];
            double product = floatProduct ? (float)inScale * (float)fs : inScale * fs;
            (m[c], s[c]) = QuantMath.QuantizeMultiplier(product / outScale);
        }
        return (m, s);
    }

    /// <summary>Filter as float: float32/float16 as is, int8/uint8 (hybrid models) dequantized with its own scales.</summary>
    private static float[] FloatWeights(OpContext ctx, int index)
    {
        var t = ctx.Input(index);
        if (t.DType is DataType.DtFloat or DataType.DtHalf) return Ints.Floats(t);
        var info = ctx.InputInfo(index);
        if (info.Quantization is { HasScale: true }) return Ints.Floats(TfLiteQuantizer.Dequantize(t, info));
        throw ctx.UnsupportedType(t);
    }

    /// <summary>
    /// The integer output stage the quantized kernels share: accumulator + bias, × the channel's multiplier (32-bit
    /// with TFLite's double rounding; 64-bit for int16 activations), + output zero point, clamped to the fused
    /// activation's range in the output type.
    /// </summary>
    private sealed class OutputStage
    {
        private readonly int[] _mul, _shift;
        private readonly long[] _bias;
        private readonly int _zeroPoint, _min, _max;
        private readonly bool _wide;

        public OutputStage(OpContext ctx, ActivationFunctionType act, Tensor? bias, int channels, (int[] M, int[] S) multipliers, bool wide)
        {
            Type = ctx.OutputType();
            var qo = ctx.OutQ();
            var (tmin, tmax) = Ints.Range(Type);
            (_min, _max) = QuantMath.ActivationRange(act, qo.Scale, qo.ZeroPoint, tmin, tmax);
            _zeroPoint = qo.ZeroPoint;
            (_mul, _shift) = multipliers;
            _bias = new long[channels];
            if (bias is not null) for (int i = 0; i < channels; i++) _bias[i] = bias.GetInt64(i);
            _wide = wide;
        }

        public DataType Type { get; }

        public int Apply(long acc, int c)
        {
            int v = _wide
                ? QuantMath.MultiplyByQuantizedMultiplier(acc + _bias[c], _mul[c], _shift[c])
                : QuantMath.MultiplyByQuantizedMultiplier(unchecked((int)acc + (int)_bias[c]), _mul[c], _shift[c]);
            return Math.Clamp(v + _zeroPoint, _min, _max);
        }
    }

    private static void Conv2D(OpContext ctx)
    {
        var o = ctx.Options<Conv2DOptions>();
        var padding = o?.Padding ?? Padding.SAME;
        int sw = o?.StrideW ?? 1, sh = o?.StrideH ?? 1, dw = Math.Max(1, o?.DilationWFactor ?? 1), dh = Math.Max(1, o?.DilationHFactor ?? 1);
        var act = o?.FusedActivationFunction ?? ActivationFunctionType.NONE;
        var input = ctx.Input(0);
        var filter = ctx.Input(1);
        var bias = ctx.OptionalInput(2);
        if (input.Rank != 4 || filter.Rank != 4) throw ctx.Unsupported("input and filter must be 4-D (NHWC, OHWI)");
        int n = input.Shape[0], ih = input.Shape[1], iw = input.Shape[2], ic = input.Shape[3];
        int oc = filter.Shape[0], kh = filter.Shape[1], kw = filter.Shape[2], fic = filter.Shape[3];
        if (fic == 0 || ic % fic != 0) throw ctx.Unsupported($"input depth {ic} is not a multiple of the filter depth {fic}");
        int groups = ic / fic, ocPerGroup = oc / groups;
        var (oh, padH) = OutAndPad(padding, ih, kh, sh, dh);
        var (ow, padW) = OutAndPad(padding, iw, kw, sw, dw);
        int[] shape = { n, oh, ow, oc };
        int total = n * oh * ow * oc;

        if (input.DType is DataType.DtFloat)
        {
            float[] x = Ints.Floats(input), f = FloatWeights(ctx, 1), b = bias is null ? new float[oc] : Ints.Floats(bias);
            var y = new float[total];
            for (int bI = 0; bI < n; bI++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                        for (int c = 0; c < oc; c++)
                        {
                            int g = c / ocPerGroup;
                            float acc = 0;
                            for (int ky = 0; ky < kh; ky++)
                            {
                                int iy = oy * sh - padH + ky * dh;
                                if ((uint)iy >= (uint)ih) continue;
                                for (int kx = 0; kx < kw; kx++)
                                {
                                    int ix = ox * sw - padW + kx * dw;
                                    if ((uint)ix >= (uint)iw) continue;
                                    int xo = ((bI * ih + iy) * iw + ix) * ic + g * fic, fo = ((c * kh + ky) * kw + kx) * fic;
                                    for (int k = 0; k < fic; k++) acc += x[xo + k] * f[fo + k];
                                }
                            }
                            y[((bI * oh + oy) * ow + ox) * oc + c] = QuantMath.ApplyActivation(acc + b[c], act);
                        }
            ctx.SetOutput(0, new Tensor(DataType.DtFloat, shape, y));
            return;
        }
        if (!Ints.IsQuantizedInt(input.DType)) throw ctx.UnsupportedType(input);

        QParams qi = ctx.InQ(0), qf = ctx.InQ(1);
        bool wide = input.DType == DataType.DtInt16;
        var stage = new OutputStage(ctx, act, bias, oc, ChannelMultipliers(ctx, 1, oc, perTensorPath: input.DType == DataType.DtUint8), wide);
        int[] xi = Ints.Of(input), fi = Ints.Of(filter);
        int inOff = -qi.ZeroPoint, fOff = filter.DType == DataType.DtUint8 ? -qf.ZeroPoint : 0;
        for (int i = 0; i < xi.Length; i++) xi[i] += inOff;
        if (fOff != 0) for (int i = 0; i < fi.Length; i++) fi[i] += fOff;
        var res = new int[total];
        for (int bI = 0; bI < n; bI++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int c = 0; c < oc; c++)
                    {
                        int g = c / ocPerGroup;
                        long acc = 0;
                        for (int ky = 0; ky < kh; ky++)
                        {
                            int iy = oy * sh - padH + ky * dh;
                            if ((uint)iy >= (uint)ih) continue;
                            for (int kx = 0; kx < kw; kx++)
                            {
                                int ix = ox * sw - padW + kx * dw;
                                if ((uint)ix >= (uint)iw) continue;
                                int xo = ((bI * ih + iy) * iw + ix) * ic + g * fic, fo = ((c * kh + ky) * kw + kx) * fic;
                                int part = 0;
                                if (wide) for (int k = 0; k < fic; k++) acc += (long)xi[xo + k] * fi[fo + k];
                                else { for (int k = 0; k < fic; k++) part += xi[xo + k] * fi[fo + k]; acc += part; }
                            }
                        }
                        res[((bI * oh + oy) * ow + ox) * oc + c] = stage.Apply(acc, c);
                    }
        ctx.SetOutput(0, Ints.ToTensor(res, stage.Type, shape));
    }

    private static void DepthwiseConv2D(OpContext ctx)
    {
        var o = ctx.Options<DepthwiseConv2DOptions>();
        var padding = o?.Padding ?? Padding.SAME;
        int sw = o?.StrideW ?? 1, sh = o?.StrideH ?? 1, dw = Math.Max(1, o?.DilationWFactor ?? 1), dh = Math.Max(1, o?.DilationHFactor ?? 1);
        var act = o?.FusedActivationFunction ?? ActivationFunctionType.NONE;
        var input = ctx.Input(0);
        var filter = ctx.Input(1);
        var bias = ctx.OptionalInput(2);
        if (input.Rank != 4 || filter.Rank != 4) throw ctx.Unsupported("input and filter must be 4-D");
        int n = input.Shape[0], ih = input.Shape[1], iw = input.Shape[2], ic = input.Shape[3];
        int kh = filter.Shape[1], kw = filter.Shape[2], oc = filter.Shape[3];
        if (ic == 0 || oc % ic != 0) throw ctx.Unsupported($"filter depth {oc} is not a multiple of the input depth {ic}");
        int mult = oc / ic;
        var (oh, padH) = OutAndPad(padding, ih, kh, sh, dh);
        var (ow, padW) = OutAndPad(padding, iw, kw, sw, dw);
        int[] shape = { n, oh, ow, oc };
        int total = n * oh * ow * oc;

        if (input.DType is DataType.DtFloat)
        {
            float[] x = Ints.Floats(input), f = FloatWeights(ctx, 1), b = bias is null ? new float[oc] : Ints.Floats(bias);
            var y = new float[total];
            for (int bI = 0; bI < n; bI++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                        for (int c = 0; c < oc; c++)
                        {
                            int cin = c / mult;
                            float acc = 0;
                            for (int ky = 0; ky < kh; ky++)
                            {
                                int iy = oy * sh - padH + ky * dh;
                                if ((uint)iy >= (uint)ih) continue;
                                for (int kx = 0; kx < kw; kx++)
                                {
                                    int ix = ox * sw - padW + kx * dw;
                                    if ((uint)ix >= (uint)iw) continue;
                                    acc += x[((bI * ih + iy) * iw + ix) * ic + cin] * f[(ky * kw + kx) * oc + c];
                                }
                            }
                            y[((bI * oh + oy) * ow + ox) * oc + c] = QuantMath.ApplyActivation(acc + b[c], act);
                        }
            ctx.SetOutput(0, new Tensor(DataType.DtFloat, shape, y));
            return;
        }
        if (!Ints.IsQuantizedInt(input.DType)) throw ctx.UnsupportedType(input);

        QParams qi = ctx.InQ(0), qf = ctx.InQ(1);
        var stage = new OutputStage(ctx, act, bias, oc, ChannelMultipliers(ctx, 1, oc, perTensorPath: input.DType == DataType.DtUint8), input.DType == DataType.DtInt16);
        int[] xi = Ints.Of(input), fi = Ints.Of(filter);
        for (int i = 0; i < xi.Length; i++) xi[i] -= qi.ZeroPoint;
        if (filter.DType == DataType.DtUint8) for (int i = 0; i < fi.Length; i++) fi[i] -= qf.ZeroPoint;
        var res = new int[total];
        for (int bI = 0; bI < n; bI++)
            for (int oy = 0; oy < oh; oy++)
                for (int ox = 0; ox < ow; ox++)
                    for (int c = 0; c < oc; c++)
                    {
                        int cin = c / mult;
                        long acc = 0;
                        for (int ky = 0; ky < kh; ky++)
                        {
                            int iy = oy * sh - padH + ky * dh;
                            if ((uint)iy >= (uint)ih) continue;
                            for (int kx = 0; kx < kw; kx++)
                            {
                                int ix = ox * sw - padW + kx * dw;
                                if ((uint)ix >= (uint)iw) continue;
                                acc += (long)xi[((bI * ih + iy) * iw + ix) * ic + cin] * fi[(ky * kw + kx) * oc + c];
                            }
                        }
                        res[((bI * oh + oy) * ow + ox) * oc + c] = stage.Apply(acc, c);
                    }
        ctx.SetOutput(0, Ints.ToTensor(res, stage.Type, shape));
    }

    private static void FullyConnected(OpContext ctx)
    {
        var o = ctx.Options<FullyConnectedOptions>();
        var act = o?.FusedActivationFunction ?? ActivationFunctionType.NONE;
        bool keepDims = o?.KeepNumDims ?? false;
        var input = ctx.Input(0);
        var filter = ctx.Input(1);
        var bias = ctx.OptionalInput(2);
        if (filter.Rank != 2) throw ctx.Unsupported("the weights must be 2-D");
        int units = filter.Shape[0], depth = filter.Shape[1];
        if (depth == 0 || input.Length % depth != 0) throw ctx.Unsupported($"input of {input.Length} elements does not split into rows of {depth}");
        int batches = input.Length / depth;
        int[] shape = keepDims ? input.Shape[..^1].Append(units).ToArray() : new[] { batches, units };

        if (input.DType is DataType.DtFloat)
        {
            float[] x = Ints.Floats(input), f = FloatWeights(ctx, 1), b = bias is null ? new float[units] : Ints.Floats(bias);
            var y = new float[batches * units];
            for (int bI = 0; bI < batches; bI++)
                for (int u = 0; u < units; u++)
                {
                    float acc = 0;
                    int xo = bI * depth, fo = u * depth;
                    for (int k = 0; k < depth; k++) acc += x[xo + k] * f[fo + k];
                    y[bI * units + u] = QuantMath.ApplyActivation(acc + b[u], act);
                }
            ctx.SetOutput(0, new Tensor(DataType.DtFloat, shape, y));
            return;
        }
        if (!Ints.IsQuantizedInt(input.DType)) throw ctx.UnsupportedType(input);

        QParams qi = ctx.InQ(0), qf = ctx.InQ(1);
        var stage = new OutputStage(ctx, act, bias, units, ChannelMultipliers(ctx, 1, units, perTensorPath: true), input.DType == DataType.DtInt16);
        int[] xi = Ints.Of(input), fi = Ints.Of(filter);
        for (int i = 0; i < xi.Length; i++) xi[i] -= qi.ZeroPoint;
        if (qf.ZeroPoint != 0) for (int i = 0; i < fi.Length; i++) fi[i] -= qf.ZeroPoint;
        var res = new int[batches * units];
        for (int bI = 0; bI < batches; bI++)
            for (int u = 0; u < units; u++)
            {
                long acc = 0;
                int xo = bI * depth, fo = u * depth;
                for (int k = 0; k < depth; k++) acc += (long)xi[xo + k] * fi[fo + k];
                res[bI * units + u] = stage.Apply(acc, u);
            }
        ctx.SetOutput(0, Ints.ToTensor(res, stage.Type, shape));
    }

    /// <summary>TRANSPOSE_CONV: inputs (output_shape, weights [OC,KH,KW,IC], input, optional bias).</summary>
    private static void TransposeConv(OpContext ctx)
    {
        var o = ctx.Options<TransposeConvOptions>();
        var padding = o?.Padding ?? Padding.SAME;
        int sw = o?.StrideW ?? 1, sh = o?.StrideH ?? 1;
        var act = o?.FusedActivationFunction ?? ActivationFunctionType.NONE;
        var outShape = ctx.Input(0).ToInt32Array();
        var filter = ctx.Input(1);
        var input = ctx.Input(2);
        var bias = ctx.OptionalInput(3);
        if (outShape.Length != 4 || input.Rank != 4 || filter.Rank != 4) throw ctx.Unsupported("shapes must be 4-D");
        int n = input.Shape[0], ih = input.Shape[1], iw = input.Shape[2], ic = input.Shape[3];
        int oc = filter.Shape[0], kh = filter.Shape[1], kw = filter.Shape[2];
        int oh = outShape[1], ow = outShape[2];
        // Padding is computed as for a forward conv from the output size back to the input size.
        int padH = padding == Padding.SAME ? Math.Max(((ih - 1) * sh + kh - oh) / 2, 0) : 0;
        int padW = padding == Padding.SAME ? Math.Max(((iw - 1) * sw + kw - ow) / 2, 0) : 0;
        int total = n * oh * ow * oc;
        bool isFloat = input.DType is DataType.DtFloat;
        if (!isFloat && !Ints.IsQuantizedInt(input.DType)) throw ctx.UnsupportedType(input);
        float[]? fx = isFloat ? Ints.Floats(input) : null, ff = isFloat ? FloatWeights(ctx, 1) : null;
        int[]? xi = isFloat ? null : Ints.Of(input), fi = isFloat ? null : Ints.Of(filter);
        QParams qi = isFloat ? default : ctx.InQ(2);
        var accF = isFloat ? new float[total] : null;
        var accI = isFloat ? null : new long[total];
        for (int bI = 0; bI < n; bI++)
            for (int y = 0; y < ih; y++)
                for (int x = 0; x < iw; x++)
                    for (int c = 0; c < ic; c++)
                    {
                        int xin = ((bI * ih + y) * iw + x) * ic + c;
                        for (int ky = 0; ky < kh; ky++)
                        {
                            int oy = y * sh - padH + ky;
                            if ((uint)oy >= (uint)oh) continue;
                            for (int kx = 0; kx < kw; kx++)
                            {
                                int ox = x * sw - padW + kx;
                                if ((uint)ox >= (uint)ow) continue;
                                int obase = ((bI * oh + oy) * ow + ox) * oc;
                                for (int k = 0; k < oc; k++)
                                {
                                    int fidx = ((k * kh + ky) * kw + kx) * ic + c;
                                    if (isFloat) accF![obase + k] += fx![xin] * ff![fidx];
                                    else accI![obase + k] += (long)(xi![xin] - qi.ZeroPoint) * fi![fidx];
                                }
                            }
                        }
                    }
        if (isFloat)
        {
            var b = bias is null ? new float[oc] : Ints.Floats(bias);
            for (int i = 0; i < total; i++) accF![i] = QuantMath.ApplyActivation(accF[i] + b[i % oc], act);
            ctx.SetOutput(0, new Tensor(DataType.DtFloat, outShape, accF!));
            return;
        }
        var fq = ctx.InputInfo(1).Quantization ?? throw ctx.Unsupported("the quantized filter has no scale");
        var mul = new int[oc];
        var sft = new int[oc];
        for (int c = 0; c < oc; c++) (mul[c], sft[c]) = QuantMath.QuantizeMultiplier((double)qi.Scale * fq.Scale[fq.Scale.Length == 1 ? 0 : c] / ctx.OutQ().Scale);
        var stage = new OutputStage(ctx, act, bias, oc, (mul, sft), input.DType == DataType.DtInt16);
        var res = new int[total];
        for (int i = 0; i < total; i++) res[i] = stage.Apply(accI![i], i % oc);
        ctx.SetOutput(0, Ints.ToTensor(res, stage.Type, outShape));
    }
}
