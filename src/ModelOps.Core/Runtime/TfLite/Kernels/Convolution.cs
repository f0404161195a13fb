using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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

        /// <summary>
        /// Per-channel tables for <see cref="ApplyNarrow8"/> (AVX2 only, and only when every shift is within ±31 and
        /// every multiplier non-negative, where the lane arithmetic below equals the scalar one), padded to 8.
        /// </summary>
        private int[]? _vMul, _vLeft, _vRight, _vBias;

        public bool CanVector => _vMul is not null;

        /// <summary>Builds the vector tables when the machine and the multipliers allow (call once, after construction).</summary>
        public OutputStage WithVectorTables()
        {
            if (!Avx2.IsSupported || _wide) return this;
            int n = _mul.Length, padded = (n + 7) & ~7;
            for (int c = 0; c < n; c++)
                if (_mul[c] < 0 || _shift[c] > 31 || _shift[c] < -31) return this;
            _vMul = new int[padded]; _vLeft = new int[padded]; _vRight = new int[padded]; _vBias = new int[padded];
            for (int c = 0; c < n; c++)
            {
                _vMul[c] = _mul[c];
                _vLeft[c] = Math.Max(_shift[c], 0);
                _vRight[c] = Math.Max(-_shift[c], 0);
                _vBias[c] = unchecked((int)_bias[c]);
            }
            return this;
        }

        /// <summary>
        /// <see cref="ApplyNarrow"/> on 8 channels c..c+7 at once (AVX2), the first <paramref name="count"/> results
        /// stored as bytes. SaturatingRoundingDoublingHighMul: with a non-negative multiplier its saturating case
        /// cannot occur, and (a·b + nudge) / 2³¹ truncated equals ⌊(a·b + 2³⁰) / 2³¹⌋ for either sign of a·b — the
        /// low 32 bits of a 64-bit shift. RoundingDivideByPOT: arithmetic shift + 1 where the remainder passes the
        /// threshold, as the scalar code.
        /// </summary>
        public void ApplyNarrow8(Vector256<int> acc, int c, Span<byte> dst, int count)
        {
            var x = Avx2.Add(acc, Vector256.LoadUnsafe(ref _vBias![0], (nuint)c));
            x = Avx2.ShiftLeftLogicalVariable(x, Vector256.LoadUnsafe(ref _vLeft![0], (nuint)c).AsUInt32());
            var m = Vector256.LoadUnsafe(ref _vMul![0], (nuint)c);
            var half = Vector256.Create(1L << 30);
            var even = Avx2.ShiftRightLogical(Avx2.Add(Avx2.Multiply(x, m), half), 31).AsInt32();
            var odd = Avx2.ShiftRightLogical(Avx2.Add(Avx2.Multiply(Avx2.ShiftRightLogical(x.AsInt64(), 32).AsInt32(), Avx2.ShiftRightLogical(m.AsInt64(), 32).AsInt32()), half), 31).AsInt32();
            // even holds lane results in its even int32 slots, odd in its even slots too: interleave odd into the odd slots.
            var h = Avx2.Blend(even, Avx2.ShiftLeftLogical(odd.AsInt64(), 32).AsInt32(), 0b1010_1010);
            var e = Vector256.LoadUnsafe(ref _vRight![0], (nuint)c).AsUInt32();
            var mask = Avx2.Subtract(Avx2.ShiftLeftLogicalVariable(Vector256.Create(1), e), Vector256.Create(1));
            var remainder = Avx2.And(h, mask);
            var threshold = Avx2.Subtract(Avx2.ShiftRightArithmetic(mask, 1), Avx2.CompareGreaterThan(Vector256<int>.Zero, h));
            var r = Avx2.Subtract(Avx2.ShiftRightArithmeticVariable(h, e), Avx2.CompareGreaterThan(remainder, threshold));
            r = Avx2.Min(Avx2.Max(Avx2.Add(r, Vector256.Create(_zeroPoint)), Vector256.Create(_min)), Vector256.Create(_max));
            for (int j = 0; j < count; j++) dst[j] = unchecked((byte)r.GetElement(j));
        }

        /// <summary><see cref="Apply"/> for a 32-bit accumulator of an 8-bit kernel (never the wide path).</summary>
        [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
        public int ApplyNarrow(int acc, int c) =>
            Math.Clamp(QuantMath.MultiplyByQuantizedMultiplier(unchecked(acc + (int)_bias[c]), _mul[c], _shift[c]) + _zeroPoint, _min, _max);
    }

    /// <summary>
    /// An 8-bit filter as int16 rows [OC, K] with its zero point removed, on AVX2 machines also repacked in k pairs
    /// (<see cref="IntDot.PackPairs"/>), and the op's output stage; kept per session.
    /// </summary>
    private sealed class PackedFilter
    {
        public PackedFilter(short[] filter, int rows, OutputStage stage)
        {
            Filter = filter;
            Stage = stage;
            int k = rows == 0 ? 0 : filter.Length / rows;
            if (Avx2.IsSupported) Pairs = IntDot.PackPairs(filter, rows, k, out RowsPadded);
        }

        public readonly short[] Filter;
        public readonly short[]? Pairs;
        public readonly int RowsPadded;
        public readonly OutputStage Stage;
    }

    /// <summary>A depthwise filter [KH, KW, OC] as int32 with its zero point removed, and the op's output stage.</summary>
    private sealed record PackedDepthwise(int[] Filter, OutputStage Stage);

    private readonly record struct ConvGeometry(int N, int IH, int IW, int IC, int OH, int OW, int OC, int KH, int KW,
        int SH, int SW, int DH, int DW, int PadH, int PadW);

    /// <summary>
    /// 8-bit CONV_2D (one group) as an integer GEMM: per output pixel, the receptive field as one int16 row (im2col;
    /// taps outside the input are 0, i.e. contribute nothing, as TFLite skips them) — or the input pixel itself for
    /// 1×1 filters — times the filter rows. AVX2: 4 pixels × 8 channels per block, channels in the vector lanes;
    /// otherwise 1 pixel × 4 channels dot products. x has the input zero point removed and one spare element.
    /// </summary>
    private static void Conv2DInt8(ConvGeometry g, short[] x, PackedFilter st, Span<byte> res)
    {
        int k = g.KH * g.KW * g.IC, oc = g.OC, kp = (k + 1) & ~1;
        bool direct = g.KH == 1 && g.KW == 1; // 1×1: SAME and VALID both pad 0, every tap is inside the input
        int pixels = g.N * g.OH * g.OW;
        var stage = st.Stage;
        var col = direct ? Array.Empty<short>() : new short[4 * kp];
        var rowAt = new int[4];

        // Row of output pixel p: its offset in x (1×1) or in col (slot s, im2col filled here).
        int Row(int p, int slot)
        {
            int b = p / (g.OH * g.OW), oy = p / g.OW % g.OH, ox = p % g.OW;
            int iy0 = oy * g.SH - g.PadH, ix0 = ox * g.SW - g.PadW;
            if (direct) return ((b * g.IH + iy0) * g.IW + ix0) * g.IC;
            int o = slot * kp;
            for (int ky = 0, q = o; ky < g.KH; ky++)
            {
                int iy = iy0 + ky * g.DH;
                bool rowIn = (uint)iy < (uint)g.IH;
                for (int kx = 0; kx < g.KW; kx++, q += g.IC)
                {
                    int ix = ix0 + kx * g.DW;
                    if (rowIn && (uint)ix < (uint)g.IW) Array.Copy(x, ((b * g.IH + iy) * g.IW + ix) * g.IC, col, q, g.IC);
                    else Array.Clear(col, q, g.IC);
                }
            }
            return o;
        }

        short[] src = direct ? x : col;
        if (st.Pairs is { } packed)
        {
            int rp = st.RowsPadded, pairs = kp / 2;
            var acc = new int[4 * rp];
            ref short fb = ref packed[0];
            for (int p0 = 0; p0 < pixels; p0 += 4)
            {
                int count = Math.Min(4, pixels - p0);
                for (int s = 0; s < 4; s++) rowAt[s] = s < count ? Row(p0 + s, s) : rowAt[0];
                for (int cb = 0; cb < rp; cb += 8)
                {
                    var tile = new Span<int>(acc, 0, 32);
                    IntDot.Gemm4x8(ref src[rowAt[0]], ref src[rowAt[1]], ref src[rowAt[2]], ref src[rowAt[3]], ref packed[cb * 2], pairs, rp, ref tile[0]);
                    int n = Math.Min(8, oc - cb);
                    for (int s = 0; s < count; s++)
                    {
                        int ro = (p0 + s) * oc + cb;
                        if (stage.CanVector) stage.ApplyNarrow8(Vector256.LoadUnsafe(ref acc[0], (nuint)(s * 8)), cb, res.Slice(ro, n), n);
                        else for (int j = 0; j < n; j++) res[ro + j] = unchecked((byte)stage.ApplyNarrow(acc[s * 8 + j], cb + j));
                    }
                }
            }
            return;
        }

        short[] f = st.Filter;
        Span<int> r4 = stackalloc int[4];
        for (int p = 0; p < pixels; p++)
        {
            ref short xrow = ref src[Row(p, 0)];
            int ro = p * oc, c = 0;
            for (; c <= oc - 4; c += 4)
            {
                IntDot.Dot4(ref xrow, ref f[c * k], k, k, r4);
                for (int j = 0; j < 4; j++) res[ro + c + j] = unchecked((byte)stage.ApplyNarrow(r4[j], c + j));
            }
            for (; c < oc; c++) res[ro + c] = unchecked((byte)stage.ApplyNarrow(IntDot.Dot(ref xrow, ref f[c * k], k), c));
        }
    }

    /// <summary>The output array of an 8-bit kernel (sbyte[] or byte[]); the kernels write its bytes (<see cref="Bytes"/>).</summary>
    private static Array Output8(DataType t, int length) => t == DataType.DtInt8 ? new sbyte[length] : new byte[length];

    private static Span<byte> Bytes(Array a) => a is sbyte[] s ? System.Runtime.InteropServices.MemoryMarshal.AsBytes(s.AsSpan()) : ((byte[])a).AsSpan();

    /// <summary>First and one-past-last filter tap t with start + t·dilation inside [0, size).</summary>
    private static (int Lo, int Hi) Taps(int start, int dilation, int k, int size)
    {
        int lo = 0, hi = k;
        while (lo < k && start + lo * dilation < 0) lo++;
        while (hi > lo && start + (hi - 1) * dilation >= size) hi--;
        return (lo, hi);
    }

    /// <summary>
    /// 8-bit DEPTHWISE_CONV_2D: per output pixel and block of channels (NHWC keeps a pixel's channels together), the
    /// products x·f of the taps inside the input summed in vector lanes; taps outside are skipped as in TFLite. With
    /// a depth multiplier m the input is first spread so that output channel c reads input channel c/m.
    /// </summary>
    private static void DepthwiseInt8(ConvGeometry g, int[] x, PackedDepthwise st, Span<byte> res)
    {
        int oc = g.OC, mult = oc / g.IC;
        if (mult != 1)
        {
            var spread = new int[g.N * g.IH * g.IW * oc];
            for (int p = 0, q = 0; q < spread.Length; p += g.IC)
                for (int c = 0; c < oc; c++) spread[q++] = x[p + c / mult];
            x = spread;
        }
        var acc = new int[oc];
        int[] f = st.Filter;
        var stage = st.Stage;
        ref int xr = ref x[0], fr = ref f[0], ar = ref acc[0];
        for (int b = 0; b < g.N; b++)
            for (int oy = 0; oy < g.OH; oy++)
            {
                int iy0 = oy * g.SH - g.PadH;
                var (ky0, ky1) = Taps(iy0, g.DH, g.KH, g.IH);
                for (int ox = 0; ox < g.OW; ox++)
                {
                    int ix0 = ox * g.SW - g.PadW;
                    var (kx0, kx1) = Taps(ix0, g.DW, g.KW, g.IW);
                    int c = 0, vectorDone = 0;
                    unchecked
                    {
                        if (Vector256.IsHardwareAccelerated)
                            for (; c <= oc - 8; c += 8)
                            {
                                var a = Vector256<int>.Zero;
                                for (int ky = ky0; ky < ky1; ky++)
                                    for (int kx = kx0; kx < kx1; kx++)
                                    {
                                        int xo = ((b * g.IH + iy0 + ky * g.DH) * g.IW + ix0 + kx * g.DW) * oc + c, fo = (ky * g.KW + kx) * oc + c;
                                        a += Vector256.LoadUnsafe(ref xr, (nuint)xo) * Vector256.LoadUnsafe(ref fr, (nuint)fo);
                                    }
                                if (stage.CanVector) stage.ApplyNarrow8(a, c, res.Slice(((b * g.OH + oy) * g.OW + ox) * oc + c, 8), 8);
                                else a.StoreUnsafe(ref ar, (nuint)c);
                            }
                        if (stage.CanVector) vectorDone = c;
                        if (Vector128.IsHardwareAccelerated)
                            for (; c <= oc - 4; c += 4)
                            {
                                var a = Vector128<int>.Zero;
                                for (int ky = ky0; ky < ky1; ky++)
                                    for (int kx = kx0; kx < kx1; kx++)
                                    {
                                        int xo = ((b * g.IH + iy0 + ky * g.DH) * g.IW + ix0 + kx * g.DW) * oc + c, fo = (ky * g.KW + kx) * oc + c;
                                        a += Vector128.LoadUnsafe(ref xr, (nuint)xo) * Vector128.LoadUnsafe(ref fr, (nuint)fo);
                                    }
                                a.StoreUnsafe(ref ar, (nuint)c);
                            }
                        for (; c < oc; c++)
                        {
                            int a = 0;
                            for (int ky = ky0; ky < ky1; ky++)
                                for (int kx = kx0; kx < kx1; kx++)
                                    a += x[((b * g.IH + iy0 + ky * g.DH) * g.IW + ix0 + kx * g.DW) * oc + c] * f[(ky * g.KW + kx) * oc + c];
                            acc[c] = a;
                        }
                    }
                    int ro = ((b * g.OH + oy) * g.OW + ox) * oc;
                    for (c = vectorDone; c < oc; c++) res[ro + c] = unchecked((byte)stage.ApplyNarrow(acc[c], c));
                }
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
        if (!wide && groups == 1 && total > 0 && kh * kw * ic > 0 && ctx.OutputType() == input.DType)
        {
            var st = ctx.Cached(filter, bias, () => new PackedFilter(
                IntDot.Shorts(filter, filter.DType == DataType.DtUint8 ? -qf.ZeroPoint : 0), oc,
                new OutputStage(ctx, act, bias, oc, ChannelMultipliers(ctx, 1, oc, perTensorPath: input.DType == DataType.DtUint8), false).WithVectorTables()));
            var geo = new ConvGeometry(n, ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, dh, dw, padH, padW);
            var data = Output8(input.DType, total);
            Conv2DInt8(geo, IntDot.ShortsScratch(input, -qi.ZeroPoint, extra: 1), st, Bytes(data));
            ctx.SetOutput(0, new Tensor(input.DType, shape, data));
            return;
        }
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
        if (input.DType != DataType.DtInt16 && total > 0 && ctx.OutputType() == input.DType)
        {
            var st = ctx.Cached(filter, bias, () =>
            {
                int[] f = Ints.Of(filter);
                if (filter.DType == DataType.DtUint8) for (int i = 0; i < f.Length; i++) f[i] -= qf.ZeroPoint;
                return new PackedDepthwise(f, new OutputStage(ctx, act, bias, oc, ChannelMultipliers(ctx, 1, oc, perTensorPath: input.DType == DataType.DtUint8), false).WithVectorTables());
            });
            int[] x = IntDot.IntsScratch(input, -qi.ZeroPoint);
            var geo = new ConvGeometry(n, ih, iw, ic, oh, ow, oc, kh, kw, sh, sw, dh, dw, padH, padW);
            var data = Output8(input.DType, total);
            DepthwiseInt8(geo, x, st, Bytes(data));
            ctx.SetOutput(0, new Tensor(input.DType, shape, data));
            return;
        }
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
        if (input.DType != DataType.DtInt16 && filter.DType is DataType.DtInt8 or DataType.DtUint8 && batches * units > 0 && ctx.OutputType() == input.DType)
        {
            var st = ctx.Cached(filter, bias, () => new PackedFilter(IntDot.Shorts(filter, -qf.ZeroPoint), units,
                new OutputStage(ctx, act, bias, units, ChannelMultipliers(ctx, 1, units, perTensorPath: true), false)));
            short[] xs = IntDot.ShortsScratch(input, -qi.ZeroPoint);
            var data = Output8(input.DType, batches * units);
            var y = Bytes(data);
            Span<int> r4 = stackalloc int[4];
            for (int bI = 0; bI < batches; bI++)
            {
                ref short xrow = ref xs[bI * depth];
                int u = 0, yo = bI * units;
                for (; u <= units - 4; u += 4)
                {
                    IntDot.Dot4(ref xrow, ref st.Filter[u * depth], depth, depth, r4);
                    for (int j = 0; j < 4; j++) y[yo + u + j] = unchecked((byte)st.Stage.ApplyNarrow(r4[j], u + j));
                }
                for (; u < units; u++) y[yo + u] = unchecked((byte)st.Stage.ApplyNarrow(IntDot.Dot(ref xrow, ref st.Filter[u * depth], depth), u));
            }
            ctx.SetOutput(0, new Tensor(input.DType, shape, data));
            return;
        }
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
