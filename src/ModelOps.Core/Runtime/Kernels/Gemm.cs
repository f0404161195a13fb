using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelOps.Core.Runtime.Kernels;

/// <summary>
/// Single-precision matrix multiply C = op(A)·op(B) (+ C), row-major, blocked for the caches, with B packed into
/// panels (a transposed A too; a row-major A is read in place) and a register-tile micro-kernel (6×32 with AVX-512,
/// 12×16 there for products of at most 16 columns, 6×16 with AVX2/FMA, a portable Vector256 fallback elsewhere).
/// Threads split the rows (or columns when there are few rows). The convolution-shaped tiles
/// (<see cref="MicroRows12x16"/> with taps, <see cref="ConvRows6x32"/>) serve Conv2D's windowed path.
/// </summary>
public static unsafe class Gemm
{
    public const int MR = 6;
    public static readonly int NR = Vector512.IsHardwareAccelerated && Avx512F.IsSupported ? 32 : 16;
    internal const int KC = 256;
    private const int MC = MR * 24;
    private const int NCBlocks = 32; // NC = NR * NCBlocks

    /// <summary>Panel width for a product with n columns: 16 for narrow products (n ≤ 16) so a 32-wide tile wastes nothing.</summary>
    private static int PanelWidth(int n) => n <= 16 ? 16 : NR;

    [ThreadStatic] private static float[]? t_packA;
    [ThreadStatic] private static float[]? t_packB;

    /// <summary>
    /// C[m×n] (row stride ldc, from cOff) = op(A)[m×k] · op(B)[k×n], added to C when <paramref name="accumulate"/>.
    /// op(A)(i,p) is a[aOff + i*lda + p], or a[aOff + p*lda + i] when transA; likewise for B.
    /// </summary>
    public static void Sgemm(bool transA, bool transB, int m, int n, int k,
        float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc,
        bool accumulate = false, int threads = 1) =>
        Run(transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, null, c, cOff, ldc, accumulate, threads, null);

    /// <summary>
    /// C[m×n] = op(A)[m×k] · B, with B packed once by <see cref="PackB"/> (constant weights): the runs skip
    /// B's packing. Same threading and accumulation rules as <see cref="Sgemm"/>.
    /// </summary>
    public static void SgemmPacked(bool transA, int m, float[] a, int aOff, int lda, PackedB b, float[] c, int cOff, int ldc,
        bool accumulate = false, int threads = 1) =>
        Run(transA, false, m, b.N, b.K, a, aOff, lda, b.Data, 0, b.N, b, c, cOff, ldc, accumulate, threads, null);

    /// <summary>
    /// <see cref="SgemmPacked(bool, int, float[], int, int, PackedB, float[], int, int, bool, int)"/> followed by
    /// <paramref name="epilogue"/> on each output tile while it is in cache (C = act(C·Scale + Shift + Residual),
    /// Scale/Shift indexed by column, Residual by the same index as C). Only for piecewise-linear activations
    /// (<see cref="Activation.IsPiecewiseLinear"/>); the arithmetic equals <see cref="Epilogue.Apply"/>'s.
    /// </summary>
    public static void SgemmPacked(bool transA, int m, float[] a, int aOff, int lda, PackedB b, float[] c, int cOff, int ldc,
        Epilogue epilogue, int threads = 1)
    {
        if (!Activation.IsPiecewiseLinear(epilogue.Activation)) throw new ArgumentException("The in-GEMM epilogue takes piecewise-linear activations only.", nameof(epilogue));
        // The residual is read through pointers: it must cover the whole block of C (at its ResidualBase).
        if (m > 0 && epilogue.Residual is { } res && (cOff < epilogue.ResidualBase || (long)cOff + (long)(m - 1) * ldc + b.N - epilogue.ResidualBase > res.Length))
            throw new ArgumentException("The epilogue's residual does not cover the output block.", nameof(epilogue));
        Run(transA, false, m, b.N, b.K, a, aOff, lda, b.Data, 0, b.N, b, c, cOff, ldc, false, threads, epilogue.IsEmpty ? null : epilogue);
    }

    /// <summary>Packs op(B) [k×n] into the micro-kernel's panels: for each KC block of rows, NR-column panels (zero-padded).</summary>
    public static PackedB PackB(bool transB, int k, int n, float[] b, int bOff, int ldb)
    {
        int nr = PanelWidth(n);
        int npad = (n + nr - 1) / nr * nr;
        var data = new float[Math.Max(1, (long)k * npad)];
        fixed (float* pb = b)
        fixed (float* pd = data)
        {
            for (int pc = 0; pc < k; pc += KC)
            {
                int kc = Math.Min(KC, k - pc);
                PackB(transB, pb + bOff, ldb, pc, 0, kc, n, pd + (long)pc * npad, nr);
            }
        }
        return new PackedB(k, n, npad, nr, data);
    }

