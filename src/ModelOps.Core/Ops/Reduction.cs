using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.Kernels;
using ModelOps.Core.Tensors;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Ops;

/// <summary>
/// Reductions over a set of axes (Sum, Mean, Max, Min, Prod, All, Any) with keep_dims, negative axes,
/// int32/int64 axis tensors and empty axis lists (identity); ArgMax/ArgMin with output_type.
/// </summary>
public sealed partial class ReductionOps : OpFamily
{
    private enum Kind { Sum, Mean, Max, Min, Prod }

    public override void RegisterKernels(KernelRegistry r)
    {
        // Sum/Mean/Max/Min/Prod read their input's first Length elements and make outputs with Tensor.Over.
        var spare = r.WithTraits(KernelTraits.SpareCapacity);
        spare.Add("Sum", ctx => Reduce(ctx, Kind.Sum));
        spare.Add("Mean", ctx => Reduce(ctx, Kind.Mean));
        spare.Add("Max", ctx => Reduce(ctx, Kind.Max));
        spare.Add("Min", ctx => Reduce(ctx, Kind.Min));
        spare.Add("Prod", ctx => Reduce(ctx, Kind.Prod));
        r.Add("All", ctx => ReduceBool(ctx, all: true));
        r.Add("Any", ctx => ReduceBool(ctx, all: false));
        r.Add("ArgMax", ctx => ArgExtreme(ctx, max: true));
        r.Add("ArgMin", ctx => ArgExtreme(ctx, max: false));
    }

    /// <summary>A reduction reduced to coalesced groups of dimensions, each kept or reduced.</summary>
    private sealed class Plan
    {
        public required int[] OutShape;
        public required int[] Sizes;      // coalesced group sizes (no size-1 groups)
        public required bool[] Reduced;
        public long ReduceCount;
    }

    private static Plan MakePlan(KernelContext ctx, int[] shape, Tensor axesT, bool keepDims)
    {
        int rank = shape.Length;
        if (axesT.Rank > 1) throw ctx.Error($"needs a scalar or 1-D axis tensor, got shape {Tensor.FormatShape(axesT.Shape)}.");
        var red = new bool[rank];
        foreach (long a0 in axesT.ToInt64Array())
        {
            long a = a0 < 0 ? a0 + rank : a0;
            if (a < 0 || a >= rank)
                throw ctx.Error($"has axis {a0} out of range for an input of rank {rank} (shape {Tensor.FormatShape(shape)}).");
            red[a] = true;
        }
        var outShape = new List<int>(rank);
        var sizes = new List<int>();
        var reduced = new List<bool>();
        long count = 1;
        for (int i = 0; i < rank; i++)
        {
            if (red[i]) { count *= shape[i]; if (keepDims) outShape.Add(1); }
            else outShape.Add(shape[i]);
            if (shape[i] == 1) continue;
            if (reduced.Count > 0 && reduced[^1] == red[i]) sizes[^1] *= shape[i];
            else { sizes.Add(shape[i]); reduced.Add(red[i]); }
        }
        return new Plan { OutShape = outShape.ToArray(), Sizes = sizes.ToArray(), Reduced = reduced.ToArray(), ReduceCount = count };
    }

    private static void Reduce(KernelContext ctx, Kind kind)
    {
        var x = ctx.Input(0);
        var plan = MakePlan(ctx, x.Shape, ctx.Input(1), ctx.Bool("keep_dims", false));
        var dtype = x.DType;
        Tensor r;
        if (FloatConvert.IsReducedFloat(dtype))
            r = FloatConvert.FromFloat(Run<float>(ctx, FloatConvert.ToFloat(x), plan, kind), dtype);
        else r = dtype switch
        {
            DataType.DtFloat => Run<float>(ctx, x, plan, kind),
            DataType.DtDouble => Run<double>(ctx, x, plan, kind),
            DataType.DtInt32 => Run<int>(ctx, x, plan, kind),
            DataType.DtInt64 => Run<long>(ctx, x, plan, kind),
            DataType.DtInt8 => Run<sbyte>(ctx, x, plan, kind),
            DataType.DtUint8 => Run<byte>(ctx, x, plan, kind),
            DataType.DtInt16 => Run<short>(ctx, x, plan, kind),
            DataType.DtUint16 => Run<ushort>(ctx, x, plan, kind),
            DataType.DtUint32 => Run<uint>(ctx, x, plan, kind),
            DataType.DtUint64 => Run<ulong>(ctx, x, plan, kind),
            _ => throw ctx.Error($"does not support dtype {dtype.Name()}."),
        };
        ctx.SetOutput(0, r);
    }

