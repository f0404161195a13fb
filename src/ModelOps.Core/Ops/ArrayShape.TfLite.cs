using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using static ModelOps.Core.Converters.TfLite.TfLiteLowerHelpers;

namespace ModelOps.Core.Ops;

/// <summary>
/// TFLite lowerings of the data-movement family: Reshape / Squeeze / ExpandDims → RESHAPE,
/// Transpose, ConcatV2 → CONCATENATION, Pad / PadV2 / MirrorPad, Slice, StridedSlice (normalized to
/// full rank, plus RESHAPE for shrink/new axes), GatherV2, Pack / Unpack, Split / SplitV, Tile, Fill,
/// and Shape / Size / Rank folded from static shapes. Constant inputs are folded where possible.
/// </summary>
public sealed partial class ArrayShape
{
    public override void RegisterTfLite(TfLiteLoweringRegistry r)
    {
        r.Add("Reshape", ctx => Reshape(ctx, ResolveReshape(ctx, ctx.Shape(0), ctx.Constant(1).ToInt32Array())));
        r.Add("Squeeze", ctx =>
        {
            var x = ctx.Shape(0);
            var dims = ctx.Ints("squeeze_dims", Array.Empty<long>()).Select(d => Axis(ctx, d, x.Length)).ToHashSet();
            Reshape(ctx, x.Where((d, i) => dims.Count == 0 ? d != 1 : !dims.Contains(i)).ToArray());
        });
        r.Add("ExpandDims", ctx =>
        {
            var x = ctx.Shape(0).ToList();
            long a = ctx.Constant(1).GetInt64(0);
            int axis = (int)(a < 0 ? a + x.Count + 1 : a);
            x.Insert(axis, 1);
            Reshape(ctx, x.ToArray());
        });
        r.Add("Transpose", Transpose);
        r.Add(["ConcatV2", "Concat"], Concat);
        r.Add(["Pad", "PadV2", "MirrorPad"], Pad);
        r.Add("Slice", Slice);
        r.Add("StridedSlice", StridedSlice);
        r.Add(["GatherV2", "Gather"], Gather);
        r.Add("Pack", Pack);
        r.Add("Unpack", Unpack);
        r.Add(["Split", "SplitV"], Split);
        r.Add("Tile", Tile);
        r.Add("Fill", Fill);
        r.Add("SparseToDense", SparseToDense);
        r.Add("Shape", ctx =>
        {
            ctx.UsedStaticShapeOf(0);
            var s = ctx.Shape(0);
            ctx.SetConstant(0, ctx.Type("out_type", DataType.DtInt32) == DataType.DtInt64
                ? Tensor.Create(s.Select(d => (long)d).ToArray(), s.Length) : Tensor.Create(s.ToArray(), s.Length));
        });
        r.Add("Size", ctx =>
        {
            ctx.UsedStaticShapeOf(0);
            long n = Tensor.ElementCount(ctx.Shape(0));
            ctx.SetConstant(0, ctx.Type("out_type", DataType.DtInt32) == DataType.DtInt64 ? Tensor.Scalar(n) : Tensor.Scalar((int)n));
        });
        r.Add("Rank", ctx => ctx.SetConstant(0, Tensor.Scalar(ctx.Rank(0))));
    }

    private static int[] ResolveReshape(TfLiteLoweringContext ctx, int[] input, int[] target)
    {
        long n = Tensor.ElementCount(input);
        var shape = target.ToArray();
        int unknown = Array.IndexOf(shape, -1);
        long known = 1;
        for (int i = 0; i < shape.Length; i++) if (i != unknown) known *= shape[i];
        if (unknown >= 0) shape[unknown] = known == 0 ? 0 : (int)(n / known);
        if (Tensor.ElementCount(shape) != n) throw ctx.Error($"reshapes {Tensor.FormatShape(input)} to {Tensor.FormatShape(target)}: element counts differ.");
        return shape;
    }

