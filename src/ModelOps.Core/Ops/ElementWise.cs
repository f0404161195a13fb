using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.Kernels;
using ModelOps.Core.Tensors;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Ops;

/// <summary>
/// Element-wise arithmetic with numpy/TensorFlow broadcasting (Add, Sub, Mul, the divisions and modulos,
/// Maximum/Minimum, Pow, SquaredDifference, BiasAdd, AddN), unary math (Exp, Log, Sqrt, Round ...),
/// activations (Relu, Elu, Selu, LeakyRelu, Sigmoid, Tanh, Softplus ...) and Softmax/LogSoftmax.
/// float16/bfloat16 are computed in float32 and stored back in their own dtype.
/// </summary>
public sealed partial class ElementWiseOps : OpFamily
{
    public override void RegisterKernels(KernelRegistry r)
    {
        // Every kernel of this family reads its inputs' first Length elements and makes its outputs with Tensor.Over.
        r = r.WithTraits(KernelTraits.SpareCapacity);
        r.Add(["Add", "AddV2"], Binary<AddOp>);
        r.Add("Sub", Binary<SubOp>);
        r.Add("Mul", Binary<MulOp>);
        r.Add(["RealDiv", "Div"], Binary<DivOp>);
        r.Add("DivNoNan", Binary<DivNoNanOp>);
        r.Add("FloorDiv", Binary<FloorDivOp>);
        r.Add("FloorMod", Binary<FloorModOp>);
        r.Add(["Mod", "TruncateMod"], Binary<TruncModOp>);
        r.Add("TruncateDiv", Binary<TruncDivOp>);
        r.Add("Maximum", Binary<MaxOp>);
        r.Add("Minimum", Binary<MinOp>);
        r.Add("Pow", Binary<PowOp>);
        r.Add("SquaredDifference", Binary<SqDiffOp>);
        r.Add("BiasAdd", BiasAdd);
        r.Add("BiasAddV1", BiasAdd);
        r.Add("AddN", AddN);
        r.Add("ClipByValue", ClipByValue);

        // unary, any numeric dtype
        r.Add("Neg", GenericUnary<NegOp>);
        r.Add("Abs", GenericUnary<AbsOp>);
        r.Add("Square", GenericUnary<SquareOp>);
        r.Add("Sign", GenericUnary<SignOp>);
        r.Add("Relu", GenericUnary<ReluOp>);
        r.Add("Relu6", GenericUnary<Relu6Op>);

        // unary, floating point
        AddFloat(r, "Exp", (x, y) => VecMath.Exp(x, y), (x, y) => TensorPrimitives.Exp(x, y));
        AddFloat(r, "Expm1", (x, y) => VecMath.Expm1(x, y), (x, y) => Each(x, y, v => Math.Exp(v) - 1));
        AddFloat(r, "Log", (x, y) => TensorPrimitives.Log(x, y), (x, y) => TensorPrimitives.Log(x, y));
        AddFloat(r, "Log1p", (x, y) => Each(x, y, v => (float)Log1p(v)), (x, y) => Each(x, y, Log1p));
        AddFloat(r, "Sqrt", (x, y) => TensorPrimitives.Sqrt(x, y), (x, y) => TensorPrimitives.Sqrt(x, y));
        AddFloat(r, "Rsqrt", (x, y) => { TensorPrimitives.Sqrt(x, y); TensorPrimitives.Divide(1f, y, y); },
            (x, y) => { TensorPrimitives.Sqrt(x, y); TensorPrimitives.Divide(1.0, y, y); });
        AddFloat(r, ["Reciprocal", "Inv"], (x, y) => TensorPrimitives.Divide(1f, x, y), (x, y) => TensorPrimitives.Divide(1.0, x, y));
        AddFloat(r, "Floor", (x, y) => TensorPrimitives.Floor(x, y), (x, y) => TensorPrimitives.Floor(x, y));
        AddFloat(r, "Ceil", (x, y) => TensorPrimitives.Ceiling(x, y), (x, y) => TensorPrimitives.Ceiling(x, y));
        // TensorFlow rounds half to even (banker's rounding) for both Round and Rint.
        AddFloat(r, ["Rint"], (x, y) => Each(x, y, v => MathF.Round(v, MidpointRounding.ToEven)), (x, y) => Each(x, y, v => Math.Round(v, MidpointRounding.ToEven)));
        r.Add("Round", GenericUnary<RoundOp>);
        AddFloat(r, "Sin", (x, y) => TensorPrimitives.Sin(x, y), (x, y) => TensorPrimitives.Sin(x, y));
        AddFloat(r, "Cos", (x, y) => TensorPrimitives.Cos(x, y), (x, y) => TensorPrimitives.Cos(x, y));
        AddFloat(r, "Tan", (x, y) => TensorPrimitives.Tan(x, y), (x, y) => TensorPrimitives.Tan(x, y));
        AddFloat(r, "Asin", (x, y) => TensorPrimitives.Asin(x, y), (x, y) => TensorPrimitives.Asin(x, y));
        AddFloat(r, "Acos", (x, y) => TensorPrimitives.Acos(x, y), (x, y) => TensorPrimitives.Acos(x, y));
        AddFloat(r, "Atan", (x, y) => TensorPrimitives.Atan(x, y), (x, y) => TensorPrimitives.Atan(x, y));
        AddFloat(r, "Sinh", (x, y) => TensorPrimitives.Sinh(x, y), (x, y) => TensorPrimitives.Sinh(x, y));
        AddFloat(r, "Cosh", (x, y) => TensorPrimitives.Cosh(x, y), (x, y) => TensorPrimitives.Cosh(x, y));
        AddFloat(r, "Erf", (x, y) => Each(x, y, v => (float)SpecialFunctions.Erf(v)), (x, y) => Each(x, y, SpecialFunctions.Erf));
        AddFloat(r, "Erfc", (x, y) => Each(x, y, v => (float)SpecialFunctions.Erfc(v)), (x, y) => Each(x, y, SpecialFunctions.Erfc));
        AddFloat(r, "Sigmoid", (x, y) => VecMath.Sigmoid(x, y), (x, y) => Each(x, y, v => 1.0 / (1.0 + Math.Exp(-v))));
        AddFloat(r, "Tanh", (x, y) => VecMath.Tanh(x, y), (x, y) => TensorPrimitives.Tanh(x, y));
        AddFloat(r, "Softplus", (x, y) => VecMath.Softplus(x, y), (x, y) => Each(x, y, Softplus));
        AddFloat(r, "Softsign", (x, y) => Each(x, y, v => v / (1 + MathF.Abs(v))), (x, y) => Each(x, y, v => v / (1 + Math.Abs(v))));
        AddFloat(r, "Elu", (x, y) => VecMath.Elu(x, y), (x, y) => Each(x, y, v => v < 0 ? Math.Exp(v) - 1 : v));
        AddFloat(r, "Selu", (x, y) => VecMath.Selu(x, y), (x, y) => Each(x, y, Selu));
        r.Add("LeakyRelu", ctx =>
        {
            float alpha = ctx.Float("alpha", 0.2f);
            FloatUnary(ctx, (x, y) => Activation.LeakyRelu(x, y, alpha), (x, y) => Each(x, y, v => v < 0 ? v * alpha : v));
        });

        r.Add("IsNan", ctx => Predicate(ctx, float.IsNaN, double.IsNaN));
        r.Add("IsInf", ctx => Predicate(ctx, float.IsInfinity, double.IsInfinity));
        r.Add("IsFinite", ctx => Predicate(ctx, float.IsFinite, double.IsFinite));

        r.Add("Softmax", ctx => SoftmaxKernel(ctx, log: false));
        r.Add("LogSoftmax", ctx => SoftmaxKernel(ctx, log: true));
    }

