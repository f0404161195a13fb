using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Ops;

/// <summary>
/// Shape and data-movement ops: reshaping, slicing, joining, padding, gathering, tiling, casting and
/// the space/batch/depth rearrangements, with TensorFlow's semantics for every dtype the tensor
/// type stores (strings included where they only move).
/// </summary>
public sealed partial class ArrayShape : OpFamily
{
    public override void RegisterKernels(KernelRegistry r)
    {
        // Views and copies that read their inputs by shape and make outputs with Tensor.Over take longer buffers.
        var spare = r.WithTraits(KernelTraits.SpareCapacity);
        spare.Add("Reshape", ctx => ctx.SetOutput(0, ctx.Input(0).Reshape(ReshapeTarget(ctx, ctx.Input(0), ctx.Input(1).ToInt64Array()))));
        spare.Add("Squeeze", Squeeze);
        spare.Add("ExpandDims", ctx =>
        {
            var x = ctx.Input(0);
            long dim = DataMovement.ScalarInt(ctx, 1);
            if (dim < -x.Rank - 1 || dim > x.Rank) throw ctx.Error($"has dim {dim}, outside [{-x.Rank - 1}, {x.Rank}].");
            int d = (int)(dim < 0 ? dim + x.Rank + 1 : dim);
            var shape = x.Shape.ToList();
            shape.Insert(d, 1);
            ctx.SetOutput(0, x.Reshape(shape.ToArray()));
        });
        spare.Add(new[] { "Transpose", "ConjugateTranspose" }, ctx =>
        {
            var x = ctx.Input(0);
            var perm = ctx.Input(1).ToInt32Array();
            if (perm.Length != x.Rank || perm.Any(p => p < 0 || p >= x.Rank) || perm.Distinct().Count() != perm.Length)
                throw ctx.Error($"has permutation [{string.Join(",", perm)}], not a permutation of the {x.Rank} dimensions of {Tensor.FormatShape(x.Shape)}.");
            ctx.SetOutput(0, Transpose(x, perm, ctx));
        });
        spare.Add("ConcatV2", ctx => ctx.SetOutput(0, Concat(ctx, ctx.Inputs[..^1], DataMovement.ScalarInt(ctx, ctx.Inputs.Length - 1))));
        spare.Add("Concat", ctx => ctx.SetOutput(0, Concat(ctx, ctx.Inputs[1..], DataMovement.ScalarInt(ctx, 0))));
        r.Add("Pack", ctx =>
        {
            var first = ctx.Input(0);
            int axis = DataMovement.Axis(ctx, ctx.Int("axis", 0), first.Rank + 1);
            var shape = first.Shape.ToList();
            shape.Insert(axis, 1);
            var parts = ctx.Inputs.Select(t =>
            {
                if (!t.Shape.AsSpan().SequenceEqual(first.Shape)) throw ctx.Error($"packs tensors of different shapes {Tensor.FormatShape(first.Shape)} and {Tensor.FormatShape(t.Shape)}.");
                if (t.DType != first.DType) throw ctx.Error($"packs tensors of different dtypes {first.DType.Name()} and {t.DType.Name()}.");
                return t.Reshape(shape.ToArray());
            }).ToArray();
            var outShape = shape.ToArray();
            outShape[axis] = parts.Length;
            ctx.SetOutput(0, DataMovement.Concat(parts, axis, outShape));
        });
        r.Add("Unpack", ctx =>
        {
            var x = ctx.Input(0);
            int axis = DataMovement.Axis(ctx, ctx.Int("axis", 0), x.Rank);
            int num = (int)ctx.Int("num", x.Shape[axis]);
            if (num != x.Shape[axis]) throw ctx.Error($"unpacks {num} tensors from dimension {axis} of size {x.Shape[axis]}.");
            var shape = x.Shape.Where((_, i) => i != axis).ToArray();
            for (int i = 0; i < num; i++) ctx.SetOutput(i, DataMovement.SliceAxis(x, axis, i, 1, ctx).Reshape(shape));
        });
        spare.Add("Split", ctx =>
        {
            var x = ctx.Input(1);
            int axis = DataMovement.Axis(ctx, DataMovement.ScalarInt(ctx, 0), x.Rank);
            int n = (int)ctx.Int("num_split");
            if (n <= 0 || x.Shape[axis] % n != 0) throw ctx.Error($"splits dimension {axis} of size {x.Shape[axis]} into {n} equal parts.");
            int size = x.Shape[axis] / n;
            for (int i = 0; i < n; i++) ctx.SetOutput(i, DataMovement.SliceAxis(x, axis, i * size, size, ctx));
        });
        spare.Add("SplitV", ctx =>
        {
            var x = ctx.Input(0);
            var sizes = ctx.Input(1).ToInt64Array();
            int axis = DataMovement.Axis(ctx, DataMovement.ScalarInt(ctx, 2), x.Rank);
            int unknown = Array.IndexOf(sizes, -1L);
            long known = sizes.Where(s => s != -1).Sum();
            if (unknown >= 0) sizes[unknown] = x.Shape[axis] - known;
            if (sizes.Any(s => s < 0) || sizes.Sum() != x.Shape[axis] || sizes.Count(s => s == -1) > 1)
                throw ctx.Error($"has size_splits [{string.Join(",", ctx.Input(1).ToInt64Array())}] that do not add up to dimension {axis} of size {x.Shape[axis]}.");
            int start = 0;
            for (int i = 0; i < sizes.Length; i++) { ctx.SetOutput(i, DataMovement.SliceAxis(x, axis, start, (int)sizes[i], ctx)); start += (int)sizes[i]; }
        });
        spare.Add("Slice", Slice);
        spare.Add("StridedSlice", StridedSlice);
        spare.Add("Pad", ctx => ctx.SetOutput(0, Pad(ctx, ctx.Input(0), ctx.Input(1), null)));
        spare.Add("PadV2", ctx => ctx.SetOutput(0, Pad(ctx, ctx.Input(0), ctx.Input(1), ctx.Input(2))));
        spare.Add("MirrorPad", MirrorPad);
        spare.Add("Shape", ctx => ctx.SetOutput(0, IntVector(ctx.Type("out_type", DataType.DtInt32), ctx.Input(0).Shape.Select(d => (long)d).ToArray())));
        spare.Add("ShapeN", ctx =>
        {
            var t = ctx.Type("out_type", DataType.DtInt32);
            for (int i = 0; i < ctx.Inputs.Length; i++) ctx.SetOutput(i, IntVector(t, ctx.Inputs[i].Shape.Select(d => (long)d).ToArray()));
        });
        spare.Add("Size", ctx => ctx.SetOutput(0, IntScalar(ctx.Type("out_type", DataType.DtInt32), ctx.Input(0).Length)));
        spare.Add("Rank", ctx => ctx.SetOutput(0, Tensor.Scalar(ctx.Input(0).Rank)));
        r.Add("Fill", ctx =>
        {
            var dims = ctx.Input(0).ToInt64Array();
            if (dims.Any(d => d < 0)) throw ctx.Error($"has negative dimension in [{string.Join(",", dims)}].");
            var v = ctx.Input(1);
            if (v.Length != 1) throw ctx.Error($"needs a scalar value but got {v}.");
            ctx.SetOutput(0, DataMovement.Fill(v, dims.Select(d => (int)d).ToArray()));
        });
        spare.Add("ZerosLike", ctx => ctx.SetOutput(0, Tensor.Zeros(ctx.Input(0).DType, ctx.Input(0).Shape)));
        spare.Add("OnesLike", ctx =>
        {
            var x = ctx.Input(0);
            var ones = new double[x.Length];
            Array.Fill(ones, 1d);
            ctx.SetOutput(0, DataMovement.FromDoubles(x.DType, x.Shape, ones));
        });
        r.Add("Range", Range);
        spare.Add("Cast", ctx => ctx.SetOutput(0, Cast(ctx.Input(0), ctx.Type("DstT"), ctx.Bool("Truncate", false))));
        r.Add("GatherV2", ctx => ctx.SetOutput(0, Gather(ctx, ctx.Input(0), ctx.Input(1), DataMovement.ScalarInt(ctx, 2), ctx.Int("batch_dims", 0))));
        r.Add(new[] { "Gather", "ResourceGather" }, ctx => ctx.SetOutput(0, Gather(ctx, ctx.Input(0), ctx.Input(1), 0, ctx.Int("batch_dims", 0))));
        r.Add("GatherNd", GatherNd);
        r.Add("Tile", ctx =>
        {
            var x = ctx.Input(0);
            var m = ctx.Input(1).ToInt64Array();
            if (m.Length != x.Rank || m.Any(v => v < 0)) throw ctx.Error($"has multiples [{string.Join(",", m)}] for a tensor of shape {Tensor.FormatShape(x.Shape)}.");
            var outShape = x.Shape.Select((d, i) => checked((int)(d * m[i]))).ToArray();
            var st = DataMovement.Strides(x.Shape);
            var contrib = outShape.Select((n, d) => Enumerable.Range(0, n).Select(c => (long)(c % x.Shape[d]) * st[d]).ToArray()).ToArray();
            ctx.SetOutput(0, DataMovement.Take(x, AxisMap(outShape, contrib), outShape));
        });
        r.Add("BroadcastTo", ctx =>
        {
            var x = ctx.Input(0);
            var shape = ctx.Input(1).ToInt32Array();
            var b = DataMovement.BroadcastShape(x.Shape, shape);
            if (b is null || !b.AsSpan().SequenceEqual(shape)) throw ctx.Error($"cannot broadcast shape {Tensor.FormatShape(x.Shape)} to {Tensor.FormatShape(shape)}.");
            ctx.SetOutput(0, DataMovement.BroadcastTo(x, shape));
        });
        r.Add("ReverseV2", ctx =>
        {
            var x = ctx.Input(0);
            var axes = ctx.Input(1).ToInt64Array().Select(a => DataMovement.Axis(ctx, a, x.Rank)).ToArray();
            ctx.SetOutput(0, Reverse(x, Enumerable.Range(0, x.Rank).Select(axes.Contains).ToArray()));
        });
        r.Add("Reverse", ctx =>
        {
            var x = ctx.Input(0);
            var dims = ctx.Input(1).As<bool>();
            if (dims.Length != x.Rank) throw ctx.Error($"has {dims.Length} reverse flags for a rank-{x.Rank} tensor.");
            ctx.SetOutput(0, Reverse(x, dims));
        });
        r.Add("SparseToDense", SparseToDense);
        r.Add("OneHot", OneHot);
        r.Add("SpaceToBatchND", SpaceToBatchND);
        r.Add("BatchToSpaceND", BatchToSpaceND);
        r.Add("DepthToSpace", ctx => ctx.SetOutput(0, DepthToSpace(ctx, ctx.Input(0), (int)ctx.Int("block_size"))));
        r.Add("SpaceToDepth", ctx => ctx.SetOutput(0, SpaceToDepth(ctx, ctx.Input(0), (int)ctx.Int("block_size"))));
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>
    /// Index map for an output of <paramref name="outShape"/> where coordinate c along dimension d
    /// contributes contrib[d][c] to the source offset; a negative contribution marks "fill".
    /// </summary>
    internal static int[] AxisMap(int[] outShape, long[][] contrib)
    {
        int n = DataMovement.Count(outShape);
        var idx = new int[n];
        if (n == 0) return idx;
        int rank = outShape.Length;
        if (rank == 0) { idx[0] = 0; return idx; }
        int pos = 0;
        Walk(0, 0, true);
        return idx;

        void Walk(int d, long offset, bool valid)
        {
            var c = contrib[d];
            if (d == rank - 1)
            {
                for (int i = 0; i < c.Length; i++)
                    idx[pos++] = valid && c[i] >= 0 ? (int)(offset + c[i]) : -1;
                return;
            }
            for (int i = 0; i < c.Length; i++) Walk(d + 1, offset + Math.Max(c[i], 0), valid && c[i] >= 0);
        }
    }

    internal static Tensor Transpose(Tensor x, int[] perm, KernelContext? alloc = null)
    {
        bool identity = true;
        for (int i = 0; i < perm.Length; i++) identity &= perm[i] == i;
        var outShape = perm.Select(p => x.Shape[p]).ToArray();
        if (identity) return x;
        var st = DataMovement.Strides(x.Shape);
        var step = perm.Select(p => st[p]).ToArray();
        return DataMovement.TakeStrided(x, outShape, 0, step, alloc);
    }

    private static Tensor Reverse(Tensor x, bool[] dims)
    {
        if (!dims.Any(b => b)) return x;
        var st = DataMovement.Strides(x.Shape);
        long baseOff = 0;
        var step = new long[x.Rank];
        for (int d = 0; d < x.Rank; d++)
        {
            if (dims[d] && x.Shape[d] > 0) { baseOff += (x.Shape[d] - 1) * st[d]; step[d] = -st[d]; }
            else step[d] = st[d];
        }
        return DataMovement.TakeStrided(x, x.Shape, baseOff, step);
    }

    private static int[] ReshapeTarget(KernelContext ctx, Tensor x, long[] shape)
    {
        int unknown = -1;
        long known = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            if (shape[i] == -1)
            {
                if (unknown >= 0) throw ctx.Error($"has more than one -1 in shape [{string.Join(",", shape)}].");
                unknown = i;
            }
            else if (shape[i] < 0) throw ctx.Error($"has negative dimension in shape [{string.Join(",", shape)}].");
            else known *= shape[i];
        }
        var result = shape.Select(d => (int)d).ToArray();
        if (unknown >= 0)
        {
            if (known == 0 ? x.Length != 0 : x.Length % known != 0)
                throw ctx.Error($"cannot reshape a tensor of shape {Tensor.FormatShape(x.Shape)} ({x.Length} elements) to [{string.Join(",", shape)}].");
            result[unknown] = known == 0 ? 0 : (int)(x.Length / known);
        }
        else if (known != x.Length)
            throw ctx.Error($"cannot reshape a tensor of shape {Tensor.FormatShape(x.Shape)} ({x.Length} elements) to [{string.Join(",", shape)}] ({known} elements).");
        return result;
    }

