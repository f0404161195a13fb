using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Ops;

/// <summary>
/// TensorArrayV3 and its element ops. The handle output is a resource scalar holding the array's
/// state (one per run, so runs never share arrays); the flow tensors only order the ops, as in TF.
/// Reading an element never written yields zeros when the element shape is fully known, else fails.
/// </summary>
public sealed partial class TensorArray : OpFamily
{
    /// <summary>The state behind a TensorArray handle.</summary>
    internal sealed class State
    {
        public required DataType DType { get; init; }
        public long[]? ElementShape { get; set; }
        public bool DynamicSize { get; init; }
        public List<Tensor?> Elements { get; } = new();
        public bool Closed { get; set; }
    }

    private static readonly Tensor Flow = Tensor.Scalar(0f);

    public override void RegisterKernels(KernelRegistry registry)
    {
        registry.Add("TensorArrayV3", ctx =>
        {
            long size = DataMovement.ScalarInt(ctx, 0);
            if (size < 0) throw ctx.Error($"has negative size {size}.");
            var st = new State
            {
                DType = ctx.Type("dtype"),
                ElementShape = ctx.Shape("element_shape"),
                DynamicSize = ctx.Bool("dynamic_size", false),
            };
            for (long i = 0; i < size; i++) st.Elements.Add(null);
            ctx.SetOutput(0, new Tensor(DataType.DtResource, Array.Empty<int>(), new object[] { st }));
            ctx.SetOutput(1, Flow);
        });
        registry.Add("TensorArrayWriteV3", ctx =>
        {
            var st = Handle(ctx);
            Write(ctx, st, DataMovement.ScalarInt(ctx, 1), ctx.Input(2));
            ctx.SetOutput(0, Flow);
        });
        registry.Add("TensorArrayReadV3", ctx =>
        {
            var st = Handle(ctx);
            ctx.SetOutput(0, Read(ctx, st, DataMovement.ScalarInt(ctx, 1)));
        });
        registry.Add("TensorArrayGatherV3", ctx =>
        {
            var st = Handle(ctx);
            var indices = ctx.Input(1).ToInt64Array();
            var items = new Tensor[indices.Length];
            for (int i = 0; i < items.Length; i++) items[i] = Read(ctx, st, indices[i]);
            int[] elem;
            if (items.Length > 0) elem = items[0].Shape;
            else
            {
                var es = st.ElementShape ?? ctx.Shape("element_shape");
                if (es is null || es.Any(d => d < 0))
                    throw ctx.Error("gathers no elements from a TensorArray whose element shape is not fully known.");
                elem = es.Select(d => (int)d).ToArray();
            }
            ctx.SetOutput(0, Stack(ctx, st.DType, items, elem));
        });
        registry.Add("TensorArrayScatterV3", ctx =>
        {
            var st = Handle(ctx);
            var indices = ctx.Input(1).ToInt64Array();
            var value = ctx.Input(2);
            if (value.Rank == 0 || value.Shape[0] != indices.Length)
                throw ctx.Error($"scatters {indices.Length} indices but the value has shape {Tensor.FormatShape(value.Shape)}.");
            for (int i = 0; i < indices.Length; i++)
                Write(ctx, st, indices[i], Unstack(value, i));
            ctx.SetOutput(0, Flow);
        });
        registry.Add("TensorArrayConcatV3", ctx =>
        {
            var st = Handle(ctx);
            var items = new Tensor[st.Elements.Count];
            for (int i = 0; i < items.Length; i++) items[i] = Read(ctx, st, i);
            var lengths = items.Select(t => t.Rank == 0 ? throw ctx.Error("concatenates scalar elements.") : (long)t.Shape[0]).ToArray();
            Tensor result;
            if (items.Length == 0)
            {
                var es = ctx.Shape("element_shape_except0") ?? Array.Empty<long>();
                result = Tensor.Zeros(st.DType, new[] { 0 }.Concat(es.Select(d => (int)Math.Max(d, 0))).ToArray());
            }
            else
            {
                var shape = (int[])items[0].Shape.Clone();
                shape[0] = (int)lengths.Sum();
                result = DataMovement.Concat(items, 0, shape);
            }
            ctx.SetOutput(0, result);
            ctx.SetOutput(1, Tensor.Create(lengths, lengths.Length));
        });
        registry.Add("TensorArraySplitV3", ctx =>
        {
            var st = Handle(ctx);
            var value = ctx.Input(1);
            var lengths = ctx.Input(2).ToInt64Array();
            if (value.Rank == 0 || lengths.Sum() != value.Shape[0])
                throw ctx.Error($"splits a value of shape {Tensor.FormatShape(value.Shape)} into lengths summing to {lengths.Sum()}.");
            int start = 0;
            for (int i = 0; i < lengths.Length; i++)
            {
                Write(ctx, st, i, DataMovement.SliceAxis(value, 0, start, (int)lengths[i]));
                start += (int)lengths[i];
            }
            ctx.SetOutput(0, Flow);
        });
        registry.Add("TensorArraySizeV3", ctx => ctx.SetOutput(0, Tensor.Scalar(Handle(ctx).Elements.Count)));
        registry.Add("TensorArrayCloseV3", ctx => Handle(ctx).Closed = true);
    }

