using ModelOps.Core.Graph;
using ModelOps.Core.Inspection;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Optimization.Passes;

/// <summary>
/// strip_unused_nodes: makes every input a Placeholder (cutting off what fed it), optionally re-typed or
/// re-shaped per input, then keeps only what the outputs need (data and control edges). Unlike TF's
/// strip_unused, each input keeps its own dtype unless told otherwise, and a re-typed input gets a Cast back
/// to the dtype its readers expect, so the graph stays valid.
/// </summary>
public sealed class StripUnusedNodesPass : IGraphPass
{
    public string Name => "strip_unused_nodes";

    public string Description => "Turns inputs into placeholders (optionally re-typed/re-shaped) and removes every node the outputs do not need.";

    public IReadOnlyList<PassArgument> Arguments { get; } = new[]
    {
        new PassArgument("type", PassArgumentKind.DataType, "dtype for every input placeholder (default: each input keeps its own)"),
        new PassArgument("shape", PassArgumentKind.Shape, "shape for every input placeholder, e.g. \"1,224,224,3\""),
        new PassArgument("name", PassArgumentKind.String, "an input the next type_for_name/shape_for_name apply to", Repeatable: true),
        new PassArgument("type_for_name", PassArgumentKind.DataType, "dtype for the input named by the matching name=", Repeatable: true),
        new PassArgument("shape_for_name", PassArgumentKind.Shape, "shape for the input named by the matching name=", Repeatable: true),
    };

    public GraphDef Apply(GraphDef graph, PassContext context)
    {
        var g = new GraphEditor(graph.Clone());
        var args = context.Args;
        var names = args.All("name");
        var types = args.All("type_for_name");
        var shapes = args.All("shape_for_name");
        if (types.Count > names.Count || shapes.Count > names.Count)
            throw new Errors.ModelOpsException(OptimizationErrorIds.InvalidTransformArgument, Errors.ErrorKind.InvalidArgument,
                "strip_unused_nodes: every type_for_name and shape_for_name needs a name= before it (name=a, type_for_name=uint8, name=b, ...).");

        foreach (var input in context.Inputs)
        {
            var node = g.Find(input);
            if (node is null) continue;
            int k = IndexOfName(names, input);
            DataType? newType = k >= 0 && k < types.Count ? DataTypes.Parse(types[k]) : args.DType("type");
            long[]? newShape = k >= 0 && k < shapes.Count ? PassArgs.ParseShape(shapes[k]) : args.String("shape") is { } s ? PassArgs.ParseShape(s) : null;
            bool isPlaceholder = node.Op is "Placeholder" or "PlaceholderV2";
            DataType current = OutputType(node);
            if (isPlaceholder && newType is null && newShape is null) continue;
            if (!isPlaceholder && node.Op == "PlaceholderWithDefault" && newType is null && newShape is null) continue;

            DataType dtype = newType ?? current;
            if (dtype == DataType.DtInvalid)
            {
                dtype = DataType.DtFloat;
                context.Note($"The dtype of input '{input}' ({node.Op}) is not known from its attributes; it became a float32 placeholder. Give type_for_name to choose another.");
            }
            long[]? shape = newShape ?? ShapeOf(node);
            var ph = new NodeDef { Name = node.Name, Op = "Placeholder", Device = node.Device };
            ph.Attr["dtype"] = Attr.Type(dtype);
            if (shape is not null) ph.Attr["shape"] = Attr.Shape(shape);
            g.Replace(node, ph);

            if (current != DataType.DtInvalid && dtype != current)
            {
                // Readers were built for the old dtype: cast the new placeholder back to it.
                var cast = new NodeDef { Name = g.UniqueName(node.Name + "/cast_to_" + current.Name()), Op = "Cast" };
                cast.Input.Add(node.Name);
                cast.Attr["SrcT"] = Attr.Type(dtype);
                cast.Attr["DstT"] = Attr.Type(current);
                cast.Attr["Truncate"] = Attr.Bool(false);
                g.RewireData(new TensorName(node.Name, 0, false), cast.Name);
                g.Add(cast);
                context.Note($"Input '{input}' is now {dtype.Name()} and is cast to {current.Name()} for its readers ('{cast.Name}').");
            }
        }

        var view = new TfGraph(g.Graph);
        var keep = view.AncestorsOf(context.Outputs.Select(o => TensorName.Parse(o).Node));
        var dropped = context.Inputs.Where(i => view.IndexOf(i) is int k && k >= 0 && !keep.Contains(k)).ToList();
        if (dropped.Count > 0) context.Note($"The outputs do not depend on input(s) {string.Join(", ", dropped)}; removed.");
        var kept = Enumerable.Range(0, view.Count).Where(keep.Contains).Select(i => view.Nodes[i]).ToList();
        g.Graph.Node.Clear();
        g.Graph.Node.AddRange(kept);
        return g.Graph;
    }

    private static int IndexOfName(IReadOnlyList<string> names, string input)
    {
        for (int i = 0; i < names.Count; i++)
            if (TensorName.Parse(names[i]).Node == input) return i;
        return -1;
    }

    /// <summary>The dtype of output 0 from the attributes TF ops use for it.</summary>
    internal static DataType OutputType(NodeDef n)
    {
        foreach (var key in new[] { "dtype", "T", "out_type", "DstT", "output_type", "Tout" })
            if (n.Attr.TryGetValue(key, out var v) && v.ValueCase == AttrValue.ValueOneofCase.Type && v.Type != DataType.DtInvalid) return v.Type.Base();
        return DataType.DtInvalid;
    }

    private static long[]? ShapeOf(NodeDef n)
    {
        if (n.Attr.TryGetValue("shape", out var s) && s.Shape is not null) return TensorProtoCodec.ToPartialShape(s.Shape);
        if (n.Attr.TryGetValue("_output_shapes", out var o) && o.List is { Shape.Count: > 0 } l) return TensorProtoCodec.ToPartialShape(l.Shape[0]);
        return null;
    }
}
