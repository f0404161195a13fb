using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats;
using ModelOps.Core.Inspection;
using ModelOps.Core.Protos;
using ModelOps.Core.Protos.Onnx;
using ModelOps.Core.Tensors;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.Onnx;

/// <summary>Settings of an <see cref="OnnxSession"/>.</summary>
public sealed class OnnxSessionOptions
{
    /// <summary>Threads ONNX Runtime may use inside one op; null = ONNX Runtime's default (all cores).</summary>
    public int? IntraOpThreads { get; init; }

    /// <summary>ONNX Runtime graph optimizations (default: all).</summary>
    public bool Optimize { get; init; } = true;

    /// <summary>How TensorFlow graphs are converted before running (opset, outputs ...).</summary>
    public OnnxConversionOptions? Conversion { get; init; }
}

/// <summary>
/// Runs a model on ONNX Runtime (CPU): an .onnx file as it is, or a TensorFlow frozen graph converted
/// in memory by <see cref="OnnxConverter"/>. Created once per model and reused; ONNX Runtime's
/// telemetry is switched off. Feed and fetch names accept "x" as well as "x:0".
/// </summary>
public sealed class OnnxSession : IDisposable
{
    private static readonly object EnvLock = new();
    private static bool _envReady;
    private readonly InferenceSession _session;
    private readonly Dictionary<string, string> _inputAliases = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _outputAliases = new(StringComparer.Ordinal);
    private bool _disposed;

    /// <summary>Opens an ONNX model from its serialized bytes.</summary>
    public OnnxSession(byte[] onnxModel, OnnxSessionOptions? options = null, string source = "model")
    {
        Options = options ?? new OnnxSessionOptions();
        Source = source;
        EnsureEnvironment();
        using var so = new SessionOptions();
        if (Options.IntraOpThreads is int n)
        {
            if (n < 1) throw new ModelOpsException("InvalidThreadCount", ErrorKind.InvalidArgument, $"The intra-op thread count must be at least 1, not {n}.", n);
            so.IntraOpNumThreads = n;
        }
        so.GraphOptimizationLevel = Options.Optimize ? GraphOptimizationLevel.ORT_ENABLE_ALL : GraphOptimizationLevel.ORT_DISABLE_ALL;
        try
        {
            _session = new InferenceSession(onnxModel, so);
        }
        catch (OnnxRuntimeException ex)
        {
            throw new ModelOpsException(OnnxErrorIds.ModelRejected, ErrorKind.InvalidData,
                $"ONNX Runtime rejected {source}: {ex.Message.Trim()}", source, ex);
        }
        Inputs = _session.InputMetadata.Select(kv => Spec(kv.Key, kv.Value)).ToList();
        Outputs = _session.OutputMetadata.Select(kv => Spec(kv.Key, kv.Value)).ToList();
        foreach (var i in Inputs) AddAliases(_inputAliases, i.Name);
        foreach (var o in Outputs) AddAliases(_outputAliases, o.Name);
    }

    /// <summary>
    /// Opens a model file: .onnx directly; anything else is read as a TensorFlow graph and converted in memory.
    /// </summary>
    public static OnnxSession Load(string path, OnnxSessionOptions? options = null)
    {
        options ??= new OnnxSessionOptions();
        if (OnnxModelFile.IsOnnx(path))
            return new OnnxSession(File.ReadAllBytes(path), options, $"'{path}'");
        var result = OnnxConverter.Convert(ModelReader.ReadGraphDef(path), options.Conversion);
        return new OnnxSession(result.ToByteArray(), options, $"the ONNX conversion of '{path}'") { Conversion = result };
    }

    /// <summary>Converts a TensorFlow graph in memory and opens the result.</summary>
    public static OnnxSession FromGraph(GraphDef graph, OnnxSessionOptions? options = null)
    {
        options ??= new OnnxSessionOptions();
        var result = OnnxConverter.Convert(graph, options.Conversion);
        return new OnnxSession(result.ToByteArray(), options, "the converted graph") { Conversion = result };
    }

