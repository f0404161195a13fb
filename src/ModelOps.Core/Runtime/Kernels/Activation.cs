using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace ModelOps.Core.Runtime.Kernels;

/// <summary>The activations grappler fuses into _FusedConv2D / _FusedMatMul / _FusedDepthwiseConv2dNative.</summary>
public enum FusedActivation
{
    None,
    Relu,
    Relu6,
    Elu,
    LeakyRelu,
    Sigmoid,
    Tanh,
    GeluApproximate,
    GeluExact,
}

/// <summary>Vectorized float32 activation functions, in place or span to span.</summary>
public static class Activation
{
    /// <summary>Maps a fused_ops entry to an activation, or null when the name is not an activation.</summary>
    public static FusedActivation? Parse(string name) => name switch
    {
        "Relu" => FusedActivation.Relu,
        "Relu6" => FusedActivation.Relu6,
        "Elu" => FusedActivation.Elu,
        "LeakyRelu" => FusedActivation.LeakyRelu,
        "Sigmoid" => FusedActivation.Sigmoid,
        "Tanh" => FusedActivation.Tanh,
        "GeluApproximate" => FusedActivation.GeluApproximate,
        "GeluExact" => FusedActivation.GeluExact,
        _ => null,
    };

    public static void Apply(FusedActivation act, Span<float> x, float leakyAlpha = 0.2f)
    {
        switch (act)
        {
            case FusedActivation.None: break;
            case FusedActivation.Relu: Relu(x, x); break;
            case FusedActivation.Relu6: Relu6(x, x); break;
            case FusedActivation.LeakyRelu: LeakyRelu(x, x, leakyAlpha); break;
            case FusedActivation.Sigmoid: VecMath.Sigmoid(x, x); break;
            case FusedActivation.Tanh: VecMath.Tanh(x, x); break;
            case FusedActivation.Elu: VecMath.Elu(x, x); break;
            case FusedActivation.GeluApproximate: VecMath.GeluTanh(x, x); break;
            case FusedActivation.GeluExact:
                for (int i = 0; i < x.Length; i++)
                {
                    double v = x[i];
                    x[i] = (float)(0.5 * v * (1 + SpecialFunctions.Erf(v * 0.7071067811865476)));
                }
                break;
        }
    }

    public static void Relu(ReadOnlySpan<float> x, Span<float> y) => Map(x, y, FusedActivation.Relu, 0);

    public static void Relu6(ReadOnlySpan<float> x, Span<float> y) => Map(x, y, FusedActivation.Relu6, 0);

    public static void LeakyRelu(ReadOnlySpan<float> x, Span<float> y, float alpha) => Map(x, y, FusedActivation.LeakyRelu, alpha);

    /// <summary>True for the activations <see cref="Vec"/> and <see cref="Scalar"/> compute (piecewise linear).</summary>
    public static bool IsPiecewiseLinear(FusedActivation act) =>
        act is FusedActivation.None or FusedActivation.Relu or FusedActivation.Relu6 or FusedActivation.LeakyRelu;


    /// <summary>y = act(x) for a piecewise-linear activation, one vectorized pass (x and y may be the same span).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Map(ReadOnlySpan<float> x, Span<float> y, FusedActivation act, float alpha)
    {
        if (x.Length != y.Length) throw new ArgumentException("Spans differ in length.");
        int n = y.Length, i = 0;
        fixed (float* px = x)
        fixed (float* py = y)
        {
            if (Vector256.IsHardwareAccelerated)
            {
                var va = Vector256.Create(alpha);
                for (; i <= n - 32; i += 32)
                {
                    Vec(act, Vector256.Load(px + i), va).Store(py + i);
                    Vec(act, Vector256.Load(px + i + 8), va).Store(py + i + 8);
                    Vec(act, Vector256.Load(px + i + 16), va).Store(py + i + 16);
                    Vec(act, Vector256.Load(px + i + 24), va).Store(py + i + 24);
                }
                for (; i <= n - 8; i += 8) Vec(act, Vector256.Load(px + i), va).Store(py + i);
            }
            for (; i < n; i++) py[i] = Scalar(act, px[i], alpha);
        }
    }

    /// <summary>A piecewise-linear activation of 8 lanes; NaN stays NaN. <paramref name="alpha"/> holds LeakyRelu's slope.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Vec(FusedActivation act, Vector256<float> v, Vector256<float> alpha)
    {
        switch (act)
        {
            case FusedActivation.Relu:
                return Avx.IsSupported ? Avx.Max(Vector256<float>.Zero, v) : Vector256.ConditionalSelect(Vector256.LessThan(v, Vector256<float>.Zero), Vector256<float>.Zero, v);
            case FusedActivation.Relu6:
            {
                var six = Vector256.Create(6f);
                // maxps/minps return the second operand when either is NaN: NaN passes through.
                if (Avx.IsSupported) return Avx.Min(six, Avx.Max(Vector256<float>.Zero, v));
                v = Vector256.ConditionalSelect(Vector256.LessThan(v, Vector256<float>.Zero), Vector256<float>.Zero, v);
                return Vector256.ConditionalSelect(Vector256.GreaterThan(v, six), six, v);
            }
            case FusedActivation.LeakyRelu:
                return Vector256.ConditionalSelect(Vector256.LessThan(v, Vector256<float>.Zero), v * alpha, v);
            default:
                return v;
        }
    }

    /// <summary>The scalar form of <see cref="Vec"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scalar(FusedActivation act, float v, float alpha) => act switch
    {
        FusedActivation.Relu => v < 0 ? 0 : v,
        FusedActivation.Relu6 => v < 0 ? 0 : v > 6 ? 6 : v,
        FusedActivation.LeakyRelu => v < 0 ? v * alpha : v,
        _ => v,
    };
}
