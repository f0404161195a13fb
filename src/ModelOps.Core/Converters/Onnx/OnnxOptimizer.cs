using ModelOps.Core.Protos.Onnx;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Converters.Onnx;

/// <summary>
/// Clean-up passes over a converted ONNX graph, applied until nothing changes:
/// <list type="bullet">
/// <item>Transpose∘Transpose folds into one Transpose, or vanishes when the two cancel;</item>
/// <item>a Transpose of an initializer becomes a transposed initializer;</item>
/// <item>Transposes move down through layout-agnostic ops (element-wise, Clip, Pad, Concat, Split,
/// reductions, Softmax) when every data input is the same Transpose or a constant, so that they meet
/// their inverse and cancel; a move is made only when it does not add Transposes;</item>
/// <item>dead nodes, Identities and unused initializers are removed.</item>
/// </list>
/// </summary>
public static class OnnxOptimizer
{
    private static readonly HashSet<string> Unary = new(StringComparer.Ordinal)
    {
        "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Exp", "Neg", "Abs", "Sqrt", "Reciprocal", "Identity", "Cast", "Elu", "Selu",
        "Softplus", "Softsign", "Ceil", "Floor", "Log", "Erf", "HardSigmoid", "HardSwish", "Round", "Sign", "Not", "Clip", "Sin", "Cos",
    };

    private static readonly HashSet<string> Broadcasting = new(StringComparer.Ordinal)
    {
        "Add", "Sub", "Mul", "Div", "Max", "Min", "Sum", "Pow", "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "PRelu", "Where",
    };

    private static readonly HashSet<string> Reductions = new(StringComparer.Ordinal)
    {
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "ReduceSumSquare",
    };

    /// <summary>Runs every pass to a fixed point. The graph must be in topological order; it stays so.</summary>
    public static void Optimize(GraphProto graph)
    {
        var g = new Editor(graph);
        while (true)
        {
            g.Index();
            if (CancelOrFold(g) || PushDown(g) || RemoveDead(g)) continue;
            break;
        }
        g.Index();
        RemoveIdentities(g);
        g.Index();
        RemoveDead(g);
        var used = new HashSet<string>(graph.Node.SelectMany(n => n.Input), StringComparer.Ordinal);
        foreach (var o in graph.Output) used.Add(o.Name);
        for (int i = graph.Initializer.Count - 1; i >= 0; i--)
            if (!used.Contains(graph.Initializer[i].Name)) graph.Initializer.RemoveAt(i);
    }

    private static long[] Perm(NodeProto t) => OnnxAttr.Find(t, "perm")?.Ints.ToArray() ?? Array.Empty<long>();

    private static bool IsIdentity(IReadOnlyList<long> p) => p.Select((v, i) => v == i).All(b => b);

    /// <summary>Transpose of a Transpose; identity Transpose; Transpose of an initializer.</summary>
    private static bool CancelOrFold(Editor g)
    {
        foreach (var t in g.Graph.Node)
        {
            if (t.OpType != "Transpose") continue;
            var p2 = Perm(t);
            if (p2.Length > 0 && IsIdentity(p2) && !g.IsGraphOutput(t.Output[0]))
            {
                g.ReplaceUses(t.Output[0], t.Input[0]);
                g.Graph.Node.Remove(t);
                return true;
            }
            var src = g.Producer(t.Input[0]);
            if (src is { OpType: "Transpose" })
            {
                var p1 = Perm(src);
                if (p1.Length != p2.Length || p1.Length == 0) continue;
                var c = p2.Select(i => p1[i]).ToArray();
                if (IsIdentity(c))
                {
                    if (g.IsGraphOutput(t.Output[0]))
                    {
                        t.OpType = "Identity";
                        t.Attribute.Clear();
                        t.Input[0] = src.Input[0];
                    }
                    else
                    {
                        g.ReplaceUses(t.Output[0], src.Input[0]);
                        g.Graph.Node.Remove(t);
                    }
                }
                else
                {
                    t.Input[0] = src.Input[0];
                    t.Attribute.Clear();
                    t.Attribute.Add(OnnxAttr.Ints("perm", c));
                }
                return true;
            }
            if (g.Initializer(t.Input[0]) is { } init && !g.IsGraphOutput(t.Output[0]) && p2.Length == init.Dims.Count)
            {
                var value = OnnxTensors.Transpose(OnnxTensors.ToTensor(init), p2.Select(v => (int)v).ToArray());
                string name = g.Fresh(t.Output[0] + "/folded");
                g.Graph.Initializer.Add(OnnxTensors.FromTensor(value, name));
                g.ReplaceUses(t.Output[0], name);
                g.Graph.Node.Remove(t);
                return true;
            }
        }
        return false;
    }

