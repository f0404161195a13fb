using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Ops;

/// <summary>
/// ONNX lowerings of the array/shape family (Ops/ArrayShape.cs): Reshape, Transpose, Concat,
/// Pack, Split/SplitV, StridedSlice/Slice, Pad/PadV2/MirrorPad, ExpandDims, Squeeze, Shape, Fill,
/// Tile, GatherV2, SparseToDense. Shape-like operands become int64 as ONNX requires; TF's int32
/// shape results are cast back.
/// </summary>
public sealed partial class ArrayShape
{
    public override void RegisterOnnx(OnnxLoweringRegistry r)
    {
        const int v13 = OnnxLoweringRegistry.MinOpset;
        r.Add("Reshape", v13, Reshape);
        r.Add("Transpose", v13, Transpose);
        r.Add("ConcatV2", v13, ctx => Concat(ctx, axisInput: ctx.InputCount - 1, first: 0, count: ctx.InputCount - 1));
        r.Add("Concat", v13, ctx => Concat(ctx, axisInput: 0, first: 1, count: ctx.InputCount - 1));
        r.Add("Pack", v13, Pack);
        r.Add("Unpack", v13, Unpack);
        r.Add("SplitV", v13, SplitV);
        r.Add("Split", v13, Split);
        r.Add("StridedSlice", v13, StridedSlice);
        r.Add("Slice", v13, Slice);
        r.Add(new[] { "Pad", "PadV2", "MirrorPad" }, v13, Pad);
        r.Add("ExpandDims", v13, ExpandDims);
        r.Add("Squeeze", v13, Squeeze);
        r.Add("Shape", v13, Shape);
        r.Add("Fill", v13, ctx =>
        {
            string value = ctx.Op("Reshape", new[] { ctx.Input(1), ctx.Int64s(1) });
            ctx.OpTo(ctx.Out(), "Expand", new[] { value, ctx.AsInt64(0) });
            ctx.SetType(0, ctx.InputType(1));
            var dims = ctx.ConstInput(0);
            if (dims is not null) ctx.SetShape(0, dims.ToInt64Array());
        });
        r.Add("Tile", v13, ctx =>
        {
            ctx.OpTo(ctx.Out(), "Tile", new[] { ctx.Input(0), ctx.AsInt64(1) });
            var s = ctx.InputShape(0);
            var m = ctx.ConstInput(1);
            if (s is not null) ctx.SetShape(0, m is null ? OnnxShapes.Unknown(s.Length) : s.Select((d, i) => d < 0 ? -1 : d * m.GetInt64(i)).ToArray());
        });
        r.Add(new[] { "GatherV2", "Gather" }, v13, ctx =>
        {
            long axis = ctx.Node.Op == "GatherV2" ? ctx.ConstantInput(2, "axis").GetInt64(0) : 0;
            if (ctx.Int("batch_dims", 0) != 0) throw ctx.Fail("uses batch_dims, which has no lowering.");
            ctx.OpTo(ctx.Out(), "Gather", new[] { ctx.Input(0), ctx.Input(1) }, OnnxAttr.Int("axis", axis));
            ctx.SetType(0, ctx.InputType(0));
            var s = ctx.InputShape(0);
            var idx = ctx.InputShape(1);
            if (s is not null && idx is not null)
            {
                int a = OnnxShapes.Axis(axis, s.Length);
                ctx.SetShape(0, s[..a].Concat(idx).Concat(s[(a + 1)..]).ToArray());
            }
        });
        r.Add("SparseToDense", v13, SparseToDense);
        r.Add("Cast", v13, ctx =>
        {
            var to = ctx.Type("DstT");
            var c = ctx.ConstInput(0);
            if (c is not null && to is DataType.DtFloat or DataType.DtDouble or DataType.DtInt32 or DataType.DtInt64)
            {
                ctx.SetConst(0, OnnxTensors.Cast(c, to));
                return;
            }
            ctx.OpTo(ctx.Out(), "Cast", new[] { ctx.Input(0) }, OnnxAttr.Int("to", (long)OnnxTensors.ToOnnx(to)));
            ctx.SetType(0, to);
            ctx.SetShape(0, ctx.InputShape(0));
        });
    }

