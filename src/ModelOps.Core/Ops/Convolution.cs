using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.Kernels;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Ops;

/// <summary>
/// 2-D convolutions: Conv2D (the filter packed once per session while it is a graph constant; 1×1 stride-1
/// convolutions go straight to the GEMM; on AVX-512 the others read their windows from the image into register
/// tiles, elsewhere im2col tiles + GEMM), DepthwiseConv2dNative (register-accumulating
/// channel-vectorized direct loop, any depth multiplier), Conv2DBackpropInput
/// (GEMM + col2im), and the grappler-fused _FusedConv2D / _FusedDepthwiseConv2dNative. NHWC natively;
/// NCHW is transposed in and out. float32 (float16/bfloat16 computed in float32).
/// </summary>
public sealed partial class ConvolutionOps : OpFamily
{
    public override void RegisterKernels(KernelRegistry r)
    {
        // Inputs are read by their geometry (never by their arrays' length); outputs are made with Tensor.Over.
        // Conv2D and Conv2DBackpropInput read their filter only to pack it (once, while it is a constant): the plan
        // may then let the decoded filter go. The depthwise kernels read a float32 filter as it is.
        var packing = r.WithTraits(KernelTraits.SpareCapacity | KernelTraits.PreparesWeights);
        packing.Add("Conv2D", ctx => Conv2D(ctx, fused: false));
        packing.Add("_FusedConv2D", ctx => Conv2D(ctx, fused: true));
        packing.Add("Conv2DBackpropInput", Conv2DBackpropInput);
        r = r.WithTraits(KernelTraits.SpareCapacity);
        r.Add("DepthwiseConv2dNative", ctx => Depthwise(ctx, fused: false));
        r.Add("_FusedDepthwiseConv2dNative", ctx => Depthwise(ctx, fused: true));
    }

    private static float[] InputNhwc(Tensor x, ConvGeometry g)
    {
        var f = FloatConvert.ToFloat(x).As<float>();
        return g.Nchw ? ConvGeometry.ToNhwc(f, x.Shape) : f;
    }

    private static Tensor Output(float[] nhwc, ConvGeometry g, int channels, DataType dtype)
    {
        int[] shapeNhwc = [g.N, g.OH, g.OW, channels];
        var data = g.Nchw ? ConvGeometry.ToNchw(nhwc, shapeNhwc) : nhwc;
        return FloatConvert.FromFloat(Tensor.Over(DataType.DtFloat, g.OutShape(channels), data), dtype);
    }

    private static void CheckFloat(KernelContext ctx, Tensor x)
    {
        if (x.DType != DataType.DtFloat && !FloatConvert.IsReducedFloat(x.DType))
            throw ctx.Error($"does not support dtype {x.DType.Name()} (float32, float16 and bfloat16 are supported).");
    }

    /// <summary>The fused epilogue in NHWC terms (a residual given in NCHW is transposed).</summary>
    private static Epilogue FusedEpilogue(KernelContext ctx, ConvGeometry g, int channels) =>
        InNhwc(FusedOps.Parse(ctx, 2, channels, g.OutShape(channels)), g, channels);

    /// <summary><paramref name="e"/> with its residual in NHWC order (it comes in the node's data_format).</summary>
    private static Epilogue InNhwc(Epilogue e, ConvGeometry g, int channels) =>
        g.Nchw && e.Residual is not null ? e.WithResidual(ConvGeometry.ToNhwc(e.Residual, g.OutShape(channels))) : e;

    /// <summary>
    /// The common set-up of the filter ops: a 4-D filter [kh, kw, in, ·] whose input channels match the
    /// input's (given NHWC or NCHW by data_format), and the window geometry read from the node.
    /// </summary>
    private static ConvGeometry FilterGeometry(KernelContext ctx, int[] inputShape, Tensor f, string filterLayout, string inputName = "the input", string hint = "")
    {
        if (f.Rank != 4) throw ctx.Error($"needs a 4-D filter {filterLayout}, got {Tensor.FormatShape(f.Shape)}.");
        var g = ConvGeometry.Create(ctx, inputShape, f.Shape[0], f.Shape[1]);
        if (f.Shape[2] != g.C) throw ctx.Error($"has a filter for {f.Shape[2]} input channels but {inputName} has {g.C}{hint}.");
        return g;
    }

    // ------------------------------------------------------------------ Conv2D

    private static void Conv2D(KernelContext ctx, bool fused)
    {
        var x = ctx.Input(0);
        var f = ctx.Input(1);
        CheckFloat(ctx, x);
        var g = FilterGeometry(ctx, x.Shape, f, "[h, w, in, out]", hint: " (grouped convolution is not supported)");
        int cout = f.Shape[3];
        int kdim = g.KH * g.KW * g.C;
        var input = InputNhwc(x, g);
        var packed = ctx.Prepared(1, t => Gemm.PackB(false, kdim, cout, FloatConvert.ToFloat(t).As<float>(), 0, cout));
        Tensor? broadcastAdd = null;
        var epi = fused ? InNhwc(FusedOps.Parse(ctx, 2, cout, g.OutShape(cout), out broadcastAdd), g, cout) : new Epilogue();
        long length = (long)g.N * g.OH * g.OW * cout;
        if (broadcastAdd is { } other)
        {
            // A fused Add of a tensor that broadcasts: the convolution with what comes before the Add, then the Add
            // (to the broadcast shape) and the activation, as the unfused graph computes them.
            var before = new Epilogue { Scale = epi.Scale, Shift = epi.Shift };
            var conv = ctx.Allocate<float>(length, clear: false);
            Conv2DNhwc(input, packed, conv, g, cout, before, ctx.Options.IntraOpThreads);
            var sum = FloatConvert.ToFloat(ElementWiseOps.Add(ctx, Output(conv, g, cout, DataType.DtFloat), other));
            if (!ReferenceEquals(sum.Data, conv)) ctx.ReturnScratch(conv);
            if (epi.Activation != FusedActivation.None) Activation.Apply(epi.Activation, sum.Span<float>(), epi.LeakyAlpha);
            ctx.SetOutput(0, FloatConvert.FromFloat(sum, x.DType));
            return;
        }
        // A fused Add of a tensor at its last use: the 1×1 GEMM path writes the result over it (each chunk's residual
        // rows are set aside before the chunk is written), so the residual and the output are not alive at once.
        var output = (epi.Residual is { } residual && IsDirect(g) && g.C > 0 && !g.Nchw ? ReuseResidual(ctx, residual, length) : null)
            ?? ctx.Allocate<float>(length, clear: false);
        Conv2DNhwc(input, packed, output, g, cout, epi, ctx.Options.IntraOpThreads);
        ctx.SetOutput(0, Output(output, g, cout, x.DType));
    }

    /// <summary>A 1×1, stride-1, unpadded convolution: the GEMM reads the input in place (no im2col, no windows).</summary>
    private static bool IsDirect(ConvGeometry g) =>
        g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PadTop == 0 && g.PadLeft == 0 && g.OH == g.H && g.OW == g.W;

    /// <summary>The array of the input holding <paramref name="residual"/> when the output may be written over it (its last use), else null.</summary>
    private static float[]? ReuseResidual(KernelContext ctx, float[] residual, long length)
    {
        for (int i = 2; i < ctx.Inputs.Length; i++)
            if (ReferenceEquals(ctx.Inputs[i].Data, residual)) return ctx.TryReuseInput<float>(ctx.Inputs[i], length);
        return null;
    }

