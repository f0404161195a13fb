using System.Diagnostics;
using ModelOps.Core.Formats;

namespace ModelOps.Core.Converters.TfLite;

/// <summary>File-level conversion: read a frozen graph, convert, measure accuracy (quantized modes), write atomically.</summary>
public static class TfLiteFileConverter
{
    public static TfLiteModelInfo Convert(string inputPath, string outputPath, TfLiteConverterOptions options, bool overwrite)
    {
        var sw = Stopwatch.StartNew();
        AtomicFile.EnsureWritable(outputPath, overwrite);
        var graph = ModelReader.ReadGraphDef(inputPath);
        var result = TfLiteConverter.Convert(graph, options);
        IReadOnlyList<TfLiteOutputAccuracy>? accuracy = null;
        if (options.Quantization is TfLiteQuantization.Float16 or TfLiteQuantization.Dynamic)
        {
            var samples = options.CalibrationData is { Count: > 0 } c ? Bind(c, result) : TfLiteAccuracy.GeneratedSamples(result);
            accuracy = TfLiteAccuracy.Measure(graph, result, options, samples);
        }
        else if (options.Quantization == TfLiteQuantization.Int8)
        {
            accuracy = TfLiteAccuracy.MeasureModel(graph, result, Bind(options.CalibrationData!, result));
        }
        AtomicFile.Write(outputPath, result.Model, overwrite);
        return new TfLiteModelInfo
        {
            Path = Path.GetFullPath(outputPath), Source = Path.GetFullPath(inputPath), Bytes = result.Model.Length,
            Quantization = options.Quantization, MinRuntimeVersion = result.MinRuntimeVersion, Ops = result.Ops,
            OperatorCount = result.OperatorCount, TensorCount = result.TensorCount, Inputs = result.Inputs, Outputs = result.Outputs,
            CustomOps = result.CustomOps, Accuracy = accuracy, Elapsed = sw.Elapsed,
        };
    }

    /// <summary>Samples keyed "" (a bare .npy) belong to the model's only input.</summary>
    private static IReadOnlyList<IReadOnlyDictionary<string, Tensors.Tensor>> Bind(IReadOnlyList<IReadOnlyDictionary<string, Tensors.Tensor>> samples, TfLiteConversionResult result) =>
        samples.Select(s => s.ContainsKey("")
            ? result.Inputs.Count == 1
                ? (IReadOnlyDictionary<string, Tensors.Tensor>)new Dictionary<string, Tensors.Tensor> { [result.Inputs[0].SignatureKey] = s[""] }
                : throw new Errors.ModelOpsException(TfLiteErrorIds.CalibrationData, Errors.ErrorKind.InvalidArgument,
                    $"The model has {result.Inputs.Count} inputs; give calibration samples as .npz files with one array per input name ({string.Join(", ", result.Inputs.Select(i => i.SignatureKey))}).")
            : s).ToList();
}