    private static void Reshape(OnnxLoweringContext ctx)
    {
        var shape = ctx.ConstInput(1);
        var x = ctx.ConstInput(0);
        if (x is not null && shape is not null)
        {
            var dims = shape.ToInt64Array();
            long known = dims.Where(d => d >= 0).Aggregate(1L, (a, b) => a * b);
            var fixedDims = dims.Select(d => d < 0 ? (int)(x.Length / Math.Max(known, 1)) : (int)d).ToArray();
            ctx.SetConst(0, x.Reshape(fixedDims));
            return;
        }
        if (shape is not null && shape.ToInt64Array().Contains(0))
            throw ctx.Fail("reshapes to a shape with a 0 dimension, which ONNX Reshape reads as 'copy this dimension'.");
        ctx.OpTo(ctx.Out(), "Reshape", new[] { ctx.Input(0), ctx.AsInt64(1) });
        if (shape is not null)
        {
            var dims = shape.ToInt64Array();
            var s = ctx.InputShape(0);
            if (s is not null && s.All(d => d >= 0) && dims.Count(d => d < 0) == 1)
            {
                long total = s.Aggregate(1L, (a, b) => a * b), known = dims.Where(d => d >= 0).Aggregate(1L, (a, b) => a * b);
                dims = dims.Select(d => d < 0 && known > 0 ? total / known : d).ToArray();
            }
            ctx.SetShape(0, dims);
        }
        else if (ctx.InputShape(1) is { Length: 1 } ss && ss[0] >= 0) ctx.SetShape(0, OnnxShapes.Unknown((int)ss[0]));
    }

    private static void Transpose(OnnxLoweringContext ctx)
    {
        var perm = ctx.ConstantInput(1, "permutation").ToInt64Array();
        var c = ctx.ConstInput(0);
        if (c is not null) { ctx.SetConst(0, OnnxTensors.Transpose(c, perm.Select(p => (int)p).ToArray())); return; }
        ctx.OpTo(ctx.Out(), "Transpose", new[] { ctx.Input(0) }, OnnxAttr.Ints("perm", perm));
        var s = ctx.InputShape(0);
        if (s is not null && s.Length == perm.Length) ctx.SetShape(0, perm.Select(p => s[p]).ToArray());
    }

    private static void Concat(OnnxLoweringContext ctx, int axisInput, int first, int count)
    {
        long axis = ctx.ConstantInput(axisInput, "axis").GetInt64(0);
        var inputs = Enumerable.Range(first, count).ToList();
        if (inputs.Count == 1) { Basic.Forward(ctx, first, 0); return; }
        ctx.OpTo(ctx.Out(), "Concat", inputs.Select(ctx.Input).ToArray(), OnnxAttr.Int("axis", axis));
        ctx.SetType(0, ctx.InputType(first));
        var shapes = inputs.Select(ctx.InputShape).ToList();
        if (shapes.All(s => s is not null) && shapes.Select(s => s!.Length).Distinct().Count() == 1)
        {
            int a = OnnxShapes.Axis(axis, shapes[0]!.Length);
            var o = (long[])shapes[0]!.Clone();
            o[a] = shapes.Any(s => s![a] < 0) ? -1 : shapes.Sum(s => s![a]);
            for (int i = 0; i < o.Length; i++) if (i != a && o[i] < 0) o[i] = shapes.Select(s => s![i]).FirstOrDefault(d => d >= 0, -1);
            ctx.SetShape(0, o);
        }
    }