    // ------------------------------------------------------------------ binary

    internal interface IBin<TSelf> where TSelf : IBin<TSelf>
    {
        static abstract T Apply<T>(T a, T b) where T : unmanaged, INumber<T>;

        static virtual bool FloatOnly => false;

        static virtual void VV<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, INumber<T>
        {
            for (int i = 0; i < d.Length; i++) d[i] = TSelf.Apply(a[i], b[i]);
        }

        static virtual void VS<T>(ReadOnlySpan<T> a, T b, Span<T> d) where T : unmanaged, INumber<T>
        {
            for (int i = 0; i < d.Length; i++) d[i] = TSelf.Apply(a[i], b);
        }

        static virtual void SV<T>(T a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, INumber<T>
        {
            for (int i = 0; i < d.Length; i++) d[i] = TSelf.Apply(a, b[i]);
        }

        /// <summary>True when <see cref="Vec"/> computes the op on 8 float lanes exactly as Apply does.</summary>
        static virtual bool HasVec => false;

        static virtual Vector256<float> Vec(Vector256<float> a, Vector256<float> b) => throw new NotSupportedException();
    }

    private static bool IsFloat<T>() => typeof(T) == typeof(float) || typeof(T) == typeof(double);

    private static ModelOpsException DivByZero() =>
        new("IntegerDivisionByZero", ErrorKind.InvalidArgument, "Integer division by zero.");

    internal struct AddOp : IBin<AddOp>
    {
        public static T Apply<T>(T a, T b) where T : unmanaged, INumber<T> => a + b;
        public static bool HasVec => true;
        public static Vector256<float> Vec(Vector256<float> a, Vector256<float> b) => a + b;
        public static void VV<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, INumber<T> => TensorPrimitives.Add(a, b, d);
        public static void VS<T>(ReadOnlySpan<T> a, T b, Span<T> d) where T : unmanaged, INumber<T> => TensorPrimitives.Add(a, b, d);
        public static void SV<T>(T a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, INumber<T> => TensorPrimitives.Add(b, a, d);
    }

    internal struct SubOp : IBin<SubOp>
    {
        public static T Apply<T>(T a, T b) where T : unmanaged, INumber<T> => a - b;
        public static bool HasVec => true;
        public static Vector256<float> Vec(Vector256<float> a, Vector256<float> b) => a - b;
        public static void VV<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, INumber<T> => TensorPrimitives.Subtract(a, b, d);
        public static void VS<T>(ReadOnlySpan<T> a, T b, Span<T> d) where T : unmanaged, INumber<T> => TensorPrimitives.Subtract(a, b, d);
        public static void SV<T>(T a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, INumber<T> => TensorPrimitives.Subtract(a, b, d);
    }

    internal struct MulOp : IBin<MulOp>
    {
        public static T Apply<T>(T a, T b) where T : unmanaged, INumber<T> => a * b;
        public static bool HasVec => true;
        public static Vector256<float> Vec(Vector256<float> a, Vector256<float> b) => a * b;
        public static void VV<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, INumber<T> => TensorPrimitives.Multiply(a, b, d);
        public static void VS<T>(ReadOnlySpan<T> a, T b, Span<T> d) where T : unmanaged, INumber<T> => TensorPrimitives.Multiply(a, b, d);
        public static void SV<T>(T a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, INumber<T> => TensorPrimitives.Multiply(b, a, d);
    }

    /// <summary>RealDiv / Div: IEEE division for floats; truncating division for integers (error on zero).</summary>
    internal struct DivOp : IBin<DivOp>
    {
        public static bool HasVec => true;
        public static Vector256<float> Vec(Vector256<float> a, Vector256<float> b) => a / b;

        public static T Apply<T>(T a, T b) where T : unmanaged, INumber<T>
        {
            if (IsFloat<T>()) return a / b;
            if (b == T.Zero) throw DivByZero();
            if (T.IsNegative(b) && b == T.Zero - T.One) return T.Zero - a; // MinValue / -1 wraps as in C++
            return a / b;
        }

        public static void VV<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, INumber<T>
        {
            if (IsFloat<T>()) TensorPrimitives.Divide(a, b, d);
            else for (int i = 0; i < d.Length; i++) d[i] = Apply(a[i], b[i]);
        }

        public static void VS<T>(ReadOnlySpan<T> a, T b, Span<T> d) where T : unmanaged, INumber<T>
        {
            if (IsFloat<T>()) TensorPrimitives.Divide(a, b, d);
            else for (int i = 0; i < d.Length; i++) d[i] = Apply(a[i], b);
        }
    }

    internal struct DivNoNanOp : IBin<DivNoNanOp>
    {
        public static bool FloatOnly => true;
        public static T Apply<T>(T a, T b) where T : unmanaged, INumber<T> => b == T.Zero ? T.Zero : a / b;
    }

    internal struct FloorDivOp : IBin<FloorDivOp>
    {
        public static T Apply<T>(T a, T b) where T : unmanaged, INumber<T>
        {
            if (IsFloat<T>()) return T.CreateTruncating(Math.Floor(double.CreateTruncating(a / b)));
            if (b == T.Zero) throw DivByZero();
            if (T.IsNegative(b) && b == T.Zero - T.One) return T.Zero - a;
            T q = a / b;
            if (a % b != T.Zero && (T.IsNegative(a) != T.IsNegative(b))) q -= T.One;
            return q;
        }
    }