    private static void Reshape(TfLiteLoweringContext ctx, int[] shape)
    {
        if (ctx.IsConstant(0)) { ctx.SetConstant(0, ctx.Constant(0).Reshape(shape)); return; }
        int shapeT = ctx.AddConstant(Int32s(shape), "shape");
        ctx.Emit(BuiltinOperator.RESHAPE, new[] { ctx.Tensor(0), shapeT }, new[] { ctx.Output(0, ctx.DType(0), shape) },
            BuiltinOptionsUnion.FromReshapeOptions(new ReshapeOptionsT { NewShape = shape.ToList() }));
    }

    private static void Transpose(TfLiteLoweringContext ctx)
    {
        var x = ctx.Shape(0);
        var perm = ctx.Constant(1).ToInt32Array();
        if (ctx.IsConstant(0)) { ctx.SetConstant(0, TfLiteLowerHelpers.Transpose(ctx.Constant(0), perm)); return; }
        var outShape = perm.Select(p => x[p]).ToArray();
        int permT = ctx.AddConstant(Int32s(perm), "perm");
        ctx.Emit(BuiltinOperator.TRANSPOSE, new[] { ctx.Tensor(0), permT }, new[] { ctx.Output(0, ctx.DType(0), outShape) },
            BuiltinOptionsUnion.FromTransposeOptions(new TransposeOptionsT()));
    }

    private static void Concat(TfLiteLoweringContext ctx)
    {
        bool v2 = ctx.Op == "ConcatV2";
        int n = ctx.InputCount - 1;
        int first = v2 ? 0 : 1;
        int axisInput = v2 ? n : 0;
        var shapes = Enumerable.Range(first, n).Select(ctx.Shape).ToArray();
        int rank = shapes[0].Length;
        int axis = Axis(ctx, ctx.Constant(axisInput).GetInt64(0), rank);
        var outShape = shapes[0].ToArray();
        outShape[axis] = shapes.Sum(s => s[axis]);
        var parts = Enumerable.Range(first, n).Where(i => Tensor.ElementCount(ctx.Shape(i)) > 0).ToArray();
        if (parts.All(ctx.IsConstant))
        {
            ctx.SetConstant(0, ConcatConst(parts.Select(ctx.Constant).ToArray(), axis, outShape, ctx.DType(first)));
            return;
        }
        if (parts.Length == 1)
        {
            int shapeT = ctx.AddConstant(Int32s(outShape), "shape");
            ctx.Emit(BuiltinOperator.RESHAPE, new[] { ctx.Tensor(parts[0]), shapeT }, new[] { ctx.Output(0, ctx.DType(first), outShape) },
                BuiltinOptionsUnion.FromReshapeOptions(new ReshapeOptionsT { NewShape = outShape.ToList() }));
            return;
        }
        ctx.Emit(BuiltinOperator.CONCATENATION, parts.Select(ctx.Tensor).ToArray(), new[] { ctx.Output(0, ctx.DType(first), outShape) },
            BuiltinOptionsUnion.FromConcatenationOptions(new ConcatenationOptionsT { Axis = axis }));
    }

    internal static Tensor ConcatConst(Tensor[] parts, int axis, int[] outShape, DataType dtype)
    {
        int outer = 1;
        for (int d = 0; d < axis; d++) outer *= outShape[d];
        var result = Array.CreateInstance(dtype.StorageType(), Tensor.ElementCount(outShape));
        int pos = 0;
        for (int o = 0; o < outer; o++)
            foreach (var p in parts)
            {
                int chunk = p.Length / outer;
                Array.Copy(p.Data, o * chunk, result, pos, chunk);
                pos += chunk;
            }
        return new Tensor(dtype, outShape, result);
    }