    private static void Run(bool transA, bool transB, int m, int n, int k,
        float[] a, int aOff, int lda, float[] b, int bOff, int ldb, PackedB? packed, float[] c, int cOff, int ldc,
        bool accumulate, int threads, Epilogue? epi)
    {
        if (m <= 0 || n <= 0) return;
        if (k <= 0)
        {
            if (!accumulate) for (int i = 0; i < m; i++) c.AsSpan(cOff + i * ldc, n).Clear();
            if (epi is not null) ApplyEpilogue(epi, c, cOff, ldc, m, n, 0);
            return;
        }
        long flops = 2L * m * n * k;
        int maxThreads = (int)Math.Max(1, Math.Min(threads, flops / 400_000));
        if (m <= 4 && packed is null)
        {
            // Row-vector products: stream B once per row, no packing; split the columns over threads.
            int parts = Math.Min(maxThreads, Math.Max(1, n / 64));
            if (parts == 1) SmallM(transA, transB, m, 0, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, accumulate);
            else SmallMParallel(parts, transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, accumulate);
            return;
        }
        Blocked(transA, transB, m, n, k, a, aOff, lda, b, bOff, ldb, packed, c, cOff, ldc, accumulate, maxThreads, epi);
    }

    /// <summary><see cref="SmallM"/> over column ranges on <paramref name="parts"/> threads (a method of its own: the closure is made only here).</summary>
    private static void SmallMParallel(int parts, bool transA, bool transB, int m, int n, int k,
        float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc, bool accumulate)
    {
        KernelParallel.For(parts, parts, 1, (s, e) =>
        {
            for (int t = s; t < e; t++)
            {
                int j0 = (int)((long)n * t / parts), j1 = (int)((long)n * (t + 1) / parts);
                SmallM(transA, transB, m, j0, j1, k, a, aOff, lda, b, bOff, ldb, c, cOff, ldc, accumulate);
            }
        }, 1);
    }