    /// <summary>FloorMod: the remainder takes the sign of the divisor (Python's %).</summary>
    internal struct FloorModOp : IBin<FloorModOp>
    {
        public static T Apply<T>(T a, T b) where T : unmanaged, INumber<T>
        {
            if (!IsFloat<T>())
            {
                if (b == T.Zero) throw DivByZero();
                if (T.IsNegative(b) && b == T.Zero - T.One) return T.Zero;
            }
            T m = a % b;
            if (m != T.Zero && (T.IsNegative(m) != T.IsNegative(b))) m += b;
            return m;
        }
    }

    /// <summary>Mod / TruncateMod: C's fmod / %, the remainder takes the sign of the dividend.</summary>
    internal struct TruncModOp : IBin<TruncModOp>
    {
        public static T Apply<T>(T a, T b) where T : unmanaged, INumber<T>
        {
            if (!IsFloat<T>())
            {
                if (b == T.Zero) throw DivByZero();
                if (T.IsNegative(b) && b == T.Zero - T.One) return T.Zero;
            }
            return a % b;
        }
    }

    internal struct TruncDivOp : IBin<TruncDivOp>
    {
        public static T Apply<T>(T a, T b) where T : unmanaged, INumber<T>
        {
            if (IsFloat<T>()) return T.CreateTruncating(Math.Truncate(double.CreateTruncating(a / b)));
            return DivOp.Apply(a, b);
        }
    }

    internal struct MaxOp : IBin<MaxOp>
    {
        // TensorFlow's Maximum/Minimum propagate NaN, as do Math.Max and TensorPrimitives.Max.
        public static T Apply<T>(T a, T b) where T : unmanaged, INumber<T> => T.Max(a, b);
        public static bool HasVec => true;

        /// <summary>As <see cref="Apply"/>: a NaN operand wins, and max(+0, −0) = +0 (equal lanes: a AND b).</summary>
        public static Vector256<float> Vec(Vector256<float> a, Vector256<float> b)
        {
            var m = Vector256.ConditionalSelect(Vector256.GreaterThan(a, b), a, b); // b when b is NaN
            m = Vector256.ConditionalSelect(Vector256.Equals(a, b), a & b, m);
            return Vector256.ConditionalSelect(Vector256.Equals(a, a), m, a);
        }
        public static void VV<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, INumber<T> => TensorPrimitives.Max(a, b, d);
        public static void VS<T>(ReadOnlySpan<T> a, T b, Span<T> d) where T : unmanaged, INumber<T> => TensorPrimitives.Max(a, b, d);
        public static void SV<T>(T a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, INumber<T> => TensorPrimitives.Max(b, a, d);
    }

    internal struct MinOp : IBin<MinOp>
    {
        public static T Apply<T>(T a, T b) where T : unmanaged, INumber<T> => T.Min(a, b);
        public static bool HasVec => true;

        /// <summary>As <see cref="Apply"/>: a NaN operand wins, and min(+0, −0) = −0 (equal lanes: a OR b).</summary>
        public static Vector256<float> Vec(Vector256<float> a, Vector256<float> b)
        {
            var m = Vector256.ConditionalSelect(Vector256.LessThan(a, b), a, b);
            m = Vector256.ConditionalSelect(Vector256.Equals(a, b), a | b, m);
            return Vector256.ConditionalSelect(Vector256.Equals(a, a), m, a);
        }
        public static void VV<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, INumber<T> => TensorPrimitives.Min(a, b, d);
        public static void VS<T>(ReadOnlySpan<T> a, T b, Span<T> d) where T : unmanaged, INumber<T> => TensorPrimitives.Min(a, b, d);
        public static void SV<T>(T a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, INumber<T> => TensorPrimitives.Min(b, a, d);
    }

    internal struct PowOp : IBin<PowOp>
    {
        public static T Apply<T>(T a, T b) where T : unmanaged, INumber<T>
        {
            if (typeof(T) == typeof(float)) return (T)(object)MathF.Pow((float)(object)a, (float)(object)b);
            if (typeof(T) == typeof(double)) return (T)(object)Math.Pow((double)(object)a, (double)(object)b);
            if (T.IsNegative(b))
                throw new ModelOpsException("NegativeIntegerPower", ErrorKind.InvalidArgument, "Integers to negative integer powers are not allowed.");
            T result = T.One, x = a;
            ulong e = ulong.CreateTruncating(b);
            while (e != 0)
            {
                if ((e & 1) != 0) result *= x;
                x *= x;
                e >>= 1;
            }
            return result;
        }
    }

    internal struct SqDiffOp : IBin<SqDiffOp>
    {
        public static T Apply<T>(T a, T b) where T : unmanaged, INumber<T> => (a - b) * (a - b);
        public static bool HasVec => true;

        public static Vector256<float> Vec(Vector256<float> a, Vector256<float> b)
        {
            var d = a - b;
            return d * d;
        }

        public static void VV<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> d) where T : unmanaged, INumber<T>
        {
            TensorPrimitives.Subtract(a, b, d);
            TensorPrimitives.Multiply(d, d, d);
        }
    }

    private static void Binary<TOp>(KernelContext ctx) where TOp : IBin<TOp>
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        ctx.SetOutput(0, BinaryTensor<TOp>(ctx, a, b));
    }

