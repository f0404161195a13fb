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

    /// <summary>
    /// 1/sqrt(input) as a Q31 multiplier and a shift (TFLite's GetInvSqrtQuantizedMultiplierExp: Newton-Raphson in
    /// 32-bit fixed point with 3 integer bits). reverse_shift −1 gives a right shift as a negative left shift.
    /// </summary>
    public static (int Multiplier, int Shift) InvSqrtQuantizedMultiplierExp(int input, int reverseShift)
    {
        if (input <= 1) return (int.MaxValue, 0); // 0 treated as 1, and 1 itself would overflow the iteration
        int shift = 11;
        while (input >= 1 << 29) { input /= 4; shift++; }
        int maxLeftShiftBits = System.Numerics.BitOperations.LeadingZeroCount((uint)input) - 1;
        int leftShiftBitPairs = maxLeftShiftBits / 2 - 1;
        shift -= leftShiftBitPairs;
        input <<= 2 * leftShiftBitPairs;
        // Fixed point with 3 integer bits (28 fractional): x ← x·(3/2 − input/2·x²), five rounds from x = 1.
        int fixedInput = input >> 1;
        int halfInput = RoundingDivideByPOT(fixedInput, 1);
        const int halfThree = (1 << 28) + (1 << 27);
        int x = 1 << 28;
        for (int i = 0; i < 5; i++)
        {
            int x3 = SaturatingLeftShift32(SaturatingRoundingDoublingHighMul(SaturatingRoundingDoublingHighMul(x, x), x), 6);
            x = SaturatingLeftShift32(unchecked(SaturatingRoundingDoublingHighMul(halfThree, x) - SaturatingRoundingDoublingHighMul(halfInput, x3)), 3);
        }
        x = SaturatingRoundingDoublingHighMul(x, 1518500250); // × √2/2
        if (shift < 0) { x <<= -shift; shift = 0; }
        return (x, shift * reverseShift);
    }

    // gemmlowp's SaturatingRoundingMultiplyByPOT for a positive exponent on int32.
    private static int SaturatingLeftShift32(int x, int exponent)
    {
        int threshold = (1 << (31 - exponent)) - 1;
        return x > threshold ? int.MaxValue : x < -threshold ? int.MinValue : unchecked(x * (1 << exponent));
    }

    /// <summary>
    /// gemmlowp's fixed-point math on int16 raw values, as TFLite's integer LSTM uses it (ApplySigmoid, ApplyTanh):
    /// inputs are Q(integerBits).(15 − integerBits), results Q0.15. Plain +, − and negation wrap like C++'s int16
    /// arithmetic; only the operations gemmlowp names saturating saturate.
    /// </summary>
    internal static class FixedPoint16
    {
        private static short Add(int a, int b) => unchecked((short)(a + b));

        private static short Sub(int a, int b) => unchecked((short)(a - b));

        private static short Neg(int a) => unchecked((short)-a);

        private static short SaturatingAdd(int a, int b) => (short)Math.Clamp(a + b, short.MinValue, short.MaxValue);

        /// <summary>VQRDMULH on int16: round(a·b / 2^15), −1 · −1 saturating to the largest value.</summary>
        public static short Mul(short a, short b)
        {
            if (a == b && a == short.MinValue) return short.MaxValue;
            int ab = a * b;
            int nudge = ab >= 0 ? 1 << 14 : 1 - (1 << 14);
            return unchecked((short)((ab + nudge) / (1 << 15)));
        }

        private static short RoundingDivideByPOT(short x, int exponent)
        {
            int mask = (1 << exponent) - 1;
            int remainder = x & mask;
            int threshold = (mask >> 1) + (x < 0 ? 1 : 0);
            return Add(x >> exponent, remainder > threshold ? 1 : 0);
        }

        /// <summary>x · 2^exponent: saturating for a positive exponent, rounding for a negative one.</summary>
        private static short MulByPOT(short x, int exponent)
        {
            if (exponent == 0) return x;
            if (exponent < 0) return RoundingDivideByPOT(x, -exponent);
            int threshold = (1 << (15 - exponent)) - 1;
            return x > threshold ? short.MaxValue : x < -threshold ? short.MinValue : unchecked((short)(x * (1 << exponent)));
        }

        private static short Rescale(short x, int srcIntegerBits, int dstIntegerBits) => MulByPOT(x, srcIntegerBits - dstIntegerBits);

        /// <summary>A constant given as a Q31 raw value, rounded to 16 bits (RescaleConstantInitializer).</summary>
        private static short Constant(int q31) => (short)QuantMath.RoundingDivideByPOT(q31, 16);

        private static short One(int integerBits) => integerBits == 0 ? short.MaxValue : (short)(1 << (15 - integerBits));

        private static short ConstantPOT(int integerBits, int exponent) => (short)(1 << (15 - integerBits + exponent));

        private static readonly short ExpConstantTerm = Constant(1895147668), OneThird = Constant(715827883);
        private static readonly short C48Over17 = Constant(1515870810), CNeg32Over17 = Constant(-1010580540);
        private static readonly (int Exponent, short Multiplier)[] ExpBarrel =
        {
            (-2, Constant(1672461947)), (-1, Constant(1302514674)), (0, Constant(790015084)), (1, Constant(290630308)),
            (2, Constant(39332535)), (3, Constant(720401)), (4, Constant(242)),
        };

        // exp(a) for a in [-1/4, 0), Q0.15: Taylor expansion around -1/8.
        private static short ExpOnIntervalNegQuarterTo0(short a)
        {
            short x = Add(a, ConstantPOT(0, -3));
            short x2 = Mul(x, x), x3 = Mul(x2, x), x4 = Mul(x2, x2);
            short x4Over4 = MulByPOT(x4, -2);
            short poly = MulByPOT(Add(Mul(Add(x4Over4, x3), OneThird), x2), -1);
            return SaturatingAdd(ExpConstantTerm, Mul(ExpConstantTerm, Add(x, poly)));
        }

        // exp(a) for a ≤ 0, a in Q(integerBits), result Q0.15.
        private static short ExpOnNegativeValues(short a, int integerBits)
        {
            int fractionalBits = 15 - integerBits;
            short quarter = ConstantPOT(integerBits, -2);
            short mask = Sub(quarter, 1);
            short aModQuarterMinusQuarter = Sub(a & mask, quarter);
            short result = ExpOnIntervalNegQuarterTo0(Rescale(aModQuarterMinusQuarter, integerBits, 0));
            short remainder = Sub(aModQuarterMinusQuarter, a);
            foreach (var (exponent, multiplier) in ExpBarrel)
                if (integerBits > exponent && (remainder & (1 << (fractionalBits + exponent))) != 0)
                    result = Mul(result, multiplier);
            if (integerBits > 5)
            {
                short clamp = Constant(-(1 << (36 - integerBits)));
                if (a < clamp) result = 0;
            }
            return a == 0 ? One(0) : result;
        }

        // Newton-Raphson reciprocal of (1 + a)/2 for a in (0, 1), in Q2.13.
        private static short HalfDenominatorReciprocal(short halfDenominator)
        {
            short x = Add(C48Over17, Mul(halfDenominator, CNeg32Over17));
            for (int i = 0; i < 3; i++)
            {
                short oneMinus = Sub(One(2), Mul(halfDenominator, x));
                x = Add(x, Rescale(Mul(x, oneMinus), 4, 2));
            }
            return x;
        }

        private static short RoundingHalfSum(short a, short b)
        {
            int sum = a + b;
            return unchecked((short)((sum + (sum >= 0 ? 1 : -1)) / 2));
        }

        // (1 − a) / (1 + a) for a in (0, 1).
        private static short OneMinusXOverOnePlusX(short a) =>
            Rescale(Sub(HalfDenominatorReciprocal(RoundingHalfSum(a, One(0))), One(2)), 2, 0);

        // 1 / (1 + a) for a in (0, 1).
        private static short OneOverOnePlusX(short a) =>
            Rescale(HalfDenominatorReciprocal(RoundingHalfSum(a, One(0))), 1, 0);

        /// <summary>gemmlowp::tanh of a Q(integerBits) int16 value; Q0.15 result.</summary>
        public static short Tanh(short a, int integerBits)
        {
            if (a == 0) return 0;
            bool negative = a < 0;
            short n = negative ? a : Neg(a);
            short t = OneMinusXOverOnePlusX(ExpOnNegativeValues(n, integerBits + 1)); // exp(2n): same raw, one more integer bit
            return negative ? Neg(t) : t;
        }

        /// <summary>gemmlowp::logistic of a Q(integerBits) int16 value; Q0.15 result.</summary>
        public static short Logistic(short a, int integerBits)
        {
            if (a == 0) return Constant(1 << 30);
            bool positive = a > 0;
            short abs = positive ? a : Neg(a);
            short ifPositive = OneOverOnePlusX(ExpOnNegativeValues(Neg(abs), integerBits));
            return positive ? ifPositive : Sub(One(0), ifPositive);
        }
    }

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