    private static void Pad(TfLiteLoweringContext ctx)
    {
        var x = ctx.Shape(0);
        var pads = ctx.Constant(1).ToInt32Array();
        if (pads.Length != 2 * x.Length) throw ctx.Error($"has paddings for {pads.Length / 2} dims on a rank-{x.Length} input.");
        var outShape = x.Select((d, i) => d + pads[2 * i] + pads[2 * i + 1]).ToArray();
        int padT = ctx.AddConstant(Tensor.Create(pads, x.Length, 2), "paddings");
        int o = ctx.Output(0, ctx.DType(0), outShape);
        switch (ctx.Op)
        {
            case "Pad":
                ctx.Emit(BuiltinOperator.PAD, new[] { ctx.Tensor(0), padT }, new[] { o }, BuiltinOptionsUnion.FromPadOptions(new PadOptionsT()));
                break;
            case "PadV2":
            {
                var cv = ctx.Constant(2);
                if (cv.GetDouble(0) == 0)
                {
                    ctx.Emit(BuiltinOperator.PAD, new[] { ctx.Tensor(0), padT }, new[] { o }, BuiltinOptionsUnion.FromPadOptions(new PadOptionsT()));
                    break;
                }
                int c = ctx.AddConstant(cv.Reshape(), "constant_values");
                ctx.Emit(BuiltinOperator.PADV2, new[] { ctx.Tensor(0), padT, c }, new[] { o }, BuiltinOptionsUnion.FromPadV2Options(new PadV2OptionsT()));
                break;
            }
            default:
            {
                string mode = ctx.String("mode");
                ctx.Emit(BuiltinOperator.MIRROR_PAD, new[] { ctx.Tensor(0), padT }, new[] { o },
                    BuiltinOptionsUnion.FromMirrorPadOptions(new MirrorPadOptionsT { Mode = mode == "REFLECT" ? MirrorPadMode.REFLECT : MirrorPadMode.SYMMETRIC }));
                break;
            }
        }
    }

    private static void Slice(TfLiteLoweringContext ctx)
    {
        var x = ctx.Shape(0);
        var begin = ctx.Constant(1).ToInt32Array();
        var size = ctx.Constant(2).ToInt32Array();
        var sz = size.Select((s, i) => s < 0 ? x[i] - begin[i] : s).ToArray();
        if (ctx.IsConstant(0))
        {
            var dims = begin.Select((b, i) => (b, 1, sz[i])).ToArray();
            ctx.SetConstant(0, SliceConst(ctx.Constant(0), dims, sz));
            return;
        }
        int bT = ctx.AddConstant(Int32s(begin), "begin"), sT = ctx.AddConstant(Int32s(sz), "size");
        ctx.Emit(BuiltinOperator.SLICE, new[] { ctx.Tensor(0), bT, sT }, new[] { ctx.Output(0, ctx.DType(0), sz) },
            BuiltinOptionsUnion.FromSliceOptions(new SliceOptionsT()));
    }

    /// <summary>Per input dim: (start, stride, count).</summary>
    internal static Tensor SliceConst(Tensor t, (int Start, int Stride, int Count)[] dims, int[] outShape)
    {
        var inStr = Strides(t.Shape);
        var counts = dims.Select(d => d.Count).ToArray();
        var cStr = Strides(counts);
        long n = Tensor.ElementCount(counts);
        var result = Array.CreateInstance(t.Data.GetType().GetElementType()!, n * t.DType.Lanes());
        for (int i = 0; i < n; i++)
        {
            int rem = i, off = 0;
            for (int d = 0; d < dims.Length; d++)
            {
                int q = rem / cStr[d];
                rem -= q * cStr[d];
                off += (dims[d].Start + q * dims[d].Stride) * inStr[d];
            }
            Array.Copy(t.Data, off, result, i, 1);
        }
        return new Tensor(t.DType, outShape, result);
    }