    private static State Handle(KernelContext ctx)
    {
        var h = ctx.Input(0);
        if (h.Data is object[] { Length: 1 } o && o[0] is State s) return s;
        throw ctx.Error("needs a TensorArray handle as input 0.");
    }

    private static void Write(KernelContext ctx, State st, long index, Tensor value)
    {
        if (st.Closed) throw ctx.Error("writes to a closed TensorArray.");
        if (value.DType != st.DType) throw ctx.Error($"writes a {value.DType.Name()} value into a TensorArray of {st.DType.Name()}.");
        if (index < 0) throw ctx.Error($"writes at negative index {index}.");
        if (index >= st.Elements.Count)
        {
            if (!st.DynamicSize) throw ctx.Error($"writes at index {index} but the TensorArray has size {st.Elements.Count} and is not dynamically sized.");
            while (st.Elements.Count <= index) st.Elements.Add(null);
        }
        if (st.ElementShape is { } es)
        {
            bool ok = es.Length == value.Rank;
            for (int i = 0; ok && i < es.Length; i++) ok = es[i] < 0 || es[i] == value.Shape[i];
            if (!ok) throw ctx.Error($"writes a value of shape {Tensor.FormatShape(value.Shape)} into a TensorArray of elements {Tensor.FormatShape(es)}.");
        }
        var prev = st.Elements[(int)index];
        if (prev is not null && !prev.Shape.AsSpan().SequenceEqual(value.Shape))
            throw ctx.Error($"writes shape {Tensor.FormatShape(value.Shape)} over an element of shape {Tensor.FormatShape(prev.Shape)}.");
        st.Elements[(int)index] = value;
    }

    private static Tensor Read(KernelContext ctx, State st, long index)
    {
        if (index < 0 || index >= st.Elements.Count)
            throw ctx.Error($"reads index {index} of a TensorArray of size {st.Elements.Count}.");
        var v = st.Elements[(int)index];
        if (v is not null) return v;
        // An element never written: zeros of the element shape if it is fully known (or of a written sibling).
        var shape = st.ElementShape is { } es && es.All(d => d >= 0) ? es.Select(d => (int)d).ToArray()
            : st.Elements.FirstOrDefault(e => e is not null)?.Shape;
        if (shape is null) throw ctx.Error($"reads element {index} of a TensorArray before it was written.");
        return Tensor.Zeros(st.DType, shape);
    }

    private static Tensor Stack(KernelContext ctx, DataType dtype, Tensor[] items, int[] elem)
    {
        var shape = new int[elem.Length + 1];
        shape[0] = items.Length;
        elem.CopyTo(shape, 1);
        Array dst = Array.CreateInstance(dtype.StorageType(), DataMovement.Count(shape) * dtype.Lanes());
        int n = DataMovement.Count(elem) * dtype.Lanes();
        for (int i = 0; i < items.Length; i++)
        {
            if (!items[i].Shape.AsSpan().SequenceEqual(elem))
                throw ctx.Error($"gathers elements of different shapes ({Tensor.FormatShape(elem)} and {Tensor.FormatShape(items[i].Shape)}).");
            Array.Copy(items[i].Data, 0, dst, (long)i * n, n);
        }
        return new Tensor(dtype, shape, dst);
    }

    private static Tensor Unstack(Tensor value, int i)
    {
        var elem = value.Shape[1..];
        int n = DataMovement.Count(elem) * value.DType.Lanes();
        Array dst = Array.CreateInstance(value.Data.GetType().GetElementType()!, n);
        Array.Copy(value.Data, (long)i * n, dst, 0, n);
        return new Tensor(value.DType, elem, dst);
    }
}
