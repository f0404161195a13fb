using ModelOps.Core.Formats;
using ModelOps.Core.Formats.TfLite;

namespace ModelOps.Core.Inspection;

/// <summary>An op code of a TFLite model with its version and how many operators use it.</summary>
public sealed record TfLiteOpUsage(string Op, int Version, int Count, bool Custom)
{
    public override string ToString() => $"{Op} v{Version} ×{Count}";
}

/// <summary>A TFLite input or output with its quantization (empty Scale = not quantized).</summary>
public sealed record TfLiteTensorDetail(string Name, int Index, string DType, int[] Shape, int[]? ShapeSignature, float[] Scale, long[] ZeroPoint, int QuantizedDimension)
{
    public bool Quantized => Scale.Length > 0;
    public override string ToString() =>
        $"{Name} {DType}[{string.Join(",", ShapeSignature ?? Shape)}]" + (Scale.Length == 1 ? $" scale={Scale[0]:G7} zp={(ZeroPoint.Length > 0 ? ZeroPoint[0] : 0)}" : Scale.Length > 1 ? $" per-channel(axis {QuantizedDimension})" : "");
}

/// <summary>Builds <see cref="ModelInfo"/> for a .tflite model (subgraph 0 is the main one).</summary>
public static class TfLiteInspector
{
    public static ModelInfo Inspect(string path) => Inspect(TfLiteModelReader.Read(path), new FileInfo(path).Length);

    public static ModelInfo Inspect(TfLiteModel model, long fileSize)
    {
        var allOps = model.Subgraphs.SelectMany(g => g.Operators).ToList();
        var histogram = allOps.GroupBy(o => model.OpCodeOf(o).Name)
            .OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Count());
        var usage = allOps.GroupBy(o => o.OpcodeIndex)
            .Select(g => { var c = model.OperatorCodes[g.Key]; return new TfLiteOpUsage(c.Name, c.Version, g.Count(), c.IsCustom); })
            .OrderByDescending(u => u.Count).ThenBy(u => u.Op, StringComparer.Ordinal).ToList();

        var main = model.Subgraphs.Count > 0 ? model.Main : null;
        var inputs = main is null ? new List<TfLiteTensorDetail>() : main.Inputs.Select(i => Detail(main.Tensors[i])).ToList();
        var outputs = main is null ? new List<TfLiteTensorDetail>() : main.Outputs.Select(i => Detail(main.Tensors[i])).ToList();

        var signatures = model.Signatures.Select(s =>
        {
            var g = model.Subgraphs[s.SubgraphIndex];
            return new SignatureInfo(s.Key, "",
                s.Inputs.Select(t => Spec(g.Tensors[t.TensorIndex], t.Name)).ToList(),
                s.Outputs.Select(t => Spec(g.Tensors[t.TensorIndex], t.Name)).ToList());
        }).ToList();

        var constants = model.Subgraphs.SelectMany(g => g.Tensors).Where(t => t.Buffer != 0 && model.Buffers[t.Buffer].Length > 0).ToList();
        var details = new Dictionary<string, object>
        {
            ["SchemaVersion"] = (int)model.SchemaVersion,
            ["Subgraphs"] = model.Subgraphs.Count,
            ["Tensors"] = model.Subgraphs.Sum(g => g.Tensors.Count),
            ["Operators"] = usage,
            ["InputDetails"] = inputs,
            ["OutputDetails"] = outputs,
            ["ConstantBytes"] = constants.Select(t => t.Buffer).Distinct().Sum(b => model.Buffers[b].Length),
            ["Metadata"] = model.Metadata.Select(m => $"{m.Name} ({m.Size} bytes)").ToList(),
        };
        if (!string.IsNullOrEmpty(model.Description)) details["Description"] = model.Description!;
        if (model.MinRuntimeVersion is not null) details["MinRuntimeVersion"] = model.MinRuntimeVersion;
        if (usage.Any(u => u.Custom)) details["CustomOps"] = usage.Where(u => u.Custom).Select(u => u.Op).ToList();
        if (model.AssociatedFiles.Count > 0)
        {
            details["AssociatedFiles"] = model.AssociatedFiles.Select(f => $"{f.Key} ({f.Value.Length} bytes)").ToList();
            if (model.Labels is { } labels) details["Labels"] = labels;
        }

        return new ModelInfo
        {
            Path = model.Path,
            Format = ModelFormat.TfLite.ToString(),
            Encoding = "FlatBuffer",
            NodeCount = allOps.Count,
            FunctionCount = Math.Max(0, model.Subgraphs.Count - 1),
            OpHistogram = histogram,
            Inputs = inputs.Select(d => new TensorSpec(d.Name, d.DType, (d.ShapeSignature ?? d.Shape).Select(x => (long)x).ToArray())).ToList(),
            Outputs = outputs.Select(d => new TensorSpec(d.Name, d.DType, (d.ShapeSignature ?? d.Shape).Select(x => (long)x).ToArray())).ToList(),
            VariableCount = model.Subgraphs.Sum(g => g.Tensors.Count(t => t.IsVariable)),
            ParameterCount = constants.Sum(t => t.Shape.Aggregate(1L, (a, d) => a * d)),
            FileSize = fileSize,
            Signatures = signatures,
            Details = details,
        };
    }

    private static TfLiteTensorDetail Detail(TfLiteTensor t) =>
        new(t.Name, t.Index, t.DTypeName, t.Shape, t.ShapeSignature,
            t.Quantization?.Scale ?? Array.Empty<float>(), t.Quantization?.ZeroPoint ?? Array.Empty<long>(), t.Quantization?.Axis ?? 0);

    private static TensorSpec Spec(TfLiteTensor t, string key) =>
        new(key == t.Name ? key : $"{key} ({t.Name})", t.DTypeName, (t.ShapeSignature ?? t.Shape).Select(x => (long)x).ToArray());
}