    /// <summary>Applies a broadcasting binary op to two tensors of the same dtype.</summary>
    internal static Tensor BinaryTensor<TOp>(KernelContext ctx, Tensor a, Tensor b) where TOp : IBin<TOp>
    {
        if (a.DType != b.DType)
            throw ctx.Error($"has inputs of different dtypes {a.DType.Name()} and {b.DType.Name()}.");
        var plan = CachedPlan(ctx, a.Shape, b.Shape)
            ?? throw ctx.Error($"cannot broadcast shapes {Tensor.FormatShape(a.Shape)} and {Tensor.FormatShape(b.Shape)}.");
        var dtype = a.DType;
        if (TOp.FloatOnly && !dtype.IsFloating())
            throw ctx.Error($"does not support dtype {dtype.Name()}.");
        try
        {
            if (FloatConvert.IsReducedFloat(dtype))
                return FloatConvert.FromFloat(RunBinary<TOp, float>(ctx, FloatConvert.ToFloat(a), FloatConvert.ToFloat(b), plan), dtype);
            return dtype switch
            {
                DataType.DtFloat => RunBinary<TOp, float>(ctx, a, b, plan),
                DataType.DtDouble => RunBinary<TOp, double>(ctx, a, b, plan),
                DataType.DtInt32 => RunBinary<TOp, int>(ctx, a, b, plan),
                DataType.DtInt64 => RunBinary<TOp, long>(ctx, a, b, plan),
                DataType.DtInt8 => RunBinary<TOp, sbyte>(ctx, a, b, plan),
                DataType.DtUint8 => RunBinary<TOp, byte>(ctx, a, b, plan),
                DataType.DtInt16 => RunBinary<TOp, short>(ctx, a, b, plan),
                DataType.DtUint16 => RunBinary<TOp, ushort>(ctx, a, b, plan),
                DataType.DtUint32 => RunBinary<TOp, uint>(ctx, a, b, plan),
                DataType.DtUint64 => RunBinary<TOp, ulong>(ctx, a, b, plan),
                _ => throw ctx.Error($"does not support dtype {dtype.Name()}."),
            };
        }
        catch (ModelOpsException e) when (e.ErrorId is "IntegerDivisionByZero" or "NegativeIntegerPower")
        {
            throw new ModelOpsException(e.ErrorId, e.Kind, $"{ctx.Node.Op} node '{ctx.Node.Name}': {e.Message}", ctx.Node.Name);
        }
        catch (AggregateException ae) when (ae.InnerException is ModelOpsException e)
        {
            throw new ModelOpsException(e.ErrorId, e.Kind, $"{ctx.Node.Op} node '{ctx.Node.Name}': {e.Message}", ctx.Node.Name);
        }
    }

    /// <summary>Broadcast plans of the last shape pairs this node saw (kept in the node's <see cref="KernelContext.State"/> across runs).</summary>
    private sealed class PlanCache
    {
        public sealed record Entry(int[] A, int[] B, Broadcast Plan);

        public readonly Entry?[] Entries = new Entry?[4];
        public int Next;
    }

    private static Broadcast? CachedPlan(KernelContext ctx, int[] a, int[] b)
    {
        var cache = ctx.State as PlanCache;
        if (cache is not null)
            foreach (var e in cache.Entries)
                if (e is not null && e.A.AsSpan().SequenceEqual(a) && e.B.AsSpan().SequenceEqual(b)) return e.Plan;
        var plan = Broadcast.TryCreate(a, b);
        if (plan is null) return null;
        if (cache is null)
        {
            if (ctx.State is not null) return plan; // the state belongs to something else
            ctx.State = cache = new PlanCache();
        }
        cache.Entries[cache.Next] = new PlanCache.Entry((int[])a.Clone(), (int[])b.Clone(), plan);
        cache.Next = (cache.Next + 1) % cache.Entries.Length;
        return plan;
    }

    /// <summary>Elements below which a float op runs on the calling thread.</summary>
    private const int ParallelMinElements = 65_536;

    private static Tensor RunBinary<TOp, T>(KernelContext ctx, Tensor a, Tensor b, Broadcast plan)
        where TOp : IBin<TOp> where T : unmanaged, INumber<T>
    {
        var A = a.As<T>();
        var B = b.As<T>();
        long count = Tensor.ElementCount(plan.OutShape);
        // In place over an input at its last use when the output has its size (then its layout, too).
        var O = (a.Length == count ? ctx.TryReuseInput<T>(a, count) : null)
            ?? (b.Length == count ? ctx.TryReuseInput<T>(b, count) : null)
            ?? ctx.Allocate<T>(count, clear: false);
        if (typeof(T) == typeof(float) && TOp.HasVec)
        {
            var Af = (float[])(object)A;
            var Bf = (float[])(object)B;
            var Of = (float[])(object)O;
            int threads = count < ParallelMinElements ? 1 : ctx.Options.IntraOpThreads;
            if (threads <= 1) FloatRows<TOp>(Af, Bf, Of, plan, 0, (int)plan.Rows);
            else FloatRowsParallel<TOp>(threads, Af, Bf, Of, plan);
            return Tensor.Over(a.DType, plan.OutShape, O);
        }
        GenericRows<TOp, T>(ctx.Options.IntraOpThreads, A, B, O, plan);
        return Tensor.Over(a.DType, plan.OutShape, O);
    }

    /// <summary>Any dtype and op: row by row through the op's span functions (a method of its own, so the float path allocates no closure).</summary>
    private static void GenericRows<TOp, T>(int threads, T[] A, T[] B, T[] O, Broadcast plan) where TOp : IBin<TOp> where T : unmanaged, INumber<T>
    {
        int inner = plan.Inner;
        bool aS = plan.AInnerScalar, bS = plan.BInnerScalar;
        KernelParallel.For(threads, (int)plan.Rows, inner, (s, e) =>
        {
            for (int r = s; r < e; r++)
            {
                plan.Offsets(r, out long ao, out long bo);
                var d = O.AsSpan(r * inner, inner);
                if (!aS && !bS) TOp.VV<T>(A.AsSpan((int)ao, inner), B.AsSpan((int)bo, inner), d);
                else if (!aS) TOp.VS(A.AsSpan((int)ao, inner), B[bo], d);
                else if (!bS) TOp.SV(A[ao], B.AsSpan((int)bo, inner), d);
                else d.Fill(TOp.Apply(A[ao], B[bo]));
            }
        }, 65_536);
    }

    /// <summary>A new array holding a op b broadcast, single-threaded (for kernels outside a <see cref="KernelContext"/>, e.g. TFLite's).</summary>
    internal static float[] BroadcastFloat<TOp>(float[] a, int[] aShape, float[] b, int[] bShape) where TOp : IBin<TOp>
    {
        var plan = Broadcast.TryCreate(aShape, bShape) ?? throw new ArgumentException("Shapes do not broadcast.");
        var o = new float[Tensor.ElementCount(plan.OutShape)];
        if (TOp.HasVec) FloatRows<TOp>(a, b, o, plan, 0, (int)plan.Rows);
        else GenericRows<TOp, float>(1, a, b, o, plan);
        return o;
    }

