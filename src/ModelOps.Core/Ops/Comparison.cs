using System.Numerics;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Ops;

/// <summary>
/// Comparisons (broadcasting, IEEE semantics for NaN), logical ops, Select/SelectV2 and Where.
/// </summary>
public sealed partial class Comparison : OpFamily
{
    private interface IPredicate
    {
        static abstract bool Test<T>(T a, T b) where T : IComparisonOperators<T, T, bool>;
    }

    private struct Eq : IPredicate { public static bool Test<T>(T a, T b) where T : IComparisonOperators<T, T, bool> => a == b; }
    private struct Ne : IPredicate { public static bool Test<T>(T a, T b) where T : IComparisonOperators<T, T, bool> => a != b; }
    private struct Lt : IPredicate { public static bool Test<T>(T a, T b) where T : IComparisonOperators<T, T, bool> => a < b; }
    private struct Le : IPredicate { public static bool Test<T>(T a, T b) where T : IComparisonOperators<T, T, bool> => a <= b; }
    private struct Gt : IPredicate { public static bool Test<T>(T a, T b) where T : IComparisonOperators<T, T, bool> => a > b; }
    private struct Ge : IPredicate { public static bool Test<T>(T a, T b) where T : IComparisonOperators<T, T, bool> => a >= b; }

    public override void RegisterKernels(KernelRegistry r)
    {
        // Inputs are read by their tensors' lengths and shapes; outputs are new arrays of exactly their size.
        r = r.WithTraits(KernelTraits.SpareCapacity);
        r.Add("Equal", Compare<Eq>);
        r.Add("NotEqual", Compare<Ne>);
        r.Add("Less", Compare<Lt>);
        r.Add("LessEqual", Compare<Le>);
        r.Add("Greater", Compare<Gt>);
        r.Add("GreaterEqual", Compare<Ge>);
        r.Add("LogicalAnd", ctx => Logical(ctx, (a, b) => a & b));
        r.Add("LogicalOr", ctx => Logical(ctx, (a, b) => a | b));
        r.Add("LogicalNot", ctx =>
        {
            var x = ctx.Input(0).As<bool>();
            var o = new bool[ctx.Input(0).Length];
            for (int i = 0; i < o.Length; i++) o[i] = !x[i];
            ctx.SetOutput(0, new Tensor(DataType.DtBool, ctx.Input(0).Shape, o));
        });
        r.Add("Select", Select);
        r.Add("SelectV2", SelectV2);
        r.Add("Where", Where);
    }

    private static int[] OutShape(KernelContext ctx, Tensor a, Tensor b) =>
        DataMovement.BroadcastShape(a.Shape, b.Shape)
        ?? throw ctx.Error($"cannot broadcast shapes {Tensor.FormatShape(a.Shape)} and {Tensor.FormatShape(b.Shape)}.");

