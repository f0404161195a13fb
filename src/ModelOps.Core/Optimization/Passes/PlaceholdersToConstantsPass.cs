using System.Globalization;
using System.Text;
using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Optimization.Passes;

/// <summary>
/// placeholders_to_constants: replaces placeholders by constants of the same name: every bool placeholder
/// whose name contains keras_learning_phase becomes false (inference), and name=/value= pairs set any other
/// (value "0.5", "1,2,3" or one value filling a known shape). Values are parsed in the placeholder's dtype.
/// </summary>
public sealed class PlaceholdersToConstantsPass : IGraphPass
{
    public const string LearningPhase = "keras_learning_phase";

    public string Name => "placeholders_to_constants";

    public string Description => "Turns placeholders into constants: keras_learning_phase=false, and any name=/value= pair given.";

    public IReadOnlyList<PassArgument> Arguments { get; } = new[]
    {
        new PassArgument("name", PassArgumentKind.String, "a placeholder to make constant (pairs with the next value=)", Repeatable: true),
        new PassArgument("value", PassArgumentKind.String, "its value: one value, or a comma list filling the placeholder's shape", Repeatable: true),
        new PassArgument("learning_phase", PassArgumentKind.Bool, "set bool placeholders named *keras_learning_phase* to false", "true"),
    };

    internal static bool IsLearningPhase(NodeDef n) =>
        n.Op is "Placeholder" or "PlaceholderWithDefault" or "PlaceholderV2" && n.Name.Contains(LearningPhase, StringComparison.Ordinal)
        && n.Attr.TryGetValue("dtype", out var t) && t.Type.Base() == DataType.DtBool;

    public GraphDef Apply(GraphDef graph, PassContext context)
    {
        var g = new GraphEditor(graph.Clone());
        var names = context.Args.All("name");
        var values = context.Args.All("value");
        if (names.Count != values.Count)
            throw new ModelOpsException(OptimizationErrorIds.InvalidTransformArgument, ErrorKind.InvalidArgument,
                $"placeholders_to_constants needs one value= for every name= ({names.Count} names, {values.Count} values).");
        var orphans = new List<string>();
        for (int i = 0; i < names.Count; i++)
        {
            var node = g.Find(TensorName.Parse(names[i]).Node);
            if (node is null)
                throw new ModelOpsException(OptimizationErrorIds.InputNotFound, ErrorKind.ObjectNotFound,
                    $"placeholders_to_constants: the graph has no node named '{names[i]}'.", names[i]);
            if (node.Op is not ("Placeholder" or "PlaceholderWithDefault" or "PlaceholderV2"))
                throw new ModelOpsException(OptimizationErrorIds.InvalidTransformArgument, ErrorKind.InvalidArgument,
                    $"placeholders_to_constants: '{node.Name}' is a {node.Op}, not a placeholder.", names[i]);
            orphans.AddRange(Convert(g, node, values[i]));
        }
        if (context.Args.Bool("learning_phase", true))
            foreach (var node in g.Nodes.Where(IsLearningPhase).ToList())
            {
                orphans.AddRange(Convert(g, node, "false"));
                context.Note($"'{node.Name}' set to false (inference).");
            }
        g.RemoveOrphans(orphans, context.Protected);
        return g.Graph;
    }

    private static IEnumerable<string> Convert(GraphEditor g, NodeDef node, string text)
    {
        var dtype = node.Attr.TryGetValue("dtype", out var dt) ? dt.Type.Base() : DataType.DtFloat;
        long[]? shape = node.Attr.TryGetValue("shape", out var sh) && sh.Shape is not null ? TensorProtoCodec.ToPartialShape(sh.Shape) : null;
        var tensor = ParseValue(node.Name, dtype, shape, text);
        var c = new NodeDef { Name = node.Name, Op = "Const", Device = node.Device };
        c.Attr["dtype"] = Attr.Type(dtype);
        c.Attr["value"] = new AttrValue { Tensor = TensorProtoCodec.Encode(tensor) };
        g.Replace(node, c);
        return node.Input.Select(i => TensorName.Parse(i).Node);
    }

    /// <summary>A value given as text ("0.5", "1,2,3", "true") as a tensor of the dtype, shaped by a known shape (one value fills it).</summary>
    public static Tensor ParseValue(string name, DataType dtype, long[]? shape, string text)
    {
        string t = text.Trim().TrimStart('[').TrimEnd(']');
        var parts = dtype == DataType.DtString ? new[] { text } : t.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        int[] dims;
        if (shape is not null && shape.All(d => d >= 0)) dims = shape.Select(d => (int)d).ToArray();
        else dims = parts.Length == 1 ? Array.Empty<int>() : new[] { parts.Length };
        long n = Tensor.ElementCount(dims);
        if (parts.Length != 1 && parts.Length != n)
            throw new ModelOpsException(OptimizationErrorIds.InvalidTransformArgument, ErrorKind.InvalidArgument,
                $"The value for '{name}' has {parts.Length} elements but its shape {Tensor.FormatShape(dims)} holds {n}.", name);
        var values = Enumerable.Range(0, (int)n).Select(i => parts.Length == 1 ? parts[0] : parts[i]).ToArray();
        try
        {
            Array data = dtype switch
            {
                DataType.DtBool => values.Select(v => PassArgs.ParseBool(v, name)).ToArray(),
                DataType.DtFloat => values.Select(v => float.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray(),
                DataType.DtDouble => values.Select(v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture)).ToArray(),
                DataType.DtInt32 => values.Select(v => int.Parse(v, NumberStyles.Integer, CultureInfo.InvariantCulture)).ToArray(),
                DataType.DtInt64 => values.Select(v => long.Parse(v, NumberStyles.Integer, CultureInfo.InvariantCulture)).ToArray(),
                DataType.DtUint8 => values.Select(v => byte.Parse(v, NumberStyles.Integer, CultureInfo.InvariantCulture)).ToArray(),
                DataType.DtString => values.Select(v => Encoding.UTF8.GetBytes(v)).ToArray(),
                _ => throw new ModelOpsException(OptimizationErrorIds.InvalidTransformArgument, ErrorKind.NotImplemented,
                    $"placeholders_to_constants cannot set the {dtype.Name()} placeholder '{name}'; supported: bool, float32, float64, int32, int64, uint8, string."),
            };
            return new Tensor(dtype, dims, data);
        }
        catch (FormatException)
        {
            throw new ModelOpsException(OptimizationErrorIds.InvalidTransformArgument, ErrorKind.InvalidArgument,
                $"The value '{text}' for '{name}' is not a valid {dtype.Name()}.", name);
        }
        catch (OverflowException)
        {
            throw new ModelOpsException(OptimizationErrorIds.InvalidTransformArgument, ErrorKind.InvalidArgument,
                $"The value '{text}' for '{name}' is out of range for {dtype.Name()}.", name);
        }
    }
}
