namespace ModelOps.Core.Runtime.Kernels;

/// <summary>
/// numpy/TensorFlow broadcasting of two shapes, reduced to "rows": the output is walked as
/// <see cref="Rows"/> contiguous runs of <see cref="Inner"/> elements; in each run an input is either
/// contiguous (stride 1) or a single repeated element (stride 0). Adjacent dimensions that broadcast
/// the same way are merged first, so same-shape, scalar and row/channel broadcasts become one or two rows
/// kinds.
/// </summary>
public sealed class Broadcast
{
    private readonly int[] _outerDims;     // coalesced outer dims (without the inner one)
    private readonly long[] _aStrides;     // element strides of a per outer dim (0 = broadcast)
    private readonly long[] _bStrides;

    public int[] OutShape { get; }
    public long Rows { get; }
    public int Inner { get; }
    public bool AInnerScalar { get; }
    public bool BInnerScalar { get; }

    private Broadcast(int[] outShape, int[] outer, long[] aStr, long[] bStr, int inner, bool aScalar, bool bScalar)
    {
        OutShape = outShape;
        _outerDims = outer;
        _aStrides = aStr;
        _bStrides = bStr;
        Inner = inner;
        AInnerScalar = aScalar;
        BInnerScalar = bScalar;
        long rows = 1;
        foreach (int d in outer) rows *= d;
        Rows = inner == 0 ? 0 : rows;
        ARowMajor = IsRowMajor(outer, aStr, inner);
        BRowMajor = IsRowMajor(outer, bStr, inner);
        ARepeats = aStr.All(s => s == 0);
        BRepeats = bStr.All(s => s == 0);
    }

    /// <summary>Row r of a starts at r·Inner (a is laid out like the output).</summary>
    public bool ARowMajor { get; }
    public bool BRowMajor { get; }
    /// <summary>Every row of a starts at offset 0 (a is one row repeated, e.g. a per-channel vector).</summary>
    public bool ARepeats { get; }
    public bool BRepeats { get; }

    private static bool IsRowMajor(int[] outer, long[] strides, int inner)
    {
        long s = inner;
        for (int i = outer.Length - 1; i >= 0; i--)
        {
            if (strides[i] != s) return false;
            s *= outer[i];
        }
        return true;
    }

    /// <summary>The broadcast result shape, or null when the shapes are incompatible.</summary>
    public static int[]? TryShape(int[] a, int[] b)
    {
        int r = Math.Max(a.Length, b.Length);
        var o = new int[r];
        for (int i = 0; i < r; i++)
        {
            int da = i - (r - a.Length) >= 0 ? a[i - (r - a.Length)] : 1;
            int db = i - (r - b.Length) >= 0 ? b[i - (r - b.Length)] : 1;
            if (da == db || db == 1) o[i] = da;
            else if (da == 1) o[i] = db;
            else return null;
        }
        return o;
    }

    /// <summary>Plans a broadcast of a and b, or returns null when the shapes are incompatible.</summary>
    public static Broadcast? TryCreate(int[] a, int[] b)
    {
        var outShape = TryShape(a, b);
        if (outShape is null) return null;
        int r = outShape.Length;
        // per dim: size, a broadcast?, b broadcast?  (dims of size 1 in the output are dropped)
        var sizes = new List<int>(r);
        var ab = new List<bool>(r);
        var bb = new List<bool>(r);
        bool empty = false;
        for (int i = 0; i < r; i++)
        {
            int d = outShape[i];
            if (d == 0) empty = true;
            if (d == 1) continue;
            int da = i - (r - a.Length) >= 0 ? a[i - (r - a.Length)] : 1;
            int db = i - (r - b.Length) >= 0 ? b[i - (r - b.Length)] : 1;
            bool na = da == 1, nb = db == 1;
            int k = sizes.Count - 1;
            if (k >= 0 && ab[k] == na && bb[k] == nb) sizes[k] *= d;
            else { sizes.Add(d); ab.Add(na); bb.Add(nb); }
        }
        if (empty) return new Broadcast(outShape, Array.Empty<int>(), Array.Empty<long>(), Array.Empty<long>(), 0, false, false);
        if (sizes.Count == 0) { sizes.Add(1); ab.Add(false); bb.Add(false); }
        int n = sizes.Count;
        var aStr = new long[n];
        var bStr = new long[n];
        long sa = 1, sb = 1;
        for (int i = n - 1; i >= 0; i--)
        {
            aStr[i] = ab[i] ? 0 : sa;
            bStr[i] = bb[i] ? 0 : sb;
            if (!ab[i]) sa *= sizes[i];
            if (!bb[i]) sb *= sizes[i];
        }
        return new Broadcast(outShape, sizes.Take(n - 1).ToArray(), aStr[..(n - 1)], bStr[..(n - 1)], sizes[n - 1], ab[n - 1], bb[n - 1]);
    }

    /// <summary>Offsets into a and b of the first element of output row <paramref name="row"/>.</summary>
    public void Offsets(long row, out long aOff, out long bOff)
    {
        aOff = 0;
        bOff = 0;
        for (int i = _outerDims.Length - 1; i >= 0 && row > 0; i--)
        {
            int d = _outerDims[i];
            long c = row % d;
            row /= d;
            aOff += c * _aStrides[i];
            bOff += c * _bStrides[i];
        }
    }
}
