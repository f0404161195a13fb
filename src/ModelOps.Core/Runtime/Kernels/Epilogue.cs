using System.Runtime.CompilerServices;
using System.Numerics.Tensors;

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
        for (int r = row0; r < row1; r++)
        {
            var row = c.AsSpan(cOff + r * cols, cols);
            if (Scale is not null) TensorPrimitives.Multiply(row, Scale, row);
            if (Shift is not null) TensorPrimitives.Add(row, Shift, row);
            if (Residual is not null) TensorPrimitives.Add(row, Residual.AsSpan(cOff + r * cols, cols), row);
            Kernels.Activation.Apply(Activation, row, LeakyAlpha);
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
    public static T[] Run<T>(T[] src, int[] shape, int[] perm)
    {
        int rank = shape.Length;
        var outShape = new int[rank];
        for (int i = 0; i < rank; i++) outShape[i] = shape[perm[i]];
        var dst = new T[src.Length];
        if (src.Length == 0) return dst;
        bool identity = true;
        for (int i = 0; i < rank; i++) identity &= perm[i] == i;
        if (identity) { Array.Copy(src, dst, src.Length); return dst; }
        var inStrides = new long[rank];
        long s = 1;
        for (int i = rank - 1; i >= 0; i--) { inStrides[i] = s; s *= shape[i]; }
        var st = new long[rank];
        for (int i = 0; i < rank; i++) st[i] = inStrides[perm[i]];
        // odometer over the output, innermost dim unrolled
        int inner = outShape[rank - 1];
        long innerStride = st[rank - 1];
        var idx = new int[rank];
        long srcOff = 0;
        for (long o = 0; o < dst.Length; o += inner)
        {
            for (int j = 0; j < inner; j++) dst[o + j] = src[srcOff + j * innerStride];
            for (int d = rank - 2; d >= 0; d--)
            {
                idx[d]++;
                srcOff += st[d];
                if (idx[d] < outShape[d]) break;
                srcOff -= st[d] * outShape[d];
                idx[d] = 0;
            }
        }
        return dst;
    }

    public static int[] Shape(int[] shape, int[] perm) => perm.Select(p => shape[p]).ToArray();
}