    private static void FloatRowsParallel<TOp>(int threads, float[] a, float[] b, float[] o, Broadcast plan) where TOp : IBin<TOp>
    {
        if (plan.Rows == 1)
        {
            // One long row: split it.
            int n = plan.Inner;
            bool aS = plan.AInnerScalar, bS = plan.BInnerScalar;
            KernelParallel.For(threads, (n + 8191) / 8192, 8192, (s, e) =>
            {
                int start = s * 8192, len = Math.Min(n, e * 8192) - start;
                FloatRow<TOp>(a, aS ? 0 : start, aS, b, bS ? 0 : start, bS, o, start, len);
            }, ParallelMinElements);
            return;
        }
        KernelParallel.For(threads, (int)plan.Rows, plan.Inner, (s, e) => FloatRows<TOp>(a, b, o, plan, s, e), ParallelMinElements);
    }

    /// <summary>Channel vectors shorter than this are tiled into a pattern of this length or more.</summary>
    private const int PatternMin = 64;

    /// <summary>Rows [r0, r1) of out = a op b for float ops with a vector form (the arrays are pinned once for all rows).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void FloatRows<TOp>(float[] a, float[] b, float[] o, Broadcast plan, int r0, int r1) where TOp : IBin<TOp>
    {
        int inner = plan.Inner;
        if (r1 <= r0 || inner == 0) return;
        if ((long)r1 * inner > o.Length) throw new ArgumentOutOfRangeException(nameof(r1), "Rows outside the output.");
        bool aS = plan.AInnerScalar, bS = plan.BInnerScalar;
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* po = o)
        {
            if (!aS && !bS && ((plan.ARowMajor && plan.BRepeats) || (plan.ARepeats && plan.BRowMajor)))
            {
                // A per-channel vector against a full tensor (bias adds, scales, PReLU slopes): no per-row set-up.
                bool aRep = plan.ARepeats;
                if ((long)r1 * inner > (aRep ? b : a).Length || inner > (aRep ? a : b).Length)
                    throw new ArgumentOutOfRangeException(nameof(r1), "Rows outside an input.");
                if (inner < PatternMin)
                {
                    // Few channels: tile the vector into a pattern of whole rows at least PatternMin long, and
                    // walk the tensor in runs of that length (each run starts on a row boundary).
                    // (No longer than the rows asked for: a [1] op [1] must not build a 64-float pattern.)
                    int k = Math.Min((PatternMin + inner - 1) / inner, r1 - r0), plen = k * inner;
                    float* pat = stackalloc float[plen];
                    float* rep = aRep ? pa : pb;
                    for (int j = 0; j < plen; j += inner)
                        for (int c = 0; c < inner; c++) pat[j + c] = rep[c];
                    long off = (long)r0 * inner, end = (long)r1 * inner;
                    for (; off < end; off += plen)
                    {
                        int len = (int)Math.Min(plen, end - off);
                        RowPtr<TOp>(aRep ? pat : pa + off, false, aRep ? pb + off : pat, false, po + off, len);
                    }
                    return;
                }
                for (int r = r0; r < r1; r++)
                {
                    long off = (long)r * inner;
                    RowPtr<TOp>(aRep ? pa : pa + off, false, aRep ? pb + off : pb, false, po + off, inner);
                }
                return;
            }
            for (int r = r0; r < r1; r++)
            {
                plan.Offsets(r, out long ao, out long bo);
                if ((aS ? ao + 1 : ao + inner) > a.Length || (bS ? bo + 1 : bo + inner) > b.Length)
                    throw new ArgumentOutOfRangeException(nameof(r1), "Rows outside an input.");
                RowPtr<TOp>(pa + ao, aS, pb + bo, bS, po + (long)r * inner, inner);
            }
        }
    }

    /// <summary>
    /// o[oOff + i] = a[aOff + i] op b[bOff + i] for i in [0, n), where an operand flagged scalar is the single
    /// element at its offset. o may be a or b (same offsets) for in-place use.
    /// </summary>
    internal static unsafe void FloatRow<TOp>(float[] a, int aOff, bool aScalar, float[] b, int bOff, bool bScalar, float[] o, int oOff, int n) where TOp : IBin<TOp>
    {
        if (n <= 0) return;
        if ((uint)oOff + (ulong)(uint)n > (uint)o.Length
            || (aScalar ? (uint)aOff >= (uint)a.Length : (uint)aOff + (ulong)(uint)n > (uint)a.Length)
            || (bScalar ? (uint)bOff >= (uint)b.Length : (uint)bOff + (ulong)(uint)n > (uint)b.Length))
            throw new ArgumentOutOfRangeException(nameof(n), "Row outside its array.");
        fixed (float* pa = a)
        fixed (float* pb = b)
        fixed (float* po = o)
            RowPtr<TOp>(pa + aOff, aScalar, pb + bOff, bScalar, po + oOff, n);
    }

    /// <summary>po[i] = pa[i] op pb[i] for i in [0, n) (a scalar operand is *p); po may equal pa or pb.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void RowPtr<TOp>(float* pa, bool aScalar, float* pb, bool bScalar, float* po, int n) where TOp : IBin<TOp>
    {
        int i = 0;
        if (aScalar && bScalar)
        {
            float v = TOp.Apply(*pa, *pb);
            for (; i < n; i++) po[i] = v;
            return;
        }
        if (Vector256.IsHardwareAccelerated)
        {
            if (!aScalar && !bScalar)
            {
                for (; i <= n - 32; i += 32)
                {
                    var v0 = TOp.Vec(Vector256.Load(pa + i), Vector256.Load(pb + i));
                    var v1 = TOp.Vec(Vector256.Load(pa + i + 8), Vector256.Load(pb + i + 8));
                    var v2 = TOp.Vec(Vector256.Load(pa + i + 16), Vector256.Load(pb + i + 16));
                    var v3 = TOp.Vec(Vector256.Load(pa + i + 24), Vector256.Load(pb + i + 24));
                    v0.Store(po + i);
                    v1.Store(po + i + 8);
                    v2.Store(po + i + 16);
                    v3.Store(po + i + 24);
                }
                for (; i <= n - 8; i += 8) TOp.Vec(Vector256.Load(pa + i), Vector256.Load(pb + i)).Store(po + i);
            }
            else if (bScalar)
            {
                var vb = Vector256.Create(*pb);
                for (; i <= n - 32; i += 32)
                {
                    var v0 = TOp.Vec(Vector256.Load(pa + i), vb);
                    var v1 = TOp.Vec(Vector256.Load(pa + i + 8), vb);
                    var v2 = TOp.Vec(Vector256.Load(pa + i + 16), vb);
                    var v3 = TOp.Vec(Vector256.Load(pa + i + 24), vb);
                    v0.Store(po + i);
                    v1.Store(po + i + 8);
                    v2.Store(po + i + 16);
                    v3.Store(po + i + 24);
                }
                for (; i <= n - 8; i += 8) TOp.Vec(Vector256.Load(pa + i), vb).Store(po + i);
            }
            else
            {
                var va = Vector256.Create(*pa);
                for (; i <= n - 32; i += 32)
                {
                    var v0 = TOp.Vec(va, Vector256.Load(pb + i));
                    var v1 = TOp.Vec(va, Vector256.Load(pb + i + 8));
                    var v2 = TOp.Vec(va, Vector256.Load(pb + i + 16));
                    var v3 = TOp.Vec(va, Vector256.Load(pb + i + 24));
                    v0.Store(po + i);
                    v1.Store(po + i + 8);
                    v2.Store(po + i + 16);
                    v3.Store(po + i + 24);
                }
                for (; i <= n - 8; i += 8) TOp.Vec(va, Vector256.Load(pb + i)).Store(po + i);
            }
        }
        for (; i < n; i++) po[i] = TOp.Apply(aScalar ? *pa : pa[i], bScalar ? *pb : pb[i]);
    }