    private static void Pack(OnnxLoweringContext ctx)
    {
        long axis = ctx.Int("axis", 0);
        var s = ctx.InputShape(0);
        if (axis < 0)
        {
            if (s is null) throw ctx.Fail("packs along a negative axis of values with unknown rank.");
            axis += s.Length + 1;
        }
        var parts = Enumerable.Range(0, ctx.InputCount).Select(i => ctx.Op("Unsqueeze", new[] { ctx.Input(i), ctx.Int64s(axis) })).ToArray();
        if (parts.Length == 1) ctx.OpTo(ctx.Out(), "Identity", parts);
        else ctx.OpTo(ctx.Out(), "Concat", parts, OnnxAttr.Int("axis", axis));
        ctx.SetType(0, ctx.InputType(0));
        if (s is not null) ctx.SetShape(0, s[..(int)axis].Append(ctx.InputCount).Concat(s[(int)axis..]).ToArray());
    }

    private static void Unpack(OnnxLoweringContext ctx)
    {
        long num = ctx.Int("num");
        long axis = ctx.Int("axis", 0);
        var s = ctx.InputShape(0);
        var outs = Enumerable.Range(0, (int)num).Select(i => ctx.Fresh("part")).ToArray();
        ctx.AddNode("Split", new[] { ctx.Input(0), ctx.Int64s(Enumerable.Repeat(1L, (int)num).ToArray()) }, outs, OnnxAttr.Int("axis", axis));
        for (int i = 0; i < num; i++)
        {
            ctx.SetType(i, ctx.InputType(0));
            ctx.OpTo(ctx.Out(i), "Squeeze", new[] { outs[i], ctx.Int64s(axis) });
            if (s is not null) { int a = OnnxShapes.Axis(axis, s.Length); ctx.SetShape(i, s.Where((_, k) => k != a).ToArray()); }
        }
    }

    private static void WriteSplit(OnnxLoweringContext ctx, int dataInput, long axis, long[] sizes)
    {
        var outs = Enumerable.Range(0, sizes.Length).Select(i => ctx.Out(i)).ToArray();
        ctx.AddNode("Split", new[] { ctx.Input(dataInput), ctx.Int64s(sizes) }, outs, OnnxAttr.Int("axis", axis));
        var s = ctx.InputShape(dataInput);
        for (int i = 0; i < sizes.Length; i++)
        {
            ctx.SetType(i, ctx.InputType(dataInput));
            if (s is not null)
            {
                var o = (long[])s.Clone();
                o[OnnxShapes.Axis(axis, s.Length)] = sizes[i];
                ctx.SetShape(i, o);
            }
        }
    }

    private static void SplitV(OnnxLoweringContext ctx)
    {
        var sizes = ctx.ConstantInput(1, "size_splits").ToInt64Array();
        long axis = ctx.ConstantInput(2, "axis").GetInt64(0);
        int unknown = Array.IndexOf(sizes, -1L);
        if (unknown >= 0)
        {
            var s = ctx.InputShape(0);
            long dim = s is null ? -1 : s[OnnxShapes.Axis(axis, s.Length)];
            if (dim < 0) throw ctx.Fail("splits off a -1 (rest) part along an axis of unknown length.");
            sizes[unknown] = dim - sizes.Where((_, i) => i != unknown).Sum();
        }
        WriteSplit(ctx, 0, axis, sizes);
    }

    private static void Split(OnnxLoweringContext ctx)
    {
        long axis = ctx.ConstantInput(0, "axis").GetInt64(0);
        long num = ctx.Int("num_split");
        var s = ctx.InputShape(1);
        long dim = s is null ? -1 : s[OnnxShapes.Axis(axis, s.Length)];
        if (dim < 0) throw ctx.Fail("splits an axis of unknown length.");
        WriteSplit(ctx, 1, axis, Enumerable.Repeat(dim / num, (int)num).ToArray());
    }