    private static void Compare<P>(KernelContext ctx) where P : struct, IPredicate
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        if (a.DType != b.DType) throw ctx.Error($"compares {a.DType.Name()} with {b.DType.Name()}; both inputs must have the same dtype.");
        if (a.DType == DataType.DtBfloat16) { a = ArrayShape.Cast(a, DataType.DtFloat); b = ArrayShape.Cast(b, DataType.DtFloat); }
        var shape = OutShape(ctx, a, b);
        int n = DataMovement.Count(shape);
        var ia = DataMovement.BroadcastIndex(a.Shape, shape);
        var ib = DataMovement.BroadcastIndex(b.Shape, shape);
        var o = new bool[n];
        bool bScalar = b.Length == 1;
        bool eqOnly = typeof(P) == typeof(Eq) || typeof(P) == typeof(Ne);
        // Dispatch on dtype: the CLR lets byte[] match sbyte[] (and the other same-size pairs).
        switch (a.DType is DataType.DtUint8 or DataType.DtUint16 or DataType.DtUint32 or DataType.DtUint64 ? (Unsigned(a.Data), Unsigned(b.Data)) : (a.Data, b.Data))
        {
            case (float[] x, float[] y): Run<float, P>(x, y, bScalar, ia, ib, o); break;
            case (double[] x, double[] y): Run<double, P>(x, y, bScalar, ia, ib, o); break;
            case (Half[] x, Half[] y): Run<Half, P>(x, y, bScalar, ia, ib, o); break;
            case (UnsignedBox<byte> x, UnsignedBox<byte> y): Run<byte, P>(x.Data, y.Data, bScalar, ia, ib, o); break;
            case (UnsignedBox<ushort> x, UnsignedBox<ushort> y): Run<ushort, P>(x.Data, y.Data, bScalar, ia, ib, o); break;
            case (UnsignedBox<uint> x, UnsignedBox<uint> y): Run<uint, P>(x.Data, y.Data, bScalar, ia, ib, o); break;
            case (UnsignedBox<ulong> x, UnsignedBox<ulong> y): Run<ulong, P>(x.Data, y.Data, bScalar, ia, ib, o); break;
            case (sbyte[] x, sbyte[] y): Run<sbyte, P>(x, y, bScalar, ia, ib, o); break;
            case (short[] x, short[] y): Run<short, P>(x, y, bScalar, ia, ib, o); break;
            case (int[] x, int[] y): Run<int, P>(x, y, bScalar, ia, ib, o); break;
            case (long[] x, long[] y): Run<long, P>(x, y, bScalar, ia, ib, o); break;
            case (bool[] x, bool[] y) when eqOnly:
                for (int i = 0; i < n; i++) o[i] = (x[ia?[i] ?? i] == y[ib?[i] ?? i]) == (typeof(P) == typeof(Eq));
                break;
            case (byte[][] x, byte[][] y) when eqOnly:
                for (int i = 0; i < n; i++) o[i] = x[ia?[i] ?? i].AsSpan().SequenceEqual(y[ib?[i] ?? i]) == (typeof(P) == typeof(Eq));
                break;
            default: throw ctx.Error($"does not support {a.DType.Name()} inputs.");
        }
        ctx.SetOutput(0, new Tensor(DataType.DtBool, shape, o));
    }

    private static object Unsigned(Array a) => a switch
    {
        byte[] x => new UnsignedBox<byte>(x),
        ushort[] x => new UnsignedBox<ushort>(x),
        uint[] x => new UnsignedBox<uint>(x),
        ulong[] x => new UnsignedBox<ulong>(x),
        _ => a,
    };

    private sealed record UnsignedBox<T>(T[] Data);

    private static void Run<T, P>(T[] x, T[] y, bool yScalar, int[]? ix, int[]? iy, bool[] o)
        where T : IComparisonOperators<T, T, bool> where P : struct, IPredicate
    {
        if (ix is null && iy is null)
            for (int i = 0; i < o.Length; i++) o[i] = P.Test(x[i], y[i]);
        else if (ix is null && yScalar)
        {
            T s = y[0];
            for (int i = 0; i < o.Length; i++) o[i] = P.Test(x[i], s);
        }
        else
            for (int i = 0; i < o.Length; i++) o[i] = P.Test(x[ix?[i] ?? i], y[iy?[i] ?? i]);
    }

    private static void Logical(KernelContext ctx, Func<bool, bool, bool> f)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        var x = a.As<bool>();
        var y = b.As<bool>();
        var shape = OutShape(ctx, a, b);
        var ia = DataMovement.BroadcastIndex(a.Shape, shape);
        var ib = DataMovement.BroadcastIndex(b.Shape, shape);
        var o = new bool[DataMovement.Count(shape)];
        for (int i = 0; i < o.Length; i++) o[i] = f(x[ia?[i] ?? i], y[ib?[i] ?? i]);
        ctx.SetOutput(0, new Tensor(DataType.DtBool, shape, o));
    }

    private static void Select(KernelContext ctx)
    {
        var c = ctx.Input(0);
        var t = ctx.Input(1);
        var e = ctx.Input(2);
        if (!t.Shape.AsSpan().SequenceEqual(e.Shape) || t.DType != e.DType)
            throw ctx.Error($"selects between {t} and {e}; they must have the same dtype and shape.");
        var cond = c.As<bool>();
        int n = t.Length;
        var map = new int[n];
        if (c.Shape.AsSpan().SequenceEqual(t.Shape))
            for (int i = 0; i < n; i++) map[i] = cond[i] ? i : i + n;
        else if (c.Rank == 0)
            for (int i = 0; i < n; i++) map[i] = cond[0] ? i : i + n;
        else if (c.Rank == 1 && t.Rank >= 1 && c.Shape[0] == t.Shape[0])
        {
            int inner = t.Shape[0] == 0 ? 0 : n / t.Shape[0];
            for (int i = 0; i < n; i++) map[i] = cond[i / inner] ? i : i + n;
        }
        else throw ctx.Error($"has condition shape {Tensor.FormatShape(c.Shape)} for values of shape {Tensor.FormatShape(t.Shape)}; it must match, be a scalar, or be a vector over the first dimension.");
        var both = DataMovement.Concat(new[] { t.Reshape(n), e.Reshape(n) }, 0, new[] { 2 * n });
        ctx.SetOutput(0, DataMovement.Take(both, map, t.Shape));
    }

    private static void SelectV2(KernelContext ctx)
    {
        var c = ctx.Input(0);
        var t = ctx.Input(1);
        var e = ctx.Input(2);
        if (t.DType != e.DType) throw ctx.Error($"selects between {t.DType.Name()} and {e.DType.Name()} values.");
        var shape = DataMovement.BroadcastShape(c.Shape, t.Shape) is { } s1 ? DataMovement.BroadcastShape(s1, e.Shape) : null;
        if (shape is null) throw ctx.Error($"cannot broadcast shapes {Tensor.FormatShape(c.Shape)}, {Tensor.FormatShape(t.Shape)} and {Tensor.FormatShape(e.Shape)}.");
        var cond = c.As<bool>();
        var ic = DataMovement.BroadcastIndex(c.Shape, shape);
        var it = DataMovement.BroadcastIndex(t.Shape, shape);
        var ie = DataMovement.BroadcastIndex(e.Shape, shape);
        int nt = t.Length;
        var map = new int[DataMovement.Count(shape)];
        for (int i = 0; i < map.Length; i++)
            map[i] = cond[ic?[i] ?? i] ? (it?[i] ?? i) : nt + (ie?[i] ?? i);
        var both = DataMovement.Concat(new[] { t.Reshape(t.Length), e.Reshape(e.Length) }, 0, new[] { t.Length + e.Length });
        ctx.SetOutput(0, DataMovement.Take(both, map, shape));
    }

    private static void Where(KernelContext ctx)
    {
        var x = ctx.Input(0);
        int n = x.Length;
        var hits = new List<int>();
        switch (x.Data)
        {
            case bool[] b: for (int i = 0; i < n; i++) if (b[i]) hits.Add(i); break;
            case float[] f: for (int i = 0; i < n; i++) if (f[i] != 0) hits.Add(i); break;
            case byte[][]: throw ctx.Error("does not support string inputs.");
            default: for (int i = 0; i < n; i++) if (x.GetDouble(i) != 0) hits.Add(i); break;
        }
        int rank = x.Rank;
        var o = new long[hits.Count * rank];
        var st = DataMovement.Strides(x.Shape);
        for (int h = 0; h < hits.Count; h++)
        {
            long rem = hits[h];
            for (int d = 0; d < rank; d++) { o[h * rank + d] = rem / st[d]; rem %= st[d]; }
        }
        ctx.SetOutput(0, new Tensor(DataType.DtInt64, new[] { hits.Count, rank }, o));
    }
}