    /// <summary>a + b with broadcasting, as the Add kernel computes it (for fused kernels that fall back to it).</summary>
    internal static Tensor Add(KernelContext ctx, Tensor a, Tensor b) => BinaryTensor<AddOp>(ctx, a, b);

    private static void BiasAdd(KernelContext ctx)
    {
        var value = ctx.Input(0);
        var bias = ctx.Input(1);
        bool nchw = ctx.String("data_format", "NHWC") == "NCHW";
        if (value.Rank < 2) throw ctx.Error($"needs an input of rank 2 or more, got shape {Tensor.FormatShape(value.Shape)}.");
        if (bias.Rank != 1) throw ctx.Error($"needs a 1-D bias, got shape {Tensor.FormatShape(bias.Shape)}.");
        int cdim = nchw && value.Rank >= 3 ? 1 : value.Rank - 1;
        if (bias.Shape[0] != value.Shape[cdim])
            throw ctx.Error($"has a bias of {bias.Shape[0]} elements for {value.Shape[cdim]} channels (input shape {Tensor.FormatShape(value.Shape)}).");
        var bshape = new int[value.Rank - cdim];
        Array.Fill(bshape, 1);
        bshape[0] = bias.Shape[0];
        ctx.SetOutput(0, BinaryTensor<AddOp>(ctx, value, bias.Reshape(bshape)));
    }

    private static void AddN(KernelContext ctx)
    {
        if (ctx.Inputs.Length == 0) throw ctx.Error("needs at least one input.");
        var first = ctx.Input(0);
        for (int i = 1; i < ctx.Inputs.Length; i++)
        {
            if (!ctx.Inputs[i].Shape.AsSpan().SequenceEqual(first.Shape))
                throw ctx.Error($"has inputs of different shapes {Tensor.FormatShape(first.Shape)} and {Tensor.FormatShape(ctx.Inputs[i].Shape)}.");
            if (ctx.Inputs[i].DType != first.DType)
                throw ctx.Error($"has inputs of different dtypes {first.DType.Name()} and {ctx.Inputs[i].DType.Name()}.");
        }
        if (first.DType == DataType.DtFloat && ctx.Inputs.Length > 2)
        {
            ctx.SetOutput(0, AddNFloat(ctx));
            return;
        }
        var acc = first;
        for (int i = 1; i < ctx.Inputs.Length; i++)
        {
            var prev = acc;
            acc = BinaryTensor<AddOp>(ctx, acc, ctx.Inputs[i]);
            if (i > 1 && !ReferenceEquals(prev.Data, acc.Data)) ctx.ReturnScratch(prev.Data); // a partial sum of this kernel
        }
        ctx.SetOutput(0, acc);
    }

    /// <summary>
    /// float AddN of three or more inputs in one pass over the output, a cache-sized block at a time, adding in
    /// input order (the same sums as the pairwise chain). The output may reuse input 0 or 1 (each is read at a
    /// block before that block is written); a later input is read after the block is written, so never.
    /// </summary>
    private static Tensor AddNFloat(KernelContext ctx)
    {
        var inputs = ctx.Inputs;
        var arrays = new float[inputs.Length][];
        for (int i = 0; i < inputs.Length; i++) arrays[i] = inputs[i].As<float>();
        int n = inputs[0].Length;
        var o = ctx.TryReuseInput<float>(inputs[0], n) ?? ctx.TryReuseInput<float>(inputs[1], n) ?? ctx.Allocate<float>(n, clear: false);
        const int Block = 4096;
        int blocks = (n + Block - 1) / Block;
        KernelParallel.For(n < ParallelMinElements ? 1 : ctx.Options.IntraOpThreads, blocks, (long)Block * arrays.Length, (s, e) =>
        {
            for (int blk = s; blk < e; blk++)
            {
                int off = blk * Block, len = Math.Min(Block, n - off);
                FloatRow<AddOp>(arrays[0], off, false, arrays[1], off, false, o, off, len);
                for (int k = 2; k < arrays.Length; k++) FloatRow<AddOp>(o, off, false, arrays[k], off, false, o, off, len);
            }
        }, ParallelMinElements);
        return Tensor.Over(DataType.DtFloat, inputs[0].Shape, o);
    }

    private static void ClipByValue(KernelContext ctx)
    {
        var t = ctx.Input(0);
        var lo = ctx.Input(1);
        var hi = ctx.Input(2);
        foreach (var bound in new[] { lo, hi })
            if (bound.Rank != 0 && !bound.Shape.AsSpan().SequenceEqual(t.Shape))
                throw ctx.Error($"needs scalar bounds or bounds of the input's shape {Tensor.FormatShape(t.Shape)}, got {Tensor.FormatShape(bound.Shape)}.");
        var r = BinaryTensor<MaxOp>(ctx, t, lo);
        var clipped = BinaryTensor<MinOp>(ctx, r, hi);
        if (!ReferenceEquals(r.Data, t.Data) && !ReferenceEquals(r.Data, clipped.Data)) ctx.ReturnScratch(r.Data);
        ctx.SetOutput(0, clipped);
    }

    // ------------------------------------------------------------------ unary

    internal delegate void Map<T>(ReadOnlySpan<T> x, Span<T> y);

    internal interface IUn<TSelf> where TSelf : IUn<TSelf>
    {
        static abstract T Apply<T>(T x) where T : unmanaged, INumber<T>;

        static virtual void Run<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, INumber<T>
        {
            for (int i = 0; i < y.Length; i++) y[i] = TSelf.Apply(x[i]);
        }
    }