    /// <summary>Moves one Transpose below a layout-agnostic consumer, if that does not add Transposes.</summary>
    private static bool PushDown(Editor g)
    {
        foreach (var n in g.Graph.Node)
        {
            int[] dataInputs = DataInputs(n);
            if (dataInputs.Length == 0) continue;
            long[]? perm = null;
            var transposes = new List<NodeProto>();
            bool ok = true;
            foreach (int k in dataInputs)
            {
                if (k >= n.Input.Count || n.Input[k].Length == 0) continue;
                var p = g.Producer(n.Input[k]);
                if (p is { OpType: "Transpose" })
                {
                    var pp = Perm(p);
                    if (perm is null) perm = pp;
                    else if (!perm.SequenceEqual(pp)) { ok = false; break; }
                    if (!transposes.Contains(p)) transposes.Add(p);
                }
                else if (g.Initializer(n.Input[k]) is null) { ok = false; break; }
            }
            if (!ok || perm is null || perm.Length == 0) continue;
            int r = perm.Length;
            // Constants must broadcast within rank r.
            if (dataInputs.Any(k => k < n.Input.Count && g.Initializer(n.Input[k]) is { } c && c.Dims.Count > r)) continue;
            if (!AdjustAttributes(g, n, perm, dryRun: true, out var outPerm)) continue;

            int dead = transposes.Count(t => g.Consumers(t.Output[0]).All(c => c == n) && !g.IsGraphOutput(t.Output[0]));
            bool outIdentity = IsIdentity(outPerm);
            int added = outIdentity ? 0 : n.Output.Count(o => o.Length > 0 && (g.Consumers(o).Count > 0 || g.IsGraphOutput(o)));
            if (added > dead || (dead == 0 && added > 0)) continue;

            // Rewrite: inputs before the Transposes, constants permuted the other way, outputs transposed back.
            AdjustAttributes(g, n, perm, dryRun: false, out _);
            var inv = OnnxTensors.Inverse(perm.Select(v => (int)v).ToArray());
            foreach (int k in dataInputs)
            {
                if (k >= n.Input.Count || n.Input[k].Length == 0) continue;
                var p = g.Producer(n.Input[k]);
                if (p is { OpType: "Transpose" }) { n.Input[k] = p.Input[0]; continue; }
                var init = g.Initializer(n.Input[k])!;
                var value = OnnxTensors.ToTensor(init);
                if (value.Shape.All(d => d == 1) && value.Rank <= r) continue;
                var full = value.Reshape(Enumerable.Repeat(1, r - value.Rank).Concat(value.Shape).ToArray());
                string name = g.Fresh(init.Name + "/permuted");
                g.Graph.Initializer.Add(OnnxTensors.FromTensor(OnnxTensors.Transpose(full, inv), name));
                n.Input[k] = name;
            }
            int at = g.Graph.Node.IndexOf(n) + 1;
            for (int o = 0; o < n.Output.Count; o++)
            {
                string orig = n.Output[o];
                if (orig.Length == 0) continue;
                if (outIdentity) continue;
                string inner = g.Fresh(orig + "/pre_transpose");
                n.Output[o] = inner;
                g.Graph.Node.Insert(at++, new NodeProto
                {
                    OpType = "Transpose", Name = g.FreshNode(n.Name + "/Transpose"), Input = { inner }, Output = { orig },
                    Attribute = { OnnxAttr.Ints("perm", outPerm) },
                });
            }
            return true;
        }
        return false;
    }