    private static void Squeeze(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var dims = ctx.Ints("squeeze_dims", Array.Empty<long>());
        if (dims.Length == 0) dims = ctx.Ints("axis", Array.Empty<long>());
        var drop = new bool[x.Rank];
        if (dims.Length == 0)
            for (int d = 0; d < x.Rank; d++) drop[d] = x.Shape[d] == 1;
        else
            foreach (var a in dims)
            {
                int d = DataMovement.Axis(ctx, a, x.Rank);
                if (x.Shape[d] != 1) throw ctx.Error($"cannot squeeze dimension {d} of shape {Tensor.FormatShape(x.Shape)}: its size is not 1.");
                drop[d] = true;
            }
        ctx.SetOutput(0, x.Reshape(x.Shape.Where((_, i) => !drop[i]).ToArray()));
    }

    private static Tensor Concat(KernelContext ctx, Tensor[] parts, long axisArg)
    {
        if (parts.Length == 0) throw ctx.Error("has nothing to concatenate.");
        var first = parts[0];
        int rank = first.Rank;
        if (rank == 0) throw ctx.Error("cannot concatenate scalars.");
        int axis = DataMovement.Axis(ctx, axisArg, rank);
        var shape = (int[])first.Shape.Clone();
        shape[axis] = 0;
        foreach (var p in parts)
        {
            if (p.Rank != rank || p.DType != first.DType)
                throw ctx.Error($"concatenates {first} with {p}: ranks and dtypes must match.");
            for (int d = 0; d < rank; d++)
                if (d != axis && p.Shape[d] != first.Shape[d])
                    throw ctx.Error($"concatenates shapes {Tensor.FormatShape(first.Shape)} and {Tensor.FormatShape(p.Shape)} along axis {axis}: the other dimensions must match.");
            shape[axis] += p.Shape[axis];
        }
        if (parts.Length == 1) return first;
        return DataMovement.Concat(parts, axis, shape, ctx);
    }

