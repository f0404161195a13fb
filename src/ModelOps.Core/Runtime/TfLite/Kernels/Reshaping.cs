using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Protos;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.TfLite.Kernels;

/// <summary>
/// Data movement: RESHAPE, SQUEEZE, EXPAND_DIMS, STRIDED_SLICE, SLICE, PACK, UNPACK, CONCATENATION, SPACE_TO_DEPTH,
/// PAD, PADV2, TRANSPOSE, SPLIT, SPLIT_V, GATHER. Quantized tensors keep their values (CONCATENATION rescales inputs whose scale differs).
/// </summary>
internal static class Reshaping
{
    public static void Register(Dictionary<BuiltinOperator, TfLiteKernel> r)
    {
        r[BuiltinOperator.RESHAPE] = Reshape;
        r[BuiltinOperator.SQUEEZE] = Reshape;
        r[BuiltinOperator.EXPAND_DIMS] = Reshape;
        r[BuiltinOperator.STRIDED_SLICE] = StridedSlice;
        r[BuiltinOperator.SLICE] = Slice;
        r[BuiltinOperator.PACK] = Pack;
        r[BuiltinOperator.UNPACK] = Unpack;
        r[BuiltinOperator.CONCATENATION] = Concatenation;
        r[BuiltinOperator.SPACE_TO_DEPTH] = SpaceToDepth;
        r[BuiltinOperator.PAD] = Pad;
        r[BuiltinOperator.PADV2] = Pad;
        r[BuiltinOperator.TRANSPOSE] = Transpose;
        r[BuiltinOperator.SPLIT] = ctx => Split(ctx, ctx.Input(1), (int)ctx.Input(0).GetInt64(0), null);
        r[BuiltinOperator.SPLIT_V] = ctx => Split(ctx, ctx.Input(0), (int)ctx.Input(2).GetInt64(0), ctx.Input(1).ToInt32Array());
        r[BuiltinOperator.GATHER] = Gather;
    }

    /// <summary>Elements of <paramref name="a"/> at the given flat indices, as a new array of the same element type.</summary>
    internal static Array Take(Array a, int[] idx) => a switch
    {
        float[] x => Take(x, idx),
        sbyte[] x => Take(x, idx),
        byte[] x => Take(x, idx),
        short[] x => Take(x, idx),
        int[] x => Take(x, idx),
        long[] x => Take(x, idx),
        Half[] x => Take(x, idx),
        bool[] x => Take(x, idx),
        double[] x => Take(x, idx),
        byte[][] x => Take(x, idx),
        _ => throw new InvalidOperationException($"{a.GetType().Name} cannot be gathered"),
    };

    private static T[] Take<T>(T[] a, int[] idx)
    {
        var r = new T[idx.Length];
        for (int i = 0; i < idx.Length; i++) r[i] = a[idx[i]];
        return r;
    }

