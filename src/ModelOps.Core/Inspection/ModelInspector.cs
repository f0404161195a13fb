using ModelOps.Core.Formats;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Inspection;

/// <summary>Builds <see cref="ModelInfo"/> from TensorFlow graphs, MetaGraphs and SavedModels.</summary>
public static class ModelInspector
{
    private static readonly HashSet<string> VariableOps = new(StringComparer.Ordinal)
    { "Variable", "VariableV2", "VarHandleOp", "AutoReloadVariable", "_VarHandlesOp" };

    private static readonly HashSet<string> PlumbingSinkOps = new(StringComparer.Ordinal)
    {
        "NoOp", "Assign", "AssignVariableOp", "AssignAdd", "AssignSub", "AssignAddVariableOp", "AssignSubVariableOp",
        "SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice", "MergeV2Checkpoints", "Placeholder",
        "VarIsInitializedOp", "IsVariableInitialized", "ScalarSummary", "HistogramSummary", "MergeSummary", "Assert",
    };

    public static ModelInfo Inspect(string path) => Inspect(ModelReader.Read(path));

    public static ModelInfo Inspect(TfModelFile file)
    {
        switch (file.Format)
        {
            case ModelFormat.SavedModel:
                return InspectSavedModel(file);
            case ModelFormat.Checkpoint:
                return InspectCheckpoint(file);
            case ModelFormat.MetaGraphDef:
                return InspectGraph(file, file.MetaGraph!.GraphDef ?? new GraphDef(), file.MetaGraph, Array.Empty<string>());
            case ModelFormat.OpList:
                return new ModelInfo
                {
                    Path = file.Path, Format = "OpList", Encoding = file.Encoding.ToString(), FileSize = file.FileSize,
                    NodeCount = file.OpList!.Op.Count,
                };
            default:
                return InspectGraph(file, file.Graph!, null, Array.Empty<string>());
        }
    }

    /// <summary>A checkpoint's variables (name, dtype, shape) in name order, like tf.train.list_variables.</summary>
    private static ModelInfo InspectCheckpoint(TfModelFile file)
    {
        using var reader = Formats.Checkpoint.CheckpointReader.Open(file.CheckpointPrefix!);
        var vars = reader.Entries.Select(e => new TensorSpec(e.Key, e.DType.Name(), e.Shape)).ToList();
        return new ModelInfo
        {
            Path = file.Path, Format = ModelFormat.Checkpoint.ToString(), Encoding = file.Encoding.ToString(), FileSize = file.FileSize,
            Variables = vars, VariableCount = vars.Count,
            ParameterCount = reader.Entries.Where(e => e.DType.IsNumeric()).Sum(e => e.ElementCount),
            Details = new Dictionary<string, object>
            {
                ["Shards"] = reader.Header.NumShards,
                ["Endianness"] = reader.Header.Endianness.ToString(),
                ["PartitionedVariables"] = reader.Entries.Count(e => e.IsPartitioned),
            },
        };
    }

    private static ModelInfo InspectSavedModel(TfModelFile file)
    {
        // Inspect the serving MetaGraph where there is one; list every tag set.
        var metas = file.SavedModel!.MetaGraphs;
        var meta = metas.FirstOrDefault(m => m.MetaInfoDef?.Tags.Contains("serve") == true) ?? metas[0];
        var tags = metas.Select(m => string.Join("+", m.MetaInfoDef?.Tags ?? (IEnumerable<string>)Array.Empty<string>())).ToList();
        return InspectGraph(file, meta.GraphDef ?? new GraphDef(), meta, tags);
    }

    private static ModelInfo InspectGraph(TfModelFile file, GraphDef graph, MetaGraphDef? meta, IReadOnlyList<string> tags)
    {
        var histogram = graph.Node.GroupBy(n => n.Op)
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count());

