using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelOps.Core.Runtime.Kernels;

/// <summary>
/// The first n (0–7) lanes of an 8-float vector loaded or stored with plain moves of 4, 2 and 1 floats: the
/// edge of a row whose length is not a multiple of 8. AVX's masked moves (vmaskmovps) do the same but cost
/// about three times as much on AMD cores (measured here: 10-column GEMM tiles and epilogues ran half as fast).
/// Memory past the n floats is never read or written. Callers check <see cref="Avx.IsSupported"/> (which implies SSE4.1).
/// </summary>
internal static unsafe class PartialVec
{
    /// <summary>Floats p[0..n) in lanes 0..n, the other lanes 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(float* p, int n)
    {
        Vector128<float> low = default, tail = default;
        int i = 0;
        if ((n & 4) != 0) { low = Vector128.Load(p); i = 4; }
        if ((n & 2) != 0) tail = Sse2.LoadScalarVector128((double*)(p + i)).AsSingle();
        if ((n & 1) != 0)
            tail = (n & 2) != 0 ? Sse41.Insert(tail, Sse.LoadScalarVector128(p + i + 2), 0x20) : Sse.LoadScalarVector128(p + i);
        return (n & 4) != 0 ? Vector256.Create(low, tail) : Vector256.Create(tail, Vector128<float>.Zero);
    }

    /// <summary>Stores lanes 0..n of v at p[0..n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(float* p, Vector256<float> v, int n)
    {
        var part = v.GetLower();
        if ((n & 4) != 0) { part.Store(p); p += 4; part = v.GetUpper(); }
        if ((n & 2) != 0) { Sse2.StoreScalar((double*)p, part.AsDouble()); p += 2; part = Sse.MoveHighToLow(part, part); }
        if ((n & 1) != 0) Sse.StoreScalar(p, part);
    }
}
