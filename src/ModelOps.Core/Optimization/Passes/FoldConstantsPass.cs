using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Ops;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Optimization.Passes;

/// <summary>
/// fold_constants: evaluates, with the ModelOps engine, every node whose inputs are all constant, and
/// replaces what the rest of the graph reads by Const nodes (a single-output node keeps its name). Random
/// and stateful ops, placeholders, control-flow regions and ops the engine cannot run are never folded; a
/// result larger than max_bytes is left to be computed at run time (its inputs are folded instead).
/// Control edges from folded nodes are dropped: a node that depends only on constants orders nothing.
/// </summary>
public sealed class FoldConstantsPass : IGraphPass
{
    public const long DefaultMaxBytes = 10L << 20;

    public string Name => "fold_constants";

    public string Description => "Evaluates every all-constant subgraph with the engine and replaces it by its value (size-capped).";

    public IReadOnlyList<PassArgument> Arguments { get; } = new[]
    {
        new PassArgument("max_bytes", PassArgumentKind.Int, "largest folded constant, in bytes", DefaultMaxBytes.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        new PassArgument("clear_output_shapes", PassArgumentKind.Bool, "drop _output_shapes attributes from the folded constants", "true"),
    };

    private static bool NeverFold(NodeDef n, IReadOnlySet<string> region) =>
        region.Contains(n.Name) || ControlFlowRegions.IsControlFlowOp(n.Op)
        || MergeDuplicateNodesPass.IsStateful(n.Op) && !n.Op.StartsWith("_Fused", StringComparison.Ordinal);

    public GraphDef Apply(GraphDef graph, PassContext context)
    {
        long maxBytes = context.Args.Int("max_bytes", DefaultMaxBytes);
        bool clearShapes = context.Args.Bool("clear_output_shapes", true);
        var g = new GraphEditor(graph.Clone());
        var region = ControlFlowRegions.Find(g.Graph);
        var kernels = Ops.OpRegistry.Kernels;
        var view = g.Snapshot();
        int[] order = view.TopologicalOrder();

        // constant[i]: node i's value is known without running the graph's inputs.
        var constant = new bool[view.Count];
        foreach (int i in order)
        {
            var n = view.Nodes[i];
            if (n.Op == "Const") { constant[i] = !GraphEditor.HasControlInputs(n) || view.InputsOf(i).All(t => constant[view.IndexOf(t.Node)]); continue; }
            if (NeverFold(n, region) || n.Input.Count == 0 || !kernels.Contains(n.Op)) continue;
            constant[i] = view.InputsOf(i).All(t => view.IndexOf(t.Node) is int s && s >= 0 && constant[s]);
        }
        var tooBig = new HashSet<int>();
        int folded = 0;
        var skipped = new List<string>();
        for (int round = 0; round < 8; round++)
        {
            // The frontier: non-Const constant nodes read by a non-constant node, or outputs.
            var frontier = new List<int>();
            for (int i = 0; i < view.Count; i++)
            {
                var n = view.Nodes[i];
                if (!constant[i] || n.Op == "Const" || tooBig.Contains(i)) continue;
                bool needed = context.Protected.Contains(n.Name) || view.Consumers(n.Name).Any(c => !constant[view.IndexOf(c.Name)] || tooBig.Contains(view.IndexOf(c.Name)));
                if (needed) frontier.Add(i);
            }
            if (frontier.Count == 0) break;
            var fetches = new List<string>();
            foreach (int i in frontier)
            {
                var n = view.Nodes[i];
                var ports = g.DataUses(n.Name).Select(u => u.Input.Index).Append(0).Distinct().OrderBy(p => p);
                fetches.AddRange(ports.Select(p => p == 0 ? n.Name : $"{n.Name}:{p}"));
            }
            var values = Evaluate(g.Graph, fetches, skipped);
            bool grew = false;
            foreach (int i in frontier)
            {
                var n = view.Nodes[i];
                var ports = fetches.Where(f => TensorName.Parse(f).Node == n.Name).ToList();
                if (ports.Any(p => !values.ContainsKey(p)))
                {
                    // Could not evaluate: not constant after all; its inputs become the frontier next round.
                    constant[i] = false;
                    grew = true;
                    continue;
                }
                long bytes = ports.Sum(p => Bytes(values[p]));
                if (bytes > maxBytes)
                {
                    tooBig.Add(i);
                    skipped.Add($"'{n.Name}' ({bytes} bytes > max_bytes {maxBytes})");
                    grew = true;
                    continue;
                }
                Replace(g, n, ports.ToDictionary(p => TensorName.Parse(p).Index, p => values[p]), clearShapes);
                folded++;
            }
            if (!grew) break;
            // Values now folded are Const in g; re-run the frontier search on what is left.
            foreach (int i in frontier) if (g.Find(view.Nodes[i].Name) is { Op: "Const" }) constant[i] = true;
        }
        // What only fed folded nodes is now unused.
        var candidates = Enumerable.Range(0, view.Count).Where(i => constant[i]).Select(i => view.Nodes[i].Name).ToList();
        g.RemoveOrphans(candidates, context.Protected);
        if (folded > 0) context.Note($"Folded {folded} constant subgraph output(s).");
        if (skipped.Count > 0) context.Note("Not folded: " + string.Join("; ", skipped.Take(8)) + (skipped.Count > 8 ? "; ..." : ""));
        return g.Graph;
    }

    private static long Bytes(Tensor t) => t.DType == DataType.DtString ? ((byte[][])t.Data).Sum(s => (long)s.Length + 8) : (long)t.Length * t.DType.ByteSize();

    /// <summary>Runs the graph for the fetches with no feeds; on failure evaluates them one by one and keeps what works.</summary>
    private static Dictionary<string, Tensor> Evaluate(GraphDef g, List<string> fetches, List<string> skipped)
    {
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            using var s = new GraphSession(g, fetches, new EngineOptions { IntraOpThreads = 1 });
            foreach (var (k, v) in s.Run(new Dictionary<string, Tensor>(), fetches)) result[k] = v;
            return result;
        }
        catch (Exception ex) when (IsEvaluationFailure(ex)) { }
        foreach (var f in fetches)
        {
            try
            {
                using var s = new GraphSession(g, new[] { f }, new EngineOptions { IntraOpThreads = 1 });
                result[f] = s.Run(new Dictionary<string, Tensor>(), new[] { f })[f];
            }
            catch (Exception ex) when (IsEvaluationFailure(ex)) { skipped.Add($"'{f}' ({ex.Message})"); }
        }
        return result;
    }