    private static void StridedSlice(OnnxLoweringContext ctx)
    {
        var begin = ctx.ConstantInput(1, "begin").ToInt64Array();
        var end = ctx.ConstantInput(2, "end").ToInt64Array();
        var strides = ctx.ConstantInput(3, "strides").ToInt64Array();
        long beginMask = ctx.Int("begin_mask", 0), endMask = ctx.Int("end_mask", 0), ellipsisMask = ctx.Int("ellipsis_mask", 0),
            newAxisMask = ctx.Int("new_axis_mask", 0), shrinkMask = ctx.Int("shrink_axis_mask", 0);
        var inShape = ctx.InputShape(0);
        int specCount = begin.Length;
        var starts = new List<long>(); var ends = new List<long>(); var axes = new List<long>(); var steps = new List<long>();
        var squeeze = new List<long>(); var unsqueeze = new List<long>();
        var outShape = new List<long>();
        int dim = 0, outDim = 0;
        for (int i = 0; i < specCount; i++)
        {
            long bit = 1L << i;
            if ((ellipsisMask & bit) != 0)
            {
                if (inShape is null) throw ctx.Fail("uses an ellipsis on a value of unknown rank.");
                int after = Enumerable.Range(i + 1, specCount - i - 1).Count(j => (newAxisMask & (1L << j)) == 0);
                int covered = inShape.Length - dim - after;
                for (int k = 0; k < covered; k++) outShape.Add(inShape[dim + k]);
                dim += covered; outDim += covered;
                continue;
            }
            if ((newAxisMask & bit) != 0) { unsqueeze.Add(outDim++); outShape.Add(1); continue; }
            long step = strides[i];
            if (step == 0) throw ctx.Fail("has a zero stride.");
            long len = inShape is not null && dim < inShape.Length ? inShape[dim] : -1;
            if ((shrinkMask & bit) != 0)
            {
                long b = begin[i];
                starts.Add(b); ends.Add(b == -1 ? long.MaxValue : b + 1); axes.Add(dim); steps.Add(1);
                squeeze.Add(dim);
                dim++;
                continue;
            }
            long s = (beginMask & bit) != 0 ? (step > 0 ? 0 : long.MaxValue) : begin[i];
            long e = (endMask & bit) != 0 ? (step > 0 ? long.MaxValue : long.MinValue) : end[i];
            if (!((beginMask & bit) != 0 && (endMask & bit) != 0 && step == 1))
            {
                starts.Add(s); ends.Add(e); axes.Add(dim); steps.Add(step);
            }
            outShape.Add(SliceLength(len, s, e, step));
            dim++; outDim++;
        }
        if (inShape is not null) for (int k = dim; k < inShape.Length; k++) outShape.Add(inShape[k]);

        var c = ctx.ConstInput(0);
        string x = ctx.Input(0);
        if (axes.Count > 0)
            x = ctx.Op("Slice", new[] { x, ctx.Int64s(starts.ToArray()), ctx.Int64s(ends.ToArray()), ctx.Int64s(axes.ToArray()), ctx.Int64s(steps.ToArray()) });
        if (squeeze.Count > 0) x = ctx.Op("Squeeze", new[] { x, ctx.Int64s(squeeze.ToArray()) });
        if (unsqueeze.Count > 0) x = ctx.Op("Unsqueeze", new[] { x, ctx.Int64s(unsqueeze.ToArray()) });
        if (x == ctx.Input(0)) Basic.Forward(ctx, 0, 0);
        else ctx.OpTo(ctx.Out(), "Identity", new[] { x });
        ctx.SetType(0, ctx.InputType(0));
        if (inShape is not null) ctx.SetShape(0, outShape.ToArray());
        _ = c;
    }

    /// <summary>Elements a Python-style slice [s:e:step] takes from an axis of length len (-1 when unknown).</summary>
    private static long SliceLength(long len, long s, long e, long step)
    {
        if (len < 0) return -1;
        long Clamp(long v, long lo, long hi) => Math.Max(lo, Math.Min(hi, v));
        if (step > 0)
        {
            long b = s < 0 ? s + len : s, f = e < 0 && e != long.MinValue ? e + len : e;
            b = Clamp(b, 0, len); f = Clamp(f, 0, len);
            return f > b ? (f - b + step - 1) / step : 0;
        }
        else
        {
            long b = s == long.MaxValue ? len - 1 : s < 0 ? s + len : s, f = e == long.MinValue ? -1 : e < 0 ? e + len : e;
            b = Clamp(b, -1, len - 1); f = Clamp(f, -1, len - 1);
            return b > f ? (b - f + (-step) - 1) / (-step) : 0;
        }
    }