    private static void Slice(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var begin = ctx.Input(1).ToInt64Array();
        var size = ctx.Input(2).ToInt64Array();
        if (begin.Length != x.Rank || size.Length != x.Rank) throw ctx.Error($"has begin/size of length {begin.Length}/{size.Length} for a rank-{x.Rank} tensor.");
        var outShape = new int[x.Rank];
        for (int d = 0; d < x.Rank; d++)
        {
            long s = size[d] == -1 ? x.Shape[d] - begin[d] : size[d];
            if (begin[d] < 0 || s < 0 || begin[d] + s > x.Shape[d])
                throw ctx.Error($"slices [{begin[d]}, {begin[d]}+{size[d]}) out of dimension {d} of size {x.Shape[d]}.");
            outShape[d] = (int)s;
        }
        var st = DataMovement.Strides(x.Shape);
        long baseOff = 0;
        for (int d = 0; d < x.Rank; d++) baseOff += begin[d] * st[d];
        ctx.SetOutput(0, DataMovement.TakeStrided(x, outShape, baseOff, st, ctx));
    }

    /// <summary>A strided slice's plan kept while begin/end/strides are graph constants and the input shape repeats.</summary>
    private sealed record StridedSliceState(int[] Shape, Tensor Begin, Tensor End, Tensor Strides, int[] Sizes, long BaseOffset, long[] Step, int[] FinalShape);

