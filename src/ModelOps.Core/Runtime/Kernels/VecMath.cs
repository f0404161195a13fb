using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelOps.Core.Runtime.Kernels;

/// <summary>
/// Vectorized float32 transcendental functions for the activations (exp, expm1, tanh, sigmoid, softplus),
/// accurate to a few ulp over the whole float range (max relative error about 3e-7 on normal results),
/// with IEEE special values: NaN propagates, ±inf and overflow/underflow saturate as exp/tanh do, −0 keeps its sign.
/// <para>
/// Method: exp(x) = 2^n · e^r with n = round(x·log2 e) and r = x − n·ln 2 computed with a two-part
/// (Cody–Waite) ln 2, so |r| ≤ ln2/2; e^r and e^r − 1 are Taylor polynomials of degree 7 and 8 there
/// (truncation error below 1e-8 relative). 2^n is built from exponent bits in two halves so that results in
/// the subnormal range round once. expm1 = 2^n·(e^r − 1) + (2^n − 1), exact for the range used, so no
/// cancellation near 0. tanh(|x|) = e/(e + 2) with e = expm1(2|x|): no cancellation for small |x| either;
/// sigmoid(x) = 1/(1 + e^−|x|) or e^−|x|/(1 + e^−|x|), which never overflows.
/// </para>
/// Vector256 (with FMA when available) is used when hardware accelerated; otherwise the scalar forms compute
/// in double precision.
/// </summary>
public static class VecMath
{
    private const float Log2E = 1.44269504088896341f;
    // ln 2 split so that n·Ln2Hi is exact for |n| < 2^15 (Ln2Hi has 9 significant bits).
    private const float Ln2Hi = 0.693359375f;
    private const float Ln2Lo = -2.12194440e-4f;
    // Adding 1.5·2^23 rounds a float of magnitude < 2^22 to an integer held in the low mantissa bits.
    private const float RoundMagic = 12582912f;

    public static bool IsAccelerated => Vector256.IsHardwareAccelerated;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> MulAdd(Vector256<float> a, Vector256<float> b, Vector256<float> c) =>
        Fma.IsSupported ? Fma.MultiplyAdd(a, b, c) : a * b + c;

    /// <summary>min(max(x, lo), hi) with the plain x86 min/max (a NaN lane comes out as some number; callers select NaN lanes back).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Clamp(Vector256<float> x, Vector256<float> lo, Vector256<float> hi) =>
        Avx.IsSupported ? Avx.Min(Avx.Max(x, lo), hi) : Vector256.Min(Vector256.Max(x, lo), hi);

    /// <summary>n = round(x·log2 e) as float and int, and r = x − n·ln 2 (|x| must be below 2^21).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Reduce(Vector256<float> x, out Vector256<int> n)
    {
        var magic = Vector256.Create(RoundMagic);
        var t = MulAdd(x, Vector256.Create(Log2E), magic);
        n = t.AsInt32() - magic.AsInt32();
        var nf = t - magic;
        var r = MulAdd(nf, Vector256.Create(-Ln2Hi), x);
        return MulAdd(nf, Vector256.Create(-Ln2Lo), r);
    }

    /// <summary>2^n for n in [-126, 127] from the exponent bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Pow2(Vector256<int> n) => Vector256.ShiftLeft(n + Vector256.Create(127), 23).AsSingle();

    /// <summary>e^r − 1 for |r| ≤ ln2/2 + a little: r + r²·(1/2 + r/6 + … + r⁶/8!).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Expm1Poly(Vector256<float> r)
    {
        var p = Vector256.Create(1f / 40320f);
        p = MulAdd(p, r, Vector256.Create(1f / 5040f));
        p = MulAdd(p, r, Vector256.Create(1f / 720f));
        p = MulAdd(p, r, Vector256.Create(1f / 120f));
        p = MulAdd(p, r, Vector256.Create(1f / 24f));
        p = MulAdd(p, r, Vector256.Create(1f / 6f));
        p = MulAdd(p, r, Vector256.Create(0.5f));
        return MulAdd(p, r * r, r);
    }

