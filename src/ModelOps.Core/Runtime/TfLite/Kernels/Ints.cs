using ModelOps.Core.Protos;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.TfLite.Kernels;

/// <summary>Integer tensors as int[] working arrays and back (kernels compute in int32 and clamp at the end).</summary>
internal static class Ints
{
    public static int[] Of(Tensor t)
    {
        var r = new int[t.Length];
        switch (t.Data)
        {
            case sbyte[] a when t.DType == DataType.DtInt8: for (int i = 0; i < r.Length; i++) r[i] = a[i]; break;
            case byte[] a when t.DType == DataType.DtUint8: for (int i = 0; i < r.Length; i++) r[i] = a[i]; break;
            case short[] a when t.DType == DataType.DtInt16: for (int i = 0; i < r.Length; i++) r[i] = a[i]; break;
            case int[] a: Array.Copy(a, r, r.Length); break;
            default: for (int i = 0; i < r.Length; i++) r[i] = checked((int)t.GetInt64(i)); break;
        }
        return r;
    }

    /// <summary>Values (already clamped by the kernel) stored as the given integer dtype.</summary>
    public static Tensor ToTensor(int[] v, DataType dtype, int[] shape)
    {
        Array data;
        switch (dtype)
        {
            case DataType.DtInt8: { var a = new sbyte[v.Length]; for (int i = 0; i < a.Length; i++) a[i] = (sbyte)v[i]; data = a; break; }
            case DataType.DtUint8: { var a = new byte[v.Length]; for (int i = 0; i < a.Length; i++) a[i] = (byte)v[i]; data = a; break; }
            case DataType.DtInt16: { var a = new short[v.Length]; for (int i = 0; i < a.Length; i++) a[i] = (short)v[i]; data = a; break; }
            case DataType.DtInt32: data = v; break;
            case DataType.DtInt64: data = v.Select(x => (long)x).ToArray(); break;
            default: throw new InvalidOperationException($"{dtype} is not an integer type");
        }
        return new Tensor(dtype, shape, data);
    }

    public static (int Min, int Max) Range(DataType t) => t switch
    {
        DataType.DtInt8 => (sbyte.MinValue, sbyte.MaxValue),
        DataType.DtUint8 => (byte.MinValue, byte.MaxValue),
        DataType.DtInt16 => (short.MinValue, short.MaxValue),
        _ => (int.MinValue, int.MaxValue),
    };

    /// <summary>float32 view of a float tensor (float16 / float64 converted).</summary>
    public static float[] Floats(Tensor t) => t.Data switch
    {
        float[] f => f,
        Half[] h => h.Select(x => (float)x).ToArray(),
        double[] d => d.Select(x => (float)x).ToArray(),
        _ => Enumerable.Range(0, t.Length).Select(i => (float)t.GetDouble(i)).ToArray(),
    };

    public static bool IsQuantizedInt(DataType t) => t is DataType.DtInt8 or DataType.DtUint8 or DataType.DtInt16;
}