    /// <summary>Indices of the inputs that carry the layout (the rest are scalars/shapes handled by attributes).</summary>
    private static int[] DataInputs(NodeProto n)
    {
        if (Unary.Contains(n.OpType)) return new[] { 0 };
        if (Broadcasting.Contains(n.OpType) || n.OpType == "Concat") return Enumerable.Range(0, n.Input.Count).ToArray();
        if (n.OpType is "Split" or "Pad" or "Softmax" or "LogSoftmax" || Reductions.Contains(n.OpType)) return new[] { 0 };
        return Array.Empty<int>();
    }

    /// <summary>
    /// Rewrites axis-like attributes/inputs of <paramref name="n"/> for inputs that are no longer
    /// transposed by <paramref name="perm"/>, and gives the permutation its outputs need.
    /// </summary>
    private static bool AdjustAttributes(Editor g, NodeProto n, long[] perm, bool dryRun, out long[] outPerm)
    {
        int r = perm.Length;
        outPerm = perm;
        long Map(long axis) => perm[axis < 0 ? axis + r : axis];
        switch (n.OpType)
        {
            case "Concat" or "Split" or "Softmax" or "LogSoftmax":
            {
                var a = OnnxAttr.Find(n, "axis");
                long axis = a?.I ?? (n.OpType is "Softmax" or "LogSoftmax" ? -1 : 0);
                if (!dryRun)
                {
                    if (a is null) { a = OnnxAttr.Int("axis", 0); n.Attribute.Add(a); }
                    a.I = Map(axis);
                }
                return true;
            }
            case "Pad":
            {
                if (n.Input.Count > 3 && n.Input[3].Length > 0) return false;
                var pads = n.Input.Count > 1 ? g.Initializer(n.Input[1]) : null;
                if (pads is null) return false;
                if (dryRun) return true;
                var v = OnnxTensors.ToTensor(pads).ToInt64Array();
                if (v.Length != 2 * r) return false;
                var nv = new long[2 * r];
                for (int i = 0; i < r; i++) { nv[perm[i]] = v[i]; nv[r + perm[i]] = v[r + i]; }
                string name = g.Fresh(n.Input[1] + "/permuted");
                g.Graph.Initializer.Add(OnnxTensors.FromTensor(Tensor.Create(nv, nv.Length), name));
                n.Input[1] = name;
                return true;
            }
            default:
                if (Reductions.Contains(n.OpType))
                {
                    var keep = OnnxAttr.Find(n, "keepdims");
                    bool keepDims = keep is null || keep.I != 0;
                    var axesAttr = OnnxAttr.Find(n, "axes");
                    long[]? axes = axesAttr?.Ints.ToArray();
                    string? axesInput = axesAttr is null && n.Input.Count > 1 && n.Input[1].Length > 0 ? n.Input[1] : null;
                    if (axesInput is not null)
                    {
                        var t = g.Initializer(axesInput);
                        if (t is null) return false;
                        axes = OnnxTensors.ToTensor(t).ToInt64Array();
                    }
                    var noop = OnnxAttr.Find(n, "noop_with_empty_axes");
                    bool all = axes is null || axes.Length == 0;
                    if (all)
                    {
                        if (noop is { I: not 0 }) return false;
                        axes = Enumerable.Range(0, r).Select(i => (long)i).ToArray();
                    }
                    var norm = axes!.Select(a => a < 0 ? a + r : a).ToArray();
                    var mapped = norm.Select(a => perm[a]).ToArray();
                    if (!keepDims)
                    {
                        var keptNew = Enumerable.Range(0, r).Where(d => !mapped.Contains(d)).ToList();
                        outPerm = Enumerable.Range(0, r).Where(i => !norm.Contains(i)).Select(i => (long)keptNew.IndexOf((int)perm[i])).ToArray();
                    }
                    if (dryRun || all) return true;
                    var sorted = mapped.OrderBy(a => a).ToArray();
                    if (axesAttr is not null) { axesAttr.Ints.Clear(); axesAttr.Ints.AddRange(sorted); }
                    else
                    {
                        string name = g.Fresh((axesInput ?? n.Name) + "/axes");
                        g.Graph.Initializer.Add(OnnxTensors.FromTensor(Tensor.Create(sorted, sorted.Length), name));
                        n.Input[1] = name;
                    }
                    return true;
                }
                return true;
        }
    }