    private static void StridedSlice(KernelContext ctx)
    {
        var x = ctx.Input(0);
        if (ctx.State is StridedSliceState c && ReferenceEquals(c.Begin, ctx.Input(1)) && ReferenceEquals(c.End, ctx.Input(2))
            && ReferenceEquals(c.Strides, ctx.Input(3)) && c.Shape.AsSpan().SequenceEqual(x.Shape))
        {
            ctx.SetOutput(0, DataMovement.TakeStrided(x, c.Sizes, c.BaseOffset, c.Step, ctx).Reshape((int[])c.FinalShape.Clone()));
            return;
        }
        var begin = ctx.Input(1).ToInt64Array();
        var end = ctx.Input(2).ToInt64Array();
        var strides = ctx.Input(3).ToInt64Array();
        if (begin.Length != end.Length || begin.Length != strides.Length)
            throw ctx.Error($"has begin, end and strides of different lengths ({begin.Length}, {end.Length}, {strides.Length}).");
        long beginMask = ctx.Int("begin_mask", 0), endMask = ctx.Int("end_mask", 0), ellipsisMask = ctx.Int("ellipsis_mask", 0),
            newAxisMask = ctx.Int("new_axis_mask", 0), shrinkMask = ctx.Int("shrink_axis_mask", 0);
        var plan = PlanStridedSlice(ctx, x.Shape, begin, end, strides, beginMask, endMask, ellipsisMask, newAxisMask, shrinkMask);
        var st = DataMovement.Strides(x.Shape);
        long baseOff = 0;
        var step = new long[x.Rank];
        for (int d = 0; d < x.Rank; d++) { baseOff += plan.Begin[d] * st[d]; step[d] = plan.Stride[d] * st[d]; }
        if (ctx.IsConstantInput(1) && ctx.IsConstantInput(2) && ctx.IsConstantInput(3))
            ctx.State = new StridedSliceState((int[])x.Shape.Clone(), ctx.Input(1), ctx.Input(2), ctx.Input(3), plan.Sizes, baseOff, step, (int[])plan.FinalShape.Clone());
        ctx.SetOutput(0, DataMovement.TakeStrided(x, plan.Sizes, baseOff, step, ctx).Reshape(plan.FinalShape));
    }

    internal readonly record struct SlicePlan(long[] Begin, long[] Stride, int[] Sizes, int[] FinalShape);

    /// <summary>TensorFlow's strided-slice canonicalization: sparse spec (masks, ellipsis, new axes) → per-dimension begin/stride/size and the final shape.</summary>
    internal static SlicePlan PlanStridedSlice(KernelContext ctx, int[] shape, long[] begin, long[] end, long[] strides,
        long beginMask, long endMask, long ellipsisMask, long newAxisMask, long shrinkMask)
    {
        int n = shape.Length;
        int k = begin.Length;
        bool Bit(long m, int i) => ((m >> i) & 1) != 0;
        if (ellipsisMask == 0) { ellipsisMask = 1L << k; k++; } // implicit trailing ellipsis
        else if ((ellipsisMask & (ellipsisMask - 1)) != 0) throw ctx.Error("has more than one ellipsis.");

        var dBegin = new long[n]; var dEnd = new long[n]; var dStride = new long[n];
        var dBeginMasked = new bool[n]; var dEndMasked = new bool[n]; var dShrink = new bool[n];
        // final[j] = dense dim index, or -1 for a new axis; shrunk dims are skipped.
        var final = new List<int>();
        int full = 0;
        for (int i = 0; i < k; i++)
        {
            if (Bit(ellipsisMask, i))
            {
                int newAfter = 0;
                for (int j = i + 1; j < k; j++) if (Bit(newAxisMask, j) && !Bit(ellipsisMask, j)) newAfter++;
                int next = Math.Min(n - (k - i) + 1 + newAfter, n);
                for (; full < next; full++)
                {
                    dStride[full] = 1; dBeginMasked[full] = true; dEndMasked[full] = true;
                    final.Add(full);
                }
                continue;
            }
            if (Bit(newAxisMask, i)) { final.Add(-1); continue; }
            if (full >= n) throw ctx.Error($"indexes {k} dimensions of a rank-{n} tensor.");
            dBegin[full] = begin[i]; dEnd[full] = end[i]; dStride[full] = strides[i];
            dBeginMasked[full] = Bit(beginMask, i); dEndMasked[full] = Bit(endMask, i); dShrink[full] = Bit(shrinkMask, i);
            if (!dShrink[full]) final.Add(full);
            full++;
        }
        for (; full < n; full++) { dStride[full] = 1; dBeginMasked[full] = dEndMasked[full] = true; final.Add(full); }

        var sizes = new int[n];
        for (int d = 0; d < n; d++)
        {
            long dim = shape[d], s = dStride[d];
            if (s == 0) throw ctx.Error("has a zero stride.");
            if (dShrink[d])
            {
                long x = dBegin[d] < 0 ? dim + dBegin[d] : dBegin[d];
                if (x < 0 || x >= dim) throw ctx.Error($"indexes {dBegin[d]} in dimension {d} of size {dim}.");
                dBegin[d] = x; dStride[d] = 1; sizes[d] = 1;
                continue;
            }
            long Canon(long v, bool masked, bool isEnd)
            {
                if (masked) return s > 0 ? (isEnd ? dim : 0) : (isEnd ? -1 : dim - 1);
                long f = v < 0 ? dim + v : v;
                return s > 0 ? Math.Clamp(f, 0, dim) : Math.Clamp(f, -1, dim - 1);
            }
            long b = Canon(dBegin[d], dBeginMasked[d], false), e = Canon(dEnd[d], dEndMasked[d], true);
            long len = e - b;
            long size = len == 0 || (len < 0) != (s < 0) ? 0 : len / s + (len % s != 0 ? 1 : 0);
            dBegin[d] = size == 0 ? 0 : b;
            sizes[d] = (int)size;
        }
        var finalShape = final.Select(f => f < 0 ? 1 : sizes[f]).ToArray();
        return new SlicePlan(dBegin, dStride, sizes, finalShape);
    }