    private static void StridedSlice(TfLiteLoweringContext ctx)
    {
        var x = ctx.Shape(0);
        var begin = ctx.Constant(1).ToInt32Array();
        var end = ctx.Constant(2).ToInt32Array();
        var strides = ctx.Constant(3).ToInt32Array();
        int bm = (int)ctx.Int("begin_mask", 0), em = (int)ctx.Int("end_mask", 0), el = (int)ctx.Int("ellipsis_mask", 0);
        int na = (int)ctx.Int("new_axis_mask", 0), sm = (int)ctx.Int("shrink_axis_mask", 0);
        int m = begin.Length;
        // Dense spec over the input's dims.
        var dims = new (int Start, int Stride, int Count)[x.Length];
        var finalShape = new List<int>();
        var denseDone = new bool[x.Length];
        int dense = 0;
        bool sawEllipsis = false;
        for (int i = 0; i < m; i++)
        {
            if ((el >> i & 1) != 0)
            {
                sawEllipsis = true;
                int newAxesAfter = 0;
                for (int j = i + 1; j < m; j++) if ((na >> j & 1) != 0) newAxesAfter++;
                int stop = x.Length - (m - i - 1 - newAxesAfter);
                for (; dense < stop; dense++) { dims[dense] = (0, 1, x[dense]); finalShape.Add(x[dense]); denseDone[dense] = true; }
                continue;
            }
            if ((na >> i & 1) != 0) { finalShape.Add(1); continue; }
            if (dense >= x.Length) throw ctx.Error("slices more dimensions than the input has.");
            int dim = x[dense], st = strides[i];
            if (st == 0) throw ctx.Error("has stride 0.");
            if ((sm >> i & 1) != 0)
            {
                int idx = begin[i] < 0 ? begin[i] + dim : begin[i];
                if (idx < 0 || idx >= dim) throw ctx.Error($"shrinks dimension {dense} at index {begin[i]}, outside [0,{dim}).");
                dims[dense] = (idx, 1, 1);
            }
            else
            {
                int lo, hi, count;
                if (st > 0)
                {
                    lo = (bm >> i & 1) != 0 ? 0 : Math.Clamp(begin[i] < 0 ? begin[i] + dim : begin[i], 0, dim);
                    hi = (em >> i & 1) != 0 ? dim : Math.Clamp(end[i] < 0 ? end[i] + dim : end[i], 0, dim);
                    count = Math.Max(0, (hi - lo + st - 1) / st);
                }
                else
                {
                    lo = (bm >> i & 1) != 0 ? dim - 1 : Math.Clamp(begin[i] < 0 ? begin[i] + dim : begin[i], -1, dim - 1);
                    hi = (em >> i & 1) != 0 ? -1 : Math.Clamp(end[i] < 0 ? end[i] + dim : end[i], -1, dim - 1);
                    count = Math.Max(0, (lo - hi + (-st) - 1) / (-st));
                }
                dims[dense] = (lo, st, count);
                finalShape.Add(count);
            }
            denseDone[dense] = true;
            dense++;
        }
        _ = sawEllipsis;
        for (; dense < x.Length; dense++) { dims[dense] = (0, 1, x[dense]); finalShape.Add(x[dense]); }
        var sliced = dims.Select(d => d.Count).ToArray();
        var final = finalShape.ToArray();

        if (ctx.IsConstant(0)) { ctx.SetConstant(0, SliceConst(ctx.Constant(0), dims, final)); return; }
        // Full-rank STRIDED_SLICE with explicit bounds (no ellipsis/new-axis/shrink: runs on every runtime), then RESHAPE if needed.
        var b = dims.Select(d => d.Start).ToArray();
        var e = dims.Select(d => d.Start + d.Stride * d.Count).ToArray();
        var s = dims.Select(d => d.Stride).ToArray();
        int endMask = 0;
        for (int d = 0; d < dims.Length; d++) if (dims[d].Stride < 0 && e[d] < 0) { endMask |= 1 << d; e[d] = 0; }
        bool same = sliced.AsSpan().SequenceEqual(final);
        int bT = ctx.AddConstant(Int32s(b), "begin"), eT = ctx.AddConstant(Int32s(e), "end"), sT = ctx.AddConstant(Int32s(s), "strides");
        int o = same ? ctx.Output(0, ctx.DType(0), final) : ctx.AddTensor("sliced", ctx.DType(0), sliced);
        ctx.Emit(BuiltinOperator.STRIDED_SLICE, new[] { ctx.Tensor(0), bT, eT, sT }, new[] { o },
            BuiltinOptionsUnion.FromStridedSliceOptions(new StridedSliceOptionsT { EndMask = endMask }));
        if (!same)
        {
            int shapeT = ctx.AddConstant(Int32s(final), "shape");
            ctx.Emit(BuiltinOperator.RESHAPE, new[] { o, shapeT }, new[] { ctx.Output(0, ctx.DType(0), final) },
                BuiltinOptionsUnion.FromReshapeOptions(new ReshapeOptionsT { NewShape = final.ToList() }));
        }
    }

