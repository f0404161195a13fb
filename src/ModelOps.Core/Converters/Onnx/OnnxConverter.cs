using System.Globalization;
using Google.Protobuf;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats;
using ModelOps.Core.Graph;
using ModelOps.Core.Inspection;
using ModelOps.Core.Protos;
using ModelOps.Core.Protos.Onnx;
using ModelOps.Core.Tensors;
using OnnxShape = ModelOps.Core.Protos.Onnx.TensorShapeProto;

namespace ModelOps.Core.Converters.Onnx;

/// <summary>How <see cref="OnnxConverter"/> converts a graph.</summary>
public sealed class OnnxConversionOptions
{
    /// <summary>Target ONNX opset (default domain), <see cref="OnnxLoweringRegistry.MinOpset"/>..<see cref="OnnxLoweringRegistry.MaxOpset"/>.</summary>
    public int Opset { get; init; } = OnnxLoweringRegistry.DefaultOpset;

    /// <summary>Graph outputs ("node" or "node:i"); default: the graph's natural outputs (unconsumed non-plumbing nodes).</summary>
    public IReadOnlyList<string>? Outputs { get; init; }

    /// <summary>Rank-4 NHWC placeholders (by name) that the ONNX model takes as NCHW instead.</summary>
    public IReadOnlyCollection<string> InputsAsNchw { get; init; } = Array.Empty<string>();

    /// <summary>Run the transpose optimizer and clean-up passes (default true).</summary>
    public bool Optimize { get; init; } = true;

    /// <summary>The lowerings to use (default: every op family's).</summary>
    public OnnxLoweringRegistry? Registry { get; init; }
}

/// <summary>An ONNX model made from a TensorFlow graph, with what the conversion did.</summary>
public sealed class OnnxConversionResult
{
    public required ModelProto Model { get; init; }
    public int Opset { get; init; }
    public IReadOnlyList<TensorSpec> Inputs { get; init; } = Array.Empty<TensorSpec>();
    public IReadOnlyList<TensorSpec> Outputs { get; init; } = Array.Empty<TensorSpec>();
    /// <summary>TensorFlow nodes the outputs depend on (what was converted).</summary>
    public int TfNodeCount { get; init; }
    public int OnnxNodeCount => Model.Graph.Node.Count;
    public int InitializerCount => Model.Graph.Initializer.Count;
    /// <summary>Transposes inserted around layout-sensitive ops (NHWC ⇄ NCHW).</summary>
    public int TransposesInserted { get; init; }
    /// <summary>Transpose nodes left in the final model (graph's own ones included).</summary>
    public int TransposesLeft => Model.Graph.Node.Count(n => n.OpType == "Transpose");
    /// <summary>ONNX op type → count, most frequent first.</summary>
    public IReadOnlyDictionary<string, int> OpHistogram =>
        Model.Graph.Node.GroupBy(n => n.OpType).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count());

    public byte[] ToByteArray() => Model.ToByteArray();
}

/// <summary>
/// Converts frozen TensorFlow graphs to ONNX in process, the way tf2onnx does: one lowering per TF op
/// (by op family, versioned by opset), NHWC ops wrapped in NHWC⇄NCHW Transposes that
/// <see cref="OnnxOptimizer"/> then cancels or pushes through layout-agnostic ops, constants as
/// initializers, unknown placeholder dims kept symbolic. Ops without a lowering are all reported at
/// once (error id UnsupportedOps, with counts).
/// </summary>
public static class OnnxConverter
{
    private static readonly HashSet<string> PlaceholderOps = new(StringComparer.Ordinal) { "Placeholder", "PlaceholderV2" };

    /// <summary>Reads a frozen graph (any form <see cref="ModelReader"/> accepts) and converts it.</summary>
    public static OnnxConversionResult ConvertFile(string path, OnnxConversionOptions? options = null) =>
        Convert(ModelReader.ReadGraphDef(path), options);