    private static int[] Strides(int[] shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    private static void Reshape(OpContext ctx)
    {
        var input = ctx.Input(0);
        int[] shape;
        if (ctx.Code.Builtin == BuiltinOperator.RESHAPE && ctx.HasInput(1) && ctx.Input(1).Rank == 1)
            shape = ctx.Input(1).ToInt32Array();
        else if (ctx.Code.Builtin == BuiltinOperator.RESHAPE && ctx.Options<ReshapeOptions>() is { NewShapeLength: > 0 } ro)
            shape = ro.GetNewShapeArray();
        else if (ctx.Code.Builtin == BuiltinOperator.SQUEEZE)
        {
            var dims = ctx.Options<SqueezeOptions>()?.GetSqueezeDimsArray() ?? Array.Empty<int>();
            var norm = dims.Select(d => d < 0 ? d + input.Rank : d).ToHashSet();
            shape = input.Shape.Where((d, i) => norm.Count == 0 ? d != 1 : !norm.Contains(i)).ToArray();
        }
        else if (ctx.Code.Builtin == BuiltinOperator.EXPAND_DIMS)
        {
            int axis = (int)ctx.Input(1).GetInt64(0);
            if (axis < 0) axis += input.Rank + 1;
            var l = input.Shape.ToList();
            l.Insert(Math.Clamp(axis, 0, l.Count), 1);
            shape = l.ToArray();
        }
        else shape = (int[])ctx.OutputInfo(0).Shape.Clone();

        shape = (int[])shape.Clone();
        int unknown = Array.IndexOf(shape, -1);
        if (unknown >= 0)
        {
            long known = 1;
            for (int i = 0; i < shape.Length; i++) if (i != unknown) known *= shape[i];
            shape[unknown] = known == 0 ? 0 : (int)(input.Length / known);
        }
        if (Tensor.ElementCount(shape) != input.Length)
            throw ctx.Unsupported($"cannot reshape {input.Length} elements to [{string.Join(",", shape)}]");
        ctx.SetOutput(0, new Tensor(input.DType, shape, input.Data));
    }

    private static void StridedSlice(OpContext ctx)
    {
        var o = ctx.Options<StridedSliceOptions>();
        int beginMask = o?.BeginMask ?? 0, endMask = o?.EndMask ?? 0, shrink = o?.ShrinkAxisMask ?? 0;
        if ((o?.EllipsisMask ?? 0) != 0 || (o?.NewAxisMask ?? 0) != 0) throw ctx.Unsupported("ellipsis and new-axis masks are not implemented");
        bool offset = o?.Offset ?? false;
        var input = ctx.Input(0);
        int[] begin = ctx.Input(1).ToInt32Array(), end = ctx.Input(2).ToInt32Array(), stride = ctx.Input(3).ToInt32Array();
        int rank = input.Rank;
        var starts = new int[rank];
        var counts = new int[rank];
        var steps = new int[rank];
        var outShape = new List<int>();
        for (int d = 0; d < rank; d++)
        {
            int dim = input.Shape[d];
            int st = d < stride.Length ? stride[d] : 1;
            if (st == 0) throw ctx.Unsupported("a stride is 0");
            int b, e;
            if (d >= begin.Length) { b = st > 0 ? 0 : dim - 1; e = st > 0 ? dim : -1; }
            else
            {
                b = begin[d];
                e = offset ? begin[d] + end[d] : end[d];
                if (b < 0) b += dim;
                if (e < 0 && !((endMask >> d & 1) == 1)) e += dim;
                if ((beginMask >> d & 1) == 1) b = st > 0 ? 0 : dim - 1;
                if ((endMask >> d & 1) == 1) e = st > 0 ? dim : -1;
                b = st > 0 ? Math.Clamp(b, 0, dim) : Math.Clamp(b, -1, dim - 1);
                e = st > 0 ? Math.Clamp(e, 0, dim) : Math.Clamp(e, -1, dim - 1);
            }
            if ((shrink >> d & 1) == 1) { e = b + 1; st = 1; }
            int count = st > 0 ? Math.Max(0, (e - b + st - 1) / st) : Math.Max(0, (b - e - st - 1) / -st);
            starts[d] = b; counts[d] = count; steps[d] = st;
            if ((shrink >> d & 1) == 0) outShape.Add(count);
        }
        var inStrides = Strides(input.Shape);
        long total = 1;
        foreach (int c in counts) total *= c;
        var idx = new int[total];
        var counter = new int[rank];
        for (long n = 0; n < total; n++)
        {
            int src = 0;
            for (int d = 0; d < rank; d++) src += (starts[d] + counter[d] * steps[d]) * inStrides[d];
            idx[n] = src;
            for (int d = rank - 1; d >= 0; d--) { if (++counter[d] < counts[d]) break; counter[d] = 0; }
        }
        ctx.SetOutput(0, new Tensor(input.DType, outShape.ToArray(), Take(input.Data, idx)));
    }

    private static void Slice(OpContext ctx)
    {
        var input = ctx.Input(0);
        int[] begin = ctx.Input(1).ToInt32Array(), size = ctx.Input(2).ToInt32Array();
        int rank = input.Rank;
        var shape = new int[rank];
        for (int d = 0; d < rank; d++) shape[d] = size[d] < 0 ? input.Shape[d] - begin[d] : size[d];
        var inStrides = Strides(input.Shape);
        var idx = new int[Tensor.ElementCount(shape)];
        var counter = new int[rank];
        for (int n = 0; n < idx.Length; n++)
        {
            int src = 0;
            for (int d = 0; d < rank; d++) src += (begin[d] + counter[d]) * inStrides[d];
            idx[n] = src;
            for (int d = rank - 1; d >= 0; d--) { if (++counter[d] < shape[d]) break; counter[d] = 0; }
        }
        ctx.SetOutput(0, new Tensor(input.DType, shape, Take(input.Data, idx)));
    }

    /// <summary>Joins tensors along an axis; with <paramref name="newAxis"/> (PACK) the axis is inserted first.</summary>
    private static Tensor Join(OpContext ctx, IReadOnlyList<Tensor> parts, int axis, bool newAxis)
    {
        var first = parts[0];
        int rank = first.Rank + (newAxis ? 1 : 0);
        if (axis < 0) axis += rank;
        var shapes = parts.Select(p => newAxis ? p.Shape.Take(axis).Append(1).Concat(p.Shape.Skip(axis)).ToArray() : p.Shape).ToList();
        var outShape = (int[])shapes[0].Clone();
        outShape[axis] = shapes.Sum(s => s[axis]);
        int outer = 1;
        for (int d = 0; d < axis; d++) outer *= outShape[d];
        var idxPart = new List<(int Part, int Index)>();
        var result = Array.CreateInstance(first.Data.GetType().GetElementType()!, Tensor.ElementCount(outShape));
        int pos = 0;
        for (int o = 0; o < outer; o++)
            for (int p = 0; p < parts.Count; p++)
            {
                int chunk = 1;
                for (int d = axis; d < shapes[p].Length; d++) chunk *= shapes[p][d];
                Array.Copy(parts[p].Data, o * chunk, result, pos, chunk);
                pos += chunk;
            }
        return new Tensor(first.DType, outShape, result);
    }

    private static void Pack(OpContext ctx)
    {
        int axis = ctx.Options<PackOptions>()?.Axis ?? 0;
        var parts = Enumerable.Range(0, ctx.InputCount).Select(ctx.Input).ToList();
        ctx.SetOutput(0, Join(ctx, parts, axis, newAxis: true));
    }

    private static void Unpack(OpContext ctx)
    {
        var input = ctx.Input(0);
        int axis = ctx.Options<UnpackOptions>()?.Axis ?? 0;
        if (axis < 0) axis += input.Rank;
        int count = input.Shape[axis];
        int outer = 1, inner = 1;
        for (int d = 0; d < axis; d++) outer *= input.Shape[d];
        for (int d = axis + 1; d < input.Rank; d++) inner *= input.Shape[d];
        var shape = input.Shape.Where((_, i) => i != axis).ToArray();
        for (int k = 0; k < Math.Min(count, ctx.OutputCount); k++)
        {
            var idx = new int[outer * inner];
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < inner; i++) idx[o * inner + i] = (o * count + k) * inner + i;
            ctx.SetOutput(k, new Tensor(input.DType, shape, Take(input.Data, idx)));
        }
    }