    private static Tensor Pad(KernelContext ctx, Tensor x, Tensor paddings, Tensor? value)
    {
        var p = paddings.ToInt64Array();
        if (p.Length != 2 * x.Rank) throw ctx.Error($"has paddings of shape {Tensor.FormatShape(paddings.Shape)} for a rank-{x.Rank} tensor; expected [{x.Rank},2].");
        if (p.Any(v => v < 0)) throw ctx.Error("has negative paddings.");
        var outShape = x.Shape.Select((d, i) => checked((int)(d + p[2 * i] + p[2 * i + 1]))).ToArray();
        Tensor fill = value ?? Tensor.Zeros(x.DType, Array.Empty<int>());
        if (fill.DType != x.DType) throw ctx.Error($"pads a {x.DType.Name()} tensor with a {fill.DType.Name()} value.");
        if (fill.Length < 1) throw ctx.Error("has an empty constant_values.");
        return PadTyped(ctx, x, outShape, p, fill, null) ?? GatherPad(x, outShape, p, fill, null);
    }

    /// <summary>Row-copy padding for tensors stored as arrays of an unmanaged type; null for other storage.</summary>
    private static Tensor? PadTyped(KernelContext ctx, Tensor x, int[] outShape, long[] p, Tensor fill, bool? mirror)
    {
        if (x.DType.Lanes() != 1) return null;
        Array? data = x.Data switch
        {
            float[] a => DataMovement.PadRows(a, x.Shape, outShape, p, ((float[])fill.Data)[0], mirror, ctx),
            double[] a => DataMovement.PadRows(a, x.Shape, outShape, p, ((double[])fill.Data)[0], mirror, ctx),
            Half[] a => DataMovement.PadRows(a, x.Shape, outShape, p, ((Half[])fill.Data)[0], mirror, ctx),
            int[] a => DataMovement.PadRows(a, x.Shape, outShape, p, ((int[])fill.Data)[0], mirror, ctx),
            long[] a => DataMovement.PadRows(a, x.Shape, outShape, p, ((long[])fill.Data)[0], mirror, ctx),
            byte[] a => DataMovement.PadRows(a, x.Shape, outShape, p, ((byte[])fill.Data)[0], mirror, ctx),
            sbyte[] a => DataMovement.PadRows(a, x.Shape, outShape, p, ((sbyte[])fill.Data)[0], mirror, ctx),
            short[] a => DataMovement.PadRows(a, x.Shape, outShape, p, ((short[])fill.Data)[0], mirror, ctx),
            ushort[] a => DataMovement.PadRows(a, x.Shape, outShape, p, ((ushort[])fill.Data)[0], mirror, ctx),
            uint[] a => DataMovement.PadRows(a, x.Shape, outShape, p, ((uint[])fill.Data)[0], mirror, ctx),
            ulong[] a => DataMovement.PadRows(a, x.Shape, outShape, p, ((ulong[])fill.Data)[0], mirror, ctx),
            bool[] a => DataMovement.PadRows(a, x.Shape, outShape, p, ((bool[])fill.Data)[0], mirror, ctx),
            _ => null,
        };
        return data is null ? null : Tensor.Over(x.DType, outShape, data);
    }

    /// <summary>Padding through an index map (strings and other storage the row copies do not handle).</summary>
    private static Tensor GatherPad(Tensor x, int[] outShape, long[] p, Tensor? fill, bool? mirror)
    {
        var st = DataMovement.Strides(x.Shape);
        var contrib = outShape.Select((len, d) => Enumerable.Range(0, len).Select(c =>
        {
            long D = x.Shape[d];
            long src = c - p[2 * d];
            if (mirror is { } reflect)
            {
                if (src < 0) src = reflect ? -src : -src - 1;
                else if (src >= D) src = reflect ? 2 * D - 2 - src : 2 * D - 1 - src;
            }
            return src >= 0 && src < D ? src * st[d] : -1L;
        }).ToArray()).ToArray();
        return DataMovement.Take(x, AxisMap(outShape, contrib), outShape, fill);
    }

    private static void MirrorPad(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var p = ctx.Input(1).ToInt64Array();
        string mode = ctx.String("mode").ToUpperInvariant();
        bool reflect = mode == "REFLECT";
        if (!reflect && mode != "SYMMETRIC") throw ctx.Error($"has mode '{mode}'; REFLECT and SYMMETRIC are supported.");
        if (p.Length != 2 * x.Rank) throw ctx.Error($"has paddings for {p.Length / 2} dimensions of a rank-{x.Rank} tensor.");
        int off = reflect ? 1 : 0;
        for (int d = 0; d < x.Rank; d++)
            if (p[2 * d] < 0 || p[2 * d + 1] < 0 || p[2 * d] > x.Shape[d] - off || p[2 * d + 1] > x.Shape[d] - off)
                throw ctx.Error($"pads dimension {d} of size {x.Shape[d]} by [{p[2 * d]},{p[2 * d + 1]}]; {mode} allows at most {x.Shape[d] - off}.");
        var outShape = x.Shape.Select((d, i) => (int)(d + p[2 * i] + p[2 * i + 1])).ToArray();
        var fill = Tensor.Zeros(x.DType, Array.Empty<int>());
        ctx.SetOutput(0, PadTyped(ctx, x, outShape, p, fill, reflect) ?? GatherPad(x, outShape, p, null, reflect));
    }

    private static Tensor IntVector(DataType t, long[] v) =>
        t == DataType.DtInt64 ? Tensor.Create(v, v.Length) : Tensor.Create(v.Select(x => checked((int)x)).ToArray(), v.Length);

