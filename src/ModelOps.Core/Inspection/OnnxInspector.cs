using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Formats;
using ModelOps.Core.Protos.Onnx;

namespace ModelOps.Core.Inspection;

/// <summary>Builds <see cref="ModelInfo"/> for ONNX models: opsets, inputs/outputs, op histogram, parameters.</summary>
public static class OnnxInspector
{
    public static ModelInfo Inspect(TfModelFile file)
    {
        var m = file.OnnxModel!;
        var g = m.Graph;
        var initializers = new HashSet<string>(g.Initializer.Select(i => i.Name), StringComparer.Ordinal);
        var opsets = m.OpsetImport.ToDictionary(o => string.IsNullOrEmpty(o.Domain) ? "ai.onnx" : o.Domain, o => o.Version);
        var details = new Dictionary<string, object>
        {
            ["IrVersion"] = m.IrVersion,
            ["Opset"] = opsets.TryGetValue("ai.onnx", out long v) ? v : 0L,
            ["Opsets"] = opsets,
            ["Producer"] = (m.ProducerName + " " + m.ProducerVersion).Trim(),
            ["InitializerCount"] = g.Initializer.Count,
        };
        return new ModelInfo
        {
            Path = file.Path,
            Format = "Onnx",
            Encoding = "Binary",
            NodeCount = g.Node.Count,
            FunctionCount = m.Functions.Count,
            OpHistogram = g.Node.GroupBy(n => string.IsNullOrEmpty(n.Domain) ? n.OpType : n.Domain + "::" + n.OpType)
                .OrderByDescending(x => x.Count()).ThenBy(x => x.Key, StringComparer.Ordinal).ToDictionary(x => x.Key, x => x.Count()),
            Inputs = g.Input.Where(i => !initializers.Contains(i.Name)).Select(Spec).ToList(),
            Outputs = g.Output.Select(Spec).ToList(),
            ParameterCount = g.Initializer.Where(t => OnnxTensors.FromOnnx(t.DataType) is var d && Tensors.DataTypes.IsFloating(d))
                .Sum(t => t.Dims.Aggregate(1L, (a, b) => a * b)),
            FileSize = file.FileSize,
            Details = details,
        };
    }

    private static TensorSpec Spec(ValueInfoProto v)
    {
        var t = v.Type?.TensorType;
        if (t is null) return new TensorSpec(v.Name, v.Type?.ValueCase.ToString() ?? "?", null);
        long[]? shape = t.Shape?.Dim.Select(d => d.HasDimValue ? d.DimValue : -1L).ToArray();
        return new TensorSpec(v.Name, OnnxTensors.ElementTypeName(t.ElemType), shape);
    }
}
