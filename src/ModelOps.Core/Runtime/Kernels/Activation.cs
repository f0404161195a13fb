using System.Runtime.CompilerServices;
using System.Numerics.Tensors;

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
            case FusedActivation.Sigmoid: TensorPrimitives.Sigmoid(x, x); break;
            case FusedActivation.Tanh: TensorPrimitives.Tanh(x, x); break;
            case FusedActivation.Elu:
                for (int i = 0; i < x.Length; i++) if (x[i] < 0) x[i] = (float)(Math.Exp(x[i]) - 1);
                break;
            case FusedActivation.GeluApproximate:
                for (int i = 0; i < x.Length; i++)
                {
                    double v = x[i];
                    x[i] = (float)(0.5 * v * (1 + Math.Tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))));
                }
                break;
            case FusedActivation.GeluExact:
                for (int i = 0; i < x.Length; i++)
                {
                    double v = x[i];
                    x[i] = (float)(0.5 * v * (1 + SpecialFunctions.Erf(v * 0.7071067811865476)));
                }
                break;
        }
    }

    public static void Relu(ReadOnlySpan<float> x, Span<float> y) => TensorPrimitives.Max(x, 0f, y);

    public static void Relu6(ReadOnlySpan<float> x, Span<float> y)
    {
        TensorPrimitives.Max(x, 0f, y);
        TensorPrimitives.Min(y, 6f, y);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void LeakyRelu(ReadOnlySpan<float> x, Span<float> y, float alpha)
    {
        for (int i = 0; i < y.Length; i++)
        {
            float v = x[i];
            y[i] = v < 0 ? v * alpha : v;
        }
    }
}