    private static bool RemoveDead(Editor g)
    {
        bool changed = false;
        for (int i = g.Graph.Node.Count - 1; i >= 0; i--)
        {
            var n = g.Graph.Node[i];
            if (n.Output.All(o => o.Length == 0 || (g.Consumers(o).Count == 0 && !g.IsGraphOutput(o))))
            {
                g.Graph.Node.RemoveAt(i);
                foreach (var input in n.Input) g.RemoveConsumer(input, n);
                changed = true;
            }
        }
        return changed;
    }

    /// <summary>Identity nodes go: consumers read the source; an output Identity renames its source's producer instead.</summary>
    private static void RemoveIdentities(Editor g)
    {
        var graphInputs = new HashSet<string>(g.Graph.Input.Select(i => i.Name), StringComparer.Ordinal);
        foreach (var n in g.Graph.Node.ToList())
        {
            if (n.OpType != "Identity") continue;
            string x = n.Input[0], y = n.Output[0];
            if (!g.IsGraphOutput(y))
            {
                g.ReplaceUses(y, x);
                g.Graph.Node.Remove(n);
                continue;
            }
            var p = g.Producer(x);
            if (p is null || g.IsGraphOutput(x) || graphInputs.Contains(x) || g.Consumers(x).Count != 1) continue;
            // Rename x to y everywhere (only this Identity reads x) and drop the Identity.
            for (int k = 0; k < p.Output.Count; k++) if (p.Output[k] == x) p.Output[k] = y;
            g.Graph.Node.Remove(n);
            g.Index();
        }
    }

    /// <summary>Producer/consumer maps over a graph, rebuilt by <see cref="Index"/> after edits.</summary>
    private sealed class Editor
    {
        private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
        private readonly Dictionary<string, List<NodeProto>> _consumers = new(StringComparer.Ordinal);
        private readonly Dictionary<string, TensorProto> _inits = new(StringComparer.Ordinal);
        private readonly HashSet<string> _outputs = new(StringComparer.Ordinal);
        private readonly HashSet<string> _names = new(StringComparer.Ordinal);
        private readonly HashSet<string> _nodeNames = new(StringComparer.Ordinal);

        public Editor(GraphProto graph)
        {
            Graph = graph;
        }

        public GraphProto Graph { get; }

        public void Index()
        {
            _producers.Clear(); _consumers.Clear(); _inits.Clear(); _outputs.Clear();
            foreach (var t in Graph.Initializer) { _inits[t.Name] = t; _names.Add(t.Name); }
            foreach (var o in Graph.Output) _outputs.Add(o.Name);
            foreach (var i in Graph.Input) _names.Add(i.Name);
            foreach (var n in Graph.Node)
            {
                _nodeNames.Add(n.Name);
                foreach (var o in n.Output) { _producers[o] = n; _names.Add(o); }
                foreach (var i in n.Input)
                {
                    if (i.Length == 0) continue;
                    if (!_consumers.TryGetValue(i, out var l)) _consumers[i] = l = new List<NodeProto>();
                    l.Add(n);
                }
            }
        }

        public NodeProto? Producer(string value) => _producers.GetValueOrDefault(value);
        public IReadOnlyList<NodeProto> Consumers(string value) => _consumers.TryGetValue(value, out var l) ? l : Array.Empty<NodeProto>();
        public void RemoveConsumer(string value, NodeProto n) { if (_consumers.TryGetValue(value, out var l)) l.Remove(n); }
        public TensorProto? Initializer(string value) => _inits.GetValueOrDefault(value);
        public bool IsGraphOutput(string value) => _outputs.Contains(value);

        public string Fresh(string hint)
        {
            if (_names.Add(hint)) return hint;
            for (int i = 1; ; i++) if (_names.Add($"{hint}_{i}")) return $"{hint}_{i}";
        }

        public string FreshNode(string hint)
        {
            if (_nodeNames.Add(hint)) return hint;
            for (int i = 1; ; i++) if (_nodeNames.Add($"{hint}_{i}")) return $"{hint}_{i}";
        }

        public void ReplaceUses(string from, string to)
        {
            foreach (var n in Graph.Node)
                for (int k = 0; k < n.Input.Count; k++)
                    if (n.Input[k] == from) n.Input[k] = to;
        }
    }
}