    private static Tensor IntScalar(DataType t, long v) => t == DataType.DtInt64 ? Tensor.Scalar(v) : Tensor.Scalar(checked((int)v));

    private static void Range(KernelContext ctx)
    {
        var start = ctx.Input(0);
        var dtype = ctx.Type("Tidx", start.DType);
        if (dtype is DataType.DtInt32 or DataType.DtInt64 or DataType.DtInt16 or DataType.DtInt8 or DataType.DtUint8 or DataType.DtUint16 or DataType.DtUint32)
        {
            long s = start.GetInt64(0), l = ctx.Input(1).GetInt64(0), d = ctx.Input(2).GetInt64(0);
            if (d == 0) throw ctx.Error("has delta 0.");
            if (d > 0 ? s > l : s < l) throw ctx.Error($"has start {s}, limit {l} and delta {d}: the range would never end.");
            long n = (Math.Abs(l - s) + Math.Abs(d) - 1) / Math.Abs(d);
            var v = new double[n];
            if (dtype == DataType.DtInt64)
            {
                var lv = new long[n];
                for (long i = 0; i < n; i++) lv[i] = s + i * d;
                ctx.SetOutput(0, Tensor.Create(lv, (int)n));
                return;
            }
            for (long i = 0; i < n; i++) v[i] = s + i * d;
            ctx.SetOutput(0, DataMovement.FromDoubles(dtype, new[] { (int)n }, v));
        }
        else
        {
            double s = start.GetDouble(0), l = ctx.Input(1).GetDouble(0), d = ctx.Input(2).GetDouble(0);
            if (d == 0) throw ctx.Error("has delta 0.");
            if (d > 0 ? s > l : s < l) throw ctx.Error($"has start {s}, limit {l} and delta {d}: the range would never end.");
            long n = (long)Math.Ceiling(Math.Abs((l - s) / d));
            var v = new double[n];
            if (dtype == DataType.DtFloat)
            {
                // TF computes float ranges in the element type: start + i * delta.
                var f = new float[n];
                float fs = (float)s, fd = (float)d;
                for (long i = 0; i < n; i++) f[i] = fs + i * fd;
                ctx.SetOutput(0, Tensor.Create(f, (int)n));
                return;
            }
            for (long i = 0; i < n; i++) v[i] = s + i * d;
            ctx.SetOutput(0, DataMovement.FromDoubles(dtype, new[] { (int)n }, v));
        }
    }

    /// <summary>Cast with C/TF conversion rules: floats truncate toward zero into integers, integers wrap, x != 0 is true.</summary>
    internal static Tensor Cast(Tensor x, DataType dst, bool truncate = false)
    {
        dst = dst.Base();
        if (x.DType == dst) return x;
        int n = x.Length;
        bool srcInt = x.DType is not (DataType.DtFloat or DataType.DtDouble or DataType.DtHalf or DataType.DtBfloat16);
        bool dstInt = dst is not (DataType.DtFloat or DataType.DtDouble or DataType.DtHalf or DataType.DtBfloat16 or DataType.DtBool);
        if (x.DType == DataType.DtString || dst == DataType.DtString)
            throw new Errors.ModelOpsException("UnsupportedCast", Errors.ErrorKind.NotImplemented, $"Cannot cast {x.DType.Name()} to {dst.Name()}.");
        if (srcInt && dstInt)
        {
            var l = x.ToInt64Array();
            Array dstData = Array.CreateInstance(dst.StorageType(), n);
            switch (dstData)
            {
                case long[] a: l.CopyTo(a, 0); break;
                case int[] a: for (int i = 0; i < n; i++) a[i] = unchecked((int)l[i]); break;
                case sbyte[] a: for (int i = 0; i < n; i++) a[i] = unchecked((sbyte)l[i]); break;
                case byte[] a: for (int i = 0; i < n; i++) a[i] = unchecked((byte)l[i]); break;
                case short[] a: for (int i = 0; i < n; i++) a[i] = unchecked((short)l[i]); break;
                case ushort[] a: for (int i = 0; i < n; i++) a[i] = unchecked((ushort)l[i]); break;
                case uint[] a: for (int i = 0; i < n; i++) a[i] = unchecked((uint)l[i]); break;
                case ulong[] a: for (int i = 0; i < n; i++) a[i] = unchecked((ulong)l[i]); break;
            }
            return new Tensor(dst, x.Shape, dstData);
        }
        if (x.Data is float[] fsrc && dst == DataType.DtInt32)
        {
            var a = new int[n];
            for (int i = 0; i < n; i++) a[i] = float.IsNaN(fsrc[i]) ? int.MinValue : fsrc[i] >= 2147483648f ? int.MaxValue : fsrc[i] <= -2147483648f ? int.MinValue : (int)fsrc[i];
            return new Tensor(dst, x.Shape, a);
        }
        var d = new double[n];
        if (x.Data is float[] f) for (int i = 0; i < n; i++) d[i] = f[i];
        else for (int i = 0; i < n; i++) d[i] = x.GetDouble(i);
        if (dst == DataType.DtFloat)
        {
            var a = new float[n];
            if (x.Data is long[] ls) for (int i = 0; i < n; i++) a[i] = ls[i];
            else for (int i = 0; i < n; i++) a[i] = (float)d[i];
            return new Tensor(dst, x.Shape, a);
        }
        if (dstInt)
            for (int i = 0; i < n; i++) d[i] = double.IsNaN(d[i]) ? 0 : Math.Truncate(d[i]);
        _ = truncate;
        return DataMovement.FromDoubles(dst, x.Shape, d);
    }

