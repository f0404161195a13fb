using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelOps.Core.Runtime.Kernels;

/// <summary>
/// What a fused op does to each output row (one row = one pixel or one matrix row, channels last):
/// row = act(row * Scale + Shift + Residual). Any part may be absent.
/// </summary>
public sealed class Epilogue
{
    public float[]? Scale { get; init; }
    public float[]? Shift { get; init; }
    /// <summary>A tensor of the output's shape added before the activation (fused "Add").</summary>
    public float[]? Residual { get; init; }
    /// <summary>Where <see cref="Residual"/> starts in the output's index space: output element i adds Residual[i − ResidualBase] (0: same index).</summary>
    public int ResidualBase { get; init; }
    public FusedActivation Activation { get; init; }
    public float LeakyAlpha { get; init; } = 0.2f;

    public bool IsEmpty => Scale is null && Shift is null && Residual is null && Activation == FusedActivation.None;

    /// <summary>This epilogue with another residual (and where it starts in the output's index space); the rest unchanged.</summary>
    public Epilogue WithResidual(float[]? residual, int residualBase = 0) => new()
    {
        Scale = Scale, Shift = Shift, Activation = Activation, LeakyAlpha = LeakyAlpha, Residual = residual, ResidualBase = residualBase,
    };

    /// <summary>Applies the epilogue to rows [row0, row1) of a row-major [rows × cols] buffer.</summary>
    public unsafe void Apply(float[] c, int cOff, int row0, int row1, int cols)
    {
        if (IsEmpty || row1 <= row0 || cols <= 0) return;
        bool linear = Kernels.Activation.IsPiecewiseLinear(Activation);
        long start = cOff + (long)row0 * cols, end = cOff + (long)row1 * cols;
        if (start < 0 || end > c.Length || (Residual is not null && (start < ResidualBase || end - ResidualBase > Residual.Length)) || (Scale is not null && Scale.Length < cols) || (Shift is not null && Shift.Length < cols))
            throw new ArgumentException("The epilogue's rows, vectors or residual do not fit the buffer.");
        // One vectorized pass over the block for scale, shift, residual and a piecewise-linear activation; a
        // transcendental activation then runs over the whole (contiguous) block at once.
        if (linear || Scale is not null || Shift is not null || Residual is not null)
            fixed (float* pc = c)
            fixed (float* pScale = Scale)
            fixed (float* pShift = Shift)
            fixed (float* pRes = Residual)
                ApplyBlock(pc + start, cols, row1 - row0, cols, pScale, pShift, pRes == null ? null : pRes + (start - ResidualBase), linear ? Activation : FusedActivation.None, LeakyAlpha);
        if (!linear) Kernels.Activation.Apply(Activation, c.AsSpan((int)start, (int)(end - start)), LeakyAlpha);
    }

    /// <summary>
    /// rows × cols of C (row stride ldc) = act(C·scale + shift + res): scale/shift per column (null: absent), res
    /// laid out like C (null: absent), act piecewise linear. One routine for every user (the GEMM's tiles, the
    /// depthwise rows, <see cref="Apply"/>), so a fused epilogue gives the same bits wherever it runs.
    /// </summary>
    internal static unsafe void ApplyBlock(float* c, int ldc, int rows, int cols, float* scale, float* shift, float* res, FusedActivation act, float alpha)
    {
        // One specialised loop per activation (no per-vector dispatch); the shift-only form (a bias) has its own.
        switch (act)
        {
            case FusedActivation.Relu: Block<ReluAct>(c, ldc, rows, cols, scale, shift, res, alpha); break;
            case FusedActivation.Relu6: Block<Relu6Act>(c, ldc, rows, cols, scale, shift, res, alpha); break;
            case FusedActivation.LeakyRelu: Block<LeakyAct>(c, ldc, rows, cols, scale, shift, res, alpha); break;
            default: Block<NoAct>(c, ldc, rows, cols, scale, shift, res, alpha); break;
        }
    }

    /// <summary>A piecewise-linear activation on 16 and on 8 lanes (NaN stays NaN) and on one value.</summary>
    internal interface IAct
    {
        static abstract Vector512<float> Apply(Vector512<float> v, Vector512<float> alpha);
        static abstract Vector256<float> Apply(Vector256<float> v, Vector256<float> alpha);
        static abstract float Apply(float v, float alpha);
    }