    public static OnnxConversionResult Convert(GraphDef graph, OnnxConversionOptions? options = null)
    {
        options ??= new OnnxConversionOptions();
        int opset = options.Opset;
        if (opset < OnnxLoweringRegistry.MinOpset || opset > OnnxLoweringRegistry.MaxOpset)
            throw new ModelOpsException(OnnxErrorIds.InvalidOpset, ErrorKind.InvalidArgument,
                $"Opset {opset} is not supported: choose an ONNX opset from {OnnxLoweringRegistry.MinOpset} to {OnnxLoweringRegistry.MaxOpset} (default {OnnxLoweringRegistry.DefaultOpset}).", opset);
        var registry = options.Registry ?? OnnxLoweringRegistry.Default;
        var g = new TfGraph(graph);

        // Outputs, and the nodes they depend on through data edges.
        var outputs = (options.Outputs is { Count: > 0 } ? options.Outputs : ModelInspector.GuessOutputs(graph).Select(s => s.Name).ToList())
            .Select(o => TensorName.Parse(o)).ToList();
        if (outputs.Count == 0)
            throw new ModelOpsException(ErrorIds.InvalidGraph, ErrorKind.InvalidData, "The graph has no outputs to convert. Name them with -Outputs.");
        foreach (var o in outputs)
            if (o.IsControl || !g.Contains(o.Node)) throw g.NotFound(o.ToString(), "output");
        var needed = DataAncestors(g, outputs.Select(o => o.Node));
        var order = g.TopologicalOrder().Where(needed.Contains).ToList();

        foreach (var name in options.InputsAsNchw)
        {
            var n = g.Find(TensorName.Parse(name).Node);
            if (n is null || !PlaceholderOps.Contains(n.Op))
                throw new ModelOpsException(ErrorIds.NodeNotFound, ErrorKind.ObjectNotFound,
                    $"-InputsAsNchw names '{name}', which is not a placeholder of the graph.", name);
        }

        // Every op without a lowering at this opset, reported together.
        var unsupported = order.Select(i => g.Nodes[i]).Where(n => !PlaceholderOps.Contains(n.Op) && !registry.TryGet(n.Op, opset, out _))
            .GroupBy(n => n.Op).OrderByDescending(x => x.Count()).ThenBy(x => x.Key, StringComparer.Ordinal).ToList();
        if (unsupported.Count > 0)
        {
            string list = string.Join(", ", unsupported.Select(x => $"{x.Key} x{x.Count()} (e.g. '{x.First().Name}')"));
            throw new ModelOpsException(OnnxErrorIds.UnsupportedOps, ErrorKind.NotImplemented,
                $"The graph has {unsupported.Sum(x => x.Count())} nodes of {unsupported.Count} op types that have no ONNX lowering at opset {opset}: {list}.",
                unsupported.ToDictionary(x => x.Key, x => x.Count()));
        }

        // Which outputs of each node are read.
        var outputCount = new Dictionary<string, int>(StringComparer.Ordinal);
        void Use(TensorName tn) { if (!tn.IsControl) outputCount[tn.Node] = Math.Max(outputCount.GetValueOrDefault(tn.Node, 1), tn.Index + 1); }
        foreach (int i in order) foreach (var tn in g.InputsOf(i)) Use(tn);
        foreach (var o in outputs) Use(o);

        var w = new OnnxGraphWriter(opset);
        w.Graph.Name = "modelops";
        var inputSpecs = new List<TensorSpec>();
        foreach (int i in order)
        {
            var node = g.Nodes[i];
            int count = outputCount.GetValueOrDefault(node.Name, 1);
            var dataInputs = g.InputsOf(i).Where(t => !t.IsControl).ToList();
            for (int k = 0; k < count; k++)
                w.Define(OnnxGraphWriter.Canonical(node.Name, k), new TfTensorInfo
                {
                    OnnxName = OnnxGraphWriter.Canonical(node.Name, k),
                    Type = DefaultType(node, dataInputs.Count > 0 ? w.Info(dataInputs[0].Tensor).Type : DataType.DtFloat),
                });
            if (PlaceholderOps.Contains(node.Op))
            {
                inputSpecs.Add(AddInput(w, node, options.InputsAsNchw.Any(n => TensorName.Parse(n).Node == node.Name)));
                continue;
            }
            registry.TryGet(node.Op, opset, out var lowering);
            var ctx = new OnnxLoweringContext(w, node, dataInputs);
            try
            {
                lowering(ctx);
            }
            catch (ModelOpsException) { throw; }
            catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or InvalidCastException or IndexOutOfRangeException or OverflowException)
            {
                throw new ModelOpsException(OnnxErrorIds.LoweringFailed, ErrorKind.InvalidData,
                    $"Cannot convert {node.Op} node '{node.Name}' to ONNX: {ex.Message}", node.Name, ex);
            }
        }