    private static void Gather(TfLiteLoweringContext ctx)
    {
        var p = ctx.Shape(0);
        var idx = ctx.Shape(1);
        int axis = ctx.Op == "GatherV2" ? Axis(ctx, ctx.Constant(2).GetInt64(0), p.Length) : 0;
        int batchDims = (int)ctx.Int("batch_dims", 0);
        if (batchDims != 0) throw ctx.Error("uses batch_dims; not supported by this converter.");
        var outShape = p[..axis].Concat(idx).Concat(p[(axis + 1)..]).ToArray();
        if (ctx.IsConstant(0) && ctx.IsConstant(1))
        {
            var src = ctx.Constant(0);
            var ix = ctx.Constant(1).ToInt32Array();
            int outer = p[..axis].Aggregate(1, (a, b) => a * b), inner = p[(axis + 1)..].Aggregate(1, (a, b) => a * b);
            var res = Array.CreateInstance(src.Data.GetType().GetElementType()!, Tensor.ElementCount(outShape));
            int pos = 0;
            for (int o = 0; o < outer; o++)
                foreach (int i in ix)
                {
                    Array.Copy(src.Data, (o * p[axis] + i) * inner, res, pos, inner);
                    pos += inner;
                }
            ctx.SetConstant(0, new Tensor(src.DType, outShape, res));
            return;
        }
        int indices = ctx.IsConstant(1) && ctx.DType(1) == DataType.DtInt64
            ? ctx.AddConstant(Tensor.Create(ctx.Constant(1).ToInt32Array(), ctx.Shape(1)), "indices") : ctx.Tensor(1);
        ctx.Emit(BuiltinOperator.GATHER, new[] { ctx.Tensor(0), indices }, new[] { ctx.Output(0, ctx.DType(0), outShape) },
            BuiltinOptionsUnion.FromGatherOptions(new GatherOptionsT { Axis = axis }));
    }

    private static void Pack(TfLiteLoweringContext ctx)
    {
        int n = ctx.InputCount;
        var s = ctx.Shape(0);
        int axis = (int)ctx.Int("axis", 0);
        if (axis < 0) axis += s.Length + 1;
        var outShape = s.ToList();
        outShape.Insert(axis, n);
        var o = outShape.ToArray();
        if (ctx.AllInputsConstant)
        {
            var expanded = s.ToList();
            expanded.Insert(axis, 1);
            ctx.SetConstant(0, ConcatConst(Enumerable.Range(0, n).Select(i => ctx.Constant(i).Reshape(expanded.ToArray())).ToArray(), axis, o, ctx.DType(0)));
            return;
        }
        ctx.Emit(BuiltinOperator.PACK, Enumerable.Range(0, n).Select(ctx.Tensor).ToArray(), new[] { ctx.Output(0, ctx.DType(0), o) },
            BuiltinOptionsUnion.FromPackOptions(new PackOptionsT { Axis = axis, ValuesCount = n }));
    }

    private static void Unpack(TfLiteLoweringContext ctx)
    {
        var s = ctx.Shape(0);
        int axis = Axis(ctx, ctx.Int("axis", 0), s.Length);
        int num = s[axis];
        var part = s.Where((_, i) => i != axis).ToArray();
        var outs = Enumerable.Range(0, num).Select(i => ctx.Output(i, ctx.DType(0), part)).ToArray();
        ctx.Emit(BuiltinOperator.UNPACK, new[] { ctx.Tensor(0) }, outs, BuiltinOptionsUnion.FromUnpackOptions(new UnpackOptionsT { Num = num, Axis = axis }));
    }