    private static void ReduceBool(KernelContext ctx, bool all)
    {
        var x = ctx.Input(0);
        if (x.DType != DataType.DtBool) throw ctx.Error($"needs a bool input, got {x.DType.Name()}.");
        var plan = MakePlan(ctx, x.Shape, ctx.Input(1), ctx.Bool("keep_dims", false));
        var src = x.As<bool>();
        var bytes = new byte[src.Length];
        for (int i = 0; i < bytes.Length; i++) bytes[i] = src[i] ? (byte)1 : (byte)0;
        var r = Run<byte>(ctx, new Tensor(DataType.DtUint8, x.Shape, bytes), plan, all ? Kind.Min : Kind.Max).As<byte>();
        var o = new bool[r.Length];
        for (int i = 0; i < o.Length; i++) o[i] = r[i] != 0;
        ctx.SetOutput(0, new Tensor(DataType.DtBool, plan.OutShape, o));
    }

    private static T Identity<T>(Kind kind) where T : unmanaged, INumber<T> => kind switch
    {
        Kind.Max => T.CreateSaturating(double.NegativeInfinity),
        Kind.Min => T.CreateSaturating(double.PositiveInfinity),
        Kind.Prod => T.One,
        _ => T.Zero,
    };

    private static T ReduceSpan<T>(ReadOnlySpan<T> s, Kind kind) where T : unmanaged, INumber<T> => kind switch
    {
        Kind.Max => TensorPrimitives.Max(s),
        Kind.Min => TensorPrimitives.Min(s),
        Kind.Prod => TensorPrimitives.Product(s),
        _ => TensorPrimitives.Sum(s),
    };

    private static T Combine<T>(T a, T b, Kind kind) where T : unmanaged, INumber<T> => kind switch
    {
        Kind.Max => T.Max(a, b),
        Kind.Min => T.Min(a, b),
        Kind.Prod => a * b,
        _ => a + b,
    };

    private static void CombineSpan<T>(Span<T> acc, ReadOnlySpan<T> x, Kind kind) where T : unmanaged, INumber<T>
    {
        switch (kind)
        {
            case Kind.Max: TensorPrimitives.Max(acc, x, acc); break;
            case Kind.Min: TensorPrimitives.Min(acc, x, acc); break;
            case Kind.Prod: TensorPrimitives.Multiply(acc, x, acc); break;
            default: TensorPrimitives.Add(acc, x, acc); break;
        }
    }

    private static Tensor Run<T>(KernelContext ctx, Tensor x, Plan plan, Kind kind) where T : unmanaged, INumber<T>
    {
        var X = x.As<T>();
        int nx = x.Length, no = checked((int)Tensor.ElementCount(plan.OutShape));
        var O = ctx.Allocate<T>(no, clear: false);
        var o = O.AsSpan(0, no);
        o.Fill(Identity<T>(kind));
        int g = plan.Sizes.Length;
        if (nx > 0 && g > 0)
        {
            // Split the work over the first group when it is kept: each part owns a distinct slice of O.
            int first = plan.Sizes[0];
            long perFirst = nx / first;
            long outPerFirst = plan.Reduced[0] ? no : no / first;
            if (!plan.Reduced[0] && g > 1)
            {
                KernelParallel.For(ctx.Options.IntraOpThreads, first, perFirst, (s, e) =>
                {
                    for (int i = s; i < e; i++)
                        ReduceBlock(X, (int)(i * perFirst), O, (int)(i * outPerFirst), plan, 1, kind);
                });
            }
            else ReduceBlock(X, 0, O, 0, plan, 0, kind);
        }
        else if (nx > 0)
        {
            X.AsSpan(0, nx).CopyTo(o); // every dim has size 1: nothing to combine
        }
        if (kind == Kind.Mean)
        {
            T n = T.CreateTruncating(plan.ReduceCount);
            if (plan.ReduceCount == 0)
            {
                // 0/0: NaN for floats (TensorFlow), 0 for integers (avoid a crash).
                if (typeof(T) == typeof(float) || typeof(T) == typeof(double)) o.Fill(T.CreateTruncating(double.NaN));
            }
            else if (typeof(T) == typeof(float) || typeof(T) == typeof(double)) TensorPrimitives.Divide<T>(o, n, o);
            else for (int i = 0; i < no; i++) O[i] /= n;
        }
        return Tensor.Over(x.DType, plan.OutShape, O);
    }

