using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Ops;

/// <summary>
/// Type-agnostic element movement shared by the shape, comparison and detection families: gathers
/// through an index map, block copies, strides and broadcasting. One generic loop per storage type,
/// no per-element allocation.
/// </summary>
internal static class DataMovement
{
    /// <summary>Row-major strides of a shape.</summary>
    public static long[] Strides(ReadOnlySpan<int> shape)
    {
        var s = new long[shape.Length];
        long acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    public static int Count(ReadOnlySpan<int> shape) => checked((int)Tensor.ElementCount(shape));

    /// <summary>A new tensor whose element i is src[index[i]], or <paramref name="fill"/>'s value where index[i] &lt; 0.</summary>
    public static Tensor Take(Tensor src, int[] index, int[] shape, Tensor? fill = null)
    {
        Array dst = Array.CreateInstance(src.Data.GetType().GetElementType()!, index.Length);
        switch (src.Data)
        {
            case float[] a: Gather(a, index, (float[])dst, fill); break;
            case double[] a: Gather(a, index, (double[])dst, fill); break;
            case Half[] a: Gather(a, index, (Half[])dst, fill); break;
            case sbyte[] a: Gather(a, index, (sbyte[])dst, fill); break;
            case byte[] a: Gather(a, index, (byte[])dst, fill); break;
            case short[] a: Gather(a, index, (short[])dst, fill); break;
            case ushort[] a: Gather(a, index, (ushort[])dst, fill); break;
            case int[] a: Gather(a, index, (int[])dst, fill); break;
            case uint[] a: Gather(a, index, (uint[])dst, fill); break;
            case long[] a: Gather(a, index, (long[])dst, fill); break;
            case ulong[] a: Gather(a, index, (ulong[])dst, fill); break;
            case bool[] a: Gather(a, index, (bool[])dst, fill); break;
            case byte[][] a: Gather(a, index, (byte[][])dst, fill, Array.Empty<byte>()); break;
            case object[] a: Gather(a, index, (object[])dst, fill); break;
            default: throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.NotImplemented, $"Cannot move elements of {src.DType.Name()} tensors.");
        }
        if (src.DType.Lanes() != 1)
            throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.NotImplemented, $"{src.DType.Name()} tensors are not supported by this op.");
        return new Tensor(src.DType, shape, dst);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Gather<T>(T[] src, int[] index, T[] dst, Tensor? fill, T? emptyDefault = default)
    {
        T f = fill is null ? emptyDefault! : ((T[])fill.Data)[0];
        for (int i = 0; i < index.Length; i++)
        {
            int k = index[i];
            dst[i] = k >= 0 ? src[k] : f;
        }
    }

    /// <summary>
    /// A new tensor of <paramref name="outShape"/> whose element at coordinate c is
    /// src[base + Σ c[d]·step[d]], copied directly (no index map): dimensions that are contiguous
    /// in both are merged first and unit-step innermost runs are block copies.
    /// </summary>
    public static Tensor TakeStrided(Tensor src, int[] outShape, long baseOffset, long[] step, KernelContext? alloc = null)
    {
        if (src.DType.Lanes() != 1) return Take(src, StridedIndex(outShape, baseOffset, step), outShape);
        return src.Data switch
        {
            float[] a => Tensor.Over(src.DType, outShape, CopyStrided(a, outShape, baseOffset, step, alloc)),
            double[] a => Tensor.Over(src.DType, outShape, CopyStrided(a, outShape, baseOffset, step, alloc)),
            Half[] a => Tensor.Over(src.DType, outShape, CopyStrided(a, outShape, baseOffset, step, alloc)),
            sbyte[] a => Tensor.Over(src.DType, outShape, CopyStrided(a, outShape, baseOffset, step, alloc)),
            byte[] a => Tensor.Over(src.DType, outShape, CopyStrided(a, outShape, baseOffset, step, alloc)),
            short[] a => Tensor.Over(src.DType, outShape, CopyStrided(a, outShape, baseOffset, step, alloc)),
            ushort[] a => Tensor.Over(src.DType, outShape, CopyStrided(a, outShape, baseOffset, step, alloc)),
            int[] a => Tensor.Over(src.DType, outShape, CopyStrided(a, outShape, baseOffset, step, alloc)),
            uint[] a => Tensor.Over(src.DType, outShape, CopyStrided(a, outShape, baseOffset, step, alloc)),
            long[] a => Tensor.Over(src.DType, outShape, CopyStrided(a, outShape, baseOffset, step, alloc)),
            ulong[] a => Tensor.Over(src.DType, outShape, CopyStrided(a, outShape, baseOffset, step, alloc)),
            bool[] a => Tensor.Over(src.DType, outShape, CopyStrided(a, outShape, baseOffset, step, alloc)),
            _ => Take(src, StridedIndex(outShape, baseOffset, step), outShape),
        };
    }