    /// <summary>e^x for 8 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        // Below −104 the result is 0 (e^−104 is under half the smallest subnormal); above 89 it overflows.
        var xc = Clamp(x, Vector256.Create(-104f), Vector256.Create(89f));
        var r = Reduce(xc, out var n);
        var p = Vector256.Create(1f / 5040f);
        p = MulAdd(p, r, Vector256.Create(1f / 720f));
        p = MulAdd(p, r, Vector256.Create(1f / 120f));
        p = MulAdd(p, r, Vector256.Create(1f / 24f));
        p = MulAdd(p, r, Vector256.Create(1f / 6f));
        p = MulAdd(p, r, Vector256.Create(0.5f));
        p = MulAdd(p, r, Vector256.Create(1f));
        p = MulAdd(p, r, Vector256.Create(1f));
        // n is in [-150, 129]: scale in two normal steps so a subnormal result is rounded only once.
        var n1 = Vector256.ShiftRightArithmetic(n, 1);
        var y = p * Pow2(n1) * Pow2(n - n1);
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), y, x);
    }

    /// <summary>e^x − 1 for x in [-16.5, 20] (no special values): 2^n·(e^r − 1) + (2^n − 1), n in [-24, 29].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Expm1Core(Vector256<float> x)
    {
        var r = Reduce(x, out var n);
        var q = Expm1Poly(r);
        var s = Pow2(n);
        return MulAdd(s, q, s - Vector256<float>.One);
    }

    /// <summary>e^x − 1 for 8 lanes, without cancellation near 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Expm1(Vector256<float> x)
    {
        var xc = Clamp(x, Vector256.Create(-16.5f), Vector256.Create(20f));
        var y = Expm1Core(xc);
        // Above 20, e^x − 1 rounds to e^x; below −17.4, to −1.
        if (Vector256.GreaterThanAny(x, Vector256.Create(20f)))
            y = Vector256.ConditionalSelect(Vector256.GreaterThan(x, Vector256.Create(20f)), Exp(x), y);
        y = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256.Create(-17.4f)), Vector256.Create(-1f), y);
        // NaN stays NaN, ±0 stays ±0.
        return Vector256.ConditionalSelect(Vector256.Equals(x, x) & ~Vector256.Equals(x, Vector256<float>.Zero), y, x);
    }

    /// <summary>tanh for 8 lanes: sign(x) · e/(e + 2) with e = expm1(2|x|).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Tanh(Vector256<float> x)
    {
        var signMask = Vector256.Create(-0f);
        var sign = x & signMask;
        // tanh(|x|) rounds to 1 from 9.1 on; clamping there keeps 2|x| inside Expm1Core's range.
        var a = Vector256.AndNot(x, signMask);
        a = Avx.IsSupported ? Avx.Min(a, Vector256.Create(9.2f)) : Vector256.Min(a, Vector256.Create(9.2f));
        var e = Expm1Core(a + a);
        var t = e / (e + Vector256.Create(2f));
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), t | sign, x);
    }

    /// <summary>The logistic function 1/(1 + e^−x) for 8 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sigmoid(Vector256<float> x)
    {
        var z = Exp(x | Vector256.Create(-0f)); // e^−|x| ≤ 1
        var num = Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<float>.Zero), z, Vector256<float>.One);
        return num / (Vector256<float>.One + z); // NaN propagates through z
    }

    /// <summary>log(1 + z) for z in [0, 1]: 2·atanh(s) with s = z/(2 + z) ≤ 1/3, a series in s² to s¹⁵.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Log1pUnit(Vector256<float> z)
    {
        var s = z / (z + Vector256.Create(2f));
        var s2 = s * s;
        var p = Vector256.Create(1f / 15f);
        p = MulAdd(p, s2, Vector256.Create(1f / 13f));
        p = MulAdd(p, s2, Vector256.Create(1f / 11f));
        p = MulAdd(p, s2, Vector256.Create(1f / 9f));
        p = MulAdd(p, s2, Vector256.Create(1f / 7f));
        p = MulAdd(p, s2, Vector256.Create(1f / 5f));
        p = MulAdd(p, s2, Vector256.Create(1f / 3f));
        var s2x = s + s;
        return MulAdd(s2x * s2, p, s2x);
    }

    /// <summary>softplus(x) = log(1 + e^x) = max(x, 0) + log1p(e^−|x|) for 8 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Softplus(Vector256<float> x)
    {
        var z = Exp(x | Vector256.Create(-0f));
        var y = (Avx.IsSupported ? Avx.Max(x, Vector256<float>.Zero) : Vector256.Max(x, Vector256<float>.Zero)) + Log1pUnit(z);
        return Vector256.ConditionalSelect(Vector256.Equals(x, x), y, x);
    }

    /// <summary>ELU for 8 lanes: x &lt; 0 ? e^x − 1 : x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Elu(Vector256<float> x) =>
        Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<float>.Zero), Expm1(x), x);

    /// <summary>The tanh form of GELU for 8 lanes: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> GeluTanh(Vector256<float> x)
    {
        var x3 = x * x * x;
        var u = Vector256.Create(0.7978845608028654f) * MulAdd(x3, Vector256.Create(0.044715f), x);
        var h = Vector256.Create(0.5f) * x;
        return MulAdd(h, Tanh(u), h);
    }

    // ------------------------------------------------------------------ scalar forms (same results as the lanes)

    public static float Exp(float x) => IsAccelerated ? Exp(Vector256.Create(x)).ToScalar() : (float)Math.Exp(x);

    public static float Expm1(float x) => IsAccelerated ? Expm1(Vector256.Create(x)).ToScalar() : (float)ScalarExpm1(x);

    public static float Tanh(float x) => IsAccelerated ? Tanh(Vector256.Create(x)).ToScalar() : (float)Math.Tanh(x);

    public static float Sigmoid(float x) => IsAccelerated ? Sigmoid(Vector256.Create(x)).ToScalar() : (float)ScalarSigmoid(x);

    public static float Softplus(float x) => IsAccelerated ? Softplus(Vector256.Create(x)).ToScalar() : (float)ScalarSoftplus(x);

    public static float Elu(float x) => IsAccelerated ? Elu(Vector256.Create(x)).ToScalar() : (float)EluFn.Fallback(x);

    public static float GeluTanh(float x) => IsAccelerated ? GeluTanh(Vector256.Create(x)).ToScalar() : (float)GeluTanhFn.Fallback(x);

    private static double ScalarExpm1(double v) => Math.Abs(v) < 1e-5 ? v + 0.5 * v * v : Math.Exp(v) - 1;

    private static double ScalarSigmoid(double v) => v >= 0 ? 1 / (1 + Math.Exp(-v)) : Math.Exp(v) / (1 + Math.Exp(v));

    private static double ScalarSoftplus(double v) => double.IsNaN(v) ? v : Math.Max(v, 0) + Math.Log(1 + Math.Exp(-Math.Abs(v)));

    // ------------------------------------------------------------------ spans (x and y may be the same span)

    private interface IFn
    {
        static abstract Vector256<float> Vec(Vector256<float> x);
        static abstract double Fallback(double x);
    }

    private struct ExpFn : IFn
    {
        public static Vector256<float> Vec(Vector256<float> x) => Exp(x);
        public static double Fallback(double x) => Math.Exp(x);
    }

    private struct Expm1Fn : IFn
    {
        public static Vector256<float> Vec(Vector256<float> x) => Expm1(x);
        public static double Fallback(double x) => ScalarExpm1(x);
    }

    private struct TanhFn : IFn
    {
        public static Vector256<float> Vec(Vector256<float> x) => Tanh(x);
        public static double Fallback(double x) => Math.Tanh(x);
    }

    private struct SigmoidFn : IFn
    {
        public static Vector256<float> Vec(Vector256<float> x) => Sigmoid(x);
        public static double Fallback(double x) => ScalarSigmoid(x);
    }

    private struct SoftplusFn : IFn
    {
        public static Vector256<float> Vec(Vector256<float> x) => Softplus(x);
        public static double Fallback(double x) => ScalarSoftplus(x);
    }

    /// <summary>x &lt; 0 ? e^x − 1 : x.</summary>
    private struct EluFn : IFn
    {
        public static Vector256<float> Vec(Vector256<float> x) => Elu(x);
        public static double Fallback(double x) => x < 0 ? ScalarExpm1(x) : x;
    }

    private const float SeluScale = 1.05070098735548049f;
    private const float SeluScaleAlpha = 1.75809934084737685f; // scale · alpha

    /// <summary>x &lt; 0 ? scale·alpha·(e^x − 1) : scale·x.</summary>
    private struct SeluFn : IFn
    {
        public static Vector256<float> Vec(Vector256<float> x) =>
            Vector256.ConditionalSelect(Vector256.LessThan(x, Vector256<float>.Zero), Expm1(x) * Vector256.Create(SeluScaleAlpha), x * Vector256.Create(SeluScale));
        public static double Fallback(double x) => x < 0 ? 1.7580993408473768599402175208123 * ScalarExpm1(x) : 1.0507009873554804934193349852946 * x;
    }

    /// <summary>The tanh form of GELU: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).</summary>
    private struct GeluTanhFn : IFn
    {
        public static Vector256<float> Vec(Vector256<float> x) => GeluTanh(x);

        public static double Fallback(double x) => 0.5 * x * (1 + Math.Tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
    }

    public static void Exp(ReadOnlySpan<float> x, Span<float> y) => Map<ExpFn>(x, y);

    public static void Expm1(ReadOnlySpan<float> x, Span<float> y) => Map<Expm1Fn>(x, y);

    public static void Tanh(ReadOnlySpan<float> x, Span<float> y) => Map<TanhFn>(x, y);

    public static void Sigmoid(ReadOnlySpan<float> x, Span<float> y) => Map<SigmoidFn>(x, y);

    public static void Softplus(ReadOnlySpan<float> x, Span<float> y) => Map<SoftplusFn>(x, y);

    public static void Elu(ReadOnlySpan<float> x, Span<float> y) => Map<EluFn>(x, y);

    public static void Selu(ReadOnlySpan<float> x, Span<float> y) => Map<SeluFn>(x, y);

    public static void GeluTanh(ReadOnlySpan<float> x, Span<float> y) => Map<GeluTanhFn>(x, y);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Map<TFn>(ReadOnlySpan<float> x, Span<float> y) where TFn : IFn
    {
        if (x.Length != y.Length) throw new ArgumentException("Spans differ in length.");
        int n = y.Length, i = 0;
        if (!IsAccelerated)
        {
            for (; i < n; i++) y[i] = (float)TFn.Fallback(x[i]);
            return;
        }
        fixed (float* px = x)
        fixed (float* py = y)
        {
            for (; i <= n - 16; i += 16)
            {
                var a = TFn.Vec(Vector256.Load(px + i));
                var b = TFn.Vec(Vector256.Load(px + i + 8));
                a.Store(py + i);
                b.Store(py + i + 8);
            }
            for (; i <= n - 8; i += 8) TFn.Vec(Vector256.Load(px + i)).Store(py + i);
            if (i < n)
            {
                // The tail goes through the same lanes (padded with zeros) so every element gets identical arithmetic.
                float* buf = stackalloc float[8];
                Vector256<float>.Zero.Store(buf);
                for (int j = i; j < n; j++) buf[j - i] = px[j];
                TFn.Vec(Vector256.Load(buf)).Store(buf);
                for (int j = i; j < n; j++) py[j] = buf[j - i];
            }
        }
    }
}