    /// <summary>NHWC convolution of input by filter [KH, KW, C, cout] into output [N, OH, OW, cout] (every element written).</summary>
    public static void Conv2DNhwc(float[] input, float[] filter, float[] output, ConvGeometry g, int cout, Epilogue epi, int threads) =>
        Conv2DNhwc(input, Gemm.PackB(false, g.KH * g.KW * g.C, cout, filter, 0, cout), output, g, cout, epi, threads);

    /// <summary>
    /// NHWC convolution with the filter packed for the GEMM (<see cref="Gemm.PackB"/> of the [KH·KW·C, cout] matrix).
    /// 1×1 stride-1 unpadded convolutions multiply the input in place; others gather patches (im2col) in
    /// cache-sized tiles of output pixels. The epilogue runs on each tile while it is in cache.
    /// </summary>
    public static void Conv2DNhwc(float[] input, PackedB filter, float[] output, ConvGeometry g, int cout, Epilogue epi, int threads)
    {
        int cin = g.C;
        int kdim = g.KH * g.KW * cin;
        int pixels = g.OH * g.OW;
        if (pixels == 0 || cout == 0 || g.N == 0) return;
        // The output may be the residual's array (written in place): only the 1×1 path takes that, setting each chunk's residual rows aside first.
        bool direct = IsDirect(g);
        bool inPlace = epi.Residual is not null && ReferenceEquals(epi.Residual, output);
        if (inPlace && (!direct || kdim == 0)) throw new ArgumentException("Only a 1x1 stride-1 convolution with input channels writes over its residual.", nameof(output));
        if (kdim == 0)
        {
            Array.Clear(output, 0, g.N * pixels * cout);
            epi.ApplyAll(output, g.N * pixels, cout, threads);
            return;
        }
        if (!direct && !WindowedOff && WindowedApplies(g, filter))
        {
            Windowed(input, filter, output, g, cout, epi, threads);
            return;
        }
        // Rows of the im2col matrix per task: about 64K floats of patches, a multiple of the GEMM row tile;
        // direct tasks are sized so that their output rows stay in L2 for the epilogue.
        int chunk = direct
            ? Math.Max(Gemm.MR, Math.Min(pixels, Math.Max(1024, 65_536 / Math.Max(1, cout)) / Gemm.MR * Gemm.MR))
            : Math.Max(Gemm.MR, Math.Min(pixels, 65_536 / kdim / Gemm.MR * Gemm.MR));
        int chunksPerImage = (pixels + chunk - 1) / chunk;
        long macs = (long)g.N * pixels * kdim * cout;
        if (threads > 1 && g.N < threads && chunksPerImage < 4 * threads && macs >= threads * ParallelMinMacs)
        {
            // Few chunks: as many per image as will balance over the threads (225 pixels were one chunk of 222
            // and one of 3, so a second thread had nothing to do).
            int perImage = (threads + g.N - 1) / g.N;
            int wanted = Math.Min((pixels + Gemm.MR - 1) / Gemm.MR, (chunksPerImage + perImage - 1) / perImage * perImage);
            chunk = ((pixels + wanted - 1) / wanted + Gemm.MR - 1) / Gemm.MR * Gemm.MR;
            chunksPerImage = (pixels + chunk - 1) / chunk;
        }
        int tasks = g.N * chunksPerImage;
        int gemmThreads = tasks >= threads ? 1 : Math.Max(1, threads / tasks);
        // Piecewise-linear epilogues run inside the GEMM on each tile while it is in cache.
        bool inGemm = !epi.IsEmpty && Activation.IsPiecewiseLinear(epi.Activation);
        KernelParallel.ForEach(Math.Min(threads, tasks), tasks, t =>
        {
            int n = t / chunksPerImage;
            int p0 = (t % chunksPerImage) * chunk;
            int rows = Math.Min(chunk, pixels - p0);
            int outOff = (n * pixels + p0) * cout;
            if (direct)
            {
                int inOff = (n * pixels + p0) * cin;
                float[]? kept = null;
                var e = epi;
                if (inPlace)
                {
                    // The GEMM stores partial sums before the epilogue adds the residual: keep this chunk's rows of it aside.
                    kept = ArrayPool<float>.Shared.Rent(rows * cout);
                    Array.Copy(output, outOff, kept, 0, rows * cout);
                    e = epi.WithResidual(kept, outOff);
                }
                try
                {
                    if (inGemm) Gemm.SgemmPacked(false, rows, input, inOff, cin, filter, output, outOff, cout, e, gemmThreads);
                    else
                    {
                        Gemm.SgemmPacked(false, rows, input, inOff, cin, filter, output, outOff, cout, false, gemmThreads);
                        e.Apply(output, outOff, 0, rows, cout);
                    }
                }
                finally
                {
                    if (kept is not null) ArrayPool<float>.Shared.Return(kept);
                }
                return;
            }
            else
            {
                var col = ArrayPool<float>.Shared.Rent(rows * kdim);
                try
                {
                    Im2Col(input, n, g, p0, rows, col);
                    if (inGemm) Gemm.SgemmPacked(false, rows, col, 0, kdim, filter, output, outOff, cout, epi, gemmThreads);
                    else Gemm.SgemmPacked(false, rows, col, 0, kdim, filter, output, outOff, cout, false, gemmThreads);
                }
                finally
                {
                    ArrayPool<float>.Shared.Return(col);
                }
            }
            if (!inGemm) epi.Apply(output, outOff, 0, rows, cout);
        });
    }

    /// <summary>
    /// Multiply-adds below which a share of a convolution is not worth another thread (waking a sleeping worker
    /// costs tens of µs; 200K multiply-adds take a few): the GEMM's own bound (400K flops per thread).
    /// </summary>
    private const long ParallelMinMacs = 200_000;

    /// <summary>Turns the windowed path off (the conv and profile benchmarks compare it with im2col + GEMM).</summary>
    internal static bool WindowedOff;

    /// <summary>Output pixels per register tile of the windowed path with 16-wide filter panels (32-wide: <see cref="Gemm.MR"/>).</summary>
    private const int WindowTile = 12;

    /// <summary>
    /// Whether the windowed path (no im2col) takes this convolution: AVX-512, window rows contiguous in memory
    /// (width dilation 1), output rows of at least one register tile, and the packed filter addressable as
    /// [panel][k][Nr] (one panel, or one k block).
    /// </summary>
    internal static bool WindowedApplies(ConvGeometry g, PackedB f) =>
        Avx512F.IsSupported && Vector512.IsHardwareAccelerated && (f.Nr == 16 || f.Nr == 32) && g.DW == 1
        && g.OW >= (f.Nr == 16 ? WindowTile : Gemm.MR) && (f.NPad == f.Nr || f.K <= Gemm.KC);

