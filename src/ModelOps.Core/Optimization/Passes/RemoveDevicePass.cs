using ModelOps.Core.Protos;

namespace ModelOps.Core.Optimization.Passes;

/// <summary>remove_device: clears every node's device placement (and, when asked, colocation constraints), so the graph runs wherever it is loaded.</summary>
public sealed class RemoveDevicePass : IGraphPass
{
    public string Name => "remove_device";

    public string Description => "Clears the device of every node (and in functions), so placement is left to the runtime.";

    public IReadOnlyList<PassArgument> Arguments { get; } = new[]
    {
        new PassArgument("colocation", PassArgumentKind.Bool, "also drop '_class' colocation attributes (loc:@...)", "false"),
    };

    public GraphDef Apply(GraphDef graph, PassContext context)
    {
        var g = graph.Clone();
        bool coloc = context.Args.Bool("colocation", false);
        int cleared = 0;
        foreach (var n in g.Node.Concat(g.Library?.Function.SelectMany(f => f.NodeDef) ?? Enumerable.Empty<NodeDef>()))
        {
            if (n.Device.Length > 0) { n.Device = ""; cleared++; }
            if (coloc) n.Attr.Remove("_class");
        }
        if (cleared > 0) context.Note($"Cleared the device of {cleared} node(s).");
        return g;
    }
}