    private static Tensor Gather(KernelContext ctx, Tensor p, Tensor indices, long axisArg, long batchDimsArg)
    {
        int batchDims = (int)(batchDimsArg < 0 ? batchDimsArg + indices.Rank : batchDimsArg);
        int axis = DataMovement.Axis(ctx, axisArg, p.Rank);
        if (batchDims < 0 || batchDims > indices.Rank || batchDims > axis)
            throw ctx.Error($"has batch_dims {batchDimsArg}, which must be in [0, min(rank(indices)={indices.Rank}, axis={axis})].");
        for (int d = 0; d < batchDims; d++)
            if (p.Shape[d] != indices.Shape[d]) throw ctx.Error($"has params {Tensor.FormatShape(p.Shape)} and indices {Tensor.FormatShape(indices.Shape)} that differ in batch dimension {d}.");
        long batch = 1; for (int d = 0; d < batchDims; d++) batch *= p.Shape[d];
        long mid = 1; for (int d = batchDims; d < axis; d++) mid *= p.Shape[d];
        long inner = 1; for (int d = axis + 1; d < p.Rank; d++) inner *= p.Shape[d];
        int limit = p.Shape[axis];
        long perBatch = 1; for (int d = batchDims; d < indices.Rank; d++) perBatch *= indices.Shape[d];
        var outShape = p.Shape[..axis].Concat(indices.Shape[batchDims..]).Concat(p.Shape[(axis + 1)..]).ToArray();
        var ids = indices.ToInt64Array();
        var map = new int[DataMovement.Count(outShape)];
        int pos = 0;
        for (long b = 0; b < batch; b++)
            for (long m = 0; m < mid; m++)
                for (long i = 0; i < perBatch; i++)
                {
                    long k = ids[b * perBatch + i];
                    if (k < 0 || k >= limit) throw ctx.Error($"has index {k} out of range [0, {limit}).");
                    long src = ((b * mid + m) * limit + k) * inner;
                    for (long r = 0; r < inner; r++) map[pos++] = (int)(src + r);
                }
        return DataMovement.Take(p, map, outShape);
    }

    private static void GatherNd(KernelContext ctx)
    {
        var p = ctx.Input(0);
        var indices = ctx.Input(1);
        if (indices.Rank == 0) throw ctx.Error("needs indices of rank at least 1.");
        int k = indices.Shape[^1];
        if (k > p.Rank) throw ctx.Error($"indexes {k} dimensions of a rank-{p.Rank} tensor.");
        var outShape = indices.Shape[..^1].Concat(p.Shape[k..]).ToArray();
        var st = DataMovement.Strides(p.Shape);
        long inner = 1; for (int d = k; d < p.Rank; d++) inner *= p.Shape[d];
        var ids = indices.ToInt64Array();
        int rows = ids.Length / Math.Max(k, 1);
        if (k == 0) rows = DataMovement.Count(indices.Shape[..^1]);
        var map = new int[DataMovement.Count(outShape)];
        int pos = 0;
        for (int r = 0; r < rows; r++)
        {
            long off = 0;
            for (int j = 0; j < k; j++)
            {
                long v = ids[r * k + j];
                if (v < 0 || v >= p.Shape[j]) throw ctx.Error($"has index {v} out of range [0, {p.Shape[j]}) in dimension {j}.");
                off += v * st[j];
            }
            for (long i = 0; i < inner; i++) map[pos++] = (int)(off + i);
        }
        ctx.SetOutput(0, DataMovement.Take(p, map, outShape));
    }

    private static void SparseToDense(KernelContext ctx)
    {
        var indices = ctx.Input(0);
        var shape = ctx.Input(1).ToInt64Array();
        var values = ctx.Input(2);
        var dflt = ctx.Input(3);
        int rank = shape.Length;
        var outShape = shape.Select(d => checked((int)d)).ToArray();
        int n = indices.Rank == 0 ? 1 : indices.Shape[0];
        int cols = indices.Rank < 2 ? 1 : indices.Shape[1];
        if (cols != rank) throw ctx.Error($"has indices with {cols} columns for an output of rank {rank}.");
        if (values.Length != 1 && values.Length != n) throw ctx.Error($"has {values.Length} values for {n} indices.");
        var st = DataMovement.Strides(outShape);
        var map = new int[DataMovement.Count(outShape)];
        Array.Fill(map, -1);
        var ids = indices.ToInt64Array();
        for (int i = 0; i < n; i++)
        {
            long off = 0;
            for (int j = 0; j < rank; j++)
            {
                long v = ids[i * cols + j];
                if (v < 0 || v >= outShape[j]) throw ctx.Error($"has index {v} out of range for dimension {j} of size {outShape[j]}.");
                off += v * st[j];
            }
            map[off] = values.Length == 1 ? 0 : i;
        }
        ctx.SetOutput(0, DataMovement.Take(values, map, outShape, dflt));
    }

    private static void OneHot(KernelContext ctx)
    {
        var indices = ctx.Input(0);
        long depth = DataMovement.ScalarInt(ctx, 1);
        var on = ctx.Input(2);
        var off = ctx.Input(3);
        if (depth < 0) throw ctx.Error($"has negative depth {depth}.");
        int axis = (int)ctx.Int("axis", -1);
        if (axis == -1) axis = indices.Rank;
        if (axis < 0 || axis > indices.Rank) throw ctx.Error($"has axis {axis} for indices of rank {indices.Rank}.");
        var outShape = indices.Shape.ToList();
        outShape.Insert(axis, (int)depth);
        var shape = outShape.ToArray();
        long outer = 1; for (int d = 0; d < axis; d++) outer *= indices.Shape[d];
        long inner = 1; for (int d = axis; d < indices.Rank; d++) inner *= indices.Shape[d];
        var ids = indices.ToInt64Array();
        var pair = DataMovement.Concat(new[] { off.Reshape(1), on.Reshape(1) }, 0, new[] { 2 });
        var map = new int[DataMovement.Count(shape)];
        int pos = 0;
        for (long o = 0; o < outer; o++)
            for (long dd = 0; dd < depth; dd++)
                for (long i = 0; i < inner; i++)
                    map[pos++] = ids[o * inner + i] == dd ? 1 : 0;
        ctx.SetOutput(0, DataMovement.Take(pair, map, shape));
    }