    private static void Split(TfLiteLoweringContext ctx)
    {
        bool v = ctx.Op == "SplitV";
        int valueInput = v ? 0 : 1;
        var s = ctx.Shape(valueInput);
        int axis = Axis(ctx, ctx.Constant(v ? 2 : 0).GetInt64(0), s.Length);
        int[] sizes;
        if (v)
        {
            sizes = ctx.Constant(1).ToInt32Array();
            int unknown = Array.IndexOf(sizes, -1);
            if (unknown >= 0) sizes[unknown] = s[axis] - sizes.Where((_, i) => i != unknown).Sum();
        }
        else
        {
            int n = (int)ctx.Int("num_split");
            sizes = Enumerable.Repeat(s[axis] / n, n).ToArray();
        }
        var outs = sizes.Select((sz, i) =>
        {
            var sh = s.ToArray();
            sh[axis] = sz;
            return ctx.Output(i, ctx.DType(valueInput), sh);
        }).ToArray();
        int axisT = ctx.AddConstant(Tensor.Scalar(axis).Reshape(1), "axis");
        if (v)
        {
            int sizesT = ctx.AddConstant(Int32s(sizes), "size_splits");
            ctx.Emit(BuiltinOperator.SPLIT_V, new[] { ctx.Tensor(0), sizesT, axisT }, outs, BuiltinOptionsUnion.FromSplitVOptions(new SplitVOptionsT { NumSplits = sizes.Length }));
        }
        else
        {
            ctx.Emit(BuiltinOperator.SPLIT, new[] { axisT, ctx.Tensor(1) }, outs, BuiltinOptionsUnion.FromSplitOptions(new SplitOptionsT { NumSplits = sizes.Length }));
        }
    }

    private static void Tile(TfLiteLoweringContext ctx)
    {
        var s = ctx.Shape(0);
        var mult = ctx.Constant(1).ToInt32Array();
        var outShape = s.Select((d, i) => d * mult[i]).ToArray();
        int mT = ctx.AddConstant(Int32s(mult), "multiples");
        ctx.Emit(BuiltinOperator.TILE, new[] { ctx.Tensor(0), mT }, new[] { ctx.Output(0, ctx.DType(0), outShape) }, BuiltinOptionsUnion.FromTileOptions(new TileOptionsT()));
    }

    private static void Fill(TfLiteLoweringContext ctx)
    {
        var dims = ctx.Constant(0).ToInt32Array();
        if (ctx.IsConstant(1))
        {
            var v = ctx.Constant(1);
            long n = Tensor.ElementCount(dims);
            var arr = Array.CreateInstance(v.Data.GetType().GetElementType()!, n);
            var one = v.Data.GetValue(0);
            for (int i = 0; i < n; i++) arr.SetValue(one, i);
            ctx.SetConstant(0, new Tensor(v.DType, dims, arr));
            return;
        }
        int dT = ctx.AddConstant(Int32s(dims), "dims");
        ctx.Emit(BuiltinOperator.FILL, new[] { dT, ctx.Tensor(1) }, new[] { ctx.Output(0, ctx.DType(1), dims) });
    }

    private static void SparseToDense(TfLiteLoweringContext ctx)
    {
        var shape = ctx.Constant(1).ToInt32Array();
        if (ctx.AllInputsConstant)
        {
            var idx = ctx.Constant(0);
            var vals = ctx.Constant(2);
            var def = ctx.Constant(3);
            long n = Tensor.ElementCount(shape);
            var arr = Array.CreateInstance(vals.Data.GetType().GetElementType()!, n);
            var d0 = def.Data.GetValue(0);
            for (int i = 0; i < n; i++) arr.SetValue(d0, i);
            int rank = shape.Length;
            int count = idx.Rank == 0 ? 1 : idx.Shape[0];
            var strides = Strides(shape);
            for (int k = 0; k < count; k++)
            {
                long off = 0;
                for (int d = 0; d < Math.Max(rank, 1); d++)
                    off += idx.GetInt64(idx.Rank < 2 ? k : k * rank + d) * (rank == 0 ? 0 : strides[d]);
                arr.SetValue(vals.Data.GetValue(vals.Length == 1 ? 0 : k), off);
            }
            ctx.SetConstant(0, new Tensor(vals.DType, shape, arr));
            return;
        }
        int shapeT = ctx.AddConstant(Int32s(shape), "output_shape");
        ctx.Emit(BuiltinOperator.SPARSE_TO_DENSE, new[] { ctx.Tensor(0), shapeT, ctx.Tensor(2), ctx.Tensor(3) },
            new[] { ctx.Output(0, ctx.DType(2), shape) },
            BuiltinOptionsUnion.FromSparseToDenseOptions(new SparseToDenseOptionsT { ValidateIndices = ctx.Bool("validate_indices", true) }));
    }
}