    /// <summary>
    /// Convolution read straight from the NHWC image: for twelve (16-wide filter panels) or six (32-wide) neighbouring
    /// output pixels of a row whose windows lie inside the image horizontally, each window row (KW·C contiguous
    /// floats, rows outside the image skipped) multiplies the matching rows of the packed filter in one register
    /// tile (<see cref="Gemm.MicroRows12x16"/>, <see cref="Gemm.ConvRows6x32"/>); the pixels at the left and right
    /// borders go one by one. The epilogue runs per output row while it is in cache. The products are those of the
    /// im2col + GEMM path, summed in another grouping, so results agree with it to float rounding.
    /// </summary>
    internal static unsafe void Windowed(float[] input, PackedB filter, float[] output, ConvGeometry g, int cout, Epilogue epi, int threads)
    {
        int rowsTotal = g.N * g.OH;
        long work = (long)g.OW * cout * g.KH * g.KW * g.C;
        // A bias and a piecewise-linear activation go onto the register tiles (12 × 16 and 6 × 32) before they are
        // stored (the bias padded to whole panels); anything else runs over each output row afterwards.
        float[]? bias = FuseWindowedEpilogue && epi.Scale is null && epi.Residual is null && epi.Shift is { } shift
            && Activation.IsPiecewiseLinear(epi.Activation) ? Padded(shift, cout, filter.NPad) : null;
        KernelParallel.For(threads, rowsTotal, work, minWorkPerChunk: ParallelMinMacs, body: (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
            {
                WindowedRow(input, filter, output, g, cout, r, bias is null ? null : epi, bias);
                if (bias is null) epi.Apply(output, 0, r * g.OW, (r + 1) * g.OW, cout);
            }
        });
    }

