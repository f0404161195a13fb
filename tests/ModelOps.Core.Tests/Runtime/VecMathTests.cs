using ModelOps.Core.Runtime.Kernels;
using Xunit;
using Xunit.Abstractions;

namespace ModelOps.Core.Tests.Runtime;

/// <summary>
/// The vectorized float32 math against double-precision references, over a sweep of every 997th float bit
/// pattern (all signs and exponents, ±0, subnormals, ±inf, NaN) plus dense sweeps of the ranges activations see.
/// </summary>
public class VecMathTests(ITestOutputHelper output)
{
    /// <summary>Relative error allowed on normal results (a few ulp; float's ulp is 6e-8 to 1.2e-7 relative).</summary>
    private const double MaxRel = 1e-6;

    /// <summary>Absolute error allowed where the exact result is subnormal (2 ulp there).</summary>
    private const double SubnormalAbs = 2.0 * 1.401298464324817e-45;

    private static double Expm1Ref(double x)
    {
        if (Math.Abs(x) < 1e-3) return x * (1 + x * (1.0 / 2 + x * (1.0 / 6 + x * (1.0 / 24 + x * (1.0 / 120 + x / 720)))));
        return Math.Exp(x) - 1;
    }

    private static double Log1pRef(double u) => u < 1e-4 ? u * (1 - u * (0.5 - u / 3)) : Math.Log(1 + u);

    private static double SigmoidRef(double x) => x >= 0 ? 1 / (1 + Math.Exp(-x)) : Math.Exp(x) / (1 + Math.Exp(x));

    private static double SoftplusRef(double x) => Math.Max(x, 0) + Log1pRef(Math.Exp(-Math.Abs(x)));

    /// <summary>All the inputs: a strided sweep of the 2^32 bit patterns, dense ranges, and the special values.</summary>
    private static float[] Inputs()
    {
        var list = new List<float>();
        for (long bits = 0; bits <= uint.MaxValue; bits += 997) list.Add(BitConverter.UInt32BitsToSingle((uint)bits));
        var rng = new Random(12345);
        for (int i = 0; i < 2_000_000; i++) list.Add((float)(rng.NextDouble() * 40 - 20));
        for (int i = 0; i < 1_000_000; i++) list.Add((float)(rng.NextDouble() * 3 - 1.5));
        for (int i = 0; i < 500_000; i++) list.Add((float)(rng.NextDouble() * 240 - 120));
        list.AddRange(
        [
            0f, -0f, float.Epsilon, -float.Epsilon, float.MinValue, float.MaxValue, 1.17549435e-38f, -1.17549435e-38f,
            float.PositiveInfinity, float.NegativeInfinity, float.NaN, BitConverter.UInt32BitsToSingle(0xFFC00001),
            88.7228317f, 88.7228394f, 88.73f, 89f, -87.33655f, -87.3366f, -103.27893f, -103.9720f, -104f, -105f,
            9.0f, 9.1f, 9.2f, -9.1f, 17.4f, -17.4f, 16.5f, -16.5f, 20f, -20f, 20.0001f, 0.34657359f, -0.34657359f,
            1e-10f, -1e-10f, 1e-20f, -1e-30f, 0.5f, -0.5f, 1f, -1f, 1.5f, -1.5f,
        ]);
        return list.ToArray();
    }

    private static readonly float[] Xs = Inputs();

    private double Check(string name, Action<ReadOnlySpan<float>, Span<float>> f, Func<double, double> reference, Func<float, float> scalar)
    {
        var y = new float[Xs.Length];
        f(Xs, y);
        double maxRel = 0;
        float worst = 0;
        for (int i = 0; i < Xs.Length; i++)
        {
            float x = Xs[i];
            double e = reference(x);
            float a = y[i];
            if (double.IsNaN(e))
            {
                if (!(float.IsNaN(a))) Assert.Fail($"{name}({x:R}) = {a:R}, expected NaN");
                continue;
            }
            if (double.IsInfinity(e) || Math.Abs(e) > float.MaxValue)
            {
                float ef = (float)e;
                if (float.IsInfinity(ef)) { if (!(a == ef)) Assert.Fail($"{name}({x:R}) = {a:R}, expected {ef}"); continue; }
            }
            if (e == 0)
            {
                if (!(a == 0)) Assert.Fail($"{name}({x:R}) = {a:R}, expected 0");
                if (x == 0) if (!(float.IsNegative(a) == float.IsNegative(x) || name is "Exp" or "Sigmoid" or "Softplus")) Assert.Fail($"{name}({x:R}) lost the sign of zero");
                continue;
            }
            // Overflow: count +inf as 2^128 so a result just past float's range is judged by its relative error.
            double ad = float.IsInfinity(a) ? Math.CopySign(Math.Pow(2, 128), a) : a;
            double err = Math.Abs(ad - e);
            if (Math.Abs(e) < 1.1754943508222875e-38)
            {
                if (!(err <= SubnormalAbs)) Assert.Fail($"{name}({x:R}) = {a:R}, expected {e:R} (subnormal, error {err:E3})");
                continue;
            }
            double rel = err / Math.Abs(e);
            if (rel > maxRel) { maxRel = rel; worst = x; }
            if (!(rel <= MaxRel)) Assert.Fail($"{name}({x:R}) = {a:R}, expected {e:R} (relative error {rel:E3})");
        }
        // The scalar form computes exactly what the lanes do.
        for (int i = 0; i < Xs.Length; i += 9973)
        {
            float s = scalar(Xs[i]);
            Assert.True(s.Equals(y[i]), $"{name}: scalar({Xs[i]:R}) = {s:R}, span gave {y[i]:R}");
        }
        output.WriteLine($"{name}: {Xs.Length} points, max relative error {maxRel:E3} at x = {worst:R}");
        return maxRel;
    }