    /// <summary>The blocked GEMM split over row or column blocks.</summary>
    private static void Blocked(bool transA, bool transB, int m, int n, int k,
        float[] a, int aOff, int lda, float[] b, int bOff, int ldb, PackedB? packed, float[] c, int cOff, int ldc,
        bool accumulate, int maxThreads, Epilogue? epi)
    {
        int rowBlocks = (m + MR - 1) / MR;
        int nr = packed?.Nr ?? PanelWidth(n);
        int colBlocks = (n + nr - 1) / nr;
        bool splitRows = rowBlocks >= maxThreads * 2 || rowBlocks >= colBlocks;
        int units = splitRows ? rowBlocks : colBlocks;
        int chunks = Math.Min(maxThreads, units);
        KernelParallel.For(chunks, chunks, 1, (s, e) =>
        {
            for (int t = s; t < e; t++)
            {
                int u0 = (int)((long)units * t / chunks), u1 = (int)((long)units * (t + 1) / chunks);
                if (splitRows)
                {
                    int i0 = u0 * MR, i1 = Math.Min(m, u1 * MR);
                    int aShift = transA ? i0 : i0 * lda;
                    SgemmST(transA, transB, i1 - i0, n, k, a, aOff + aShift, lda, b, bOff, ldb, packed, 0, c, cOff + i0 * ldc, ldc, accumulate, nr, epi);
                }
                else
                {
                    int j0 = u0 * nr, j1 = Math.Min(n, u1 * nr);
                    int bShift = packed is not null ? 0 : transB ? j0 * ldb : j0;
                    SgemmST(transA, transB, m, j1 - j0, k, a, aOff, lda, b, bOff + bShift, ldb, packed, j0, c, cOff + j0, ldc, accumulate, nr, epi, j0);
                }
            }
        }, 1);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SmallM(bool transA, bool transB, int m, int j0, int j1, int k,
        float[] a, int aOff, int lda, float[] b, int bOff, int ldb, float[] c, int cOff, int ldc, bool accumulate)
    {
        int w = j1 - j0;
        float[]? arow = transB ? new float[k] : null;
        for (int i = 0; i < m; i++)
        {
            var crow = c.AsSpan(cOff + i * ldc + j0, w);
            if (!accumulate) crow.Clear();
            if (!transB)
            {
                fixed (float* pc = crow)
                fixed (float* pb0 = b)
                {
                    for (int p = 0; p < k; p++)
                    {
                        float av = transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                        if (av == 0) continue;
                        Axpy(av, pb0 + bOff + (long)p * ldb + j0, pc, w);
                    }
                }
            }
            else
            {
                // B is stored n×k: each output is a dot product of two k-vectors.
                for (int p = 0; p < k; p++) arow![p] = transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                for (int j = 0; j < w; j++)
                    crow[j] += System.Numerics.Tensors.TensorPrimitives.Dot(arow, b.AsSpan(bOff + (j0 + j) * ldb, k));
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Axpy(float alpha, float* x, float* y, int n)
    {
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var va = Vector256.Create(alpha);
            for (; i <= n - 8; i += 8)
                Vector256.Store(Fmadd(va, Vector256.Load(x + i), Vector256.Load(y + i)), y + i);
        }
        for (; i < n; i++) y[i] += alpha * x[i];
    }

    /// <summary>Single-threaded blocked GEMM on one slice.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SgemmST(bool transA, bool transB, int m, int n, int k,
        float[] a, int aOff, int lda, float[] b, int bOff, int ldb, PackedB? packed, int packedCol0, float[] c, int cOff, int ldc, bool accumulate, int nr,
        Epilogue? epi = null, int epiCol0 = 0)
    {
        int nc = nr * NCBlocks;
        int packASize = MC * KC;
        int packBSize = nc * KC;
        // Only a transposed A is packed (a row-major A is read in place): most threads never need the 147 KB.
        var packA = transA ? t_packA ??= GC.AllocateUninitializedArray<float>(packASize, pinned: true) : null;
        var packB = t_packB;
        if (packed is null && (packB is null || packB.Length < packBSize)) packB = t_packB = GC.AllocateUninitializedArray<float>(packBSize, pinned: true);
        Span<float> tile = stackalloc float[MR * 32];
        fixed (float* pa0 = a)
        fixed (float* pb0 = b)
        fixed (float* pc0 = c)
        fixed (float* pA = packA)
        fixed (float* pB = packB)
        fixed (float* pT = tile)
        fixed (float* pScale = epi?.Scale)
        fixed (float* pShift = epi?.Shift)
        fixed (float* pRes = epi?.Residual)
        {
            float* A = pa0 + aOff, B = pb0 + bOff, C = pc0 + cOff;
            var act = epi?.Activation ?? FusedActivation.None;
            bool wide16 = nr == 16 && Avx512F.IsSupported && Vector512.IsHardwareAccelerated;
            float alpha = epi?.LeakyAlpha ?? 0;
            for (int jc = 0; jc < n; jc += nc)
            {
                int ncb = Math.Min(nc, n - jc);
                for (int pc = 0; pc < k; pc += KC)
                {
                    int kc = Math.Min(KC, k - pc);
                    float* bPanels = pB;
                    if (packed is null) PackB(transB, B, ldb, pc, jc, kc, ncb, pB, nr);
                    else bPanels = B + (long)pc * packed.NPad + (long)(packedCol0 + jc) * kc;
                    bool acc = accumulate || pc > 0;
                    bool lastK = pc + kc >= k;
                    for (int ic = 0; ic < m; ic += MC)
                    {
                        int mcb = Math.Min(MC, m - ic);
                        // A row-major is read in place (rows broadcast from their own addresses, like MLAS);
                        // a transposed A is packed into MR-row panels first.
                        if (transA) PackA(transA, A, lda, ic, pc, mcb, kc, pA);
                        for (int jr = 0; jr < ncb; jr += nr)
                        {
                            int nrb = Math.Min(nr, ncb - jr);
                            float* bp = bPanels + (long)jr * kc;
                            for (int ir = 0, mrb; ir < mcb; ir += mrb)
                            {
                                mrb = Math.Min(MR, mcb - ir);
                                float* cp = C + (long)(ic + ir) * ldc + jc + jr;
                                if (!transA && wide16 && mcb - ir >= 2 * MR)
                                {
                                    // Narrow products on AVX-512: twelve rows of one 16-lane register each.
                                    mrb = 2 * MR;
                                    MicroRows12x16<Epilogue.NoAct>(1, 0, kc, A + (long)(ic + ir) * lda + pc, lda, bp, 16, cp, ldc, acc, nrb, null, 0);
                                }
                                else if (!transA && (Avx.IsSupported || (mrb == MR && nrb == nr)))
                                {
                                    // Edge tiles are stored straight into C (partial rows through PartialVec).
                                    MicroRows(kc, A + (long)(ic + ir) * lda + pc, lda, mrb, nrb, bp, cp, ldc, acc, nr);
                                }
                                else
                                {
                                    bool full = mrb == MR && nrb == nr;
                                    float* dst = full ? cp : pT;
                                    int ldd = full ? ldc : nr;
                                    bool accd = full && acc;
                                    if (transA) Micro(kc, pA + (long)ir * kc, bp, dst, ldd, accd, nr);
                                    else MicroRows(kc, A + (long)(ic + ir) * lda + pc, lda, MR, nr, bp, dst, ldd, accd, nr);
                                    if (!full) CopyTile(pT, nr, cp, ldc, mrb, nrb, acc);
                                }
                            }
                        }
                        if (epi is not null && lastK)
                        {
                            // The epilogue once per row block (its rows × this column block, still in cache), not per tile.
                            float* cb = C + (long)ic * ldc + jc;
                            int col = epiCol0 + jc;
                            Epilogue.ApplyBlock(cb, ldc, mcb, ncb, pScale == null ? null : pScale + col, pShift == null ? null : pShift + col,
                                pRes == null ? null : pRes + (cb - pc0) - epi.ResidualBase, act, alpha);
                        }
                    }
                }
            }
        }
    }

    /// <summary>Packs op(A)[ic.., pc..] (mc×kc) into MR-row panels, p-major inside a panel, zero-padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(bool transA, float* a, int lda, int ic, int pc, int mc, int kc, float* dst)
    {
        for (int ir = 0; ir < mc; ir += MR)
        {
            int mr = Math.Min(MR, mc - ir);
            float* d = dst + (long)ir * kc;
            if (!transA)
            {
                for (int r = 0; r < MR; r++)
                {
                    if (r < mr)
                    {
                        float* src = a + (long)(ic + ir + r) * lda + pc;
                        for (int p = 0; p < kc; p++) d[p * MR + r] = src[p];
                    }
                    else for (int p = 0; p < kc; p++) d[p * MR + r] = 0;
                }
            }
            else
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = a + (long)(pc + p) * lda + ic + ir;
                    int r = 0;
                    for (; r < mr; r++) d[p * MR + r] = src[r];
                    for (; r < MR; r++) d[p * MR + r] = 0;
                }
            }
        }
    }