    internal readonly struct NoAct : IAct
    {
        public static Vector512<float> Apply(Vector512<float> v, Vector512<float> alpha) => v;
        public static Vector256<float> Apply(Vector256<float> v, Vector256<float> alpha) => v;
        public static float Apply(float v, float alpha) => v;
    }

    internal readonly struct ReluAct : IAct
    {
        // maxps returns its second operand when either is NaN: NaN passes through.
        public static Vector512<float> Apply(Vector512<float> v, Vector512<float> alpha) => Avx512F.Max(Vector512<float>.Zero, v);
        public static Vector256<float> Apply(Vector256<float> v, Vector256<float> alpha) => Kernels.Activation.Vec(FusedActivation.Relu, v, alpha);
        public static float Apply(float v, float alpha) => Kernels.Activation.Scalar(FusedActivation.Relu, v, alpha);
    }

    internal readonly struct Relu6Act : IAct
    {
        public static Vector512<float> Apply(Vector512<float> v, Vector512<float> alpha) => Avx512F.Min(Vector512.Create(6f), Avx512F.Max(Vector512<float>.Zero, v));
        public static Vector256<float> Apply(Vector256<float> v, Vector256<float> alpha) => Kernels.Activation.Vec(FusedActivation.Relu6, v, alpha);
        public static float Apply(float v, float alpha) => Kernels.Activation.Scalar(FusedActivation.Relu6, v, alpha);
    }

    internal readonly struct LeakyAct : IAct
    {
        public static Vector512<float> Apply(Vector512<float> v, Vector512<float> alpha) => Vector512.ConditionalSelect(Vector512.LessThan(v, Vector512<float>.Zero), v * alpha, v);
        public static Vector256<float> Apply(Vector256<float> v, Vector256<float> alpha) => Kernels.Activation.Vec(FusedActivation.LeakyRelu, v, alpha);
        public static float Apply(float v, float alpha) => Kernels.Activation.Scalar(FusedActivation.LeakyRelu, v, alpha);
    }

    /// <summary>
    /// The block loop of <see cref="ApplyBlock"/> for one activation: 16 lanes at a time on AVX-512, then 8, then a
    /// partial 8-lane tail (AVX, plain moves of 4, 2, 1), then scalars. Lane-wise v·scale + shift + res then act, in that order, on every
    /// path, so the vector width never changes a result.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Block<TAct>(float* c, int ldc, int rows, int cols, float* scale, float* shift, float* res, float alpha) where TAct : struct, IAct
    {
        var va = Vector256.Create(alpha);
        var va512 = Vector512.Create(alpha);
        bool wide = Avx512F.IsSupported && Vector512.IsHardwareAccelerated;
        if (wide && ldc == cols && cols < 64 && (cols & 15) != 0 && rows > 1)
        {
            Flat<TAct>(c, rows, cols, scale, shift, res, alpha);
            return;
        }
        bool biasOnly = scale == null && res == null && shift != null;
        for (int r = 0; r < rows; r++)
        {
            float* row = c + (long)r * ldc;
            float* rr = res == null ? null : res + (long)r * ldc;
            int j = 0;
            if (wide)
            {
                if (biasOnly)
                    for (; j <= cols - 16; j += 16)
                        TAct.Apply(Vector512.Load(row + j) + Vector512.Load(shift + j), va512).Store(row + j);
                else
                    for (; j <= cols - 16; j += 16)
                    {
                        var v = Vector512.Load(row + j);
                        if (scale != null) v *= Vector512.Load(scale + j);
                        if (shift != null) v += Vector512.Load(shift + j);
                        if (rr != null) v += Vector512.Load(rr + j);
                        TAct.Apply(v, va512).Store(row + j);
                    }
            }
            if (Vector256.IsHardwareAccelerated)
            {
                for (; j <= cols - 8; j += 8)
                {
                    var v = Vector256.Load(row + j);
                    if (scale != null) v *= Vector256.Load(scale + j);
                    if (shift != null) v += Vector256.Load(shift + j);
                    if (rr != null) v += Vector256.Load(rr + j);
                    TAct.Apply(v, va).Store(row + j);
                }
                if (j < cols && Avx.IsSupported)
                {
                    int n = cols - j;
                    var v = PartialVec.Load(row + j, n);
                    if (scale != null) v *= PartialVec.Load(scale + j, n);
                    if (shift != null) v += PartialVec.Load(shift + j, n);
                    if (rr != null) v += PartialVec.Load(rr + j, n);
                    PartialVec.Store(row + j, TAct.Apply(v, va), n);
                    continue;
                }
            }
            for (; j < cols; j++)
            {
                float v = row[j];
                if (scale != null) v *= scale[j];
                if (shift != null) v += shift[j];
                if (rr != null) v += rr[j];
                row[j] = TAct.Apply(v, alpha);
            }
        }
    }

