using ModelOps.Core.Graph;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Optimization;

/// <summary>
/// Finds the nodes that belong to TF1 control flow: the Switch/Merge/Enter/Exit/NextIteration/LoopCond
/// ops themselves and every node inside a cond branch or a while frame. A depth is carried in topological
/// order: Enter and Switch open a level for their consumers, a cond Merge closes one, Exit closes the
/// Switch and the frame it leaves. Nodes at depth &gt; 0 are inside a region. Passes leave them alone
/// unless they can prove a rewrite safe there.
/// </summary>
internal static class ControlFlowRegions
{
    public static bool IsControlFlowOp(string op) => op is "Switch" or "RefSwitch" or "_SwitchN" or "Merge" or "RefMerge"
        or "Enter" or "RefEnter" or "Exit" or "RefExit" or "NextIteration" or "RefNextIteration" or "LoopCond"
        or "ControlTrigger";

    public static bool IsLoopMerge(TfGraph g, NodeDef merge) =>
        g.InputsOf(merge).Any(t => g.Find(t.Node)?.Op is "Enter" or "RefEnter" or "NextIteration" or "RefNextIteration");

    /// <summary>Names of the nodes inside control-flow regions (empty for graphs without control flow).</summary>
    public static HashSet<string> Find(GraphDef graph)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        if (!graph.Node.Any(n => IsControlFlowOp(n.Op))) return result;
        var g = new TfGraph(graph);
        int[] order;
        try { order = g.TopologicalOrder(); }
        catch (Errors.ModelOpsException)
        {
            // Not sortable: treat every node as inside a region, so nothing is rewritten.
            foreach (var n in graph.Node) result.Add(n.Name);
            return result;
        }
        var depth = new int[g.Count];
        foreach (int i in order)
        {
            var node = g.Nodes[i];
            bool loopMerge = node.Op is "Merge" or "RefMerge" && IsLoopMerge(g, node);
            int d = 0;
            foreach (var tn in g.InputsOf(i))
            {
                int src = g.IndexOf(tn.Node);
                if (src < 0) continue;
                var srcNode = g.Nodes[src];
                if (srcNode.Op is "NextIteration" or "RefNextIteration") continue;
                int sd = depth[src] + (srcNode.Op is "Switch" or "RefSwitch" or "_SwitchN" or "Enter" or "RefEnter" ? 1 : 0);
                d = Math.Max(d, sd);
            }
            if (node.Op is "Merge" or "RefMerge" && !loopMerge) d = Math.Max(0, d - 1);
            if (node.Op is "Exit" or "RefExit") d = Math.Max(0, d - 2);
            depth[i] = d;
            if (d > 0 || IsControlFlowOp(node.Op)) result.Add(node.Name);
        }
        return result;
    }
}