    private static void Concatenation(OpContext ctx)
    {
        var o = ctx.Options<ConcatenationOptions>();
        int axis = o?.Axis ?? 0;
        var act = o?.FusedActivationFunction ?? ActivationFunctionType.NONE;
        var parts = new List<Tensor>();
        var outInfo = ctx.OutputInfo(0);
        var qo = ctx.OutQ();
        for (int i = 0; i < ctx.InputCount; i++)
        {
            var t = ctx.Input(i);
            var qi = ctx.InQ(i);
            if (Ints.IsQuantizedInt(t.DType) && outInfo.Quantization is { HasScale: true } && (qi.Scale != qo.Scale || qi.ZeroPoint != qo.ZeroPoint))
            {
                // Rescale to the output's parameters in float, as TFLite's ConcatenationWithScaling does.
                var (tmin, tmax) = Ints.Range(t.DType);
                float s = qi.Scale / qo.Scale;
                var xi = Ints.Of(t);
                for (int k = 0; k < xi.Length; k++)
                    xi[k] = Math.Clamp((int)QuantMath.Round((xi[k] - qi.ZeroPoint) * s) + qo.ZeroPoint, tmin, tmax);
                t = Ints.ToTensor(xi, t.DType, t.Shape);
            }
            parts.Add(t);
        }
        var result = Join(ctx, parts, axis, newAxis: false);
        if (act != ActivationFunctionType.NONE && result.DType == DataType.DtFloat)
            result = new Tensor(DataType.DtFloat, result.Shape, ((float[])result.Data).Select(v => QuantMath.ApplyActivation(v, act)).ToArray());
        ctx.SetOutput(0, result);
    }

