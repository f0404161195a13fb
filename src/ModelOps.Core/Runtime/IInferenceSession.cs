using ModelOps.Core.Errors;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.TfLite;
using ModelOps.Core.Inspection;
using ModelOps.Core.Ops;
using ModelOps.Core.Runtime.Onnx;
using ModelOps.Core.Runtime.TfLite;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Runtime;

/// <summary>A loaded model that runs: a frozen graph (<see cref="GraphSession"/>) or a .tflite (<see cref="TfLiteSession"/>).</summary>
public interface IInferenceSession : IDisposable
{
    /// <summary>The inputs to feed, with the dtype a value is converted to before it is fed.</summary>
    IReadOnlyList<TensorSpec> Inputs { get; }

    /// <summary>The model's outputs, computed when no fetches are given.</summary>
    IReadOnlyList<TensorSpec> Outputs { get; }

    /// <summary>The input a feed name binds to (engines may accept aliases, such as TFLite signature names), or null.</summary>
    TensorSpec? FindInput(string name) => Inputs.FirstOrDefault(i => i.Name == name);

    /// <summary>Runs the model; <paramref name="fetches"/> picks outputs by name (null: all).</summary>
    IReadOnlyDictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyList<string>? fetches = null);
}

/// <summary>Which engine runs a model.</summary>
public enum InferenceEngine
{
    /// <summary>The managed engine of ModelOps.Core (no native dependency): TF graphs and .tflite files.</summary>
    Managed,

    /// <summary>ONNX Runtime: .onnx files directly, TF graphs converted to ONNX in memory.</summary>
    OnnxRuntime,
}

/// <summary>Opens the right engine for a model file.</summary>
public static class InferenceSessions
{
    /// <summary>
    /// A .tflite (recognised by its "TFL3" identifier at bytes 4..8, or by its extension) opens a <see cref="TfLiteSession"/>;
    /// anything else is read as a TensorFlow graph for <see cref="GraphSession"/>. With <paramref name="dequantize"/>, a
    /// quantized .tflite takes and returns real (float32) values: inputs are quantized with their scale and zero point,
    /// outputs dequantized. A graph has nothing to dequantize, so the switch is an error there.
    /// </summary>
    /// <param name="profile">When given, the managed engines (graph and TFLite) record per-op-type kernel times into it
    /// (ONNX Runtime ignores it).</param>
    /// <param name="releaseGraphConstants">For a TensorFlow graph on the managed engine: the session drops the constant values
    /// from the graph it read once its plan for <paramref name="outputs"/> holds them (<see cref="EngineOptions.ReleaseGraphConstants"/>),
    /// so the weights are in memory once; runs must then ask for those outputs (or none). For a model file of
    /// <see cref="CollectAfterLoadBytes"/> or more, a full garbage collection then reclaims the file's bytes and the dropped
    /// values before the first run.</param>
    public static IInferenceSession Open(string path, IReadOnlyList<string>? outputs = null, bool dequantize = false,
        InferenceEngine engine = InferenceEngine.Managed, int? intraOpThreads = null, OpProfile? profile = null, bool releaseGraphConstants = false)
    {
        if (engine == InferenceEngine.OnnxRuntime)
        {
            if (dequantize || IsTfLite(path))
                throw new ModelOpsException("EngineNotApplicable", ErrorKind.InvalidArgument,
                    $"ONNX Runtime runs .onnx files and TensorFlow graphs; '{path}' is a .tflite. Use the managed engine for it.", path);
            return new OnnxInferenceSession(OnnxSession.Load(path, new OnnxSessionOptions
            {
                IntraOpThreads = intraOpThreads,
                Conversion = new Converters.Onnx.OnnxConversionOptions { Outputs = outputs },
            }));
        }
        if (IsTfLite(path))
        {
            var session = new TfLiteSession(TfLiteModelReader.Read(path), options: new TfLiteSessionOptions { DequantizeIO = dequantize, Profile = profile });
            if (outputs is { Count: > 0 }) session.CheckFetches(outputs);
            return session;
        }
        if (dequantize)
            throw new ModelOpsException("DequantizeNotApplicable", ErrorKind.InvalidArgument,
                $"-Dequantize applies to quantized .tflite models; '{path}' is a TensorFlow graph, whose inputs and outputs are already real values.", path);
        var options = new EngineOptions
        {
            IntraOpThreads = intraOpThreads ?? EngineOptions.Default.IntraOpThreads, Profile = profile, ReleaseGraphConstants = releaseGraphConstants,
        };
        var graphSession = new GraphSession(ModelReader.ReadGraphDef(path), outputs, options);
        if (releaseGraphConstants && new FileInfo(path).Length >= CollectAfterLoadBytes)
        {
            // The file's bytes and the graph's copies of the weights the plan now holds are garbage, as large as the
            // model: collected now, the first run reuses their memory instead of growing the process (nanodet, 15 MB of
            // weights: peak resident set +75 MB instead of +100 MB). Once per session, for models worth it.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true);
        }
        return graphSession;
    }

    /// <summary>Model files from this size on get a full collection once their session is made (see <see cref="Open"/>).</summary>
    internal const long CollectAfterLoadBytes = 1 << 20;

    private static bool IsTfLite(string path)
    {
        if (Directory.Exists(path) || !File.Exists(path)) return false;
        if (path.EndsWith(".tflite", StringComparison.OrdinalIgnoreCase)) return true;
        Span<byte> head = stackalloc byte[8];
        using var f = File.OpenRead(path);
        return f.ReadAtLeast(head, 8, throwOnEndOfStream: false) == 8 && TfLiteModelReader.IsTfLite(head);
    }
}