        // Graph outputs, named as the TF tensors ("node:i").
        var outputSpecs = new List<TensorSpec>();
        var outputNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var o in outputs)
        {
            string canonical = o.Tensor;
            if (!outputNames.Add(canonical)) continue;
            var info = w.Info(canonical);
            string value = w.ValueName(canonical);
            if (value != canonical || w.Graph.Initializer.Any(t => t.Name == canonical) || w.Graph.Input.Any(x => x.Name == canonical))
            {
                // Aliases, constants and inputs reach the output through an Identity of the output's name.
                string src = value;
                if (value == canonical)
                {
                    src = w.Fresh(canonical + "/value");
                    foreach (var t in w.Graph.Initializer.Where(t => t.Name == canonical)) t.Name = src;
                    foreach (var n in w.Graph.Node) for (int k = 0; k < n.Input.Count; k++) if (n.Input[k] == canonical) n.Input[k] = src;
                }
                w.AddNode(new NodeProto { OpType = "Identity", Name = w.FreshNodeName(canonical + "/Identity"), Input = { src }, Output = { canonical } });
            }
            // Graph outputs carry their shape (the ONNX checker requires one): known dims fixed, the rest left open.
            w.Graph.Output.Add(ValueInfo(canonical, info.Type, info.Shape?.Select(d => d >= 0 ? (object)d : OpenDim).ToArray()));
            outputSpecs.Add(new TensorSpec(canonical, info.Type.Name(), info.Shape));
        }

        int inserted = w.TransposesInserted;
        if (options.Optimize) OnnxOptimizer.Optimize(w.Graph);

        var model = new ModelProto
        {
            IrVersion = IrVersionFor(opset),
            ProducerName = "ModelOps",
            ProducerVersion = typeof(OnnxConverter).Assembly.GetName().Version?.ToString(3) ?? "0.0.0",
            Graph = w.Graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return new OnnxConversionResult
        {
            Model = model, Opset = opset, Inputs = inputSpecs, Outputs = outputSpecs,
            TfNodeCount = order.Count, TransposesInserted = inserted,
        };
    }

    /// <summary>The ONNX IR version that goes with an opset (the lowest that allows it: what consumers accept most widely).</summary>
    public static long IrVersionFor(int opset) => opset switch
    {
        <= 14 => 7,
        <= 18 => 8,
        <= 20 => 9,
        _ => 10,
    };

    private static DataType DefaultType(NodeDef node, DataType firstInput)
    {
        foreach (var key in new[] { "T", "dtype", "out_type", "DstT", "output_type", "Tout" })
            if (node.Attr.TryGetValue(key, out var v) && v.Type != DataType.DtInvalid) return v.Type.Base();
        return firstInput;
    }

    private static HashSet<int> DataAncestors(TfGraph g, IEnumerable<string> nodes)
    {
        var seen = new HashSet<int>();
        var stack = new Stack<int>();
        foreach (var n in nodes) { int i = g.IndexOf(n); if (seen.Add(i)) stack.Push(i); }
        while (stack.Count > 0)
        {
            int v = stack.Pop();
            foreach (var tn in g.InputsOf(v))
            {
                if (tn.IsControl) continue;
                int src = g.IndexOf(tn.Node);
                if (src < 0)
                    throw new ModelOpsException(ErrorIds.InvalidGraph, ErrorKind.InvalidData,
                        $"Node '{g.Nodes[v].Name}' reads '{tn}', but the graph has no node '{tn.Node}'.", g.Nodes[v].Name);
                if (seen.Add(src)) stack.Push(src);
            }
        }
        return seen;
    }

    private static TensorSpec AddInput(OnnxGraphWriter w, NodeDef node, bool asNchw)
    {
        var dtype = node.Attr.TryGetValue("dtype", out var dt) ? dt.Type.Base() : DataType.DtFloat;
        long[]? shape = node.Attr.TryGetValue("shape", out var s) && s.Shape is not null ? TensorProtoCodec.ToPartialShape(s.Shape) : null;
        if (shape is null && node.Attr.TryGetValue("_output_shapes", out var os) && os.List is { Shape.Count: > 0 })
            shape = TensorProtoCodec.ToPartialShape(os.List.Shape[0]);
        string canonical = OnnxGraphWriter.Canonical(node.Name, 0);
        w.UpdateInfo(node.Name, 0, type: dtype, shape: shape);
        if (asNchw)
        {
            if (shape is null || shape.Length != 4)
                throw new ModelOpsException(ErrorIds.InvalidGraph, ErrorKind.InvalidArgument,
                    $"-InputsAsNchw names '{node.Name}', whose shape {(shape is null ? "is unknown" : Tensor.FormatShape(shape))}; only rank-4 NHWC inputs can be taken as NCHW.", node.Name);
            long[] nchw = { shape[0], shape[3], shape[1], shape[2] };
            string outer = w.Fresh(node.Name);
            w.Graph.Input.Add(ValueInfo(outer, dtype, SymbolicDims(node.Name, nchw)));
            w.TransposesInserted++;
            w.AddNode(new NodeProto
            {
                OpType = "Transpose", Name = w.FreshNodeName(node.Name + "/ToNhwc"), Input = { outer }, Output = { canonical },
                Attribute = { OnnxAttr.Ints("perm", new long[] { 0, 2, 3, 1 }) },
            });
            return new TensorSpec(outer, dtype.Name(), nchw);
        }
        w.Graph.Input.Add(ValueInfo(canonical, dtype, SymbolicDims(node.Name, shape)));
        return new TensorSpec(canonical, dtype.Name(), shape);
    }

    private static object[]? SymbolicDims(string input, long[]? shape) =>
        shape?.Select((d, i) => d >= 0 ? (object)d : i == 0 ? "batch" : $"{input}_dim{i}").ToArray();

    private static readonly object OpenDim = new();

    /// <summary>A tensor ValueInfo; dims are long (fixed), string (symbolic) or <see cref="OpenDim"/>; null dims = unknown rank.</summary>
    internal static ValueInfoProto ValueInfo(string name, DataType type, object[]? dims)
    {
        var tt = new TypeProto.Types.Tensor { ElemType = (int)OnnxTensors.ToOnnx(type) };
        if (dims is not null)
        {
            tt.Shape = new OnnxShape();
            foreach (var d in dims)
                tt.Shape.Dim.Add(d is string p ? new OnnxShape.Types.Dimension { DimParam = p }
                    : d == OpenDim ? new OnnxShape.Types.Dimension()
                    : new OnnxShape.Types.Dimension { DimValue = System.Convert.ToInt64(d, CultureInfo.InvariantCulture) });
        }
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = tt } };
    }
}
