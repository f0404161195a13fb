using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Converters.TfLite;

/// <summary>One builtin or custom op kind used by a converted model.</summary>
public sealed record TfLiteOpUsage(string Op, int Version, int Count, bool IsCustom);

/// <summary>A model input or output: name, type, shape and quantization.</summary>
public sealed record TfLiteIoInfo(string Name, string SignatureKey, string DType, int[] Shape, int[] ShapeSignature, float[] Scale, long[] ZeroPoint)
{
    public override string ToString() =>
        $"{Name} {DType}[{string.Join(",", ShapeSignature.Select(d => d < 0 ? "?" : d.ToString(System.Globalization.CultureInfo.InvariantCulture)))}]" +
        (Scale.Length > 0 ? $" q(scale={Scale[0]:G6}, zp={ZeroPoint[0]})" : "");
}

/// <summary>Accuracy of one output of a quantized model against the float graph.</summary>
public sealed record TfLiteOutputAccuracy(string Output, double MaxAbsError, double SnrDb, int Samples);

/// <summary>What <see cref="TfLiteConverter.Convert"/> produced.</summary>
public sealed class TfLiteConversionResult
{
    internal TfLiteConversionResult(byte[] model, TflGraph graph, TfLiteQuantization quantization, string minRuntimeVersion,
        IReadOnlyList<TfLiteOpUsage> ops, IReadOnlyList<TfLiteIoInfo> inputs, IReadOnlyList<TfLiteIoInfo> outputs, int bufferCount)
    {
        Model = model;
        Graph = graph;
        Quantization = quantization;
        MinRuntimeVersion = minRuntimeVersion;
        Ops = ops;
        Inputs = inputs;
        Outputs = outputs;
        BufferCount = bufferCount;
    }

    /// <summary>The .tflite flatbuffer.</summary>
    public byte[] Model { get; }
    /// <summary>The subgraph as written (for inspection and tests).</summary>
    public TflGraph Graph { get; }
    public TfLiteQuantization Quantization { get; }
    public string MinRuntimeVersion { get; }
    public IReadOnlyList<TfLiteOpUsage> Ops { get; }
    public IReadOnlyList<TfLiteIoInfo> Inputs { get; }
    public IReadOnlyList<TfLiteIoInfo> Outputs { get; }
    public int TensorCount => Graph.Tensors.Count;
    public int OperatorCount => Graph.Operators.Count;
    public int BufferCount { get; }
    /// <summary>Ops written as CUSTOM/Flex that the runtime must provide.</summary>
    public IReadOnlyList<string> CustomOps => Ops.Where(o => o.IsCustom).Select(o => o.Op).ToList();
    /// <summary>For quantized modes: error of each output against the float graph (null when not measured).</summary>
    public IReadOnlyList<TfLiteOutputAccuracy>? Accuracy { get; internal set; }

    internal static TfLiteIoInfo Describe(TflTensor t, string key) => new(
        t.Name, key, TfLiteTypes.Name(t.Type), t.Shape, t.ShapeSignature ?? t.Shape,
        t.Quantization?.Scale?.ToArray() ?? Array.Empty<float>(), t.Quantization?.ZeroPoint?.ToArray() ?? Array.Empty<long>());

    internal static IReadOnlyList<TfLiteOpUsage> Summarize(TflGraph g) =>
        g.Operators.GroupBy(o => (o.OpName, o.Version, Custom: o.Code == BuiltinOperator.CUSTOM))
            .Select(grp => new TfLiteOpUsage(grp.Key.OpName, grp.Key.Version, grp.Count(), grp.Key.Custom))
            .OrderBy(u => u.Op, StringComparer.Ordinal).ThenBy(u => u.Version).ToList();
}

/// <summary>What ConvertTo-TfLite reports about the file it wrote.</summary>
public sealed class TfLiteModelInfo
{
    public required string Path { get; init; }
    public required string Source { get; init; }
    public long Bytes { get; init; }
    public TfLiteQuantization Quantization { get; init; }
    public required string MinRuntimeVersion { get; init; }
    public required IReadOnlyList<TfLiteOpUsage> Ops { get; init; }
    public int OperatorCount { get; init; }
    public int TensorCount { get; init; }
    public required IReadOnlyList<TfLiteIoInfo> Inputs { get; init; }
    public required IReadOnlyList<TfLiteIoInfo> Outputs { get; init; }
    public required IReadOnlyList<string> CustomOps { get; init; }
    /// <summary>Quantized modes: error per output against the float graph; null for float32.</summary>
    public IReadOnlyList<TfLiteOutputAccuracy>? Accuracy { get; init; }
    public TimeSpan Elapsed { get; init; }

    public override string ToString() => $"{System.IO.Path.GetFileName(Path)} ({Quantization}, {OperatorCount} ops, {Bytes} bytes)";
}