    /// <summary>A new T[n] for an output: from the kernel's buffer pool when <paramref name="alloc"/> is given, else allocated.</summary>
    private static T[] NewArray<T>(KernelContext? alloc, int n, bool clear) where T : unmanaged =>
        alloc is null ? (clear ? new T[n] : GC.AllocateUninitializedArray<T>(n)) : alloc.Allocate<T>(n, clear);

    /// <summary>The elements of src at baseOffset + Σ c[d]·step[d] for each output coordinate c, row-major.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static T[] CopyStrided<T>(T[] src, int[] outShape, long baseOffset, long[] step, KernelContext? alloc = null) where T : unmanaged
    {
        int n = Count(outShape);
        var dst = NewArray<T>(alloc, n, clear: false); // every element is written below
        if (n == 0) return dst;
        // Drop size-1 dims, merge d into d+1 when step[d] == step[d+1]·size[d+1].
        var dims = new List<int>(outShape.Length);
        var steps = new List<long>(outShape.Length);
        for (int d = 0; d < outShape.Length; d++)
        {
            if (outShape[d] == 1) continue;
            int k = dims.Count - 1;
            if (k >= 0 && steps[k] == step[d] * outShape[d])
            {
                dims[k] *= outShape[d];
                steps[k] = step[d];
            }
            else { dims.Add(outShape[d]); steps.Add(step[d]); }
        }
        if (dims.Count == 0) { dst[0] = src[baseOffset]; return dst; }
        int rank = dims.Count;
        int inner = dims[rank - 1];
        long innerStep = steps[rank - 1];
        if (innerStep != 1)
        {
            // A transpose: some other output dim walks the source contiguously. Copy in square tiles.
            int unit = -1;
            for (int d = rank - 2; d >= 0 && unit < 0; d--) if (steps[d] == 1) unit = d;
            if (unit >= 0)
            {
                TransposeTiles(src, dst, dims, steps, unit, baseOffset);
                return dst;
            }
        }
        var c = new int[rank];
        long off = baseOffset;
        int o = 0;
        while (o < n)
        {
            if (innerStep == 1) src.AsSpan((int)off, inner).CopyTo(dst.AsSpan(o, inner));
            else
            {
                long q = off;
                for (int j = 0; j < inner; j++, q += innerStep) dst[o + j] = src[q];
            }
            o += inner;
            for (int d = rank - 2; d >= 0; d--)
            {
                if (++c[d] < dims[d]) { off += steps[d]; break; }
                off -= steps[d] * (c[d] - 1);
                c[d] = 0;
            }
        }
        return dst;
    }

