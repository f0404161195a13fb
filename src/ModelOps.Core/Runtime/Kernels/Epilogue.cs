using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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
    public FusedActivation Activation { get; init; }
    public float LeakyAlpha { get; init; } = 0.2f;

    public bool IsEmpty => Scale is null && Shift is null && Residual is null && Activation == FusedActivation.None;

    /// <summary>Applies the epilogue to rows [row0, row1) of a row-major [rows × cols] buffer.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public void Apply(float[] c, int cOff, int row0, int row1, int cols)
    {
        if (IsEmpty) return;
        bool linear = Kernels.Activation.IsPiecewiseLinear(Activation);
        // One vectorized pass per row for scale, shift, residual and a piecewise-linear activation; a
        // transcendental activation then runs over the whole (contiguous) block of rows at once.
        if (linear || Scale is not null || Shift is not null || Residual is not null)
            for (int r = row0; r < row1; r++)
                FusedRow(c.AsSpan(cOff + r * cols, cols), Residual is null ? default : Residual.AsSpan(cOff + r * cols, cols), linear ? Activation : FusedActivation.None);
        if (!linear) Kernels.Activation.Apply(Activation, c.AsSpan(cOff + row0 * cols, (row1 - row0) * cols), LeakyAlpha);
    }

    /// <summary>row = act(row·Scale + Shift + residual) in one vectorized pass (piecewise-linear activations).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private unsafe void FusedRow(Span<float> row, ReadOnlySpan<float> residual, FusedActivation act)
    {
        int n = row.Length, i = 0;
        float alpha = LeakyAlpha;
        bool hasScale = Scale is not null, hasShift = Shift is not null, hasRes = Residual is not null;
        if ((hasScale && Scale!.Length < n) || (hasShift && Shift!.Length < n)) throw new ArgumentException("Epilogue vectors are shorter than the row.");
        fixed (float* pr = row)
        fixed (float* pres = residual)
        fixed (float* psc = Scale)
        fixed (float* psh = Shift)
        {
            if (Vector256.IsHardwareAccelerated)
            {
                var va = Vector256.Create(alpha);
                for (; i <= n - 8; i += 8)
                {
                    var v = Vector256.Load(pr + i);
                    if (hasScale) v *= Vector256.Load(psc + i);
                    if (hasShift) v += Vector256.Load(psh + i);
                    if (hasRes) v += Vector256.Load(pres + i);
                    Kernels.Activation.Vec(act, v, va).Store(pr + i);
                }
            }
            for (; i < n; i++)
            {
                float v = pr[i];
                if (hasScale) v *= psc[i];
                if (hasShift) v += psh[i];
                if (hasRes) v += pres[i];
                pr[i] = Kernels.Activation.Scalar(act, v, alpha);
            }
        }
    }

    /// <summary>Applies the epilogue to a whole [rows × cols] buffer using up to <paramref name="threads"/> threads.</summary>
    public void ApplyAll(float[] c, int rows, int cols, int threads)
    {
        if (IsEmpty) return;
        KernelParallel.For(threads, rows, cols * 4L, (s, e) => Apply(c, 0, s, e, cols));
    }
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