    public OnnxSessionOptions Options { get; }
    public string Source { get; }
    /// <summary>For a TensorFlow model: what the in-memory conversion made; null for .onnx files.</summary>
    public OnnxConversionResult? Conversion { get; private init; }
    public IReadOnlyList<TensorSpec> Inputs { get; }
    public IReadOnlyList<TensorSpec> Outputs { get; }

    /// <summary>
    /// Runs the model. Feed/fetch names are the model's ("x:0") or their node form ("x"); results are
    /// keyed by the fetch names as given (default: every output, by its model name).
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyList<string>? fetches = null)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        ArgumentNullException.ThrowIfNull(feeds);
        var names = new List<string>();
        var values = new List<OrtValue>();
        try
        {
            foreach (var (key, tensor) in feeds)
            {
                if (!_inputAliases.TryGetValue(key, out var name))
                    throw new ModelOpsException(ErrorIds.NodeNotFound, ErrorKind.ObjectNotFound,
                        $"The model has no input '{key}'. Its inputs are: {string.Join(", ", Inputs.Select(i => i.ToString()))}.", key);
                names.Add(name);
                values.Add(ToOrt(tensor, name));
            }
            foreach (var i in Inputs)
                if (!names.Contains(i.Name))
                    throw new ModelOpsException("MissingFeed", ErrorKind.InvalidArgument, $"The input '{i.Name}' ({i.DType}{i.ShapeText}) was not fed.", i.Name);
            var wanted = fetches is { Count: > 0 } ? fetches : Outputs.Select(o => o.Name).ToList();
            var outNames = wanted.Select(f => _outputAliases.TryGetValue(f, out var n) ? n
                : throw new ModelOpsException(ErrorIds.NodeNotFound, ErrorKind.ObjectNotFound,
                    $"The model has no output '{f}'. Its outputs are: {string.Join(", ", Outputs.Select(o => o.Name))}.", f)).ToList();
            using var runOptions = new RunOptions();
            IDisposableReadOnlyCollection<OrtValue> results;
            try
            {
                results = _session.Run(runOptions, names, values, outNames);
            }
            catch (OnnxRuntimeException ex)
            {
                throw new ModelOpsException(OnnxErrorIds.RunFailed, ErrorKind.InvalidOperation,
                    $"ONNX Runtime failed to run {Source}: {ex.Message.Trim()}", Source, ex);
            }
            using (results)
            {
                var dict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
                for (int i = 0; i < wanted.Count; i++) dict[wanted[i]] = FromOrt(results[i], outNames[i]);
                return dict;
            }
        }
        finally
        {
            foreach (var v in values) v.Dispose();
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _session.Dispose();
    }

    /// <summary>Switches ONNX Runtime telemetry off before the environment is first created.</summary>
    private static void EnsureEnvironment()
    {
        lock (EnvLock)
        {
            if (_envReady) return;
            Environment.SetEnvironmentVariable("ORT_DISABLE_TELEMETRY", "1");
            var env = OrtEnv.Instance();
            env.DisableTelemetryEvents();
            _envReady = true;
        }
    }

    private static void AddAliases(Dictionary<string, string> map, string name)
    {
        map[name] = name;
        if (name.EndsWith(":0", StringComparison.Ordinal)) map.TryAdd(name[..^2], name);
        else map.TryAdd(name + ":0", name);
    }

    private static TensorSpec Spec(string name, NodeMetadata m)
    {
        if (!m.IsTensor) return new TensorSpec(name, m.OnnxValueType.ToString(), null);
        var dtype = OnnxTensors.FromOnnx((int)m.ElementDataType);
        long[] dims = m.Dimensions.Select(d => (long)d).ToArray();
        return new TensorSpec(name, dtype == DataType.DtInvalid ? m.ElementDataType.ToString() : dtype.Name(), dims);
    }

    private static OrtValue ToOrt(Tensor t, string name)
    {
        long[] shape = t.Shape.Select(d => (long)d).ToArray();
        return t.Data switch
        {
            float[] a => OrtValue.CreateTensorValueFromMemory(a, shape),
            double[] a => OrtValue.CreateTensorValueFromMemory(a, shape),
            int[] a => OrtValue.CreateTensorValueFromMemory(a, shape),
            long[] a => OrtValue.CreateTensorValueFromMemory(a, shape),
            byte[] a when t.DType == DataType.DtUint8 => OrtValue.CreateTensorValueFromMemory(a, shape),
            sbyte[] a => OrtValue.CreateTensorValueFromMemory(a, shape),
            short[] a => OrtValue.CreateTensorValueFromMemory(a, shape),
            ushort[] a when t.DType == DataType.DtUint16 => OrtValue.CreateTensorValueFromMemory(a, shape),
            uint[] a => OrtValue.CreateTensorValueFromMemory(a, shape),
            ulong[] a => OrtValue.CreateTensorValueFromMemory(a, shape),
            bool[] a => OrtValue.CreateTensorValueFromMemory(a, shape),
            Half[] a => OrtValue.CreateTensorValueFromMemory(a.Select(h => new Float16(BitConverter.HalfToUInt16Bits(h))).ToArray(), shape),
            byte[][] s => StringValue(s, shape),
            _ => throw new ModelOpsException(OnnxErrorIds.UnsupportedDataType, ErrorKind.InvalidArgument,
                $"The feed for '{name}' is a {t.DType.Name()} tensor, which ModelOps does not pass to ONNX Runtime.", name),
        };
    }

    private static OrtValue StringValue(byte[][] s, long[] shape)
    {
        var v = OrtValue.CreateTensorWithEmptyStrings(OrtAllocator.DefaultInstance, shape);
        for (int i = 0; i < s.Length; i++) v.StringTensorSetElementAt(System.Text.Encoding.UTF8.GetString(s[i]).AsSpan(), i);
        return v;
    }

    private static Tensor FromOrt(OrtValue v, string name)
    {
        if (!v.IsTensor)
            throw new ModelOpsException(OnnxErrorIds.UnsupportedDataType, ErrorKind.NotImplemented, $"The output '{name}' is a {v.OnnxType}, not a tensor.", name);
        var info = v.GetTensorTypeAndShape();
        int[] shape = info.Shape.Select(d => checked((int)d)).ToArray();
        Array data = info.ElementDataType switch
        {
            TensorElementType.Float => v.GetTensorDataAsSpan<float>().ToArray(),
            TensorElementType.Double => v.GetTensorDataAsSpan<double>().ToArray(),
            TensorElementType.Int32 => v.GetTensorDataAsSpan<int>().ToArray(),
            TensorElementType.Int64 => v.GetTensorDataAsSpan<long>().ToArray(),
            TensorElementType.UInt8 => v.GetTensorDataAsSpan<byte>().ToArray(),
            TensorElementType.Int8 => v.GetTensorDataAsSpan<sbyte>().ToArray(),
            TensorElementType.Int16 => v.GetTensorDataAsSpan<short>().ToArray(),
            TensorElementType.UInt16 => v.GetTensorDataAsSpan<ushort>().ToArray(),
            TensorElementType.UInt32 => v.GetTensorDataAsSpan<uint>().ToArray(),
            TensorElementType.UInt64 => v.GetTensorDataAsSpan<ulong>().ToArray(),
            TensorElementType.Bool => v.GetTensorDataAsSpan<bool>().ToArray(),
            TensorElementType.Float16 => MemoryMarshal.Cast<Float16, ushort>(v.GetTensorDataAsSpan<Float16>()).ToArray().Select(BitConverter.UInt16BitsToHalf).ToArray(),
            TensorElementType.String => v.GetStringTensorAsArray().Select(System.Text.Encoding.UTF8.GetBytes).ToArray(),
            _ => throw new ModelOpsException(OnnxErrorIds.UnsupportedDataType, ErrorKind.NotImplemented,
                $"The output '{name}' has element type {info.ElementDataType}, which ModelOps does not read.", name),
        };
        var dtype = OnnxTensors.FromOnnx((int)info.ElementDataType);
        return new Tensor(dtype, shape, data);
    }
}