    [Fact]
    public void ExpMatchesDouble() => Check("Exp", VecMath.Exp, Math.Exp, VecMath.Exp);

    [Fact]
    public void Expm1MatchesDouble() => Check("Expm1", VecMath.Expm1, Expm1Ref, VecMath.Expm1);

    [Fact]
    public void TanhMatchesDouble() => Check("Tanh", VecMath.Tanh, Math.Tanh, VecMath.Tanh);

    [Fact]
    public void SigmoidMatchesDouble() => Check("Sigmoid", VecMath.Sigmoid, SigmoidRef, VecMath.Sigmoid);

    [Fact]
    public void SoftplusMatchesDouble() => Check("Softplus", VecMath.Softplus, SoftplusRef, VecMath.Softplus);

    [Fact]
    public void EluSeluAndGeluMatchDouble()
    {
        Check("Elu", VecMath.Elu, x => x < 0 ? Expm1Ref(x) : x, x => { var o = new float[1]; VecMath.Elu([x], o); return o[0]; });
        Check("Selu", VecMath.Selu, x => x < 0 ? 1.7580993408473768599402175208123 * Expm1Ref(x) : 1.0507009873554804934193349852946 * x,
            x => { var o = new float[1]; VecMath.Selu([x], o); return o[0]; });
        // GELU's inner argument is itself rounded to float, so compare on a moderate range with an absolute bound.
        var xs = new float[100_003];
        for (int i = 0; i < xs.Length; i++) xs[i] = -12f + 24f * i / (xs.Length - 1);
        var y = new float[xs.Length];
        VecMath.GeluTanh(xs, y);
        for (int i = 0; i < xs.Length; i++)
        {
            double v = xs[i];
            double e = 0.5 * v * (1 + Math.Tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
            Assert.True(Math.Abs(y[i] - e) <= 1e-6 * Math.Max(1, Math.Abs(e)), $"GeluTanh({v:R}) = {y[i]:R}, expected {e:R}");
        }
    }

    [Fact]
    public void SpecialValues()
    {
        Assert.Equal(1f, VecMath.Exp(0f));
        Assert.Equal(1f, VecMath.Exp(-0f));
        Assert.Equal(float.PositiveInfinity, VecMath.Exp(float.PositiveInfinity));
        Assert.Equal(0f, VecMath.Exp(float.NegativeInfinity));
        Assert.Equal(float.PositiveInfinity, VecMath.Exp(89f));
        Assert.Equal(float.Epsilon, VecMath.Exp(-103.2789f)); // e^x = 1.4e-45, the smallest subnormal
        Assert.Equal(0f, VecMath.Exp(-104f));
        Assert.True(float.IsNaN(VecMath.Exp(float.NaN)));
        Assert.Equal(1f, VecMath.Tanh(float.PositiveInfinity));
        Assert.Equal(-1f, VecMath.Tanh(float.NegativeInfinity));
        Assert.Equal(1f, VecMath.Tanh(9.2f));
        Assert.True(float.IsNegative(VecMath.Tanh(-0f)) && VecMath.Tanh(-0f) == 0);
        Assert.Equal(-float.Epsilon, VecMath.Tanh(-float.Epsilon));
        Assert.True(float.IsNaN(VecMath.Tanh(float.NaN)));
        Assert.Equal(0.5f, VecMath.Sigmoid(0f));
        Assert.Equal(1f, VecMath.Sigmoid(float.PositiveInfinity));
        Assert.Equal(0f, VecMath.Sigmoid(float.NegativeInfinity));
        Assert.True(float.IsNaN(VecMath.Sigmoid(float.NaN)));
        Assert.Equal(-1f, VecMath.Expm1(float.NegativeInfinity));
        Assert.Equal(float.PositiveInfinity, VecMath.Expm1(float.PositiveInfinity));
        Assert.Equal(1e-30f, VecMath.Expm1(1e-30f));
        Assert.True(float.IsNegative(VecMath.Expm1(-0f)));
        Assert.Equal(float.PositiveInfinity, VecMath.Softplus(float.PositiveInfinity));
        Assert.Equal(0f, VecMath.Softplus(float.NegativeInfinity));
        Assert.Equal(MathF.Log(2f), VecMath.Softplus(0f), 6);
    }

    [Fact]
    public void TailsAndInPlaceMatchTheVectorBody()
    {
        // Every length up to 40 (below, at and past the 8/16-lane steps), in place and out of place.
        var rng = new Random(7);
        var src = new float[40];
        for (int i = 0; i < src.Length; i++) src[i] = (float)(rng.NextDouble() * 8 - 4);
        for (int n = 0; n <= src.Length; n++)
        {
            var x = src.AsSpan(0, n).ToArray();
            var y = new float[n];
            VecMath.Tanh(x, y);
            for (int i = 0; i < n; i++) Assert.Equal(VecMath.Tanh(x[i]), y[i]);
            VecMath.Sigmoid(x, x);
            for (int i = 0; i < n; i++) Assert.Equal(VecMath.Sigmoid(src[i]), x[i]);
        }
        Assert.Throws<ArgumentException>(() => VecMath.Exp(new float[3], new float[4]));
    }
}