    /// <summary>Reduces groups [gi..] of the input block at xOff into the output block at oOff.</summary>
    private static void ReduceBlock<T>(T[] X, int xOff, T[] O, int oOff, Plan plan, int gi, Kind kind) where T : unmanaged, INumber<T>
    {
        int g = plan.Sizes.Length;
        if (typeof(T) == typeof(float) && kind is Kind.Sum or Kind.Mean && gi == g - 2 && plan.Reduced[gi] && !plan.Reduced[gi + 1])
        {
            // Rows summed into one (a spatial mean over NHWC, global average pooling): one pass of vector adds.
            SumRows((float[])(object)X, xOff, (float[])(object)O, oOff, plan.Sizes[gi], plan.Sizes[gi + 1]);
            return;
        }
        if (gi == g - 1)
        {
            int n = plan.Sizes[gi];
            if (plan.Reduced[gi]) O[oOff] = Combine(O[oOff], ReduceSpan<T>(X.AsSpan(xOff, n), kind), kind);
            else CombineSpan<T>(O.AsSpan(oOff, n), X.AsSpan(xOff, n), kind);
            return;
        }
        long xStride = 1, oStride = 1;
        for (int j = gi + 1; j < g; j++)
        {
            xStride *= plan.Sizes[j];
            if (!plan.Reduced[j]) oStride *= plan.Sizes[j];
        }
        bool red = plan.Reduced[gi];
        for (int i = 0; i < plan.Sizes[gi]; i++)
            ReduceBlock(X, (int)(xOff + i * xStride), O, red ? oOff : (int)(oOff + i * oStride), plan, gi + 1, kind);
    }

    /// <summary>
    /// o[0..inner) += x rows 0..rows-1 (each inner long, from xOff), added in row order like the generic path, 16 / 8
    /// lanes at a time, so the sums are the same to the bit.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void SumRows(float[] x, int xOff, float[] o, int oOff, int rows, int inner)
    {
        if ((long)xOff + (long)rows * inner > x.Length || (long)oOff + inner > o.Length) throw new ArgumentOutOfRangeException(nameof(rows));
        fixed (float* px = x)
        fixed (float* po = o)
        {
            float* acc = po + oOff;
            int j = 0;
            if (Vector512.IsHardwareAccelerated)
                for (; j <= inner - 16; j += 16)
                {
                    var v = Vector512.Load(acc + j);
                    float* p = px + xOff + j;
                    for (int r = 0; r < rows; r++, p += inner) v += Vector512.Load(p);
                    v.Store(acc + j);
                }
            if (Vector256.IsHardwareAccelerated)
                for (; j <= inner - 8; j += 8)
                {
                    var v = Vector256.Load(acc + j);
                    float* p = px + xOff + j;
                    for (int r = 0; r < rows; r++, p += inner) v += Vector256.Load(p);
                    v.Store(acc + j);
                }
            for (; j < inner; j++)
            {
                float v = acc[j];
                float* p = px + xOff + j;
                for (int r = 0; r < rows; r++, p += inner) v += *p;
                acc[j] = v;
            }
        }
    }

    // ------------------------------------------------------------------ ArgMax / ArgMin