    private static void SpaceToDepth(OpContext ctx)
    {
        var input = ctx.Input(0);
        int bs = ctx.Options<SpaceToDepthOptions>()?.BlockSize ?? 2;
        if (input.Rank != 4 || bs < 1 || input.Shape[1] % bs != 0 || input.Shape[2] % bs != 0) throw ctx.Unsupported("the input must be NHWC with height and width divisible by the block size");
        int n = input.Shape[0], h = input.Shape[1], w = input.Shape[2], c = input.Shape[3];
        int oh = h / bs, ow = w / bs, oc = c * bs * bs;
        var idx = new int[n * oh * ow * oc];
        int p = 0;
        for (int b = 0; b < n; b++)
            for (int y = 0; y < oh; y++)
                for (int x = 0; x < ow; x++)
                    for (int by = 0; by < bs; by++)
                        for (int bx = 0; bx < bs; bx++)
                            for (int ch = 0; ch < c; ch++)
                                idx[p++] = ((b * h + y * bs + by) * w + x * bs + bx) * c + ch;
        ctx.SetOutput(0, new Tensor(input.DType, new[] { n, oh, ow, oc }, Take(input.Data, idx)));
    }

    private static void Pad(OpContext ctx)
    {
        var input = ctx.Input(0);
        var pads = ctx.Input(1).ToInt32Array();
        int rank = input.Rank;
        if (pads.Length != rank * 2) throw ctx.Unsupported("paddings must be [rank, 2]");
        var shape = new int[rank];
        for (int d = 0; d < rank; d++) shape[d] = input.Shape[d] + pads[2 * d] + pads[2 * d + 1];
        // Padding value: PADV2's constant, else zero (the zero point for quantized tensors).
        Tensor fill;
        if (ctx.Code.Builtin == BuiltinOperator.PADV2 && ctx.HasInput(2)) fill = ctx.Input(2);
        else if (Ints.IsQuantizedInt(input.DType)) fill = Ints.ToTensor(new[] { ctx.OutQ().ZeroPoint }, input.DType, new[] { 1 });
        else fill = Tensor.Zeros(input.DType, new[] { 1 });
        var src = Array.CreateInstance(input.Data.GetType().GetElementType()!, input.Length + 1);
        Array.Copy(input.Data, src, input.Length);
        Array.Copy(fill.Data, 0, src, input.Length, 1);
        var inStrides = Strides(input.Shape);
        var idx = new int[Tensor.ElementCount(shape)];
        var counter = new int[rank];
        for (int n = 0; n < idx.Length; n++)
        {
            int s = 0;
            bool inside = true;
            for (int d = 0; d < rank; d++)
            {
                int c = counter[d] - pads[2 * d];
                if ((uint)c >= (uint)input.Shape[d]) { inside = false; break; }
                s += c * inStrides[d];
            }
            idx[n] = inside ? s : input.Length;
            for (int d = rank - 1; d >= 0; d--) { if (++counter[d] < shape[d]) break; counter[d] = 0; }
        }
        ctx.SetOutput(0, new Tensor(input.DType, shape, Take(src, idx)));
    }

