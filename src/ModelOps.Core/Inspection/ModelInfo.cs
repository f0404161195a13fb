using System.Globalization;

namespace ModelOps.Core.Inspection;

/// <summary>A named tensor a model takes or produces. Shape dims are -1 where unknown; null shape = unknown rank.</summary>
public sealed record TensorSpec(string Name, string DType, long[]? Shape)
{
    public string ShapeText => Shape is null ? "<unknown>" : "[" + string.Join(",", Shape.Select(d => d < 0 ? "?" : d.ToString(CultureInfo.InvariantCulture))) + "]";

    public override string ToString() => $"{Name} {DType}{ShapeText}";

    public bool Equals(TensorSpec? other) =>
        other is not null && Name == other.Name && DType == other.DType &&
        (Shape is null ? other.Shape is null : other.Shape is not null && Shape.AsSpan().SequenceEqual(other.Shape));

    public override int GetHashCode() => HashCode.Combine(Name, DType, Shape?.Length ?? -1);
}

/// <summary>One SignatureDef of a MetaGraph / SavedModel (or a TFLite signature).</summary>
public sealed record SignatureInfo(string Name, string MethodName, IReadOnlyList<TensorSpec> Inputs, IReadOnlyList<TensorSpec> Outputs)
{
    public override string ToString() => $"{Name}({string.Join(", ", Inputs.Select(i => i.Name))}) -> ({string.Join(", ", Outputs.Select(o => o.Name))})";
}

/// <summary>What Get-TfModel emits: one object per model file.</summary>
public sealed class ModelInfo
{
    public required string Path { get; init; }
    public required string Format { get; init; }
    public string Encoding { get; init; } = "Binary";
    public int? ProducerVersion { get; init; }
    public string? TensorFlowVersion { get; init; }
    public int NodeCount { get; init; }
    public int FunctionCount { get; init; }
    /// <summary>Op type → count, most frequent first.</summary>
    public IReadOnlyDictionary<string, int> OpHistogram { get; init; } = new Dictionary<string, int>();
    public IReadOnlyList<TensorSpec> Inputs { get; init; } = Array.Empty<TensorSpec>();
    public IReadOnlyList<TensorSpec> Outputs { get; init; } = Array.Empty<TensorSpec>();
    public int VariableCount { get; init; }
    /// <summary>Elements in variables; for a frozen graph (no variables), elements in floating-point constants.</summary>
    public long ParameterCount { get; init; }
    public long FileSize { get; init; }
    public IReadOnlyList<string> Tags { get; init; } = Array.Empty<string>();
    public IReadOnlyList<SignatureInfo> Signatures { get; init; } = Array.Empty<SignatureInfo>();
    /// <summary>Variables (name, dtype, shape) for checkpoints.</summary>
    public IReadOnlyList<TensorSpec> Variables { get; init; } = Array.Empty<TensorSpec>();
    /// <summary>Format-specific extras (TFLite ops with versions, ONNX opset ...).</summary>
    public IReadOnlyDictionary<string, object> Details { get; init; } = new Dictionary<string, object>();

    public string OpSummary => string.Join(", ", OpHistogram.Take(6).Select(kv => $"{kv.Key}:{kv.Value}")) + (OpHistogram.Count > 6 ? ", ..." : "");

    public override string ToString() => $"{Format} {System.IO.Path.GetFileName(Path.TrimEnd('/', '\\'))} ({NodeCount} nodes)";
}
