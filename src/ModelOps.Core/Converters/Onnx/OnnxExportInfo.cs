namespace ModelOps.Core.Converters.Onnx;

/// <summary>What ConvertTo-Onnx emits: the file written and what the conversion did.</summary>
public sealed class OnnxExportInfo
{
    public required string Path { get; init; }
    public required string Source { get; init; }
    public int Opset { get; init; }
    public long IrVersion { get; init; }
    public long FileSize { get; init; }
    public int TfNodeCount { get; init; }
    public int OnnxNodeCount { get; init; }
    public int InitializerCount { get; init; }
    public int TransposesInserted { get; init; }
    public int TransposesLeft { get; init; }
    public IReadOnlyList<Inspection.TensorSpec> Inputs { get; init; } = Array.Empty<Inspection.TensorSpec>();
    public IReadOnlyList<Inspection.TensorSpec> Outputs { get; init; } = Array.Empty<Inspection.TensorSpec>();
    public IReadOnlyDictionary<string, int> OpHistogram { get; init; } = new Dictionary<string, int>();
    public TimeSpan Duration { get; init; }

    public override string ToString() => $"{System.IO.Path.GetFileName(Path)} (opset {Opset}, {OnnxNodeCount} nodes)";

    /// <summary>Converts <paramref name="source"/>'s graph and writes the model all-or-nothing to <paramref name="output"/>.</summary>
    public static OnnxExportInfo Export(string source, string output, OnnxConversionOptions options, bool overwrite)
    {
        Formats.AtomicFile.EnsureWritable(output, overwrite);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var result = OnnxConverter.ConvertFile(source, options);
        byte[] bytes = result.ToByteArray();
        Formats.AtomicFile.Write(output, bytes, overwrite);
        return new OnnxExportInfo
        {
            Path = output, Source = source, Opset = result.Opset, IrVersion = result.Model.IrVersion, FileSize = bytes.LongLength,
            TfNodeCount = result.TfNodeCount, OnnxNodeCount = result.OnnxNodeCount, InitializerCount = result.InitializerCount,
            TransposesInserted = result.TransposesInserted, TransposesLeft = result.TransposesLeft,
            Inputs = result.Inputs, Outputs = result.Outputs, OpHistogram = result.OpHistogram, Duration = sw.Elapsed,
        };
    }
}