    /// <summary>Packs op(B)[pc.., jc..] (kc×nc) into NR-column panels, p-major inside a panel, zero-padded.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB(bool transB, float* b, int ldb, int pc, int jc, int kc, int nc, float* dst, int nr)
    {
        for (int jr = 0; jr < nc; jr += nr)
        {
            int w = Math.Min(nr, nc - jr);
            float* d = dst + (long)jr * kc;
            if (!transB)
            {
                for (int p = 0; p < kc; p++)
                {
                    float* src = b + (long)(pc + p) * ldb + jc + jr;
                    float* dd = d + p * nr;
                    if (w == nr) Buffer.MemoryCopy(src, dd, nr * sizeof(float), nr * sizeof(float));
                    else
                    {
                        int j = 0;
                        for (; j < w; j++) dd[j] = src[j];
                        for (; j < nr; j++) dd[j] = 0;
                    }
                }
            }
            else
            {
                for (int j = 0; j < nr; j++)
                {
                    if (j < w)
                    {
                        float* src = b + (long)(jc + jr + j) * ldb + pc;
                        for (int p = 0; p < kc; p++) d[p * nr + j] = src[p];
                    }
                    else for (int p = 0; p < kc; p++) d[p * nr + j] = 0;
                }
            }
        }
    }

    /// <summary>The epilogue over C[0..m, 0..n] (row stride ldc, from cOff), column scale/shift from <paramref name="col0"/>.</summary>
    private static void ApplyEpilogue(Epilogue epi, float[] c, int cOff, int ldc, int m, int n, int col0)
    {
        fixed (float* pc = c)
        fixed (float* pScale = epi.Scale)
        fixed (float* pShift = epi.Shift)
        fixed (float* pRes = epi.Residual)
            Epilogue.ApplyBlock(pc + cOff, ldc, m, n, pScale == null ? null : pScale + col0, pShift == null ? null : pShift + col0,
                pRes == null ? null : pRes + cOff - epi.ResidualBase, epi.Activation, epi.LeakyAlpha);
    }

    /// <summary>Copies (or adds, when <paramref name="acc"/>) the valid rows × cols of an edge tile into C.</summary>
    private static void CopyTile(float* tile, int ldt, float* c, int ldc, int rows, int cols, bool acc)
    {
        for (int r = 0; r < rows; r++)
        {
            var src = new ReadOnlySpan<float>(tile + r * ldt, cols);
            var dst = new Span<float>(c + (long)r * ldc, cols);
            if (acc) System.Numerics.Tensors.TensorPrimitives.Add(dst, src, dst);
            else src.CopyTo(dst);
        }
    }

