using System.Numerics.Tensors;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.Kernels;

/// <summary>float16 / bfloat16 tensors are stored as such but computed in float32.</summary>
public static class FloatConvert
{
    /// <summary>True when the tensor is a reduced-precision float (computed in float32).</summary>
    public static bool IsReducedFloat(DataType t) => t is DataType.DtHalf or DataType.DtBfloat16;

    /// <summary>The float32 view of a float32/float16/bfloat16 tensor (the same tensor when already float32).</summary>
    public static Tensor ToFloat(Tensor t)
    {
        switch (t.Data)
        {
            case float[]:
                return t;
            case Half[] h:
            {
                var f = new float[t.Length];
                TensorPrimitives.ConvertToSingle(h.AsSpan(0, f.Length), f);
                return new Tensor(DataType.DtFloat, t.Shape, f);
            }
            case ushort[] b when t.DType == DataType.DtBfloat16:
            {
                var f = new float[t.Length];
                for (int i = 0; i < f.Length; i++) f[i] = Tensor.BFloat16ToSingle(b[i]);
                return new Tensor(DataType.DtFloat, t.Shape, f);
            }
            default:
                throw new InvalidCastException($"{t.DType.Name()} is not a floating-point dtype.");
        }
    }

    /// <summary>Converts a float32 result back to the given storage dtype (float32, float16, bfloat16); new arrays of exactly the tensor's length.</summary>
    public static Tensor FromFloat(Tensor f, DataType target)
    {
        if (target == DataType.DtFloat) return f;
        var src = f.As<float>().AsSpan(0, f.Length);
        if (target == DataType.DtHalf)
        {
            var h = new Half[src.Length];
            TensorPrimitives.ConvertToHalf(src, h);
            return new Tensor(DataType.DtHalf, f.Shape, h);
        }
        if (target == DataType.DtBfloat16)
        {
            var b = new ushort[src.Length];
            for (int i = 0; i < b.Length; i++) b[i] = Tensor.SingleToBFloat16(src[i]);
            return new Tensor(DataType.DtBfloat16, f.Shape, b);
        }
        throw new InvalidCastException($"Cannot store float32 results as {target.Name()}.");
    }
}