    internal struct NegOp : IUn<NegOp>
    {
        public static T Apply<T>(T x) where T : unmanaged, INumber<T> => T.Zero - x;
        public static void Run<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, INumber<T> => TensorPrimitives.Negate(x, y);
    }

    internal struct AbsOp : IUn<AbsOp>
    {
        public static T Apply<T>(T x) where T : unmanaged, INumber<T> => T.IsNegative(x) ? T.Zero - x : x;

        public static void Run<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, INumber<T>
        {
            if (IsFloat<T>()) TensorPrimitives.Abs(x, y);
            else for (int i = 0; i < y.Length; i++) y[i] = Apply(x[i]); // wraps on MinValue like C++
        }
    }

    internal struct SquareOp : IUn<SquareOp>
    {
        public static T Apply<T>(T x) where T : unmanaged, INumber<T> => x * x;
        public static void Run<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, INumber<T> => TensorPrimitives.Multiply(x, x, y);
    }

    internal struct SignOp : IUn<SignOp>
    {
        public static T Apply<T>(T x) where T : unmanaged, INumber<T> =>
            T.IsNaN(x) ? x : x > T.Zero ? T.One : x < T.Zero ? T.Zero - T.One : T.Zero;
    }

    internal struct ReluOp : IUn<ReluOp>
    {
        public static T Apply<T>(T x) where T : unmanaged, INumber<T> => x > T.Zero ? x : T.IsNaN(x) ? x : T.Zero;

        public static void Run<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, INumber<T>
        {
            if (typeof(T) == typeof(float)) Activation.Relu(Cast<T, float>(x), Cast<T, float>(y));
            else for (int i = 0; i < y.Length; i++) y[i] = Apply(x[i]);
        }
    }

    internal struct Relu6Op : IUn<Relu6Op>
    {
        public static T Apply<T>(T x) where T : unmanaged, INumber<T>
        {
            if (T.IsNaN(x)) return x;
            T six = T.CreateTruncating(6);
            return x < T.Zero ? T.Zero : x > six ? six : x;
        }

        public static void Run<T>(ReadOnlySpan<T> x, Span<T> y) where T : unmanaged, INumber<T>
        {
            if (typeof(T) == typeof(float)) Activation.Relu6(Cast<T, float>(x), Cast<T, float>(y));
            else for (int i = 0; i < y.Length; i++) y[i] = Apply(x[i]);
        }
    }

    internal struct RoundOp : IUn<RoundOp>
    {
        public static T Apply<T>(T x) where T : unmanaged, INumber<T> =>
            IsFloat<T>() ? T.CreateTruncating(Math.Round(double.CreateTruncating(x), MidpointRounding.ToEven)) : x;
    }

    private static ReadOnlySpan<TTo> Cast<TFrom, TTo>(ReadOnlySpan<TFrom> s) where TFrom : unmanaged where TTo : unmanaged =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<TFrom, TTo>(s);

    private static Span<TTo> Cast<TFrom, TTo>(Span<TFrom> s) where TFrom : unmanaged where TTo : unmanaged =>
        System.Runtime.InteropServices.MemoryMarshal.Cast<TFrom, TTo>(s);

    private static void GenericUnary<TOp>(KernelContext ctx) where TOp : IUn<TOp>
    {
        var x = ctx.Input(0);
        var dtype = x.DType;
        Tensor r;
        if (FloatConvert.IsReducedFloat(dtype)) r = FloatConvert.FromFloat(RunUnary<TOp, float>(ctx, FloatConvert.ToFloat(x)), dtype);
        else r = dtype switch
        {
            DataType.DtFloat => RunUnary<TOp, float>(ctx, x),
            DataType.DtDouble => RunUnary<TOp, double>(ctx, x),
            DataType.DtInt32 => RunUnary<TOp, int>(ctx, x),
            DataType.DtInt64 => RunUnary<TOp, long>(ctx, x),
            DataType.DtInt8 => RunUnary<TOp, sbyte>(ctx, x),
            DataType.DtUint8 => RunUnary<TOp, byte>(ctx, x),
            DataType.DtInt16 => RunUnary<TOp, short>(ctx, x),
            DataType.DtUint16 => RunUnary<TOp, ushort>(ctx, x),
            DataType.DtUint32 => RunUnary<TOp, uint>(ctx, x),
            DataType.DtUint64 => RunUnary<TOp, ulong>(ctx, x),
            _ => throw ctx.Error($"does not support dtype {dtype.Name()}."),
        };
        ctx.SetOutput(0, r);
    }

    private static Tensor RunUnary<TOp, T>(KernelContext ctx, Tensor x) where TOp : IUn<TOp> where T : unmanaged, INumber<T>
    {
        var X = x.As<T>();
        int n = x.Length;
        var Y = ctx.ReuseOrAllocate<T>(x, n);
        if (IsSmall(ctx, n, 4)) TOp.Run<T>(X.AsSpan(0, n), Y.AsSpan(0, n));
        else Chunked(ctx, n, 4, (x, y) => TOp.Run<T>(x, y), X, Y);
        return Tensor.Over(x.DType, x.Shape, Y);
    }

    private const int ChunkMinWork = 65_536;

    /// <summary>True when a unary map of <paramref name="length"/> elements runs on the calling thread (one chunk).</summary>
    private static bool IsSmall(KernelContext ctx, int length, int costPerElement) =>
        ctx.Options.IntraOpThreads <= 1 || (long)length * costPerElement < 2 * ChunkMinWork;

    /// <summary>y = f(x) over blocks of the arrays split between threads (called only when not <see cref="IsSmall"/>: it allocates closures).</summary>
    private static void Chunked<T>(KernelContext ctx, int length, int costPerElement, Map<T> f, T[] x, T[] y)
    {
        const int Block = 16_384;
        int blocks = (length + Block - 1) / Block;
        KernelParallel.For(ctx.Options.IntraOpThreads, blocks, (long)Block * costPerElement, (s, e) =>
        {
            int start = s * Block;
            int end = Math.Min(length, e * Block);
            f(x.AsSpan(start, end - start), y.AsSpan(start, end - start));
        }, ChunkMinWork);
    }

    private static void AddFloat(KernelRegistry r, string op, Map<float> f, Map<double> d) => AddFloat(r, [op], f, d);

    private static void AddFloat(KernelRegistry r, string[] ops, Map<float> f, Map<double> d) =>
        r.Add(ops, ctx => FloatUnary(ctx, f, d));

