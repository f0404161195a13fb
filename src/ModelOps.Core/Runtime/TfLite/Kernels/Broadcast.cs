namespace ModelOps.Core.Runtime.TfLite.Kernels;

/// <summary>NumPy-style broadcasting of two shapes: output shape and, per output element, the source indices.</summary>
internal static class Broadcast
{
    public static int[] Shape(OpContext ctx, int[] a, int[] b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var r = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i - (rank - a.Length) >= 0 ? a[i - (rank - a.Length)] : 1;
            int db = i - (rank - b.Length) >= 0 ? b[i - (rank - b.Length)] : 1;
            if (da != db && da != 1 && db != 1)
                throw ctx.Unsupported($"shapes [{string.Join(",", a)}] and [{string.Join(",", b)}] do not broadcast");
            r[i] = da == 1 ? db : da;
        }
        return r;
    }

    /// <summary>Flat source index into a tensor of shape <paramref name="src"/> for every element of <paramref name="outShape"/>.</summary>
    public static int[] Indices(int[] src, int[] outShape)
    {
        int rank = outShape.Length;
        long total = 1;
        foreach (int d in outShape) total *= d;
        var idx = new int[total];
        var strides = new int[rank];
        int s = 1;
        for (int i = rank - 1; i >= 0; i--)
        {
            int j = i - (rank - src.Length);
            int dim = j >= 0 ? src[j] : 1;
            strides[i] = dim == 1 ? 0 : s;
            s *= dim;
        }
        var counter = new int[rank];
        int cur = 0;
        for (long n = 0; n < total; n++)
        {
            idx[n] = cur;
            for (int d = rank - 1; d >= 0; d--)
            {
                counter[d]++;
                cur += strides[d];
                if (counter[d] < outShape[d]) break;
                cur -= strides[d] * counter[d];
                counter[d] = 0;
            }
        }
        return idx;
    }

    public static bool Same(int[] a, int[] b) => a.AsSpan().SequenceEqual(b);
}