    /// <summary>
    /// The micro-kernel on <paramref name="rows"/> (≤ MR) rows of a row-major A read in place (row r at
    /// a + r·lda), storing <paramref name="rows"/> × <paramref name="cols"/> of the tile into C (missing rows
    /// repeat the last one and are not stored; a partial width is stored with AVX masks).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void MicroRows(int kc, float* a, int lda, int rows, int cols, float* b, float* c, int ldc, bool acc, int nr)
    {
        float* a0 = a;
        float* a1 = rows > 1 ? a + lda : a0;
        float* a2 = rows > 2 ? a + 2L * lda : a1;
        float* a3 = rows > 3 ? a + 3L * lda : a2;
        float* a4 = rows > 4 ? a + 4L * lda : a3;
        float* a5 = rows > 5 ? a + 5L * lda : a4;
        if (nr == 32) MicroRows6x32(kc, a0, a1, a2, a3, a4, a5, b, c, ldc, acc, rows, cols);
        else MicroRows6x16(kc, a0, a1, a2, a3, a4, a5, b, c, ldc, acc, rows, cols);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroRows6x16(int kc, float* a0, float* a1, float* a2, float* a3, float* a4, float* a5, float* b, float* c, int ldc, bool acc, int rows, int cols)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a0[p]); c00 = Fmadd(x, b0, c00); c01 = Fmadd(x, b1, c01);
            x = Vector256.Create(a1[p]); c10 = Fmadd(x, b0, c10); c11 = Fmadd(x, b1, c11);
            x = Vector256.Create(a2[p]); c20 = Fmadd(x, b0, c20); c21 = Fmadd(x, b1, c21);
            x = Vector256.Create(a3[p]); c30 = Fmadd(x, b0, c30); c31 = Fmadd(x, b1, c31);
            x = Vector256.Create(a4[p]); c40 = Fmadd(x, b0, c40); c41 = Fmadd(x, b1, c41);
            x = Vector256.Create(a5[p]); c50 = Fmadd(x, b0, c50); c51 = Fmadd(x, b1, c51);
            b += 16;
        }
        if (rows == MR && cols == 16)
        {
            Store2(c, c00, c01, acc); c += ldc;
            Store2(c, c10, c11, acc); c += ldc;
            Store2(c, c20, c21, acc); c += ldc;
            Store2(c, c30, c31, acc); c += ldc;
            Store2(c, c40, c41, acc); c += ldc;
            Store2(c, c50, c51, acc);
            return;
        }
        StoreMasked(c, c00, c01, acc, cols);
        if (rows > 1) StoreMasked(c + ldc, c10, c11, acc, cols);
        if (rows > 2) StoreMasked(c + 2L * ldc, c20, c21, acc, cols);
        if (rows > 3) StoreMasked(c + 3L * ldc, c30, c31, acc, cols);
        if (rows > 4) StoreMasked(c + 4L * ldc, c40, c41, acc, cols);
        if (rows > 5) StoreMasked(c + 5L * ldc, c50, c51, acc, cols);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroRows6x32(int kc, float* a0, float* a1, float* a2, float* a3, float* a4, float* a5, float* b, float* c, int ldc, bool acc, int rows, int cols)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a0[p]); c00 = Fmadd(x, b0, c00); c01 = Fmadd(x, b1, c01);
            x = Vector512.Create(a1[p]); c10 = Fmadd(x, b0, c10); c11 = Fmadd(x, b1, c11);
            x = Vector512.Create(a2[p]); c20 = Fmadd(x, b0, c20); c21 = Fmadd(x, b1, c21);
            x = Vector512.Create(a3[p]); c30 = Fmadd(x, b0, c30); c31 = Fmadd(x, b1, c31);
            x = Vector512.Create(a4[p]); c40 = Fmadd(x, b0, c40); c41 = Fmadd(x, b1, c41);
            x = Vector512.Create(a5[p]); c50 = Fmadd(x, b0, c50); c51 = Fmadd(x, b1, c51);
            b += 32;
        }
        if (rows == MR && cols == 32)
        {
            Store2(c, c00, c01, acc); c += ldc;
            Store2(c, c10, c11, acc); c += ldc;
            Store2(c, c20, c21, acc); c += ldc;
            Store2(c, c30, c31, acc); c += ldc;
            Store2(c, c40, c41, acc); c += ldc;
            Store2(c, c50, c51, acc);
            return;
        }
        StoreMasked(c, c00, c01, acc, cols);
        if (rows > 1) StoreMasked(c + ldc, c10, c11, acc, cols);
        if (rows > 2) StoreMasked(c + 2L * ldc, c20, c21, acc, cols);
        if (rows > 3) StoreMasked(c + 3L * ldc, c30, c31, acc, cols);
        if (rows > 4) StoreMasked(c + 4L * ldc, c40, c41, acc, cols);
        if (rows > 5) StoreMasked(c + 5L * ldc, c50, c51, acc, cols);
    }

    /// <summary>
    /// Twelve full rows of a row-major A (row r at a + r·lda) times a 16-wide B (row p at b + p·ldb), one 512-bit
    /// accumulator per row (the 6×16 AVX2 tile would issue two 256-bit FMAs per row and k); <paramref name="cols"/>
    /// ≤ 16 stored. The depth is <paramref name="taps"/> runs of <paramref name="kc"/>, A moving by
    /// <paramref name="tapStride"/> between runs and B continuing: with taps = 1 a GEMM tile, otherwise a
    /// convolution read straight from the image (a run = one window row of KW·C values, rows = output pixels).
    /// With <paramref name="bias"/> (16 floats) each row gets act(row + bias) before it is stored, the lane operations of
    /// <see cref="Epilogue.ApplyBlock"/>; the GEMM passes none. Requires AVX-512.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)] // its own register allocation
    internal static void MicroRows12x16<TAct>(int taps, nint tapStride, int kc, float* a, nint lda, float* b, nint ldb, float* c, int ldc, bool acc, int cols,
        float* bias, float alpha) where TAct : struct, Epilogue.IAct
    {
        // Six row pointers; rows 6..11 are the same pointers at an offset of six rows. Twelve pointers, or a
        // stackalloc'd scratch tile for the partial-width store, made the JIT spill all twelve accumulators on
        // every k (seen in its disassembly).
        float* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda;
        nint six = 6 * lda;
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        Vector512<float> c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
        for (int t = 0; t < taps; t++)
        {
            for (nint p = 0; p < kc; p++)
            {
                var b0 = Vector512.Load(b);
                b += ldb;
                nint q = p + six;
                c0 = Fmadd(Vector512.Create(a0[p]), b0, c0);
                c1 = Fmadd(Vector512.Create(a1[p]), b0, c1);
                c2 = Fmadd(Vector512.Create(a2[p]), b0, c2);
                c3 = Fmadd(Vector512.Create(a3[p]), b0, c3);
                c4 = Fmadd(Vector512.Create(a4[p]), b0, c4);
                c5 = Fmadd(Vector512.Create(a5[p]), b0, c5);
                c6 = Fmadd(Vector512.Create(a0[q]), b0, c6);
                c7 = Fmadd(Vector512.Create(a1[q]), b0, c7);
                c8 = Fmadd(Vector512.Create(a2[q]), b0, c8);
                c9 = Fmadd(Vector512.Create(a3[q]), b0, c9);
                c10 = Fmadd(Vector512.Create(a4[q]), b0, c10);
                c11 = Fmadd(Vector512.Create(a5[q]), b0, c11);
            }
            a0 += tapStride; a1 += tapStride; a2 += tapStride; a3 += tapStride; a4 += tapStride; a5 += tapStride;
        }
        if (bias != null)
        {
            // The epilogue's bias + activation on the registers (the same lane operations as Epilogue.ApplyBlock's).
            var s0 = Vector512.Load(bias);
            var va = Vector512.Create(alpha);
            c0 = TAct.Apply(c0 + s0, va); c1 = TAct.Apply(c1 + s0, va); c2 = TAct.Apply(c2 + s0, va);
            c3 = TAct.Apply(c3 + s0, va); c4 = TAct.Apply(c4 + s0, va); c5 = TAct.Apply(c5 + s0, va);
            c6 = TAct.Apply(c6 + s0, va); c7 = TAct.Apply(c7 + s0, va); c8 = TAct.Apply(c8 + s0, va);
            c9 = TAct.Apply(c9 + s0, va); c10 = TAct.Apply(c10 + s0, va); c11 = TAct.Apply(c11 + s0, va);
        }
        if (cols == 16)
        {
            Store1(c, c0, acc); c += ldc;
            Store1(c, c1, acc); c += ldc;
            Store1(c, c2, acc); c += ldc;
            Store1(c, c3, acc); c += ldc;
            Store1(c, c4, acc); c += ldc;
            Store1(c, c5, acc); c += ldc;
            Store1(c, c6, acc); c += ldc;
            Store1(c, c7, acc); c += ldc;
            Store1(c, c8, acc); c += ldc;
            Store1(c, c9, acc); c += ldc;
            Store1(c, c10, acc); c += ldc;
            Store1(c, c11, acc);
            return;
        }
        StoreMasked(c, c0.GetLower(), c0.GetUpper(), acc, cols); c += ldc;
        StoreMasked(c, c1.GetLower(), c1.GetUpper(), acc, cols); c += ldc;
        StoreMasked(c, c2.GetLower(), c2.GetUpper(), acc, cols); c += ldc;
        StoreMasked(c, c3.GetLower(), c3.GetUpper(), acc, cols); c += ldc;
        StoreMasked(c, c4.GetLower(), c4.GetUpper(), acc, cols); c += ldc;
        StoreMasked(c, c5.GetLower(), c5.GetUpper(), acc, cols); c += ldc;
        StoreMasked(c, c6.GetLower(), c6.GetUpper(), acc, cols); c += ldc;
        StoreMasked(c, c7.GetLower(), c7.GetUpper(), acc, cols); c += ldc;
        StoreMasked(c, c8.GetLower(), c8.GetUpper(), acc, cols); c += ldc;
        StoreMasked(c, c9.GetLower(), c9.GetUpper(), acc, cols); c += ldc;
        StoreMasked(c, c10.GetLower(), c10.GetUpper(), acc, cols); c += ldc;
        StoreMasked(c, c11.GetLower(), c11.GetUpper(), acc, cols);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store1(float* c, Vector512<float> v, bool acc)
    {
        if (acc) v += Vector512.Load(c);
        Vector512.Store(v, c);
    }

    /// <summary>
    /// The convolution form of the 6×32 tile: six output pixels (row r at a + r·lda) times a 32-wide packed filter
    /// (row p at b + p·ldb), over <paramref name="taps"/> window rows of <paramref name="kc"/> values, the pixels
    /// moving by <paramref name="tapStride"/> between window rows and the filter continuing. Kept apart from the
    /// GEMM's <see cref="MicroRows6x32"/>: folding the two made the JIT's code for the GEMM tile 20-40% slower.
    /// Six full rows, <paramref name="cols"/> ≤ 32 stored; with <paramref name="bias"/> (32 floats), act(row + bias) as
    /// <see cref="Epilogue.ApplyBlock"/> computes it.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    internal static void ConvRows6x32<TAct>(int taps, nint tapStride, int kc, float* a, nint lda, float* b, nint ldb, float* c, int ldc, int cols,
        float* bias, float alpha) where TAct : struct, Epilogue.IAct
    {
        float* a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda, a4 = a + 4 * lda, a5 = a + 5 * lda;
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int t = 0; t < taps; t++)
        {
            for (nint p = 0; p < kc; p++)
            {
                var b0 = Vector512.Load(b);
                var b1 = Vector512.Load(b + 16);
                b += ldb;
                var x = Vector512.Create(a0[p]); c00 = Fmadd(x, b0, c00); c01 = Fmadd(x, b1, c01);
                x = Vector512.Create(a1[p]); c10 = Fmadd(x, b0, c10); c11 = Fmadd(x, b1, c11);
                x = Vector512.Create(a2[p]); c20 = Fmadd(x, b0, c20); c21 = Fmadd(x, b1, c21);
                x = Vector512.Create(a3[p]); c30 = Fmadd(x, b0, c30); c31 = Fmadd(x, b1, c31);
                x = Vector512.Create(a4[p]); c40 = Fmadd(x, b0, c40); c41 = Fmadd(x, b1, c41);
                x = Vector512.Create(a5[p]); c50 = Fmadd(x, b0, c50); c51 = Fmadd(x, b1, c51);
            }
            a0 += tapStride; a1 += tapStride; a2 += tapStride; a3 += tapStride; a4 += tapStride; a5 += tapStride;
        }
        if (bias != null)
        {
            // The epilogue's bias + activation on the registers (the same lane operations as Epilogue.ApplyBlock's).
            var s0 = Vector512.Load(bias);
            var s1 = Vector512.Load(bias + 16);
            var va = Vector512.Create(alpha);
            c00 = TAct.Apply(c00 + s0, va); c01 = TAct.Apply(c01 + s1, va);
            c10 = TAct.Apply(c10 + s0, va); c11 = TAct.Apply(c11 + s1, va);
            c20 = TAct.Apply(c20 + s0, va); c21 = TAct.Apply(c21 + s1, va);
            c30 = TAct.Apply(c30 + s0, va); c31 = TAct.Apply(c31 + s1, va);
            c40 = TAct.Apply(c40 + s0, va); c41 = TAct.Apply(c41 + s1, va);
            c50 = TAct.Apply(c50 + s0, va); c51 = TAct.Apply(c51 + s1, va);
        }
        if (cols == 32)
        {
            Store2(c, c00, c01, false); c += ldc;
            Store2(c, c10, c11, false); c += ldc;
            Store2(c, c20, c21, false); c += ldc;
            Store2(c, c30, c31, false); c += ldc;
            Store2(c, c40, c41, false); c += ldc;
            Store2(c, c50, c51, false);
            return;
        }
        StoreMasked(c, c00, c01, false, cols); c += ldc;
        StoreMasked(c, c10, c11, false, cols); c += ldc;
        StoreMasked(c, c20, c21, false, cols); c += ldc;
        StoreMasked(c, c30, c31, false, cols); c += ldc;
        StoreMasked(c, c40, c41, false, cols); c += ldc;
        StoreMasked(c, c50, c51, false, cols);
    }

    private static void StoreMasked(float* c, Vector512<float> v0, Vector512<float> v1, bool acc, int cols)
    {
        StoreMasked(c, v0.GetLower(), v0.GetUpper(), acc, cols);
        if (cols > 16) StoreMasked(c + 16, v1.GetLower(), v1.GetUpper(), acc, cols - 16);
    }

    /// <summary>Stores the first <paramref name="cols"/> (≤ 16) lanes of v0:v1 at c (added to what is there when <paramref name="acc"/>).</summary>
    private static void StoreMasked(float* c, Vector256<float> v0, Vector256<float> v1, bool acc, int cols)
    {
        if (cols >= 8)
        {
            if (acc) v0 += Vector256.Load(c);
            Vector256.Store(v0, c);
            c += 8;
            cols -= 8;
            v0 = v1;
        }
        if (cols <= 0) return;
        if (cols >= 8)
        {
            if (acc) v0 += Vector256.Load(c);
            Vector256.Store(v0, c);
            return;
        }
        if (acc) v0 += PartialVec.Load(c, cols);
        PartialVec.Store(c, v0, cols);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Micro(int kc, float* a, float* b, float* c, int ldc, bool acc, int nr)
    {
        if (nr == 32) Micro6x32(kc, a, b, c, ldc, acc);
        else Micro6x16(kc, a, b, c, ldc, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Fmadd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Fmadd(Vector512<float> a, Vector512<float> b, Vector512<float> c) =>
        Avx512F.IsSupported ? Avx512F.FusedMultiplyAdd(a, b, c) : a * b + c;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro6x16(int kc, float* a, float* b, float* c, int ldc, bool acc)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            var x = Vector256.Create(a[0]); c00 = Fmadd(x, b0, c00); c01 = Fmadd(x, b1, c01);
            x = Vector256.Create(a[1]); c10 = Fmadd(x, b0, c10); c11 = Fmadd(x, b1, c11);
            x = Vector256.Create(a[2]); c20 = Fmadd(x, b0, c20); c21 = Fmadd(x, b1, c21);
            x = Vector256.Create(a[3]); c30 = Fmadd(x, b0, c30); c31 = Fmadd(x, b1, c31);
            x = Vector256.Create(a[4]); c40 = Fmadd(x, b0, c40); c41 = Fmadd(x, b1, c41);
            x = Vector256.Create(a[5]); c50 = Fmadd(x, b0, c50); c51 = Fmadd(x, b1, c51);
            a += MR;
            b += 16;
        }
        Store2(c, c00, c01, acc); c += ldc;
        Store2(c, c10, c11, acc); c += ldc;
        Store2(c, c20, c21, acc); c += ldc;
        Store2(c, c30, c31, acc); c += ldc;
        Store2(c, c40, c41, acc); c += ldc;
        Store2(c, c50, c51, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store2(float* c, Vector256<float> v0, Vector256<float> v1, bool acc)
    {
        if (acc)
        {
            v0 += Vector256.Load(c);
            v1 += Vector256.Load(c + 8);
        }
        Vector256.Store(v0, c);
        Vector256.Store(v1, c + 8);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro6x32(int kc, float* a, float* b, float* c, int ldc, bool acc)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            var x = Vector512.Create(a[0]); c00 = Fmadd(x, b0, c00); c01 = Fmadd(x, b1, c01);
            x = Vector512.Create(a[1]); c10 = Fmadd(x, b0, c10); c11 = Fmadd(x, b1, c11);
            x = Vector512.Create(a[2]); c20 = Fmadd(x, b0, c20); c21 = Fmadd(x, b1, c21);
            x = Vector512.Create(a[3]); c30 = Fmadd(x, b0, c30); c31 = Fmadd(x, b1, c31);
            x = Vector512.Create(a[4]); c40 = Fmadd(x, b0, c40); c41 = Fmadd(x, b1, c41);
            x = Vector512.Create(a[5]); c50 = Fmadd(x, b0, c50); c51 = Fmadd(x, b1, c51);
            a += MR;
            b += 32;
        }
        Store2(c, c00, c01, acc); c += ldc;
        Store2(c, c10, c11, acc); c += ldc;
        Store2(c, c20, c21, acc); c += ldc;
        Store2(c, c30, c31, acc); c += ldc;
        Store2(c, c40, c41, acc); c += ldc;
        Store2(c, c50, c51, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store2(float* c, Vector512<float> v0, Vector512<float> v1, bool acc)
    {
        if (acc)
        {
            v0 += Vector512.Load(c);
            v1 += Vector512.Load(c + 16);
        }
        Vector512.Store(v0, c);
        Vector512.Store(v1, c + 16);
    }

    /// <summary>Double-precision C = op(A)·op(B): row-times-matrix accumulation (correct, moderately fast).</summary>
    public static void Dgemm(bool transA, bool transB, int m, int n, int k,
        double[] a, int aOff, int lda, double[] b, int bOff, int ldb, double[] c, int cOff, int ldc, int threads = 1)
    {
        if (m <= 0 || n <= 0) return;
        double[] bt = b;
        int bo = bOff, lb = ldb;
        if (transB)
        {
            // materialize B as k×n row-major
            bt = new double[(long)k * n];
            for (int p = 0; p < k; p++)
                for (int j = 0; j < n; j++) bt[p * n + j] = b[bOff + j * ldb + p];
            bo = 0;
            lb = n;
        }
        KernelParallel.For(threads, m, (long)n * k, (s, e) =>
        {
            for (int i = s; i < e; i++)
            {
                var crow = c.AsSpan(cOff + i * ldc, n);
                crow.Clear();
                for (int p = 0; p < k; p++)
                {
                    double av = transA ? a[aOff + p * lda + i] : a[aOff + i * lda + p];
                    if (av == 0) continue;
                    var brow = bt.AsSpan(bo + p * lb, n);
                    for (int j = 0; j < n; j++) crow[j] += av * brow[j];
                }
            }
        });
    }
}

/// <summary>A constant B matrix [K×N] in <see cref="Gemm"/>'s panel layout (see <see cref="Gemm.PackB"/>).</summary>
public sealed class PackedB
{
    internal PackedB(int k, int n, int npad, int nr, float[] data)
    {
        K = k;
        N = n;
        NPad = npad;
        Nr = nr;
        Data = data;
    }

    public int K { get; }
    public int N { get; }
    /// <summary>N rounded up to the micro-kernel's panel width.</summary>
    public int NPad { get; }
    /// <summary>The panel width the data was packed with.</summary>
    internal int Nr { get; }
    internal float[] Data { get; }
}