    /// <summary>
    /// dst (row-major over <paramref name="dims"/>) = src at baseOffset + Σ c[d]·steps[d], where output dim
    /// <paramref name="unit"/> has source step 1 and the last output dim does not: for each position of the other
    /// dims, a [dims[unit] × inner] block is copied in 16×16 tiles, so reads and writes both stay in cache lines.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void TransposeTiles<T>(T[] src, T[] dst, List<int> dims, List<long> steps, int unit, long baseOffset) where T : unmanaged
    {
        const int Tile = 16;
        int rank = dims.Count;
        int inner = dims[rank - 1];
        long innerStep = steps[rank - 1];
        int rowsA = dims[unit];
        var outStride = new long[rank];
        long acc = 1;
        for (int d = rank - 1; d >= 0; d--) { outStride[d] = acc; acc *= dims[d]; }
        long dA = outStride[unit];
        var outer = new List<int>();
        for (int d = 0; d < rank - 1; d++) if (d != unit) outer.Add(d);
        var c = new int[outer.Count];
        long blocks = 1;
        foreach (int d in outer) blocks *= dims[d];
        long srcBase = baseOffset, dstBase = 0;
        fixed (T* ps = src)
        fixed (T* pd = dst)
        {
            for (long blk = 0; blk < blocks; blk++)
            {
                if (sizeof(T) == 4 && Sse.IsSupported && rowsA >= 4 && inner >= 4)
                    Transpose4x4Tiles((float*)(ps + srcBase), (float*)(pd + dstBase), rowsA, inner, innerStep, dA);
                else if (inner <= 4)
                {
                    // Few columns (an NCHW → NHWC image with 3 channels): one pass over the rows, the columns unrolled.
                    T* s0 = ps + srcBase;
                    T* d = pd + dstBase;
                    for (int a = 0; a < rowsA; a++, s0++, d += dA)
                    {
                        T* s = s0;
                        for (int b = 0; b < inner; b++, s += innerStep) d[b] = *s;
                    }
                }
                else
                    for (int a0 = 0; a0 < rowsA; a0 += Tile)
                    {
                        int a1 = Math.Min(rowsA, a0 + Tile);
                        for (int b0 = 0; b0 < inner; b0 += Tile)
                        {
                            int b1 = Math.Min(inner, b0 + Tile);
                            for (int a = a0; a < a1; a++)
                            {
                                T* s = ps + srcBase + a + b0 * innerStep;
                                T* d = pd + dstBase + a * dA;
                                for (int b = b0; b < b1; b++, s += innerStep) d[b] = *s;
                            }
                        }
                    }
                for (int i = outer.Count - 1; i >= 0; i--)
                {
                    int d = outer[i];
                    srcBase += steps[d];
                    dstBase += outStride[d];
                    if (++c[i] < dims[d]) break;
                    srcBase -= steps[d] * dims[d];
                    dstBase -= outStride[d] * dims[d];
                    c[i] = 0;
                }
            }
        }
    }

    /// <summary>
    /// d[a·dA + b] = s[a + b·sStep] for a &lt; rows, b &lt; cols (4-byte elements): 16×16 tiles of 4×4 SSE register
    /// transposes (four row loads, unpack/move shuffles, four row stores); ragged edges element by element.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Transpose4x4Tiles(float* s, float* d, int rows, int cols, long sStep, long dA)
    {
        const int Tile = 16;
        int rows4 = rows & ~3, cols4 = cols & ~3;
        for (int a0 = 0; a0 < rows4; a0 += Tile)
        {
            int a1 = Math.Min(rows4, a0 + Tile);
            for (int b0 = 0; b0 < cols4; b0 += Tile)
            {
                int b1 = Math.Min(cols4, b0 + Tile);
                for (int b = b0; b < b1; b += 4)
                {
                    float* sr = s + b * sStep;
                    for (int a = a0; a < a1; a += 4)
                    {
                        // Rows b..b+3 of the source at columns a..a+3 become rows a..a+3 of the destination at columns b..b+3.
                        var r0 = Sse.LoadVector128(sr + a);
                        var r1 = Sse.LoadVector128(sr + sStep + a);
                        var r2 = Sse.LoadVector128(sr + 2 * sStep + a);
                        var r3 = Sse.LoadVector128(sr + 3 * sStep + a);
                        var t0 = Sse.UnpackLow(r0, r1);   // r0[0] r1[0] r0[1] r1[1]
                        var t1 = Sse.UnpackLow(r2, r3);   // r2[0] r3[0] r2[1] r3[1]
                        var t2 = Sse.UnpackHigh(r0, r1);  // r0[2] r1[2] r0[3] r1[3]
                        var t3 = Sse.UnpackHigh(r2, r3);  // r2[2] r3[2] r2[3] r3[3]
                        float* dr = d + a * dA + b;
                        Sse.Store(dr, Sse.MoveLowToHigh(t0, t1));
                        Sse.Store(dr + dA, Sse.MoveHighToLow(t1, t0));
                        Sse.Store(dr + 2 * dA, Sse.MoveLowToHigh(t2, t3));
                        Sse.Store(dr + 3 * dA, Sse.MoveHighToLow(t3, t2));
                    }
                }
            }
        }
        // Ragged edges: the last rows % 4 rows (all columns) and the last cols % 4 columns (the other rows).
        for (int a = rows4; a < rows; a++)
            for (int b = 0; b < cols; b++) d[a * dA + b] = s[a + b * sStep];
        for (int a = 0; a < rows4; a++)
            for (int b = cols4; b < cols; b++) d[a * dA + b] = s[a + b * sStep];
    }

