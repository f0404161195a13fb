using System.Runtime.CompilerServices;
using Schema = ModelOps.Core.Formats.TfLite.Schema;

namespace ModelOps.Core.Runtime.TfLite.Kernels;

/// <summary>
/// TFLite's reference integer arithmetic: real multipliers as a Q31 fixed-point mantissa plus a power-of-two
/// shift, and the rounding rules of gemmlowp's fixed-point helpers. Everything here must round exactly as
/// TFLite does, or int8 outputs drift by one step.
/// </summary>
internal static class QuantMath
{
    /// <summary>Rounds half away from zero (C's round(), TFLite's TfLiteRound).</summary>
    public static double Round(double x) => Math.Round(x, MidpointRounding.AwayFromZero);

    public static float Round(float x) => MathF.Round(x, MidpointRounding.AwayFromZero);

    /// <summary>Splits m into q × 2^shift with q ∈ [0.5, 1) held as a Q31 integer (C frexp + rounding).</summary>
    public static (int Multiplier, int Shift) QuantizeMultiplier(double m)
    {
        if (m == 0) return (0, 0);
        int shift = 0;
        double q = m;
        // frexp: q = m / 2^shift with |q| in [0.5, 1)
        while (Math.Abs(q) >= 1.0) { q /= 2; shift++; }
        while (Math.Abs(q) < 0.5) { q *= 2; shift--; }
        long qFixed = (long)Round(q * (1L << 31));
        if (qFixed == 1L << 31) { qFixed /= 2; shift++; }
        if (shift < -31) { shift = 0; qFixed = 0; }
        return ((int)qFixed, shift);
    }

    /// <summary>For multipliers below one: the shift is ≤ 0 (TFLite's QuantizeMultiplierSmallerThanOneExp).</summary>
    public static (int Multiplier, int Shift) QuantizeMultiplierSmallerThanOne(double m) => QuantizeMultiplier(m);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int SaturatingRoundingDoublingHighMul(int a, int b)
    {
        if (a == b && a == int.MinValue) return int.MaxValue;
        long ab = (long)a * b;
        long nudge = ab >= 0 ? 1 << 30 : 1 - (1 << 30);
        return (int)((ab + nudge) / (1L << 31)); // C division truncates toward zero, as does C#'s
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int RoundingDivideByPOT(int x, int exponent)
    {
        int mask = (int)((1L << exponent) - 1);
        int remainder = x & mask;
        int threshold = (mask >> 1) + (x < 0 ? 1 : 0);
        return (x >> exponent) + (remainder > threshold ? 1 : 0);
    }

    /// <summary>x × multiplier × 2^shift with TFLite's double rounding (the default, non-single-rounding build).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int MultiplyByQuantizedMultiplier(int x, int multiplier, int shift)
    {
        int left = shift > 0 ? shift : 0;
        int right = shift > 0 ? 0 : -shift;
        return RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(unchecked(x * (1 << left)), multiplier), right);
    }

    /// <summary>The 64-bit accumulator variant (int16×8 kernels): the multiplier is reduced to Q15 first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int MultiplyByQuantizedMultiplier(long x, int multiplier, int shift)
    {
        int reduced = multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
        int total = 15 - shift;
        x = unchecked(x * reduced + (1L << (total - 1)));
        return (int)(x >> total);
    }

    /// <summary>Multiplier below one given as a non-positive exponent (ADD/SUB rescaling).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int MultiplyByQuantizedMultiplierSmallerThanOneExp(int x, int multiplier, int leftShift) =>
        RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x, multiplier), -leftShift);

    public static (int Min, int Max) TypeRange(Type t) =>
        t == typeof(sbyte) ? (sbyte.MinValue, sbyte.MaxValue)
        : t == typeof(byte) ? (byte.MinValue, byte.MaxValue)
        : t == typeof(short) ? (short.MinValue, short.MaxValue)
        : (int.MinValue, int.MaxValue);

    /// <summary>Clamp bounds of a fused activation in the quantized domain (CalculateActivationRangeQuantized).</summary>
    public static (int Min, int Max) ActivationRange(Schema.ActivationFunctionType act, float scale, int zeroPoint, int qmin, int qmax)
    {
        int Q(float f) => zeroPoint + (int)Round(f / scale);
        return act switch
        {
            Schema.ActivationFunctionType.RELU => (Math.Max(qmin, Q(0f)), qmax),
            Schema.ActivationFunctionType.RELU6 => (Math.Max(qmin, Q(0f)), Math.Min(qmax, Q(6f))),
            Schema.ActivationFunctionType.RELU_N1_TO_1 => (Math.Max(qmin, Q(-1f)), Math.Min(qmax, Q(1f))),
            _ => (qmin, qmax),
        };
    }

    /// <summary>Clamp bounds of a fused activation for float kernels.</summary>
    public static (float Min, float Max) ActivationRange(Schema.ActivationFunctionType act) => act switch
    {
        Schema.ActivationFunctionType.RELU => (0f, float.PositiveInfinity),
        Schema.ActivationFunctionType.RELU6 => (0f, 6f),
        Schema.ActivationFunctionType.RELU_N1_TO_1 => (-1f, 1f),
        _ => (float.NegativeInfinity, float.PositiveInfinity),
    };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ApplyActivation(float x, Schema.ActivationFunctionType act) => act switch
    {
        Schema.ActivationFunctionType.NONE => x,
        Schema.ActivationFunctionType.RELU => Math.Max(0f, x),
        Schema.ActivationFunctionType.RELU6 => Math.Clamp(x, 0f, 6f),
        Schema.ActivationFunctionType.RELU_N1_TO_1 => Math.Clamp(x, -1f, 1f),
        Schema.ActivationFunctionType.TANH => MathF.Tanh(x),
        Schema.ActivationFunctionType.SIGN_BIT => MathF.Sign(x),
        _ => x,
    };
}
