using ModelOps.Core.Inspection;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Graph;

/// <summary>What a graph's Placeholder nodes declare, read the way TensorFlow reads it.</summary>
public static class Placeholders
{
    public static bool Is(string op) => op is "Placeholder" or "PlaceholderV2" or "PlaceholderWithDefault";

    /// <summary>
    /// The declared shape (-1 for unknown dims), or null for unknown rank. Graphs from GraphDef version
    /// 21 and older (TF ≤ 0.12) wrote "unknown" as an empty shape, so a scalar shape there means unknown.
    /// </summary>
    public static long[]? DeclaredShape(NodeDef node, int producer)
    {
        if (!node.Attr.TryGetValue("shape", out var attr) || attr.Shape is null) return null;
        var shape = TensorProtoCodec.ToPartialShape(attr.Shape);
        if (shape is { Length: 0 } && producer <= 21) return null;
        return shape;
    }

    public static int Producer(GraphDef graph) => graph.Versions?.Producer ?? 0;

    public static TensorSpec Spec(NodeDef node, int producer) =>
        new(node.Name, node.Attr.TryGetValue("dtype", out var dt) ? dt.Type.Name() : "?", DeclaredShape(node, producer));
}
