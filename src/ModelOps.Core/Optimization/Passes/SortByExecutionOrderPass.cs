using ModelOps.Core.Graph;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Optimization.Passes;

/// <summary>sort_by_execution_order: orders nodes so that every node follows its inputs (loop back edges excepted), keeping file order where free.</summary>
public sealed class SortByExecutionOrderPass : IGraphPass
{
    public string Name => "sort_by_execution_order";

    public string Description => "Puts the nodes in an order where each follows its inputs (stable; TF loop back edges ignored).";

    public IReadOnlyList<PassArgument> Arguments { get; } = Array.Empty<PassArgument>();

    public GraphDef Apply(GraphDef graph, PassContext context)
    {
        var view = new TfGraph(graph);
        int[] order = view.TopologicalOrder();
        var g = graph.Clone();
        g.Node.Clear();
        foreach (int i in order) g.Node.Add(view.Nodes[i].Clone());
        return g;
    }
}