    private static void Transpose(OpContext ctx)
    {
        var input = ctx.Input(0);
        var perm = ctx.Input(1).ToInt32Array();
        int rank = input.Rank;
        if (perm.Length != rank) throw ctx.Unsupported("the permutation does not match the input rank");
        var shape = perm.Select(p => input.Shape[p]).ToArray();
        var inStrides = Strides(input.Shape);
        var idx = new int[input.Length];
        var counter = new int[rank];
        for (int n = 0; n < idx.Length; n++)
        {
            int s = 0;
            for (int d = 0; d < rank; d++) s += counter[d] * inStrides[perm[d]];
            idx[n] = s;
            for (int d = rank - 1; d >= 0; d--) { if (++counter[d] < shape[d]) break; counter[d] = 0; }
        }
        ctx.SetOutput(0, new Tensor(input.DType, shape, Take(input.Data, idx)));
    }

    /// <summary>SPLIT (equal parts, as many as outputs) and SPLIT_V (given sizes, one of them may be -1) along an axis.</summary>
    private static void Split(OpContext ctx, Tensor input, int axis, int[]? sizes)
    {
        if (axis < 0) axis += input.Rank;
        if ((uint)axis >= (uint)input.Rank) throw ctx.Unsupported($"axis {axis} is outside the input's {input.Rank} dimensions");
        int dim = input.Shape[axis], parts = ctx.OutputCount;
        if (sizes is null)
        {
            if (parts == 0 || dim % parts != 0) throw ctx.Unsupported($"dimension {dim} does not split into {parts} equal parts");
            sizes = Enumerable.Repeat(dim / parts, parts).ToArray();
        }
        else
        {
            sizes = (int[])sizes.Clone();
            int unknown = Array.IndexOf(sizes, -1);
            if (unknown >= 0) sizes[unknown] = dim - sizes.Where((_, i) => i != unknown).Sum();
            if (sizes.Length != parts || sizes.Any(v => v < 0) || sizes.Sum() != dim)
                throw ctx.Unsupported($"sizes [{string.Join(",", sizes)}] do not split dimension {dim} into {parts} outputs");
        }
        int outer = 1, inner = 1;
        for (int d = 0; d < axis; d++) outer *= input.Shape[d];
        for (int d = axis + 1; d < input.Rank; d++) inner *= input.Shape[d];
        int start = 0;
        for (int k = 0; k < parts; k++)
        {
            var shape = (int[])input.Shape.Clone();
            shape[axis] = sizes[k];
            int chunk = sizes[k] * inner;
            var idx = new int[outer * chunk];
            for (int o = 0; o < outer; o++)
                for (int i = 0; i < chunk; i++) idx[o * chunk + i] = (o * dim + start) * inner + i;
            ctx.SetOutput(k, new Tensor(input.DType, shape, Take(input.Data, idx)));
            start += sizes[k];
        }
    }

    /// <summary>GATHER: slices of params along an axis picked by integer indices (batch_dims 0).</summary>
    private static void Gather(OpContext ctx)
    {
        var o = ctx.Options<GatherOptions>();
        var input = ctx.Input(0);
        var indices = ctx.Input(1);
        if ((o?.BatchDims ?? 0) != 0) throw ctx.Unsupported("batch_dims other than 0 are not implemented");
        int axis = o?.Axis ?? 0;
        if (axis < 0) axis += input.Rank;
        if ((uint)axis >= (uint)input.Rank) throw ctx.Unsupported($"axis {axis} is outside the input's {input.Rank} dimensions");
        int dim = input.Shape[axis], outer = 1, inner = 1;
        for (int d = 0; d < axis; d++) outer *= input.Shape[d];
        for (int d = axis + 1; d < input.Rank; d++) inner *= input.Shape[d];
        var at = new int[indices.Length];
        for (int i = 0; i < at.Length; i++)
        {
            long v = indices.GetInt64(i);
            if (v < 0 || v >= dim) throw ctx.Unsupported($"index {v} is outside [0, {dim})");
            at[i] = (int)v;
        }
        var shape = input.Shape.Take(axis).Concat(indices.Shape).Concat(input.Shape.Skip(axis + 1)).ToArray();
        var idx = new int[outer * at.Length * inner];
        int p = 0;
        for (int b = 0; b < outer; b++)
            foreach (int a in at)
                for (int i = 0; i < inner; i++) idx[p++] = (b * dim + a) * inner + i;
        ctx.SetOutput(0, new Tensor(input.DType, shape, Take(input.Data, idx)));
    }
}