    private static void Slice(OnnxLoweringContext ctx)
    {
        var begin = ctx.ConstantInput(1, "begin").ToInt64Array();
        var size = ctx.ConstantInput(2, "size").ToInt64Array();
        var ends = begin.Zip(size, (b, s) => s < 0 ? long.MaxValue : b + s).ToArray();
        var axes = Enumerable.Range(0, begin.Length).Select(i => (long)i).ToArray();
        ctx.OpTo(ctx.Out(), "Slice", new[] { ctx.Input(0), ctx.Int64s(begin), ctx.Int64s(ends), ctx.Int64s(axes) });
        ctx.SetType(0, ctx.InputType(0));
        var s0 = ctx.InputShape(0);
        if (s0 is not null && s0.Length == begin.Length)
            ctx.SetShape(0, size.Select((s, i) => s >= 0 ? s : s0[i] < 0 ? -1 : s0[i] - begin[i]).ToArray());
    }

    private static void Pad(OnnxLoweringContext ctx)
    {
        var pads = ctx.ConstantInput(1, "paddings");
        if (pads.Rank != 2 || pads.Shape[1] != 2) throw ctx.Fail($"has paddings of shape {Tensor.FormatShape(pads.Shape)}; [rank,2] was expected.");
        int r = pads.Shape[0];
        var onnxPads = new long[2 * r];
        for (int i = 0; i < r; i++) { onnxPads[i] = pads.GetInt64(2 * i); onnxPads[r + i] = pads.GetInt64(2 * i + 1); }
        var inputs = new List<string> { ctx.Input(0), ctx.Int64s(onnxPads) };
        var attrs = new List<Protos.Onnx.AttributeProto>();
        if (ctx.Node.Op == "PadV2") inputs.Add(ctx.Input(2));
        if (ctx.Node.Op == "MirrorPad")
        {
            string mode = ctx.String("mode");
            if (mode != "REFLECT") throw ctx.Fail($"uses MirrorPad mode '{mode}'; only REFLECT has an ONNX equivalent.");
            attrs.Add(OnnxAttr.String("mode", "reflect"));
        }
        ctx.OpTo(ctx.Out(), "Pad", inputs.ToArray(), attrs.ToArray());
        var s = ctx.InputShape(0);
        if (s is not null && s.Length == r) ctx.SetShape(0, s.Select((d, i) => d < 0 ? -1 : d + onnxPads[i] + onnxPads[r + i]).ToArray());
    }

    private static void ExpandDims(OnnxLoweringContext ctx)
    {
        long axis = ctx.ConstantInput(1, "axis").GetInt64(0);
        var c = ctx.ConstInput(0);
        var s = ctx.InputShape(0);
        long[]? outShape = null;
        if (s is not null)
        {
            int a = (int)(axis < 0 ? axis + s.Length + 1 : axis);
            outShape = s[..a].Append(1).Concat(s[a..]).ToArray();
        }
        if (c is not null && outShape is not null) { ctx.SetConst(0, c.Reshape(outShape.Select(d => (int)d).ToArray())); return; }
        ctx.OpTo(ctx.Out(), "Unsqueeze", new[] { ctx.Input(0), ctx.Int64s(axis) });
        ctx.SetShape(0, outShape);
    }

