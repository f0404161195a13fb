using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using ModelOps.Core.Protos;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.TfLite.Kernels;

/// <summary>
/// Integer dot products for the 8-bit kernels. Operands are int16 holding 8-bit values with their zero point already
/// removed (so each lies in [-255, 255]); products and sums are int32 and wrap as TFLite's int32 accumulators do.
/// x86: AVX2 / SSE2 pmaddwd (pairs of int16 products added into int32; |a·b + c·d| ≤ 2·255² cannot saturate);
/// elsewhere the scalar loop. Every path adds the same products, so the results are identical.
/// </summary>
internal static class IntDot
{
    /// <summary>8-bit tensor values + offset as int16 (offset in [-255, 255]), then <paramref name="extra"/> zeros.</summary>
    public static short[] Shorts(Tensor t, int offset, int extra = 0)
    {
        var r = new short[t.Length + extra];
        switch (t.Data)
        {
            case sbyte[] a when t.DType == DataType.DtInt8: for (int i = 0; i < a.Length; i++) r[i] = (short)(a[i] + offset); break;
            case byte[] a when t.DType == DataType.DtUint8: for (int i = 0; i < a.Length; i++) r[i] = (short)(a[i] + offset); break;
            default: throw new InvalidOperationException($"{t.DType} is not an 8-bit integer type");
        }
        return r;
    }

    [ThreadStatic] private static short[]? t_shorts;
    [ThreadStatic] private static int[]? t_ints;

    /// <summary>
    /// As <see cref="Shorts"/>, into this thread's scratch buffer (reused by the next call on the thread, so only for
    /// an input the calling kernel consumes before it returns); the buffer may be longer than asked.
    /// </summary>
    public static short[] ShortsScratch(Tensor t, int offset, int extra = 0)
    {
        int n = t.Length;
        var r = t_shorts;
        if (r is null || r.Length < n + extra) t_shorts = r = new short[n + extra];
        switch (t.Data)
        {
            case sbyte[] a when t.DType == DataType.DtInt8: for (int i = 0; i < n; i++) r[i] = (short)(a[i] + offset); break;
            case byte[] a when t.DType == DataType.DtUint8: for (int i = 0; i < n; i++) r[i] = (short)(a[i] + offset); break;
            default: throw new InvalidOperationException($"{t.DType} is not an 8-bit integer type");
        }
        Array.Clear(r, n, extra);
        return r;
    }

    /// <summary>8-bit tensor values + offset as int32, into this thread's scratch buffer (see <see cref="ShortsScratch"/>).</summary>
    public static int[] IntsScratch(Tensor t, int offset)
    {
        int n = t.Length;
        var r = t_ints;
        if (r is null || r.Length < n) t_ints = r = new int[n];
        switch (t.Data)
        {
            case sbyte[] a when t.DType == DataType.DtInt8: for (int i = 0; i < n; i++) r[i] = a[i] + offset; break;
            case byte[] a when t.DType == DataType.DtUint8: for (int i = 0; i < n; i++) r[i] = a[i] + offset; break;
            default: throw new InvalidOperationException($"{t.DType} is not an 8-bit integer type");
        }
        return r;
    }

    /// <summary>Σ x[k]·f[k] for k &lt; len.</summary>
    public static int Dot(ref short x, ref short f, int len)
    {
        int k = 0, s = 0;
        unchecked
        {
            if (Avx2.IsSupported && len >= 16)
            {
                var a = Vector256<int>.Zero;
                for (; k <= len - 16; k += 16)
                    a = Avx2.Add(a, Avx2.MultiplyAddAdjacent(Vector256.LoadUnsafe(ref x, (nuint)k), Vector256.LoadUnsafe(ref f, (nuint)k)));
                s = Vector256.Sum(a);
            }
            if (Sse2.IsSupported && len - k >= 8)
            {
                var a = Vector128<int>.Zero;
                for (; k <= len - 8; k += 8)
                    a = Sse2.Add(a, Sse2.MultiplyAddAdjacent(Vector128.LoadUnsafe(ref x, (nuint)k), Vector128.LoadUnsafe(ref f, (nuint)k)));
                s += Vector128.Sum(a);
            }
            for (; k < len; k++) s += Unsafe.Add(ref x, k) * Unsafe.Add(ref f, k);
        }
        return s;
    }

