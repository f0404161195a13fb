using ModelOps.Core.Graph;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Optimization.Passes;

/// <summary>
/// remove_training_nodes: removes what only matters for training or debugging. Assert nodes go with the
/// control edges that hang on them; NoOps hand their control inputs to whoever waited on them; pass-through
/// ops (Identity, Snapshot, CheckNumerics, StopGradient, PreventGradient) are spliced out, whole chains at
/// once. An output, an input, or a node that carries control edges is kept (TF's tool drops output
/// Identities, TF issue 8181), and nothing inside a control-flow region is touched.
/// </summary>
public sealed class RemoveTrainingNodesPass : IGraphPass
{
    private static readonly HashSet<string> PassThrough = new(StringComparer.Ordinal)
    { "Identity", "Snapshot", "CheckNumerics", "StopGradient", "PreventGradient" };

    public string Name => "remove_training_nodes";

    public string Description => "Removes Assert (and its control edges), NoOp, and pass-through Identity/CheckNumerics/StopGradient/PreventGradient nodes outside control flow.";

    public IReadOnlyList<PassArgument> Arguments { get; } = new[]
    {
        new PassArgument("keep_asserts", PassArgumentKind.Bool, "keep Assert nodes and their control edges", "false"),
    };

    public GraphDef Apply(GraphDef graph, PassContext context)
    {
        var g = new GraphEditor(graph.Clone());
        var region = ControlFlowRegions.Find(g.Graph);
        var prot = context.Protected;
        var orphanCandidates = new List<string>();
        int skippedInRegion = 0;

        bool Removable(NodeDef n)
        {
            if (prot.Contains(n.Name)) return false;
            if (region.Contains(n.Name)) { skippedInRegion++; return false; }
            return true;
        }

        // 1. Asserts: nobody reads their (nonexistent) data outputs; drop them and the control edges on them.
        if (!context.Args.Bool("keep_asserts", false))
        {
            var asserts = g.Nodes.Where(n => n.Op == "Assert" && Removable(n)).ToList();
            foreach (var a in asserts)
            {
                g.ReplaceControlEdges(a.Name, Array.Empty<string>());
                orphanCandidates.AddRange(a.Input.Select(i => TensorName.Parse(i).Node));
            }
            g.Remove(asserts);
        }

        // 2. NoOps: whoever waited on a NoOp now waits on what the NoOp waited on.
        var noops = g.Nodes.Where(n => n.Op == "NoOp" && Removable(n)).ToList();
        foreach (var n in noops)
        {
            var inherited = n.Input.Select(i => "^" + TensorName.Parse(i).Node).Where(i => i != "^" + n.Name).ToList();
            g.ReplaceControlEdges(n.Name, inherited);
        }
        foreach (var n in noops)
        {
            if (g.Consumers(n.Name).Count > 0) continue;
            orphanCandidates.AddRange(n.Input.Select(i => TensorName.Parse(i).Node));
            g.Remove(n);
        }

        // 3. Pass-through ops, in graph order so chains collapse onto their first real producer.
        var spliced = new List<NodeDef>();
        foreach (var n in g.Nodes.ToList())
        {
            if (!PassThrough.Contains(n.Op) || !Removable(n)) continue;
            var data = GraphEditor.DataInputs(n).ToList();
            if (data.Count != 1 || GraphEditor.HasControlInputs(n) || g.HasControlConsumers(n.Name)) continue;
            var src = TensorName.Parse(data[0]);
            if (g.Find(src.Node) is null) continue;
            g.RewireData(new TensorName(n.Name, 0, false), src.ToString());
            spliced.Add(n);
        }
        foreach (var n in spliced) orphanCandidates.Add(TensorName.Parse(n.Input[0]).Node);
        g.Remove(spliced);

        g.RemoveOrphans(orphanCandidates, prot);
        if (skippedInRegion > 0) context.Note($"Left {skippedInRegion} candidate node(s) inside control-flow regions alone.");
        return g.Graph;
    }
}