    private static void FloatUnary(KernelContext ctx, Map<float> f, Map<double> d)
    {
        var x = ctx.Input(0);
        var dtype = x.DType;
        if (dtype == DataType.DtDouble)
        {
            var X = x.As<double>();
            int n = x.Length;
            var Y = ctx.ReuseOrAllocate<double>(x, n);
            if (IsSmall(ctx, n, 16)) d(X.AsSpan(0, n), Y.AsSpan(0, n));
            else Chunked(ctx, n, 16, d, X, Y);
            ctx.SetOutput(0, Tensor.Over(dtype, x.Shape, Y));
            return;
        }
        if (dtype != DataType.DtFloat && !FloatConvert.IsReducedFloat(dtype))
            throw ctx.Error($"does not support dtype {dtype.Name()} (floating-point types only).");
        var xf = FloatConvert.ToFloat(x);
        var XF = xf.As<float>();
        int nf = x.Length;
        var YF = ctx.ReuseOrAllocate<float>(xf, nf);
        if (IsSmall(ctx, nf, 16)) f(XF.AsSpan(0, nf), YF.AsSpan(0, nf));
        else Chunked(ctx, nf, 16, f, XF, YF);
        ctx.SetOutput(0, FloatConvert.FromFloat(Tensor.Over(DataType.DtFloat, x.Shape, YF), dtype));
    }

    private static void Each(ReadOnlySpan<float> x, Span<float> y, Func<float, float> f)
    {
        for (int i = 0; i < y.Length; i++) y[i] = f(x[i]);
    }

    private static void Each(ReadOnlySpan<double> x, Span<double> y, Func<double, double> f)
    {
        for (int i = 0; i < y.Length; i++) y[i] = f(x[i]);
    }

    private static double Log1p(double v) =>
        Math.Abs(v) < 1e-4 ? v * (1 - v * (0.5 - v / 3)) : Math.Log(1 + v) * (v / ((1 + v) - 1));

    /// <summary>log(1 + exp(x)) without overflow: max(x, 0) + log1p(exp(-|x|)).</summary>
    private static double Softplus(double v) => Math.Max(v, 0) + Log1p(Math.Exp(-Math.Abs(v)));

    private const double SeluScale = 1.0507009873554804934193349852946;
    private const double SeluAlpha = 1.6732632423543772848170429916717;

    private static double Selu(double v) => v < 0 ? SeluScale * SeluAlpha * (Math.Exp(v) - 1) : SeluScale * v;

    private static void Predicate(KernelContext ctx, Func<float, bool> f, Func<double, bool> d)
    {
        var x = ctx.Input(0);
        var o = new bool[x.Length];
        if (x.DType == DataType.DtDouble)
        {
            var X = x.As<double>();
            for (int i = 0; i < o.Length; i++) o[i] = d(X[i]);
        }
        else if (x.DType == DataType.DtFloat || FloatConvert.IsReducedFloat(x.DType))
        {
            var X = FloatConvert.ToFloat(x).As<float>();
            for (int i = 0; i < o.Length; i++) o[i] = f(X[i]);
        }
        else throw ctx.Error($"does not support dtype {x.DType.Name()} (floating-point types only).");
        ctx.SetOutput(0, new Tensor(DataType.DtBool, x.Shape, o));
    }

    // ------------------------------------------------------------------ softmax

    private static void SoftmaxKernel(KernelContext ctx, bool log)
    {
        var x = ctx.Input(0);
        var dtype = x.DType;
        if (x.Rank < 1) throw ctx.Error("needs an input of rank 1 or more.");
        int n = x.Shape[^1];
        if (dtype == DataType.DtDouble)
        {
            var X = x.As<double>();
            var Y = ctx.ReuseOrAllocate<double>(x, x.Length);
            int rows = n == 0 ? 0 : x.Length / n;
            KernelParallel.For(ctx.Options.IntraOpThreads, rows, n * 8L, (s, e) =>
            {
                for (int r = s; r < e; r++) SoftmaxRow(X.AsSpan(r * n, n), Y.AsSpan(r * n, n), log);
            });
            ctx.SetOutput(0, Tensor.Over(dtype, x.Shape, Y));
            return;
        }
        if (dtype != DataType.DtFloat && !FloatConvert.IsReducedFloat(dtype))
            throw ctx.Error($"does not support dtype {dtype.Name()} (floating-point types only).");
        var xf = FloatConvert.ToFloat(x);
        var XF = xf.As<float>();
        var YF = ctx.ReuseOrAllocate<float>(xf, x.Length);
        int frows = n == 0 ? 0 : x.Length / n;
        KernelParallel.For(ctx.Options.IntraOpThreads, frows, n * 8L, (s, e) =>
        {
            for (int r = s; r < e; r++) SoftmaxRowFloat(XF.AsSpan(r * n, n), YF.AsSpan(r * n, n), log);
        });
        ctx.SetOutput(0, FloatConvert.FromFloat(Tensor.Over(DataType.DtFloat, x.Shape, YF), dtype));
    }

    /// <summary>One float row of Softmax / LogSoftmax with the vectorized exp (x and y may be the same span).</summary>
    internal static void SoftmaxRowFloat(ReadOnlySpan<float> x, Span<float> y, bool log)
    {
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, y);
        if (log)
        {
            // x - max - log(sum(exp(x - max))), the exponentials summed a block at a time
            Span<float> e = stackalloc float[256];
            float sum = 0;
            for (int i = 0; i < y.Length; i += e.Length)
            {
                int len = Math.Min(e.Length, y.Length - i);
                VecMath.Exp(y.Slice(i, len), e[..len]);
                sum += TensorPrimitives.Sum(e[..len]);
            }
            TensorPrimitives.Subtract(y, MathF.Log(sum), y);
        }
        else
        {
            VecMath.Exp(y, y);
            TensorPrimitives.Divide(y, TensorPrimitives.Sum(y), y);
        }
    }

    private static void SoftmaxRow<T>(ReadOnlySpan<T> x, Span<T> y, bool log) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, y);
        if (log)
        {
            // x - max - log(sum(exp(x - max)))
            T sum = T.Zero;
            foreach (var v in y) sum += T.Exp(v);
            TensorPrimitives.Subtract(y, T.Log(sum), y);
        }
        else
        {
            TensorPrimitives.Exp(y, y);
            T sum = TensorPrimitives.Sum<T>(y);
            TensorPrimitives.Divide(y, sum, y);
        }
    }
}
