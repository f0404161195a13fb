namespace ModelOps.Core.Converters.Onnx;

/// <summary>Static shape arithmetic for lowerings: dims are -1 where unknown, a null shape has unknown rank.</summary>
public static class OnnxShapes
{
    public static long[] Unknown(int rank) => Enumerable.Repeat(-1L, rank).ToArray();

    /// <summary>numpy broadcasting of two partial shapes.</summary>
    public static long[]? Broadcast(long[]? a, long[]? b)
    {
        if (a is null || b is null) return null;
        int r = Math.Max(a.Length, b.Length);
        var o = new long[r];
        for (int i = 0; i < r; i++)
        {
            long x = i - (r - a.Length) >= 0 ? a[i - (r - a.Length)] : 1;
            long y = i - (r - b.Length) >= 0 ? b[i - (r - b.Length)] : 1;
            o[i] = x == 1 ? y : y == 1 ? x : x == y ? x : x < 0 ? y : y < 0 ? x : -1;
        }
        return o;
    }

    /// <summary>Output length of a TF window op along one axis for SAME/VALID padding; -1 when the input is unknown.</summary>
    public static long WindowOut(long input, long kernel, long stride, long dilation, string padding)
    {
        if (input < 0) return -1;
        long k = (kernel - 1) * dilation + 1;
        return padding == "VALID" ? (input - k + stride) / stride : (input + stride - 1) / stride;
    }

    /// <summary>Normalizes a possibly negative axis for a given rank.</summary>
    public static int Axis(long axis, int rank) => (int)(axis < 0 ? axis + rank : axis);
}