    private static bool IsEvaluationFailure(Exception ex) => ex is ModelOpsException or InvalidOperationException or ArgumentException
        or IndexOutOfRangeException or InvalidCastException or NotSupportedException or NotImplementedException or OverflowException;

    private static void Replace(GraphEditor g, NodeDef n, Dictionary<int, Tensor> ports, bool clearShapes)
    {
        NodeDef MakeConst(string name, Tensor t)
        {
            var c = FoldBatchNormsPass.ConstNode(name, t, n.Device);
            if (!clearShapes && n.Attr.TryGetValue("_output_shapes", out var os)) c.Attr["_output_shapes"] = os;
            return c;
        }
        if (ports.Count == 1 && ports.ContainsKey(0))
        {
            g.Replace(n, MakeConst(n.Name, ports[0]));
            return;
        }
        // Several outputs read: one Const per output; output 0 keeps the node's name.
        var names = new Dictionary<int, string>();
        foreach (var (p, t) in ports.OrderBy(kv => kv.Key))
        {
            string name = p == 0 ? n.Name : g.UniqueName($"{n.Name}/output_{p}");
            names[p] = name;
            if (p != 0) g.Insert(MakeConst(name, t), n);
        }
        g.RewireAllOutputs(n.Name, p => names.TryGetValue(p, out var nm) ? nm : $"{n.Name}:{p}");
        g.Replace(n, MakeConst(n.Name, ports[0]));
    }
}