    /// <summary>
    /// Constant (<paramref name="mirror"/> null) or mirror padding of a tensor whose storage is a T[], output from
    /// the kernel's buffer pool when <paramref name="alloc"/> is given. Trailing dims without padding are merged into
    /// longer rows; every output row is then either a fill (outside the input along an outer dim, constant mode),
    /// or one block copy of its input row with only the left/right borders filled or mirrored. Each output element
    /// is written once; no index map.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static T[] PadRows<T>(T[] src, int[] inShape, int[] outShape, long[] pads, T fill, bool? mirror, KernelContext? alloc = null) where T : unmanaged
    {
        int n = Count(outShape);
        var dst = NewArray<T>(alloc, n, clear: false);
        if (n == 0) return dst;
        int rank = inShape.Length;
        if (rank == 0) { dst[0] = src[0]; return dst; }
        // Trailing dims without padding ride along with the last padded one: a position of it is `unit` elements.
        int unit = 1;
        while (rank > 1 && pads[2 * (rank - 1)] == 0 && pads[2 * (rank - 1) + 1] == 0)
        {
            unit *= inShape[rank - 1];
            rank--;
        }
        int inRow = inShape[rank - 1] * unit, outRow = outShape[rank - 1] * unit;
        int left = checked((int)pads[2 * (rank - 1)]) * unit;
        if (inRow == 0 && mirror is null) { dst.AsSpan().Fill(fill); return dst; }
        int reflectOff = mirror == true ? 1 : 0;
        // Rows are grouped in blocks along the dim just above the row (hd): a block is one input plane (or none).
        int hd = rank - 2;
        int outH = hd >= 0 ? outShape[hd] : 1, inH = hd >= 0 ? inShape[hd] : 1, top = hd >= 0 ? checked((int)pads[2 * hd]) : 0;
        int blocks = hd >= 0 ? Count(outShape.AsSpan(0, hd)) : 1;
        var inStrides = hd >= 0 ? Strides(inShape.AsSpan(0, hd + 1)) : new long[] { 1 }; // in rows
        var c = new int[Math.Max(hd, 0)];
        long blockSize = (long)outH * outRow;
        for (int blk = 0; blk < blocks; blk++)
        {
            var block = dst.AsSpan(checked((int)(blk * blockSize)), checked((int)blockSize));
            // The input plane of this block: outer coordinates mapped into the input (mirrored), or none (constant mode).
            long plane = 0;
            bool inside = true;
            for (int d = 0; d < hd; d++)
            {
                long k = c[d] - pads[2 * d];
                int size = inShape[d];
                if (k < 0 || k >= size)
                {
                    if (mirror is null) { inside = false; break; }
                    k = k < 0 ? -k - 1 + reflectOff : 2L * size - 1 - k - reflectOff;
                }
                plane += k * inStrides[d];
            }
            if (!inside) block.Fill(fill);
            else if (mirror is null)
            {
                int rowsIn = Math.Min(inH, outH - top);
                block.Slice(0, top * outRow).Fill(fill);
                block.Slice((top + rowsIn) * outRow).Fill(fill);
                var srcPlane = src.AsSpan(checked((int)(plane * inRow)), inH * inRow);
                for (int h = 0; h < rowsIn; h++)
                {
                    var row = block.Slice((top + h) * outRow, outRow);
                    srcPlane.Slice(h * inRow, inRow).CopyTo(row.Slice(left, inRow));
                    FillShort(row.Slice(0, left), fill);
                    FillShort(row.Slice(left + inRow), fill);
                }
            }
            else
            {
                // Mirror: every output row comes from an input row; the last dim's borders are mirrored position by
                // position (a position is `unit` elements); REFLECT skips the edge.
                int w = inShape[rank - 1], lp = left / unit, op = outShape[rank - 1];
                for (int oh = 0; oh < outH; oh++)
                {
                    long k = oh - top;
                    if (k < 0) k = -k - 1 + reflectOff;
                    else if (k >= inH) k = 2L * inH - 1 - k - reflectOff;
                    var srcRow = src.AsSpan(checked((int)((plane + k) * inRow)), inRow);
                    var row = block.Slice(oh * outRow, outRow);
                    srcRow.CopyTo(row.Slice(left, inRow));
                    for (int j = 0; j < lp; j++) srcRow.Slice((lp - 1 - j + reflectOff) * unit, unit).CopyTo(row.Slice(j * unit, unit));
                    for (int j = lp + w; j < op; j++) srcRow.Slice((2 * w - 1 - (j - lp) - reflectOff) * unit, unit).CopyTo(row.Slice(j * unit, unit));
                }
            }
            for (int d = hd - 1; d >= 0; d--)
            {
                if (++c[d] < outShape[d]) break;
                c[d] = 0;
            }
        }
        return dst;
    }