    /// <summary>One register tile of the windowed path: 12 pixels × 16 channels or 6 × 32, the bias and activation applied when <paramref name="bias"/> is given.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Tile<TAct>(int nr, int taps, nint tapStride, int run, float* a, nint lda, float* b, nint ldb, float* c, int cout, int cols,
        float* bias, float alpha) where TAct : struct, Epilogue.IAct
    {
        if (nr == 16) Gemm.MicroRows12x16<TAct>(taps, tapStride, run, a, lda, b, ldb, c, cout, false, cols, bias, alpha);
        else Gemm.ConvRows6x32<TAct>(taps, tapStride, run, a, lda, b, ldb, c, cout, cols, bias, alpha);
    }

    /// <summary>Off: the windowed path runs the epilogue over each output row after the tiles (tests and benchmarks compare the two).</summary>
    internal static bool FuseWindowedEpilogue = true;

    /// <summary>The first <paramref name="n"/> values of <paramref name="v"/> followed by zeros up to <paramref name="length"/> (whole filter panels).</summary>
    private static float[] Padded(float[] v, int n, int length)
    {
        var p = new float[length];
        Array.Copy(v, p, n);
        return p;
    }

    /// <summary>
    /// Output row r (image r / OH, row r % OH) of <see cref="Windowed"/>: with <paramref name="fused"/> (its bias padded in
    /// <paramref name="bias"/>), bias and activation applied; without, before the epilogue.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WindowedRow(float[] input, PackedB filter, float[] output, ConvGeometry g, int cout, int r, Epilogue? fused = null, float[]? bias = null)
    {
        int C = g.C, H = g.H, W = g.W, KH = g.KH, KW = g.KW, OW = g.OW, OH = g.OH;
        int run = KW * C;
        int k = KH * run;
        int nr = filter.Nr;
        nint ldb = nr;
        nint tapStride = (nint)g.DH * W * C;
        nint lda = (nint)g.SW * C;
        int panels = (cout + nr - 1) / nr;
        // 16-wide panels: twelve pixels × one 512-bit register; 32-wide panels: six pixels × two.
        int tile = nr == 16 ? WindowTile : Gemm.MR;
        // Output columns whose window lies inside the image horizontally: [owLo, owHi).
        int owLo = Math.Min(OW, (g.PadLeft + g.SW - 1) / g.SW);
        int owHi = W - KW + g.PadLeft < 0 ? 0 : Math.Min(OW, (W - KW + g.PadLeft) / g.SW + 1);
        float* tmp = stackalloc float[16];
        fixed (float* pin = input)
        fixed (float* pb = filter.Data)
        fixed (float* pout = output)
        fixed (float* pbias = bias)
        {
            int n = r / OH, oh = r % OH;
            int ih0 = oh * g.SH - g.PadTop;
            int khLo = 0, khHi = KH;
            while (khLo < KH && ih0 + khLo * g.DH < 0) khLo++;
            while (khHi > khLo && ih0 + (khHi - 1) * g.DH >= H) khHi--;
            int taps = khHi - khLo;
            float* img = pin + (long)n * H * W * C;
            float* orow = pout + (long)r * OW * cout;
            // Tiles over the columns whose windows are inside the image, the last one shifted back to end at
            // owHi (it recomputes a few pixels with the same arithmetic); the rest one by one.
            int tileEnd = taps > 0 && owHi - owLo >= tile ? owHi : owLo;
            for (int ow = owLo; ow < tileEnd; ow += tile)
            {
                int o0 = Math.Min(ow, tileEnd - tile);
                float* a = img + ((long)(ih0 + khLo * g.DH) * W + (long)o0 * g.SW - g.PadLeft) * C;
                for (int j = 0; j < panels; j++)
                {
                    // Panel j of the packed filter ([panel][k][nr]; several panels only with one k block).
                    float* b = pb + (long)j * nr * k + (long)khLo * run * ldb;
                    float* c = orow + (long)o0 * cout + j * nr;
                    int cols = Math.Min(nr, cout - j * nr);
                    float* pj = fused is null ? null : pbias + j * nr;
                    float alpha = fused?.LeakyAlpha ?? 0;
                    switch (fused?.Activation ?? FusedActivation.None)
                    {
                        case FusedActivation.Relu: Tile<Epilogue.ReluAct>(nr, taps, tapStride, run, a, lda, b, ldb, c, cout, cols, pj, alpha); break;
                        case FusedActivation.Relu6: Tile<Epilogue.Relu6Act>(nr, taps, tapStride, run, a, lda, b, ldb, c, cout, cols, pj, alpha); break;
                        case FusedActivation.LeakyRelu: Tile<Epilogue.LeakyAct>(nr, taps, tapStride, run, a, lda, b, ldb, c, cout, cols, pj, alpha); break;
                        default: Tile<Epilogue.NoAct>(nr, taps, tapStride, run, a, lda, b, ldb, c, cout, cols, pj, alpha); break;
                    }
                }
            }
            for (int ow = 0; ow < OW; ow++)
            {
                if (ow == owLo) ow = tileEnd;
                if (ow >= OW) break;
                // A border pixel: only the taps inside the image, 16 output channels at a time.
                int iw0 = ow * g.SW - g.PadLeft;
                for (int col = 0; col < cout; col += 16)
                {
                    float* slice = pb + (long)(col / nr) * nr * k + col % nr;
                    Vector512<float> acc0 = default, acc1 = default;
                    for (int kh = khLo; kh < khHi; kh++)
                    {
                        float* xrow = img + (long)(ih0 + kh * g.DH) * W * C;
                        for (int kw = 0; kw < KW; kw++)
                        {
                            int iw = iw0 + kw;
                            if ((uint)iw >= (uint)W) continue;
                            float* x = xrow + (long)iw * C;
                            float* b = slice + (long)(kh * KW + kw) * C * ldb;
                            int ci = 0;
                            for (; ci + 1 < C; ci += 2)
                            {
                                acc0 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[ci]), Vector512.Load(b + ci * ldb), acc0);
                                acc1 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[ci + 1]), Vector512.Load(b + (ci + 1) * ldb), acc1);
                            }
                            if (ci < C) acc0 = Avx512F.FusedMultiplyAdd(Vector512.Create(x[ci]), Vector512.Load(b + ci * ldb), acc0);
                        }
                    }
                    var sum = acc0 + acc1;
                    int cols = Math.Min(16, cout - col);
                    float* o = orow + (long)ow * cout + col;
                    if (cols == 16) Vector512.Store(sum, o);
                    else
                    {
                        Vector512.Store(sum, tmp);
                        for (int q = 0; q < cols; q++) o[q] = tmp[q];
                    }
                }
                // The fused epilogue's share of a border pixel (the tiles applied theirs in registers).
                if (fused is not null)
                    Epilogue.ApplyBlock(orow + (long)ow * cout, cout, 1, cout, null, pbias, null, fused.Activation, fused.LeakyAlpha);
            }
        }
    }

    /// <summary>Patches of output pixels [p0, p0+rows) of image n, each KH·KW·C long (kh, kw, c order).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Im2Col(float[] input, int n, ConvGeometry g, int p0, int rows, float[] col)
    {
        int c = g.C, H = g.H, W = g.W, KH = g.KH, KW = g.KW, DH = g.DH, DW = g.DW, OW = g.OW;
        int kdim = KH * KW * c;
        int rowLen = KW * c;
        int oh = p0 / OW, ow = p0 % OW;
        fixed (float* pin = input)
        fixed (float* pcol = col)
        {
            float* img = pin + (long)n * H * W * c;
            for (int r = 0; r < rows; r++)
            {
                int ih0 = oh * g.SH - g.PadTop, iw0 = ow * g.SW - g.PadLeft;
                // With dilation 1 and the whole window row inside the image, a window row is one contiguous run.
                bool rowInside = DW == 1 && iw0 >= 0 && iw0 + KW <= W;
                float* dst = pcol + (long)r * kdim;
                for (int kh = 0; kh < KH; kh++, dst += rowLen)
                {
                    int ih = ih0 + kh * DH;
                    if ((uint)ih >= (uint)H)
                    {
                        new Span<float>(dst, rowLen).Clear();
                        continue;
                    }
                    float* src = img + (long)ih * W * c;
                    if (rowInside)
                    {
                        Copy(src + (long)iw0 * c, dst, rowLen);
                        continue;
                    }
                    for (int kw = 0; kw < KW; kw++)
                    {
                        int iw = iw0 + kw * DW;
                        if ((uint)iw >= (uint)W) new Span<float>(dst + kw * c, c).Clear();
                        else Copy(src + (long)iw * c, dst + kw * c, c);
                    }
                }
                if (++ow == OW) { ow = 0; oh++; }
            }
        }
    }

    /// <summary>Copies a run of floats; short runs (few input channels) inline, without a call to memmove.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Copy(float* src, float* dst, int count)
    {
        if (count > 32)
        {
            Buffer.MemoryCopy(src, dst, count * sizeof(float), count * sizeof(float));
            return;
        }
        int i = 0;
        for (; i <= count - 8; i += 8) Vector256.Store(Vector256.Load(src + i), dst + i);
        for (; i < count; i++) dst[i] = src[i];
    }

    // ------------------------------------------------------------------ depthwise

    private static void Depthwise(KernelContext ctx, bool fused)
    {
        var x = ctx.Input(0);
        var f = ctx.Input(1);
        CheckFloat(ctx, x);
        var g = FilterGeometry(ctx, x.Shape, f, "[h, w, in, multiplier]");
        int dm = f.Shape[3];
        int cout = g.C * dm;
        var input = InputNhwc(x, g);
        var filter = f.DType == DataType.DtFloat ? f.As<float>() : ctx.Prepared(1, t => FloatConvert.ToFloat(t).As<float>());
        var epi = fused ? FusedEpilogue(ctx, g, cout) : new Epilogue();
        var output = ctx.Allocate<float>((long)g.N * g.OH * g.OW * cout, clear: false);
        DepthwiseNhwc(input, filter, output, g, dm, epi, ctx.Options.IntraOpThreads);
        ctx.SetOutput(0, Output(output, g, cout, x.DType));
    }

    /// <summary>
    /// Depthwise NHWC convolution (filter [KH, KW, C, dm]) into output [N, OH, OW, C·dm], every element written.
    /// Each output pixel is accumulated in registers over the window taps that fall inside the image (the
    /// tap range is clipped per row and column, so padding costs nothing), 8 channels at a time.
    /// </summary>
    public static void DepthwiseNhwc(float[] input, float[] filter, float[] output, ConvGeometry g, int dm, Epilogue epi, int threads)
    {
        int c = g.C, cout = c * dm;
        int rows = g.N * g.OH;
        if (rows == 0 || g.OW == 0 || cout == 0) return;
        KernelParallel.For(threads, rows, (long)g.OW * cout * g.KH * g.KW * 2, (s, e) =>
        {
            for (int row = s; row < e; row++)
            {
                DepthwiseRow(input, filter, output, g, dm, row);
                epi.Apply(output, row * g.OW * cout, 0, g.OW, cout);
            }
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DepthwiseRow(float[] input, float[] filter, float[] output, ConvGeometry g, int dm, int row)
    {
        if (dm == 1 && Avx.IsSupported && Fma.IsSupported)
        {
            DepthwiseRowAvx(input, filter, output, g, row);
            return;
        }
        // Geometry in locals: the stores through pointers below would otherwise make the JIT reload g's fields.
        int c = g.C, cout = c * dm, H = g.H, W = g.W, OW = g.OW, KH = g.KH, KW = g.KW, DH = g.DH, DW = g.DW, SW = g.SW, padLeft = g.PadLeft;
        int n = row / g.OH, oh = row % g.OH;
        int ih0 = oh * g.SH - g.PadTop;
        // taps kh in [kh0, kh1) fall inside the image
        int kh0 = ih0 >= 0 ? 0 : (-ih0 + DH - 1) / DH;
        int kh1 = Math.Min(KH, H - ih0 <= 0 ? 0 : (H - ih0 + DH - 1) / DH);
        int vecEnd = Vector256.IsHardwareAccelerated && dm == 1 ? cout / 8 * 8 : 0;
        long tapW = (long)DW * c, tapH = (long)DH * W * c; // input steps between taps
        long fTapH = (long)KW * cout;                        // filter step between kernel rows
        fixed (float* pin = input)
        fixed (float* pf = filter)
        fixed (float* pout = output)
        {
            float* img = pin + (long)n * H * W * c;
            float* orow = pout + (long)row * OW * cout;
            for (int ow = 0; ow < OW; ow++)
            {
                int iw0 = ow * SW - padLeft;
                int kw0 = iw0 >= 0 ? 0 : (-iw0 + DW - 1) / DW;
                int kw1 = Math.Min(KW, W - iw0 <= 0 ? 0 : (W - iw0 + DW - 1) / DW);
                float* o = orow + (long)ow * cout;
                // first in-window tap of this output pixel, in the input and in the filter
                float* in0 = img + ((long)(ih0 + kh0 * DH) * W + iw0 + kw0 * DW) * c;
                float* f0 = pf + (long)kh0 * fTapH + (long)kw0 * cout;
                int nh = kh1 - kh0, nw = kw1 - kw0;
                int ch = 0;
                for (; ch < vecEnd; ch += 8)
                {
                    var acc = Vector256<float>.Zero;
                    float* ir = in0 + ch;
                    float* fr = f0 + ch;
                    for (int kh = 0; kh < nh; kh++, ir += tapH, fr += fTapH)
                    {
                        float* ip = ir;
                        float* fp = fr;
                        for (int kw = 0; kw < nw; kw++, ip += tapW, fp += cout)
                            acc = MulAdd(Vector256.Load(ip), Vector256.Load(fp), acc);
                    }
                    acc.Store(o + ch);
                }
                for (; ch < cout; ch++)
                {
                    float acc = 0;
                    float* ir = in0 + ch / dm;
                    float* fr = f0 + ch;
                    for (int kh = 0; kh < nh; kh++, ir += tapH, fr += fTapH)
                        for (int kw = 0; kw < nw; kw++) acc += ir[kw * tapW] * fr[(long)kw * cout];
                    o[ch] = acc;
                }
            }
        }
    }

    /// <summary>
    /// One output row of a depth-multiplier-1 depthwise convolution with AVX/FMA. Channels go 8 at a time
    /// (a last partial group through lane masks); for each group the output pixels whose whole window is
    /// inside the image keep a 3×3 filter in registers and run unrolled, the rest clip their taps.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DepthwiseRowAvx(float[] input, float[] filter, float[] output, ConvGeometry g, int row)
    {
        int c = g.C, H = g.H, W = g.W, OW = g.OW, KH = g.KH, KW = g.KW, DH = g.DH, DW = g.DW, SW = g.SW, padLeft = g.PadLeft;
        int n = row / g.OH, oh = row % g.OH;
        int ih0 = oh * g.SH - g.PadTop;
        int kh0 = ih0 >= 0 ? 0 : (-ih0 + DH - 1) / DH;
        int kh1 = Math.Min(KH, H - ih0 <= 0 ? 0 : (H - ih0 + DH - 1) / DH);
        int nh = kh1 - kh0;
        long tapW = (long)DW * c, tapH = (long)DH * W * c, stepW = (long)SW * c;
        long fTapH = (long)KW * c;
        // Output columns whose window lies wholly inside the image: [owLo, owHi).
        int owLo = Math.Min(OW, (padLeft + SW - 1) / SW);
        int owHi = Math.Max(owLo, Math.Min(OW, W - 1 - (KW - 1) * DW + padLeft < 0 ? 0 : (W - 1 - (KW - 1) * DW + padLeft) / SW + 1));
        bool fast3x3 = KH == 3 && KW == 3 && nh == 3;
        var lanes = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
        fixed (float* pin = input)
        fixed (float* pf = filter)
        fixed (float* pout = output)
        {
            float* img = pin + (long)n * H * W * c;
            float* orow = pout + (long)row * OW * c;
            float* rowIn = img + (long)(ih0 + kh0 * DH) * W * c; // first in-image kernel row, column 0
            float* f0 = pf + (long)kh0 * fTapH;
            int ch = 0;
            if (Avx512F.IsSupported && Vector512.IsHardwareAccelerated && (owHi > owLo || DepthwiseWideBorders))
            {
                // 16 channels at a time in 512-bit registers, the whole-window columns (if any) and then the border ones.
                for (; ch + 16 <= c; ch += 16)
                {
                    if (owHi > owLo) DepthwiseInterior16(g, rowIn, f0, orow, ch, nh, owLo, owHi, fast3x3);
                    if (DepthwiseWideBorders) DepthwiseBorder16(g, rowIn, f0, orow, ch, nh, owLo, owHi);
                    else
                    {
                        DepthwiseGroup<AllLanes>(g, rowIn, f0, orow, ch, nh, owLo, owHi, fast3x3, default, interiorDone: true);
                        DepthwiseGroup<AllLanes>(g, rowIn, f0, orow, ch + 8, nh, owLo, owHi, fast3x3, default, interiorDone: true);
                    }
                }
            }
            for (; ch < c; ch += 8)
            {
                int width = Math.Min(8, c - ch);
                if (width == 8) DepthwiseGroup<AllLanes>(g, rowIn, f0, orow, ch, nh, owLo, owHi, fast3x3, default);
                else DepthwiseGroup<MaskedLanes>(g, rowIn, f0, orow, ch, nh, owLo, owHi, fast3x3, Vector256.LessThan(lanes, Vector256.Create(width)).AsSingle());
            }
        }
    }

    /// <summary>
    /// Channels [ch, ch+8) of one output row (<typeparamref name="TL"/>: all 8 lanes, or those in <paramref name="mask"/>).
    /// Whole-window columns [owLo, owHi) run with the 3×3 filter in registers two pixels at a time, or four
    /// pixels per filter-tap load for other windows; the remaining (border) columns clip their taps.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DepthwiseGroup<TL>(ConvGeometry g, float* rowIn, float* f0, float* orow, int ch, int nh, int owLo, int owHi, bool fast3x3, Vector256<float> mask, bool interiorDone = false)
        where TL : struct, ILanes
    {
        int c = g.C, W = g.W, OW = g.OW, KW = g.KW, DH = g.DH, DW = g.DW, SW = g.SW, padLeft = g.PadLeft;
        long tapW = (long)DW * c, tapH = (long)DH * W * c, stepW = (long)SW * c;
        long fTapH = (long)KW * c;

            int owQuadEnd = owLo;
            int done = interiorDone ? 1 : 0; // 1: columns [owLo, owHi) are done (by the caller when interiorDone)
            if (!interiorDone && fast3x3 && owHi > owLo)
            {
                float* fp = f0 + ch;
                Vector256<float> w00 = Ld<TL>(fp, mask), w01 = Ld<TL>(fp + c, mask), w02 = Ld<TL>(fp + 2 * c, mask);
                fp += fTapH;
                Vector256<float> w10 = Ld<TL>(fp, mask), w11 = Ld<TL>(fp + c, mask), w12 = Ld<TL>(fp + 2 * c, mask);
                fp += fTapH;
                Vector256<float> w20 = Ld<TL>(fp, mask), w21 = Ld<TL>(fp + c, mask), w22 = Ld<TL>(fp + 2 * c, mask);
                float* ip = rowIn + (long)(owLo * SW - padLeft) * c + ch;
                float* o = orow + (long)owLo * c + ch;
                int ow = owLo;
                // two output pixels per step: independent accumulation chains
                for (; ow + 1 < owHi; ow += 2, ip += 2 * stepW, o += 2 * c)
                {
                    float* r0 = ip, r1 = ip + tapH, r2 = ip + 2 * tapH;
                    float* q0 = ip + stepW, q1 = q0 + tapH, q2 = q0 + 2 * tapH;
                    var acc = Avx.Multiply(Ld<TL>(r0, mask), w00);
                    var acd = Avx.Multiply(Ld<TL>(q0, mask), w00);
                    acc = Fma.MultiplyAdd(Ld<TL>(r0 + tapW, mask), w01, acc);
                    acd = Fma.MultiplyAdd(Ld<TL>(q0 + tapW, mask), w01, acd);
                    acc = Fma.MultiplyAdd(Ld<TL>(r0 + 2 * tapW, mask), w02, acc);
                    acd = Fma.MultiplyAdd(Ld<TL>(q0 + 2 * tapW, mask), w02, acd);
                    acc = Fma.MultiplyAdd(Ld<TL>(r1, mask), w10, acc);
                    acd = Fma.MultiplyAdd(Ld<TL>(q1, mask), w10, acd);
                    acc = Fma.MultiplyAdd(Ld<TL>(r1 + tapW, mask), w11, acc);
                    acd = Fma.MultiplyAdd(Ld<TL>(q1 + tapW, mask), w11, acd);
                    acc = Fma.MultiplyAdd(Ld<TL>(r1 + 2 * tapW, mask), w12, acc);
                    acd = Fma.MultiplyAdd(Ld<TL>(q1 + 2 * tapW, mask), w12, acd);
                    acc = Fma.MultiplyAdd(Ld<TL>(r2, mask), w20, acc);
                    acd = Fma.MultiplyAdd(Ld<TL>(q2, mask), w20, acd);
                    acc = Fma.MultiplyAdd(Ld<TL>(r2 + tapW, mask), w21, acc);
                    acd = Fma.MultiplyAdd(Ld<TL>(q2 + tapW, mask), w21, acd);
                    acc = Fma.MultiplyAdd(Ld<TL>(r2 + 2 * tapW, mask), w22, acc);
                    acd = Fma.MultiplyAdd(Ld<TL>(q2 + 2 * tapW, mask), w22, acd);
                    St<TL>(o, acc, mask);
                    St<TL>(o + c, acd, mask);
                }
                for (; ow < owHi; ow++, ip += stepW, o += c)
                {
                    float* r0 = ip, r1 = ip + tapH, r2 = ip + 2 * tapH;
                    var acc = Avx.Multiply(Ld<TL>(r0, mask), w00);
                    acc = Fma.MultiplyAdd(Ld<TL>(r0 + tapW, mask), w01, acc);
                    acc = Fma.MultiplyAdd(Ld<TL>(r0 + 2 * tapW, mask), w02, acc);
                    acc = Fma.MultiplyAdd(Ld<TL>(r1, mask), w10, acc);
                    acc = Fma.MultiplyAdd(Ld<TL>(r1 + tapW, mask), w11, acc);
                    acc = Fma.MultiplyAdd(Ld<TL>(r1 + 2 * tapW, mask), w12, acc);
                    acc = Fma.MultiplyAdd(Ld<TL>(r2, mask), w20, acc);
                    acc = Fma.MultiplyAdd(Ld<TL>(r2 + tapW, mask), w21, acc);
                    acc = Fma.MultiplyAdd(Ld<TL>(r2 + 2 * tapW, mask), w22, acc);
                    St<TL>(o, acc, mask);
                }
                done = 1;
            }
            else if (!interiorDone && owHi - owLo >= 4)
            {
                // Any window: four whole-window output pixels per step share each filter tap load.
                float* ipBase = rowIn + (long)(owLo * SW - padLeft) * c + ch;
                float* o = orow + (long)owLo * c + ch;
                int ow = owLo;
                for (; ow + 3 < owHi; ow += 4, ipBase += 4 * stepW, o += 4 * c)
                {
                    Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                    float* ir = ipBase;
                    float* fr = f0 + ch;
                    for (int kh = 0; kh < nh; kh++, ir += tapH, fr += fTapH)
                    {
                        float* ipp = ir;
                        float* fpp = fr;
                        for (int kw = 0; kw < KW; kw++, ipp += tapW, fpp += c)
                        {
                            var wv = Ld<TL>(fpp, mask);
                            a0 = Fma.MultiplyAdd(Ld<TL>(ipp, mask), wv, a0);
                            a1 = Fma.MultiplyAdd(Ld<TL>(ipp + stepW, mask), wv, a1);
                            a2 = Fma.MultiplyAdd(Ld<TL>(ipp + 2 * stepW, mask), wv, a2);
                            a3 = Fma.MultiplyAdd(Ld<TL>(ipp + 3 * stepW, mask), wv, a3);
                        }
                    }
                    St<TL>(o, a0, mask);
                    St<TL>(o + c, a1, mask);
                    St<TL>(o + 2 * c, a2, mask);
                    St<TL>(o + 3 * c, a3, mask);
                }
                owQuadEnd = ow;
                done = 2;
            }
            for (int ow = 0; ow < OW; ow++)
            {
                if (done != 0 && ow == owLo)
                {
                    ow = (done == 1 ? owHi : owQuadEnd) - 1;
                    continue;
                }
                int nw = ColumnTaps(g, ow, rowIn, f0, ch, out float* ir, out float* fr);
                var acc = Vector256<float>.Zero;
                for (int kh = 0; kh < nh; kh++, ir += tapH, fr += fTapH)
                {
                    float* ipp = ir;
                    float* fpp = fr;
                    for (int kw = 0; kw < nw; kw++, ipp += tapW, fpp += c)
                        acc = Fma.MultiplyAdd(Ld<TL>(ipp, mask), Ld<TL>(fpp, mask), acc);
                }
                St<TL>(orow + (long)ow * c + ch, acc, mask);
            }
    }

    /// <summary>
    /// Channels [ch, ch+16) of the whole-window columns [owLo, owHi) of one output row in 512-bit registers (AVX-512):
    /// the 3×3 filter in registers (stride 1: four pixels per step, each input column loaded once), other windows
    /// four pixels per filter-tap load, then one by one (kept here rather than left to the 8-lane border loop: on
    /// 7×7 and 14×14 maps under a 5×5 window those few columns cost about 10%). Same products in the same order as the
    /// 8-lane <see cref="DepthwiseGroup{TL}"/>, so the same results.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DepthwiseInterior16(ConvGeometry g, float* rowIn, float* f0, float* orow, int ch, int nh, int owLo, int owHi, bool fast3x3)
    {
        int c = g.C, W = g.W, KW = g.KW, DH = g.DH, DW = g.DW, SW = g.SW, padLeft = g.PadLeft;
        long tapW = (long)DW * c, tapH = (long)DH * W * c, stepW = (long)SW * c;
        long fTapH = (long)KW * c;
        float* ipBase = rowIn + (long)(owLo * SW - padLeft) * c + ch;
        float* o = orow + (long)owLo * c + ch;
        int ow = owLo;
        if (fast3x3)
        {
            float* fp = f0 + ch;
            Vector512<float> w00 = Vector512.Load(fp), w01 = Vector512.Load(fp + c), w02 = Vector512.Load(fp + 2 * c);
            fp += fTapH;
            Vector512<float> w10 = Vector512.Load(fp), w11 = Vector512.Load(fp + c), w12 = Vector512.Load(fp + 2 * c);
            fp += fTapH;
            Vector512<float> w20 = Vector512.Load(fp), w21 = Vector512.Load(fp + c), w22 = Vector512.Load(fp + 2 * c);
            if (SW == 1 && DW == 1)
            {
                // Stride 1: four pixels per step from six input columns per filter row, each loaded once (18 loads
                // for 36 multiply-adds instead of 36); per pixel the same products in the same order.
                for (; ow + 3 < owHi; ow += 4, ipBase += 4 * c, o += 4 * c)
                {
                    float* r = ipBase;
                    var x0 = Vector512.Load(r); var x1 = Vector512.Load(r + c); var x2 = Vector512.Load(r + 2 * c);
                    var x3 = Vector512.Load(r + 3 * c); var x4 = Vector512.Load(r + 4 * c); var x5 = Vector512.Load(r + 5 * c);
                    var a0 = x0 * w00; var a1 = x1 * w00; var a2 = x2 * w00; var a3 = x3 * w00;
                    a0 = Avx512F.FusedMultiplyAdd(x1, w01, a0); a1 = Avx512F.FusedMultiplyAdd(x2, w01, a1);
                    a2 = Avx512F.FusedMultiplyAdd(x3, w01, a2); a3 = Avx512F.FusedMultiplyAdd(x4, w01, a3);
                    a0 = Avx512F.FusedMultiplyAdd(x2, w02, a0); a1 = Avx512F.FusedMultiplyAdd(x3, w02, a1);
                    a2 = Avx512F.FusedMultiplyAdd(x4, w02, a2); a3 = Avx512F.FusedMultiplyAdd(x5, w02, a3);
                    Slide3(r + tapH, c, w10, w11, w12, ref a0, ref a1, ref a2, ref a3);
                    Slide3(r + 2 * tapH, c, w20, w21, w22, ref a0, ref a1, ref a2, ref a3);
                    a0.Store(o);
                    a1.Store(o + c);
                    a2.Store(o + 2 * c);
                    a3.Store(o + 3 * c);
                }
            }
            for (; ow < owHi; ow++, ipBase += stepW, o += c)
            {
                float* r0 = ipBase, r1 = ipBase + tapH, r2 = ipBase + 2 * tapH;
                var acc = Vector512.Load(r0) * w00;
                acc = Avx512F.FusedMultiplyAdd(Vector512.Load(r0 + tapW), w01, acc);
                acc = Avx512F.FusedMultiplyAdd(Vector512.Load(r0 + 2 * tapW), w02, acc);
                acc = Avx512F.FusedMultiplyAdd(Vector512.Load(r1), w10, acc);
                acc = Avx512F.FusedMultiplyAdd(Vector512.Load(r1 + tapW), w11, acc);
                acc = Avx512F.FusedMultiplyAdd(Vector512.Load(r1 + 2 * tapW), w12, acc);
                acc = Avx512F.FusedMultiplyAdd(Vector512.Load(r2), w20, acc);
                acc = Avx512F.FusedMultiplyAdd(Vector512.Load(r2 + tapW), w21, acc);
                acc = Avx512F.FusedMultiplyAdd(Vector512.Load(r2 + 2 * tapW), w22, acc);
                acc.Store(o);
            }
            return;
        }
        for (; ow + 3 < owHi; ow += 4, ipBase += 4 * stepW, o += 4 * c)
        {
            Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
            float* ir = ipBase;
            float* fr = f0 + ch;
            for (int kh = 0; kh < nh; kh++, ir += tapH, fr += fTapH)
            {
                float* ipp = ir;
                float* fpp = fr;
                if (SW == 1 && DW == 1)
                {
                    // Stride 1: the four pixels' taps slide along one row of input columns, each loaded once.
                    var x0 = Vector512.Load(ipp);
                    var x1 = Vector512.Load(ipp + c);
                    var x2 = Vector512.Load(ipp + 2 * c);
                    for (int kw = 0; kw < KW; kw++, fpp += c)
                    {
                        var x3 = Vector512.Load(ipp + (long)(kw + 3) * c);
                        var wv = Vector512.Load(fpp);
                        a0 = Avx512F.FusedMultiplyAdd(x0, wv, a0);
                        a1 = Avx512F.FusedMultiplyAdd(x1, wv, a1);
                        a2 = Avx512F.FusedMultiplyAdd(x2, wv, a2);
                        a3 = Avx512F.FusedMultiplyAdd(x3, wv, a3);
                        x0 = x1;
                        x1 = x2;
                        x2 = x3;
                    }
                    continue;
                }
                for (int kw = 0; kw < KW; kw++, ipp += tapW, fpp += c)
                {
                    var wv = Vector512.Load(fpp);
                    a0 = Avx512F.FusedMultiplyAdd(Vector512.Load(ipp), wv, a0);
                    a1 = Avx512F.FusedMultiplyAdd(Vector512.Load(ipp + stepW), wv, a1);
                    a2 = Avx512F.FusedMultiplyAdd(Vector512.Load(ipp + 2 * stepW), wv, a2);
                    a3 = Avx512F.FusedMultiplyAdd(Vector512.Load(ipp + 3 * stepW), wv, a3);
                }
            }
            a0.Store(o);
            a1.Store(o + c);
            a2.Store(o + 2 * c);
            a3.Store(o + 3 * c);
        }
        for (; ow < owHi; ow++, ipBase += stepW, o += c)
        {
            var acc = Vector512<float>.Zero;
            float* ir = ipBase;
            float* fr = f0 + ch;
            for (int kh = 0; kh < nh; kh++, ir += tapH, fr += fTapH)
            {
                float* ipp = ir;
                float* fpp = fr;
                for (int kw = 0; kw < KW; kw++, ipp += tapW, fpp += c)
                    acc = Avx512F.FusedMultiplyAdd(Vector512.Load(ipp), Vector512.Load(fpp), acc);
            }
            acc.Store(o);
        }
    }

    /// <summary>Whether the border columns of 16-channel blocks go in 16-lane registers (tests and benchmarks compare both).</summary>
    internal static bool DepthwiseWideBorders = true;

    /// <summary>
    /// Channels [ch, ch+16) of the border columns of one output row (those outside [owLo, owHi), whose windows the image
    /// clips) in one 512-bit register each: the taps inside the image, kernel row by row, from a zero accumulator, as the
    /// 8-lane border loop of <see cref="DepthwiseGroup{TL}"/> adds them, so the same results. On 7×7 maps under a 5×5 window
    /// four of the seven columns are border columns.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void DepthwiseBorder16(ConvGeometry g, float* rowIn, float* f0, float* orow, int ch, int nh, int owLo, int owHi)
    {
        int c = g.C, W = g.W, OW = g.OW, KW = g.KW, DH = g.DH, DW = g.DW;
        long tapW = (long)DW * c, tapH = (long)DH * W * c;
        long fTapH = (long)KW * c;
        for (int ow = 0; ow < OW; ow++)
        {
            if (ow == owLo) ow = owHi;
            if (ow >= OW) break;
            int nw = ColumnTaps(g, ow, rowIn, f0, ch, out float* ir, out float* fr);
            var acc = Vector512<float>.Zero;
            for (int kh = 0; kh < nh; kh++, ir += tapH, fr += fTapH)
            {
                float* ipp = ir;
                float* fpp = fr;
                for (int kw = 0; kw < nw; kw++, ipp += tapW, fpp += c)
                    acc = Avx512F.FusedMultiplyAdd(Vector512.Load(ipp), Vector512.Load(fpp), acc);
            }
            acc.Store(orow + (long)ow * c + ch);
        }
    }

    /// <summary>
    /// The taps of output column <paramref name="ow"/> that fall inside the image horizontally: how many, and the first one's
    /// input (<paramref name="ir"/>, from <paramref name="rowIn"/>) and filter (<paramref name="fr"/>) addresses at channel <paramref name="ch"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe int ColumnTaps(ConvGeometry g, int ow, float* rowIn, float* f0, int ch, out float* ir, out float* fr)
    {
        int c = g.C, DW = g.DW;
        int iw0 = ow * g.SW - g.PadLeft;
        int kw0 = iw0 >= 0 ? 0 : (-iw0 + DW - 1) / DW;
        int kw1 = Math.Min(g.KW, g.W - iw0 <= 0 ? 0 : (g.W - iw0 + DW - 1) / DW);
        ir = rowIn + (long)(iw0 + kw0 * DW) * c + ch;
        fr = f0 + (long)kw0 * c + ch;
        return kw1 - kw0;
    }

    /// <summary>One filter row of the stride-1 3×3 step: four pixels' accumulators += six input columns × three taps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Slide3(float* r, int c, Vector512<float> w0, Vector512<float> w1, Vector512<float> w2,
        ref Vector512<float> a0, ref Vector512<float> a1, ref Vector512<float> a2, ref Vector512<float> a3)
    {
        var x0 = Vector512.Load(r); var x1 = Vector512.Load(r + c); var x2 = Vector512.Load(r + 2 * c);
        var x3 = Vector512.Load(r + 3 * c); var x4 = Vector512.Load(r + 4 * c); var x5 = Vector512.Load(r + 5 * c);
        a0 = Avx512F.FusedMultiplyAdd(x0, w0, a0); a1 = Avx512F.FusedMultiplyAdd(x1, w0, a1);
        a2 = Avx512F.FusedMultiplyAdd(x2, w0, a2); a3 = Avx512F.FusedMultiplyAdd(x3, w0, a3);
        a0 = Avx512F.FusedMultiplyAdd(x1, w1, a0); a1 = Avx512F.FusedMultiplyAdd(x2, w1, a1);
        a2 = Avx512F.FusedMultiplyAdd(x3, w1, a2); a3 = Avx512F.FusedMultiplyAdd(x4, w1, a3);
        a0 = Avx512F.FusedMultiplyAdd(x2, w2, a0); a1 = Avx512F.FusedMultiplyAdd(x3, w2, a1);
        a2 = Avx512F.FusedMultiplyAdd(x4, w2, a2); a3 = Avx512F.FusedMultiplyAdd(x5, w2, a3);
    }

    /// <summary>Lane selection of a depthwise channel group, fixed per instantiation so the loads and stores carry no branch.</summary>
    private interface ILanes
    {
        static abstract bool Full { get; }
    }

    private struct AllLanes : ILanes
    {
        public static bool Full => true;
    }

    private struct MaskedLanes : ILanes
    {
        public static bool Full => false;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void St<TL>(float* p, Vector256<float> v, Vector256<float> mask) where TL : struct, ILanes
    {
        if (TL.Full) v.Store(p);
        else Avx.MaskStore(p, mask, v);
    }

    /// <summary>8 floats at p, or only the lanes in <paramref name="mask"/> (others 0, never read).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<float> Ld<TL>(float* p, Vector256<float> mask) where TL : struct, ILanes =>
        TL.Full ? Vector256.Load(p) : Avx.MaskLoad(p, mask);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> acc) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, acc) : a * b + acc;

    // ------------------------------------------------------------------ transposed convolution

    private static void Conv2DBackpropInput(KernelContext ctx)
    {
        var sizes = ctx.Input(0).ToInt32Array();
        var f = ctx.Input(1);
        var dy = ctx.Input(2);
        CheckFloat(ctx, dy);
        if (sizes.Length != 4) throw ctx.Error($"needs input_sizes of 4 elements, got {sizes.Length}.");
        if (dy.Rank != 4) throw ctx.Error($"needs a 4-D out_backprop, got {Tensor.FormatShape(dy.Shape)}.");
        var g = FilterGeometry(ctx, sizes, f, "[h, w, in, out]", "input_sizes");
        int cin = f.Shape[2], cout = f.Shape[3];
        int[] dyNhwc = g.Nchw ? [dy.Shape[0], dy.Shape[2], dy.Shape[3], dy.Shape[1]] : dy.Shape;
        if (dyNhwc[0] != g.N || dyNhwc[1] != g.OH || dyNhwc[2] != g.OW || dyNhwc[3] != cout)
            throw ctx.Error($"has out_backprop of shape {Tensor.FormatShape(dy.Shape)} but the forward convolution gives {Tensor.FormatShape(g.OutShape(cout))}.");
        var dyf = FloatConvert.ToFloat(dy).As<float>();
        if (g.Nchw) dyf = ConvGeometry.ToNhwc(dyf, dy.Shape);
        int kdim = g.KH * g.KW * cin;
        int pixels = g.OH * g.OW;
        // filterᵀ [cout × (kh, kw, ci)] packed for the GEMM, once per session while the filter is a constant
        var packed = ctx.Prepared(1, t => Gemm.PackB(true, cout, kdim, FloatConvert.ToFloat(t).As<float>(), 0, cout));
        var result = ctx.Allocate<float>((long)g.N * g.H * g.W * cin, clear: true);
        int threads = ctx.Options.IntraOpThreads;
        int gemmThreads = g.N >= threads ? 1 : Math.Max(1, threads / Math.Max(1, g.N));
        KernelParallel.ForEach(Math.Min(threads, Math.Max(1, g.N)), g.N, n =>
        {
            // cols[pixel, (kh, kw, ci)] = dy[pixel, :] · filter[(kh, kw, ci), :]ᵀ
            var cols = ArrayPool<float>.Shared.Rent(checked(pixels * kdim));
            try
            {
                Gemm.SgemmPacked(false, pixels, dyf, n * pixels * cout, cout, packed, cols, 0, kdim, false, gemmThreads);
                Col2Im(cols, result, g, n, kdim);
            }
            finally
            {
                ArrayPool<float>.Shared.Return(cols);
            }
        });
        int[] nhwc = [g.N, g.H, g.W, cin];
        var data = g.Nchw ? ConvGeometry.ToNchw(result, nhwc) : result;
        ctx.SetOutput(0, FloatConvert.FromFloat(Tensor.Over(DataType.DtFloat, sizes, data), dy.DType));
    }

    /// <summary>Adds each pixel's patch row of cols (kh, kw, ci order) into image n of result at the window's place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Col2Im(float[] cols, float[] result, ConvGeometry g, int n, int kdim)
    {
        int cin = g.C, pixels = g.OH * g.OW, H = g.H, W = g.W, KH = g.KH, KW = g.KW;
        fixed (float* pc = cols)
        fixed (float* pr = result)
        {
            float* img = pr + (long)n * H * W * cin;
            for (int p = 0; p < pixels; p++)
            {
                int oh = p / g.OW, ow = p % g.OW;
                int ih0 = oh * g.SH - g.PadTop, iw0 = ow * g.SW - g.PadLeft;
                float* patch = pc + (long)p * kdim;
                for (int kh = 0; kh < KH; kh++)
                {
                    int ih = ih0 + kh * g.DH;
                    if ((uint)ih >= (uint)H) continue;
                    for (int kw = 0; kw < KW; kw++)
                    {
                        int iw = iw0 + kw * g.DW;
                        if ((uint)iw >= (uint)W) continue;
                        float* dst = img + ((long)ih * W + iw) * cin;
                        float* src = patch + (kh * KW + kw) * cin;
                        if (cin >= 16)
                        {
                            var d = new Span<float>(dst, cin);
                            System.Numerics.Tensors.TensorPrimitives.Add(d, new ReadOnlySpan<float>(src, cin), d);
                        }
                        else
                        {
                            // few channels (an image-producing decoder's last layers): inline, no call per pixel
                            for (int ci = 0; ci < cin; ci++) dst[ci] += src[ci];
                        }
                    }
                }
            }
        }
    }
}