    private static void ArgExtreme(KernelContext ctx, bool max)
    {
        var x = ctx.Input(0);
        var dimT = ctx.Input(1);
        if (dimT.Length != 1) throw ctx.Error($"needs a scalar dimension, got shape {Tensor.FormatShape(dimT.Shape)}.");
        int rank = x.Rank;
        long axis0 = dimT.GetInt64(0);
        long axis = axis0 < 0 ? axis0 + rank : axis0;
        if (axis < 0 || axis >= rank) throw ctx.Error($"has dimension {axis0} out of range for an input of rank {rank}.");
        var outType = ctx.Type("output_type", DataType.DtInt64);
        if (outType is not (DataType.DtInt32 or DataType.DtInt64 or DataType.DtInt16 or DataType.DtUint16))
            throw ctx.Error($"does not support output_type {outType.Name()}.");
        int n = x.Shape[axis];
        if (n == 0) throw ctx.Error("cannot take the arg of an empty dimension.");
        long outer = 1, inner = 1;
        for (int i = 0; i < axis; i++) outer *= x.Shape[i];
        for (int i = (int)axis + 1; i < rank; i++) inner *= x.Shape[i];
        var outShape = x.Shape.Where((_, i) => i != axis).ToArray();
        var idx = new long[outer * inner];
        var xv = FloatConvert.IsReducedFloat(x.DType) ? FloatConvert.ToFloat(x) : x;
        int o = (int)outer, iN = (int)inner;
        switch (xv.DType)
        {
            case DataType.DtFloat: ArgRun(xv.As<float>(), idx, o, n, iN, max); break;
            case DataType.DtDouble: ArgRun(xv.As<double>(), idx, o, n, iN, max); break;
            case DataType.DtInt32: ArgRun(xv.As<int>(), idx, o, n, iN, max); break;
            case DataType.DtInt64: ArgRun(xv.As<long>(), idx, o, n, iN, max); break;
            case DataType.DtInt8: ArgRun(xv.As<sbyte>(), idx, o, n, iN, max); break;
            case DataType.DtUint8: ArgRun(xv.As<byte>(), idx, o, n, iN, max); break;
            case DataType.DtInt16: ArgRun(xv.As<short>(), idx, o, n, iN, max); break;
            case DataType.DtUint16: ArgRun(xv.As<ushort>(), idx, o, n, iN, max); break;
            case DataType.DtUint32: ArgRun(xv.As<uint>(), idx, o, n, iN, max); break;
            case DataType.DtUint64: ArgRun(xv.As<ulong>(), idx, o, n, iN, max); break;
            case DataType.DtBool: ArgRun(xv.As<bool>().Select(v => v ? (byte)1 : (byte)0).ToArray(), idx, o, n, iN, max); break;
            default: throw ctx.Error($"does not support dtype {x.DType.Name()}.");
        }
        Tensor result = outType switch
        {
            DataType.DtInt64 => new Tensor(outType, outShape, idx),
            DataType.DtInt32 => new Tensor(outType, outShape, idx.Select(v => (int)v).ToArray()),
            DataType.DtInt16 => new Tensor(outType, outShape, idx.Select(v => (short)v).ToArray()),
            _ => new Tensor(outType, outShape, idx.Select(v => (ushort)v).ToArray()),
        };
        ctx.SetOutput(0, result);
    }

    /// <summary>First index of the extreme value along the middle axis of [outer, n, inner].</summary>
    private static void ArgRun<T>(T[] x, long[] idx, int outer, int n, int inner, bool max) where T : unmanaged, INumber<T>
    {
        for (int o = 0; o < outer; o++)
        {
            int baseX = o * n * inner;
            if (inner == 1)
            {
                var row = x.AsSpan(baseX, n);
                int best = 0;
                T bv = row[0];
                for (int j = 1; j < n; j++)
                    if (max ? row[j] > bv : row[j] < bv) { bv = row[j]; best = j; }
                idx[o] = best;
                continue;
            }
            for (int k = 0; k < inner; k++)
            {
                int best = 0;
                T bv = x[baseX + k];
                for (int j = 1; j < n; j++)
                {
                    T v = x[baseX + j * inner + k];
                    if (max ? v > bv : v < bv) { bv = v; best = j; }
                }
                idx[o * inner + k] = best;
            }
        }
    }
}