        var signatures = meta is null ? new List<SignatureInfo>() : meta.SignatureDef
            .OrderBy(kv => kv.Key == "serving_default" ? 0 : 1).ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => new SignatureInfo(kv.Key, kv.Value.MethodName,
                kv.Value.Inputs.OrderBy(i => i.Key, StringComparer.Ordinal).Select(i => Spec(i.Key, i.Value)).ToList(),
                kv.Value.Outputs.OrderBy(o => o.Key, StringComparer.Ordinal).Select(o => Spec(o.Key, o.Value)).ToList()))
            .ToList();

        IReadOnlyList<TensorSpec> inputs, outputs;
        var main = signatures.FirstOrDefault(s => s.Name == "serving_default") ?? signatures.FirstOrDefault(s => s.Inputs.Count > 0 || s.Outputs.Count > 0);
        if (main is not null)
        {
            inputs = main.Inputs;
            outputs = main.Outputs;
        }
        else
        {
            inputs = graph.Node.Where(n => n.Op is "Placeholder" or "PlaceholderV2" or "PlaceholderWithDefault" && n.Input.Count == 0 || n.Op == "PlaceholderWithDefault")
                .Select(n => new TensorSpec(n.Name, AttrDType(n, "dtype"), AttrShape(n, "shape") ?? OutputShape(n, 0)))
                .ToList();
            outputs = GuessOutputs(graph);
        }

        var variables = graph.Node.Where(n => VariableOps.Contains(n.Op)).ToList();
        long parameters = variables.Count > 0
            ? variables.Where(v => !v.Attr.TryGetValue("dtype", out var vt) || vt.Type.IsNumeric()).Sum(v => Elements(AttrShape(v, "shape")))
            : graph.Node.Where(n => n.Op == "Const" && n.Attr.TryGetValue("dtype", out var dt) && dt.Type.IsFloating())
                .Sum(n => n.Attr.TryGetValue("value", out var val) && val.Tensor is { } t ? Elements(TensorProtoCodec.ToPartialShape(t.TensorShape)) : 0);

        return new ModelInfo
        {
            Path = file.Path,
            Format = file.Format.ToString(),
            Encoding = file.Encoding.ToString(),
#pragma warning disable CS0612 // GraphDef.version: only graphs older than VersionDef set it
            ProducerVersion = graph.Versions?.Producer ?? (graph.Version != 0 ? graph.Version : null),
#pragma warning restore CS0612
            TensorFlowVersion = string.IsNullOrEmpty(meta?.MetaInfoDef?.TensorflowVersion) ? null : meta!.MetaInfoDef!.TensorflowVersion,
            NodeCount = graph.Node.Count,
            FunctionCount = graph.Library?.Function.Count ?? 0,
            OpHistogram = histogram,
            Inputs = inputs,
            Outputs = outputs,
            VariableCount = variables.Count,
            ParameterCount = parameters,
            FileSize = file.FileSize,
            Tags = tags,
            Signatures = signatures,
        };
    }

    /// <summary>Outputs of a graph with no signature: its sinks, less saver/initializer/summary plumbing.</summary>
    public static IReadOnlyList<TensorSpec> GuessOutputs(GraphDef graph)
    {
        var g = new TfGraph(graph);
        var sinks = g.Sinks().Where(n => !PlumbingSinkOps.Contains(n.Op) && !n.Name.StartsWith("save/", StringComparison.Ordinal)
            && !n.Name.StartsWith("save_", StringComparison.Ordinal) && !VariableOps.Contains(n.Op)).ToList();
        if (sinks.Count > 1 && sinks.Any(s => s.Op != "Const")) sinks = sinks.Where(s => s.Op != "Const").ToList();
        return sinks.Select(n => new TensorSpec(n.Name, OutputDType(n), OutputShape(n, 0))).ToList();
    }

    private static TensorSpec Spec(string key, TensorInfo info) =>
        new(key + (string.IsNullOrEmpty(info.Name) ? "" : $" ({info.Name})"), info.Dtype.Name(), TensorProtoCodec.ToPartialShape(info.TensorShape));

    private static string AttrDType(NodeDef n, string attr) => n.Attr.TryGetValue(attr, out var v) ? v.Type.Name() : "?";

    internal static string OutputDType(NodeDef n)
    {
        foreach (var key in new[] { "T", "dtype", "out_type", "DstT", "output_type", "Tout" })
            if (n.Attr.TryGetValue(key, out var v) && v.Type != DataType.DtInvalid) return v.Type.Name();
        return "?";
    }

    private static long[]? AttrShape(NodeDef n, string attr) =>
        n.Attr.TryGetValue(attr, out var v) && v.Shape is not null ? TensorProtoCodec.ToPartialShape(v.Shape) : null;

    private static long[]? OutputShape(NodeDef n, int index) =>
        n.Attr.TryGetValue("_output_shapes", out var v) && v.List is { } l && l.Shape.Count > index
            ? TensorProtoCodec.ToPartialShape(l.Shape[index]) : null;

    private static long Elements(long[]? shape)
    {
        if (shape is null) return 0;
        long n = 1;
        foreach (long d in shape) { if (d < 0) return 0; n *= d; }
        return n;
    }
}