    /// <summary>Fills a span that is usually a few elements long (a row's border) without the call overhead of Span.Fill.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void FillShort<T>(Span<T> span, T value)
    {
        if (span.Length > 16) { span.Fill(value); return; }
        for (int i = 0; i < span.Length; i++) span[i] = value;
    }

    /// <summary>
    /// Index map of a strided view: for each output coordinate c, the source offset
    /// base + Σ c[d]·step[d] (steps may be negative or zero).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int[] StridedIndex(int[] outShape, long baseOffset, long[] step)
    {
        int n = Count(outShape);
        var idx = new int[n];
        if (n == 0) return idx;
        int rank = outShape.Length;
        var c = new int[rank];
        long off = baseOffset;
        for (int i = 0; i < n; i++)
        {
            idx[i] = (int)off;
            for (int d = rank - 1; d >= 0; d--)
            {
                if (++c[d] < outShape[d]) { off += step[d]; break; }
                off -= step[d] * (c[d] - 1);
                c[d] = 0;
            }
        }
        return idx;
    }

    /// <summary>TF/numpy broadcast of two shapes; null when incompatible.</summary>
    public static int[]? BroadcastShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var r = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            int db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            if (da == db || db == 1) r[i] = da;
            else if (da == 1) r[i] = db;
            else return null;
        }
        return r;
    }

    /// <summary>Index map reading a tensor of <paramref name="inShape"/> broadcast to <paramref name="outShape"/>; null when no broadcast is needed.</summary>
    public static int[]? BroadcastIndex(int[] inShape, int[] outShape)
    {
        if (inShape.AsSpan().SequenceEqual(outShape)) return null;
        int rank = outShape.Length;
        var inStrides = Strides(inShape);
        var step = new long[rank];
        int lead = rank - inShape.Length;
        for (int d = lead; d < rank; d++)
            step[d] = inShape[d - lead] == 1 ? 0 : inStrides[d - lead];
        return StridedIndex(outShape, 0, step);
    }

    /// <summary>Materializes <paramref name="t"/> broadcast to <paramref name="shape"/>.</summary>
    public static Tensor BroadcastTo(Tensor t, int[] shape)
    {
        if (t.Shape.AsSpan().SequenceEqual(shape)) return t;
        int rank = shape.Length;
        var inStrides = Strides(t.Shape);
        var step = new long[rank];
        int lead = rank - t.Shape.Length;
        for (int d = lead; d < rank; d++)
            step[d] = t.Shape[d - lead] == 1 ? 0 : inStrides[d - lead];
        return TakeStrided(t, shape, 0, step);
    }

    /// <summary>Concatenates tensors along an axis with block copies (any dtype).</summary>
    public static Tensor Concat(IReadOnlyList<Tensor> parts, int axis, int[] outShape, KernelContext? alloc = null)
    {
        var first = parts[0];
        // The parts cover the whole output, so a pooled array need not be cleared.
        Array dst = first.Data switch
        {
            float[] when alloc is not null => alloc.Allocate<float>(Count(outShape), clear: false),
            int[] when alloc is not null => alloc.Allocate<int>(Count(outShape), clear: false),
            _ => Array.CreateInstance(first.Data.GetType().GetElementType()!, Count(outShape)),
        };
        long outer = 1;
        for (int d = 0; d < axis; d++) outer *= outShape[d];
        long inner = 1;
        for (int d = axis + 1; d < outShape.Length; d++) inner *= outShape[d];
        long rowOut = outShape[axis] * inner;
        long offset = 0;
        foreach (var p in parts)
        {
            long rowIn = p.Shape[axis] * inner;
            if (rowIn == 0) continue;
            if (dst is float[] fd && p.Data is float[] fs)
            {
                for (long o = 0; o < outer; o++)
                    fs.AsSpan((int)(o * rowIn), (int)rowIn).CopyTo(fd.AsSpan((int)(o * rowOut + offset), (int)rowIn));
            }
            else
            {
                for (long o = 0; o < outer; o++)
                    Array.Copy(p.Data, o * rowIn, dst, o * rowOut + offset, rowIn);
            }
            offset += rowIn;
        }
        return Tensor.Over(first.DType, outShape, dst);
    }

    /// <summary>Slices [start, start+size) along an axis with block copies.</summary>
    public static Tensor SliceAxis(Tensor t, int axis, int start, int size, KernelContext? alloc = null)
    {
        var shape = (int[])t.Shape.Clone();
        shape[axis] = size;
        // Every element of the slice is copied below, so a pooled array need not be cleared.
        Array dst = t.Data is float[] && alloc is not null
            ? alloc.Allocate<float>(Count(shape), clear: false)
            : Array.CreateInstance(t.Data.GetType().GetElementType()!, Count(shape));
        long outer = 1;
        for (int d = 0; d < axis; d++) outer *= t.Shape[d];
        long inner = 1;
        for (int d = axis + 1; d < t.Rank; d++) inner *= t.Shape[d];
        long rowIn = t.Shape[axis] * inner, rowOut = size * inner;
        if (rowOut > 0)
            for (long o = 0; o < outer; o++)
                Array.Copy(t.Data, o * rowIn + start * inner, dst, o * rowOut, rowOut);
        return Tensor.Over(t.DType, shape, dst);
    }

    /// <summary>A tensor of the given dtype filled with one value (taken from a scalar tensor of that dtype).</summary>
    public static Tensor Fill(Tensor scalar, int[] shape)
    {
        int n = Count(shape);
        Array dst = Array.CreateInstance(scalar.Data.GetType().GetElementType()!, n);
        object? v = scalar.Data.GetValue(0);
        switch (dst)
        {
            case float[] f: Array.Fill(f, (float)v!); break;
            case double[] d: Array.Fill(d, (double)v!); break;
            case int[] i: Array.Fill(i, (int)v!); break;
            case long[] l: Array.Fill(l, (long)v!); break;
            case bool[] b: Array.Fill(b, (bool)v!); break;
            default: for (int i = 0; i < n; i++) dst.SetValue(v, i); break;
        }
        return new Tensor(scalar.DType, shape, dst);
    }

    /// <summary>Normalizes an axis in [-rank, rank).</summary>
    public static int Axis(KernelContext ctx, long axis, int rank, string what = "axis")
    {
        if (axis < -rank || axis >= Math.Max(rank, 1) && !(rank == 0 && axis == 0))
            throw ctx.Error($"has {what} {axis}, outside [-{rank}, {rank}) for a rank-{rank} tensor.");
        return (int)(axis < 0 ? axis + rank : axis);
    }

    /// <summary>A scalar (or one-element) integer input as long.</summary>
    public static long ScalarInt(KernelContext ctx, int input)
    {
        var t = ctx.Input(input);
        if (t.Length != 1) throw ctx.Error($"needs a scalar for input {input} but got {t}.");
        return t.GetInt64(0);
    }

    /// <summary>A tensor whose element type is the storage of <paramref name="dtype"/>, values converted from doubles.</summary>
    public static Tensor FromDoubles(DataType dtype, int[] shape, ReadOnlySpan<double> values)
    {
        Array dst = Array.CreateInstance(dtype.StorageType(), values.Length);
        switch (dst)
        {
            case float[] f: for (int i = 0; i < f.Length; i++) f[i] = (float)values[i]; break;
            case double[] d: values.CopyTo(d); break;
            case Half[] h: for (int i = 0; i < h.Length; i++) h[i] = (Half)values[i]; break;
            case sbyte[] a: for (int i = 0; i < a.Length; i++) a[i] = (sbyte)values[i]; break;
            case byte[] a: for (int i = 0; i < a.Length; i++) a[i] = (byte)values[i]; break;
            case short[] a: for (int i = 0; i < a.Length; i++) a[i] = (short)values[i]; break;
            case ushort[] a when dtype == DataType.DtBfloat16: for (int i = 0; i < a.Length; i++) a[i] = Tensor.SingleToBFloat16((float)values[i]); break;
            case ushort[] a: for (int i = 0; i < a.Length; i++) a[i] = (ushort)values[i]; break;
            case int[] a: for (int i = 0; i < a.Length; i++) a[i] = (int)values[i]; break;
            case uint[] a: for (int i = 0; i < a.Length; i++) a[i] = (uint)values[i]; break;
            case long[] a: for (int i = 0; i < a.Length; i++) a[i] = (long)values[i]; break;
            case ulong[] a: for (int i = 0; i < a.Length; i++) a[i] = (ulong)values[i]; break;
            case bool[] a: for (int i = 0; i < a.Length; i++) a[i] = values[i] != 0; break;
            default: throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.NotImplemented, $"Cannot build a {dtype.Name()} tensor from numbers.");
        }
        return new Tensor(dtype, shape, dst);
    }
}