    private static void SpaceToBatchND(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var block = ctx.Input(1).ToInt64Array();
        var pads = ctx.Input(2).ToInt64Array();
        int m = block.Length;
        if (x.Rank < m + 1 || pads.Length != 2 * m) throw ctx.Error($"has block_shape of {m} dims and paddings of {pads.Length / 2} for input {Tensor.FormatShape(x.Shape)}.");
        var fullPads = new long[2 * x.Rank];
        Array.Copy(pads, 0, fullPads, 2, pads.Length);
        var padded = Pad(ctx, x, Tensor.Create(fullPads, x.Rank, 2), null);
        int b = padded.Shape[0];
        var rest = padded.Shape[(m + 1)..];
        var split = new List<int> { b };
        for (int i = 0; i < m; i++)
        {
            if (padded.Shape[i + 1] % block[i] != 0) throw ctx.Error($"has padded spatial dimension {i} of size {padded.Shape[i + 1]}, not a multiple of block {block[i]}.");
            split.Add((int)(padded.Shape[i + 1] / block[i]));
            split.Add((int)block[i]);
        }
        split.AddRange(rest);
        var perm = new List<int>();
        for (int i = 0; i < m; i++) perm.Add(2 + 2 * i);
        perm.Add(0);
        for (int i = 0; i < m; i++) perm.Add(1 + 2 * i);
        for (int i = 0; i < rest.Length; i++) perm.Add(1 + 2 * m + i);
        var t = Transpose(padded.Reshape(split.ToArray()), perm.ToArray());
        var outShape = new List<int> { b * (int)block.Aggregate(1L, (a, v) => a * v) };
        for (int i = 0; i < m; i++) outShape.Add(split[1 + 2 * i]);
        outShape.AddRange(rest);
        ctx.SetOutput(0, t.Reshape(outShape.ToArray()));
    }

    private static void BatchToSpaceND(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var block = ctx.Input(1).ToInt64Array();
        var crops = ctx.Input(2).ToInt64Array();
        int m = block.Length;
        long prod = block.Aggregate(1L, (a, v) => a * v);
        if (x.Rank < m + 1 || crops.Length != 2 * m || x.Shape[0] % prod != 0)
            throw ctx.Error($"cannot rearrange input {Tensor.FormatShape(x.Shape)} with block_shape [{string.Join(",", block)}].");
        int b = (int)(x.Shape[0] / prod);
        var rest = x.Shape[(m + 1)..];
        var split = block.Select(v => (int)v).Append(b).Concat(x.Shape[1..]).ToArray();
        var perm = new List<int> { m };
        for (int i = 0; i < m; i++) { perm.Add(m + 1 + i); perm.Add(i); }
        for (int i = 0; i < rest.Length; i++) perm.Add(2 * m + 1 + i);
        var t = Transpose(x.Reshape(split), perm.ToArray());
        var full = new List<int> { b };
        for (int i = 0; i < m; i++) full.Add(x.Shape[i + 1] * (int)block[i]);
        full.AddRange(rest);
        t = t.Reshape(full.ToArray());
        var begin = new long[t.Rank];
        var size = t.Shape.Select(d => (long)d).ToArray();
        for (int i = 0; i < m; i++)
        {
            begin[i + 1] = crops[2 * i];
            size[i + 1] = full[i + 1] - crops[2 * i] - crops[2 * i + 1];
            if (size[i + 1] < 0 || crops[2 * i] < 0 || crops[2 * i + 1] < 0) throw ctx.Error($"crops [{crops[2 * i]},{crops[2 * i + 1]}] exceed dimension {i + 1} of size {full[i + 1]}.");
        }
        var st = DataMovement.Strides(t.Shape);
        long baseOff = 0;
        for (int d = 0; d < t.Rank; d++) baseOff += begin[d] * st[d];
        var outShape = size.Select(v => (int)v).ToArray();
        ctx.SetOutput(0, DataMovement.TakeStrided(t, outShape, baseOff, st));
    }

    private static void CheckNhwc(KernelContext ctx, Tensor x, int bs)
    {
        string fmt = ctx.String("data_format", "NHWC");
        if (fmt != "NHWC") throw ctx.Error($"uses data_format {fmt}; only NHWC is supported on the CPU, as in TensorFlow.");
        if (x.Rank != 4) throw ctx.Error($"needs a rank-4 NHWC input but got {Tensor.FormatShape(x.Shape)}.");
        if (bs < 2) throw ctx.Error($"has block_size {bs}; it must be at least 2.");
    }

    private static Tensor DepthToSpace(KernelContext ctx, Tensor x, int bs)
    {
        CheckNhwc(ctx, x, bs);
        int n = x.Shape[0], h = x.Shape[1], w = x.Shape[2], c = x.Shape[3];
        if (c % (bs * bs) != 0) throw ctx.Error($"has depth {c}, not divisible by block_size² = {bs * bs}.");
        int oc = c / (bs * bs);
        var t = Transpose(x.Reshape(n, h, w, bs, bs, oc), new[] { 0, 1, 3, 2, 4, 5 });
        return t.Reshape(n, h * bs, w * bs, oc);
    }

    private static Tensor SpaceToDepth(KernelContext ctx, Tensor x, int bs)
    {
        CheckNhwc(ctx, x, bs);
        int n = x.Shape[0], h = x.Shape[1], w = x.Shape[2], c = x.Shape[3];
        if (h % bs != 0 || w % bs != 0) throw ctx.Error($"has spatial size {h}x{w}, not divisible by block_size {bs}.");
        var t = Transpose(x.Reshape(n, h / bs, bs, w / bs, bs, c), new[] { 0, 1, 3, 2, 4, 5 });
        return t.Reshape(n, h / bs, w / bs, bs * bs * c);
    }
}