    /// <summary>
    /// <see cref="Block{TAct}"/> for contiguous rows narrower than 64 columns and not a multiple of 16 (a 1×1 convolution
    /// to 10 channels): the rows run as one flat array, 16 lanes at a time, with the scale and shift repeated into lane
    /// patterns (one per phase of the row), instead of one short row at a time with a partial tail each. Same lane-wise
    /// operations in the same order, so the same bits.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Flat<TAct>(float* c, int rows, int cols, float* scale, float* shift, float* res, float alpha) where TAct : struct, IAct
    {
        // pattern[p + i] = vector[(p + i) % cols]: 16 lanes starting at any phase p < cols.
        int span = cols + 16;
        float* sc = null, sh = null;
        if (scale != null)
        {
            float* pattern = stackalloc float[span];
            for (int i = 0; i < span; i++) pattern[i] = scale[i % cols];
            sc = pattern;
        }
        if (shift != null)
        {
            float* pattern = stackalloc float[span];
            for (int i = 0; i < span; i++) pattern[i] = shift[i % cols];
            sh = pattern;
        }
        var va = Vector512.Create(alpha);
        long total = (long)rows * cols, f = 0;
        int p = 0;
        for (; f <= total - 16; f += 16)
        {
            var v = Vector512.Load(c + f);
            if (sc != null) v *= Vector512.Load(sc + p);
            if (sh != null) v += Vector512.Load(sh + p);
            if (res != null) v += Vector512.Load(res + f);
            TAct.Apply(v, va).Store(c + f);
            p += 16;
            while (p >= cols) p -= cols;
        }
        for (; f < total; f++)
        {
            float v = c[f];
            if (sc != null) v *= sc[p];
            if (sh != null) v += sh[p];
            if (res != null) v += res[f];
            c[f] = TAct.Apply(v, alpha);
            if (++p == cols) p = 0;
        }
    }

    /// <summary>Applies the epilogue to a whole [rows × cols] buffer using up to <paramref name="threads"/> threads.</summary>
    public void ApplyAll(float[] c, int rows, int cols, int threads)
    {
        if (IsEmpty) return;
        if (threads <= 1 || (long)rows * cols < 16_384) Apply(c, 0, 0, rows, cols); // small: no closure, no hand-off
        else ApplyParallel(c, rows, cols, threads);
    }

    private void ApplyParallel(float[] c, int rows, int cols, int threads) =>
        KernelParallel.For(threads, rows, cols * 4L, (s, e) => Apply(c, 0, s, e, cols));
}

/// <summary>Generic permutation of a dense row-major array (the engine's Transpose op lives elsewhere).</summary>
public static class Permute
{
    public static T[] Run<T>(T[] src, int[] shape, int[] perm) where T : unmanaged
    {
        int rank = shape.Length;
        var outShape = new int[rank];
        for (int i = 0; i < rank; i++) outShape[i] = shape[perm[i]];
        var inStrides = new long[rank];
        long s = 1;
        for (int i = rank - 1; i >= 0; i--) { inStrides[i] = s; s *= shape[i]; }
        var step = new long[rank];
        for (int i = 0; i < rank; i++) step[i] = inStrides[perm[i]];
        return Ops.DataMovement.CopyStrided(src, outShape, 0, step);
    }

    public static int[] Shape(int[] shape, int[] perm) => perm.Select(p => shape[p]).ToArray();
}