    /// <summary>Four dot products of x with the rows f, f + stride, f + 2·stride, f + 3·stride, into r[0..3].</summary>
    public static void Dot4(ref short x, ref short f, int stride, int len, Span<int> r)
    {
        int k = 0, s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        ref short f1 = ref Unsafe.Add(ref f, stride), f2 = ref Unsafe.Add(ref f, 2 * stride), f3 = ref Unsafe.Add(ref f, 3 * stride);
        unchecked
        {
            if (Avx2.IsSupported && len >= 16)
            {
                Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; k <= len - 16; k += 16)
                {
                    var xv = Vector256.LoadUnsafe(ref x, (nuint)k);
                    a0 = Avx2.Add(a0, Avx2.MultiplyAddAdjacent(xv, Vector256.LoadUnsafe(ref f, (nuint)k)));
                    a1 = Avx2.Add(a1, Avx2.MultiplyAddAdjacent(xv, Vector256.LoadUnsafe(ref f1, (nuint)k)));
                    a2 = Avx2.Add(a2, Avx2.MultiplyAddAdjacent(xv, Vector256.LoadUnsafe(ref f2, (nuint)k)));
                    a3 = Avx2.Add(a3, Avx2.MultiplyAddAdjacent(xv, Vector256.LoadUnsafe(ref f3, (nuint)k)));
                }
                // [a0 a1 a2 a3] lane sums: two rounds of pairwise adds, then the two 128-bit halves.
                var h = Avx2.HorizontalAdd(Avx2.HorizontalAdd(a0, a1), Avx2.HorizontalAdd(a2, a3));
                var s = Sse2.Add(h.GetLower(), h.GetUpper());
                s0 = s.GetElement(0); s1 = s.GetElement(1); s2 = s.GetElement(2); s3 = s.GetElement(3);
            }
            if (Ssse3.IsSupported && len - k >= 8)
            {
                Vector128<int> a0 = default, a1 = default, a2 = default, a3 = default;
                for (; k <= len - 8; k += 8)
                {
                    var xv = Vector128.LoadUnsafe(ref x, (nuint)k);
                    a0 = Sse2.Add(a0, Sse2.MultiplyAddAdjacent(xv, Vector128.LoadUnsafe(ref f, (nuint)k)));
                    a1 = Sse2.Add(a1, Sse2.MultiplyAddAdjacent(xv, Vector128.LoadUnsafe(ref f1, (nuint)k)));
                    a2 = Sse2.Add(a2, Sse2.MultiplyAddAdjacent(xv, Vector128.LoadUnsafe(ref f2, (nuint)k)));
                    a3 = Sse2.Add(a3, Sse2.MultiplyAddAdjacent(xv, Vector128.LoadUnsafe(ref f3, (nuint)k)));
                }
                var s = Ssse3.HorizontalAdd(Ssse3.HorizontalAdd(a0, a1), Ssse3.HorizontalAdd(a2, a3));
                s0 += s.GetElement(0); s1 += s.GetElement(1); s2 += s.GetElement(2); s3 += s.GetElement(3);
            }
            for (; k < len; k++)
            {
                int xv = Unsafe.Add(ref x, k);
                s0 += xv * Unsafe.Add(ref f, k);
                s1 += xv * Unsafe.Add(ref f1, k);
                s2 += xv * Unsafe.Add(ref f2, k);
                s3 += xv * Unsafe.Add(ref f3, k);
            }
        }
        r[0] = s0; r[1] = s1; r[2] = s2; r[3] = s3;
    }

    /// <summary>
    /// Filter rows [rows, k] (int16) repacked for <see cref="Gemm4x8"/>: k in pairs, and for each pair the rows side
    /// by side, [ceil(k/2)][rowsPadded][2], rowsPadded = rows rounded up to 8; the padding is 0.
    /// </summary>
    public static short[] PackPairs(short[] f, int rows, int k, out int rowsPadded)
    {
        rowsPadded = (rows + 7) & ~7;
        int pairs = (k + 1) / 2;
        var r = new short[pairs * rowsPadded * 2];
        for (int c = 0; c < rows; c++)
            for (int j = 0; j < k; j++) r[((j >> 1) * rowsPadded + c) * 2 + (j & 1)] = f[c * k + j];
        return r;
    }

    /// <summary>
    /// Four input rows (x0..x3, each k int16 values, readable up to an even length: an odd k's last pair reads one
    /// element past the row, which meets a 0 in the packed filter) times eight filter rows of a
    /// <see cref="PackPairs"/> block starting at fb: 4×8 int32 sums into acc (row-major, 4 rows of 8). AVX2 only.
    /// </summary>
    public static void Gemm4x8(ref short x0, ref short x1, ref short x2, ref short x3, ref short fb, int pairs, int rowsPadded, ref int acc)
    {
        Vector256<int> a0 = default, a1 = default, a2 = default, a3 = default;
        nuint step = (nuint)(rowsPadded * 2);
        nuint fo = 0;
        unchecked
        {
            for (int kk = 0; kk < pairs; kk++, fo += step)
            {
                var w = Vector256.LoadUnsafe(ref fb, fo);
                int o = 2 * kk;
                a0 = Avx2.Add(a0, Avx2.MultiplyAddAdjacent(Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<short, byte>(ref Unsafe.Add(ref x0, o)))).AsInt16(), w));
                a1 = Avx2.Add(a1, Avx2.MultiplyAddAdjacent(Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<short, byte>(ref Unsafe.Add(ref x1, o)))).AsInt16(), w));
                a2 = Avx2.Add(a2, Avx2.MultiplyAddAdjacent(Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<short, byte>(ref Unsafe.Add(ref x2, o)))).AsInt16(), w));
                a3 = Avx2.Add(a3, Avx2.MultiplyAddAdjacent(Vector256.Create(Unsafe.ReadUnaligned<int>(ref Unsafe.As<short, byte>(ref Unsafe.Add(ref x3, o)))).AsInt16(), w));
            }
        }
        a0.StoreUnsafe(ref acc);
        a1.StoreUnsafe(ref acc, 8);
        a2.StoreUnsafe(ref acc, 16);
        a3.StoreUnsafe(ref acc, 24);
    }

    /// <summary>acc[i] += x[i]·f[i] (int32, wrapping) for every i of acc.</summary>
    public static void MulAdd(Span<int> acc, ReadOnlySpan<int> x, ReadOnlySpan<int> f)
    {
        int n = acc.Length, i = 0;
        if (x.Length < n || f.Length < n) throw new ArgumentException("operands shorter than the accumulator");
        unchecked
        {
            if (Vector.IsHardwareAccelerated && n >= Vector<int>.Count)
            {
                var va = MemoryMarshal.Cast<int, Vector<int>>(acc);
                var vx = MemoryMarshal.Cast<int, Vector<int>>(x[..n]);
                var vf = MemoryMarshal.Cast<int, Vector<int>>(f[..n]);
                for (int v = 0; v < va.Length; v++) va[v] += vx[v] * vf[v];
                i = va.Length * Vector<int>.Count;
            }
            for (; i < n; i++) acc[i] += x[i] * f[i];
        }
    }
}
