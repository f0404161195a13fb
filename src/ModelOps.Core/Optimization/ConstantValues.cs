using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Optimization;

/// <summary>
/// Reads constant values without the engine, for the graph-only passes: a Const, seen through Identity
/// chains, or a small element-wise expression of constants (Add, Sub, Mul, RealDiv, Rsqrt, Sqrt,
/// Reciprocal, Neg) such as the decomposed batch-norm scale Rsqrt(var + eps) * gamma. Values come back as
/// double vectors with their shape; anything else is "not constant" (null).
/// </summary>
internal sealed class ConstantValues
{
    private readonly GraphEditor _g;
    private readonly Dictionary<string, (double[] Values, int[] Shape)?> _cache = new(StringComparer.Ordinal);

    public ConstantValues(GraphEditor g) => _g = g;

    /// <summary>The Const node behind a tensor, seen through Identity chains; null when it is not a Const.</summary>
    public NodeDef? ConstNode(string input)
    {
        var tn = TensorName.Parse(input);
        for (int hops = 0; hops < 64; hops++)
        {
            var n = _g.Find(tn.Node);
            if (n is null || tn.IsControl) return null;
            if (n.Op == "Const" && tn.Index == 0) return n;
            if (n.Op is "Identity" or "Snapshot" && tn.Index == 0 && n.Input.Count > 0 && !n.Input[0].StartsWith('^'))
            {
                tn = TensorName.Parse(n.Input[0]);
                continue;
            }
            return null;
        }
        return null;
    }

    /// <summary>
    /// The shape of the Const node behind a tensor, read from its TensorProto without decoding the elements (filters are
    /// megabytes); null when it is not a Const with a fully known shape.
    /// </summary>
    public int[]? ConstShape(string input)
    {
        var c = ConstNode(input);
        if (c is null || !c.Attr.TryGetValue("value", out var v) || v.Tensor?.TensorShape is not { UnknownRank: false } shape) return null;
        var dims = new int[shape.Dim.Count];
        for (int i = 0; i < dims.Length; i++)
        {
            if (shape.Dim[i].Size is < 0 or > int.MaxValue) return null;
            dims[i] = (int)shape.Dim[i].Size;
        }
        return dims;
    }

    public Tensor? ConstTensor(string input)
    {
        var c = ConstNode(input);
        if (c is null || !c.Attr.TryGetValue("value", out var v) || v.Tensor is null) return null;
        try { return TensorProtoCodec.Decode(v.Tensor, $"constant '{c.Name}'"); }
        catch (Errors.ModelOpsException) { return null; }
    }

    /// <summary>A float-valued constant expression as doubles with its shape; null when not constant or not floating point.</summary>
    public (double[] Values, int[] Shape)? Floats(string input) => Eval(input, 0);

    private (double[] Values, int[] Shape)? Eval(string input, int depth)
    {
        var tn = TensorName.Parse(input);
        if (tn.IsControl || tn.Index != 0 || depth > 32) return null;
        string key = tn.Node;
        if (_cache.TryGetValue(key, out var cached)) return cached;
        var r = Compute(tn.Node, depth);
        _cache[key] = r;
        return r;
    }

    private (double[] Values, int[] Shape)? Compute(string name, int depth)
    {
        var n = _g.Find(name);
        if (n is null) return null;
        if (n.Op == "Const")
        {
            var t = ConstTensor(name);
            if (t is null || !t.DType.IsFloating()) return null;
            var vals = new double[t.Length];
            for (int i = 0; i < vals.Length; i++) vals[i] = t.GetDouble(i);
            return (vals, t.Shape);
        }
        var data = GraphEditor.DataInputs(n).ToList();
        switch (n.Op)
        {
            case "Identity" or "Snapshot" when data.Count == 1:
                return Eval(data[0], depth + 1);
            case "Rsqrt" or "Sqrt" or "Reciprocal" or "Neg" when data.Count == 1:
            {
                var a = Eval(data[0], depth + 1);
                if (a is null) return null;
                Func<double, double> f = n.Op switch
                {
                    "Rsqrt" => x => 1 / Math.Sqrt(x),
                    "Sqrt" => Math.Sqrt,
                    "Reciprocal" => x => 1 / x,
                    _ => x => -x,
                };
                return (a.Value.Values.Select(f).ToArray(), a.Value.Shape);
            }
            case "Add" or "AddV2" or "Sub" or "Mul" or "RealDiv" when data.Count == 2:
            {
                var a = Eval(data[0], depth + 1);
                var b = a is null ? null : Eval(data[1], depth + 1);
                if (a is null || b is null) return null;
                Func<double, double, double> f = n.Op switch
                {
                    "Sub" => (x, y) => x - y,
                    "Mul" => (x, y) => x * y,
                    "RealDiv" => (x, y) => x / y,
                    _ => (x, y) => x + y,
                };
                return Broadcast(a.Value, b.Value, f);
            }
            default:
                return null;
        }
    }

    /// <summary>Element-wise op for the shapes batch-norm parameters take: equal shapes, or one side a single value.</summary>
    private static (double[] Values, int[] Shape)? Broadcast((double[] Values, int[] Shape) a, (double[] Values, int[] Shape) b, Func<double, double, double> f)
    {
        if (a.Values.Length == b.Values.Length && a.Shape.AsSpan().SequenceEqual(b.Shape))
            return (a.Values.Zip(b.Values, f).ToArray(), a.Shape);
        if (b.Values.Length == 1 && b.Shape.Length <= a.Shape.Length)
            return (a.Values.Select(x => f(x, b.Values[0])).ToArray(), a.Shape);
        if (a.Values.Length == 1 && a.Shape.Length <= b.Shape.Length)
            return (b.Values.Select(y => f(a.Values[0], y)).ToArray(), b.Shape);
        return null;
    }

    /// <summary>A per-channel vector of length <paramref name="channels"/> for a value broadcast along one axis of a rank-<paramref name="rank"/> tensor:
    /// a single value, [C], or [1,..,C,..,1] with C at <paramref name="axis"/> (aligned from the right, as broadcasting does).</summary>
    public static double[]? PerChannel((double[] Values, int[] Shape) v, int channels, int rank, int axis)
    {
        if (v.Values.Length == 1 && v.Shape.Length <= rank) return Enumerable.Repeat(v.Values[0], channels).ToArray();
        if (v.Values.Length != channels || v.Shape.Length > rank) return null;
        // Right-aligned: dim j of the value maps to dim rank - len + j of the tensor.
        int offset = rank - v.Shape.Length;
        for (int j = 0; j < v.Shape.Length; j++)
        {
            int tensorAxis = offset + j;
            if (tensorAxis == axis) { if (v.Shape[j] != channels) return null; }
            else if (v.Shape[j] != 1) return null;
        }
        if (axis < offset) return null;
        return v.Values;
    }

    /// <summary>The bool value of a scalar constant (through Identity chains); null otherwise.</summary>
    public bool? BoolScalar(string input)
    {
        var t = ConstTensor(input);
        if (t is null || t.DType != DataType.DtBool || t.Length != 1) return null;
        return ((bool[])t.Data)[0];
    }
}