    private static void Squeeze(OnnxLoweringContext ctx)
    {
        var dims = ctx.Ints("squeeze_dims", Array.Empty<long>());
        if (dims.Length == 0) dims = ctx.Ints("axis", Array.Empty<long>());
        var s = ctx.InputShape(0);
        if (dims.Length == 0) ctx.OpTo(ctx.Out(), "Squeeze", new[] { ctx.Input(0) });
        else ctx.OpTo(ctx.Out(), "Squeeze", new[] { ctx.Input(0), ctx.Int64s(dims) });
        if (s is not null)
        {
            var norm = dims.Select(d => OnnxShapes.Axis(d, s.Length)).ToHashSet();
            if (dims.Length > 0) ctx.SetShape(0, s.Where((_, i) => !norm.Contains(i)).ToArray());
            else if (s.All(d => d >= 0)) ctx.SetShape(0, s.Where(d => d != 1).ToArray());
        }
    }

    private static void Shape(OnnxLoweringContext ctx)
    {
        var outType = ctx.Type("out_type", DataType.DtInt32);
        var s = ctx.InputShape(0);
        if (s is not null && s.All(d => d >= 0))
        {
            var t = Tensor.Create(s, s.Length);
            ctx.SetConst(0, OnnxTensors.Cast(t, outType));
            return;
        }
        string shape = ctx.Op("Shape", new[] { ctx.Input(0) });
        if (outType == DataType.DtInt64) ctx.OpTo(ctx.Out(), "Identity", new[] { shape });
        else ctx.OpTo(ctx.Out(), "Cast", new[] { shape }, OnnxAttr.Int("to", (long)OnnxTensors.ToOnnx(outType)));
        ctx.SetType(0, outType);
        if (s is not null) ctx.SetShape(0, new long[] { s.Length });
    }

    private static void SparseToDense(OnnxLoweringContext ctx)
    {
        // sparse_indices [N] or [N,rank] (or scalar), output_shape, sparse_values [N] or scalar, default_value.
        var idx = ctx.ConstInput(0);
        var shape = ctx.ConstantInput(1, "output_shape").ToInt64Array();
        var values = ctx.ConstInput(2);
        var dflt = ctx.ConstInput(3);
        var type = ctx.InputType(2);
        if (idx is not null && values is not null && dflt is not null && shape.All(d => d >= 0))
        {
            // Everything known: fold to a constant.
            int rank = shape.Length;
            var dense = Tensor.Zeros(type, shape.Select(d => (int)d).ToArray());
            var strides = OnnxTensors.Strides(dense.Shape);
            var data = dense.Data;
            for (int i = 0; i < data.Length; i++) data.SetValue(dflt.Data.GetValue(0), i);
            int n = idx.Rank == 0 ? 1 : idx.Shape[0];
            for (int k = 0; k < n; k++)
            {
                long offset = 0;
                for (int d = 0; d < rank; d++)
                {
                    long v = idx.Rank <= 1 ? idx.GetInt64(k) : idx.GetInt64(k * rank + d);
                    if (v < 0 || v >= shape[d]) throw ctx.Fail($"has index {v} outside the output's dimension {d} of size {shape[d]}.");
                    offset += v * strides[d];
                }
                data.SetValue(values.Data.GetValue(values.Length == 1 ? 0 : k), offset);
            }
            ctx.SetConst(0, dense);
            return;
        }
        // Run-time indices/values: Expand the default to the output shape and ScatterND the values into it.
        string baseValue = ctx.Op("Expand", new[] { ctx.Op("Reshape", new[] { ctx.Input(3), ctx.Int64s(1) }), ctx.Int64s(shape) });
        string indices = ctx.AsInt64(0);
        indices = ctx.Op("Reshape", new[] { indices, ctx.Int64s(-1, shape.Length) });
        string count = ctx.Op("Slice", new[] { ctx.Op("Shape", new[] { indices }), ctx.Int64s(0), ctx.Int64s(1) });
        string updates = ctx.Op("Expand", new[] { ctx.Op("Reshape", new[] { ctx.Input(2), ctx.Int64s(-1) }), count });
        ctx.OpTo(ctx.Out(), "ScatterND", new[] { baseValue, indices, updates });
        ctx.SetType(0, type);
        ctx.SetShape(0, shape);
    }
}
