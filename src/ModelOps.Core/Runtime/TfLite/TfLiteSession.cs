using ModelOps.Core.Errors;
using ModelOps.Core.Formats.TfLite;
using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Inspection;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.TfLite.Kernels;
using ModelOps.Core.Tensors;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.TfLite;

/// <summary>Choices where TFLite versions compute differently.</summary>
public sealed record TfLiteSessionOptions
{
    /// <summary>
    /// How the requantization multiplier of the per-tensor quantized convolutions (uint8 CONV_2D and DEPTHWISE_CONV_2D)
    /// and of quantized FULLY_CONNECTED is formed: input_scale × filter_scale / output_scale, with the product taken in
    /// float (true) or in double (false, the default).
    /// <para>
    /// TFLite's GetQuantizedConvolutionMultipler (kernel_util.cc) multiplied the two float scales in float up to the
    /// 2.2 release this project validates against (TFLite 2.2's C library); current TFLite casts both to double first.
    /// The two products round apart in the last bits, and the Q31 multipliers then differ by a few units in most layers
    /// (27 of the 28 layers of the quantized MobileNet v1, all three of hello_world int8): now and then an output lands
    /// one step apart (MobileNet: 8 of 100352 values after its fifth layer; 1 of the 1001 scores).
    /// </para>
    /// <para>
    /// Default false: the arithmetic of current TFLite's builtin kernels. True: bit-exact with TFLite 2.2 (MobileNet:
    /// every intermediate tensor and every score). The TFLite 2.13 WASM build cannot decide between them: it runs these
    /// quantized ops on XNNPACK, which requantizes its own way, and differs from both settings in a few scores.
    /// Per-channel int8/int16 convolutions and the integer LSTM are not affected (both versions use double, or float
    /// throughout, there).
    /// </para>
    /// </summary>
    public bool FloatScaleProduct { get; init; }

    /// <summary>
    /// TFLite 2.2 ran int8 RESIZE_BILINEAR through its templated reference kernel: the four-point interpolation in
    /// float, cast (truncated toward zero) to int8. Current TFLite has an int8 kernel in 10-bit fixed point that
    /// rounds half away from zero; the two differ by one step wherever the interpolated value is not whole.
    /// Default false: current TFLite. True: bit-exact with TFLite 2.2.
    /// </summary>
    public bool FloatInt8ResizeBilinear { get; init; }

    /// <summary>
    /// TFLite 2.2's QUANTIZE (float → integer) divided each value by the scale in double; current TFLite divides in
    /// float. A value whose quotient lies within float rounding of a half step lands one step apart now and then
    /// (the meet model's input: 1 of 110592). Default false: current TFLite. True: bit-exact with TFLite 2.2.
    /// </summary>
    public bool QuantizeDividesInDouble { get; init; }

    /// <summary>When set, every kernel call is timed and added to this collector by op name (as the graph engine's
    /// <see cref="Ops.EngineOptions.Profile"/>).</summary>
    public OpProfile? Profile { get; init; }

    /// <summary>The choices that compute as TFLite 2.2 does.</summary>
    public static TfLiteSessionOptions TfLite22 { get; } = new() { FloatScaleProduct = true, FloatInt8ResizeBilinear = true, QuantizeDividesInDouble = true };

    /// <summary>
    /// For <see cref="IInferenceSession"/> use (Invoke-TfInference -Dequantize): quantized inputs are announced and
    /// taken as float32 real values (quantized on the way in) and quantized outputs come back dequantized.
    /// </summary>
    public bool DequantizeIO { get; init; }
}

/// <summary>
/// Runs a .tflite model on the managed CPU: float32 kernels, float16 weights, hybrid models, and full-integer
/// int8/uint8/int16 kernels with TFLite's integer arithmetic. Inputs and outputs are keyed by tensor name
/// (signature names and positions "0", "1" ... are accepted too). A session is not thread-safe.
/// </summary>
public sealed class TfLiteSession : IInferenceSession
{
    private readonly TfLiteSubGraph _graph;
    private readonly Tensor?[] _constants;
    private readonly TfLiteKernel[] _kernels;
    private readonly Dictionary<string, int> _inputNames = new(StringComparer.Ordinal);
    private readonly Tensor?[] _state;
    private readonly int _subgraph;
    private bool _disposed;

    public TfLiteSession(TfLiteModel model, int subgraph = 0, TfLiteSessionOptions? options = null)
    {
        Model = model;
        Options = options ?? new TfLiteSessionOptions();
        if (model.Subgraphs.Count == 0)
            throw new ModelOpsException(ErrorIds.TfLiteUnsupported, ErrorKind.InvalidData, $"'{model.Path}' has no subgraphs, so there is nothing to run.", model.Path);
        if (subgraph < 0 || subgraph >= model.Subgraphs.Count)
            throw new ModelOpsException(ErrorIds.TfLiteInputMismatch, ErrorKind.InvalidArgument, $"'{model.Path}' has {model.Subgraphs.Count} subgraphs; {subgraph} does not exist.", model.Path);
        _graph = model.Subgraphs[subgraph];
        _subgraph = subgraph;

        // One error for everything we cannot run, with counts.
        var missing = _graph.Operators.Select(model.OpCodeOf)
            .Where(c => c.IsCustom || !TfLiteKernels.Registry.ContainsKey(c.Builtin))
            .GroupBy(c => c.Name).Select(g => $"{g.Key} ×{g.Count()}").ToList();
        if (missing.Count > 0)
            throw new ModelOpsException(ErrorIds.UnsupportedOps, ErrorKind.NotImplemented,
                $"'{model.Path}' uses ops the managed TFLite interpreter does not implement: {string.Join(", ", missing)}. " +
                "Custom ops (Flex, Signal, ...) need their own kernels; re-convert with builtin ops only, or run the model with TFLite.", model.Path);
        _kernels = _graph.Operators.Select(o => TfLiteKernels.Registry[model.OpCodeOf(o).Builtin]).ToArray();
        OpStates = new object?[_graph.Operators.Count];

        _constants = new Tensor?[_graph.Tensors.Count];
        _state = new Tensor?[_graph.Tensors.Count];
        foreach (var t in _graph.Tensors)
        {
            if (t.IsSparse)
                throw new ModelOpsException(ErrorIds.TfLiteUnsupported, ErrorKind.NotImplemented, $"Tensor '{t.Name}' of '{model.Path}' is sparse; sparse weights are not supported.", model.Path);
            if (t.Shape.Aggregate(1L, (a, d) => a * d) > int.MaxValue / 16)
                throw new ModelOpsException(ErrorIds.TfLiteUnsupported, ErrorKind.NotImplemented, $"Tensor '{t.Name}' of '{model.Path}' has shape [{string.Join(",", t.Shape)}], too large for the managed interpreter.", model.Path);
            if (t.DType is DataType.DtInvalid)
                throw new ModelOpsException(ErrorIds.TfLiteUnsupported, ErrorKind.NotImplemented, $"Tensor '{t.Name}' of '{model.Path}' has type {t.DTypeName}, which the interpreter cannot hold.", model.Path);
            var data = model.TensorData(t);
            if (data.Length > 0) _constants[t.Index] = Decode(t, data);
            else if (t.IsVariable) _state[t.Index] = InitialState(t);
        }

        Inputs = _graph.Inputs.Select(i => _graph.Tensors[i]).ToList();
        Outputs = _graph.Outputs.Select(i => _graph.Tensors[i]).ToList();
        for (int k = 0; k < Inputs.Count; k++)
        {
            _inputNames[Inputs[k].Name] = k;
            _inputNames.TryAdd(k.ToString(System.Globalization.CultureInfo.InvariantCulture), k);
        }
        foreach (var sig in model.Signatures.Where(s => s.SubgraphIndex == subgraph))
            foreach (var si in sig.Inputs)
            {
                int k = Array.IndexOf(_graph.Inputs, si.TensorIndex);
                if (k >= 0) _inputNames.TryAdd(si.Name, k);
            }
    }

    public static TfLiteSession Open(string path, TfLiteSessionOptions? options = null) => new(TfLiteModelReader.Read(path), options: options);

    public TfLiteModel Model { get; }
    public TfLiteSessionOptions Options { get; }

    /// <summary>Kernel state per operator index (see <see cref="OpContext.Cached{T}"/>).</summary>
    internal object?[] OpStates { get; }

    public IReadOnlyList<TfLiteTensor> Inputs { get; }
    public IReadOnlyList<TfLiteTensor> Outputs { get; }

    /// <summary>
    /// Runs the model. A float32 tensor given for a quantized integer input is quantized with that input's
    /// scale and zero point. With <paramref name="dequantizeOutputs"/>, quantized outputs come back as float32
    /// real values. Variable tensors (RNN state) keep their values between runs; <see cref="ResetState"/> clears them.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs, bool dequantizeOutputs = false)
    {
        var values = RunAllTensors(inputs);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var t in Outputs)
        {
            var v = values[t.Index]!;
            result[t.Name] = dequantizeOutputs && t.Quantization is { HasScale: true } && v.DType != DataType.DtFloat ? TfLiteQuantizer.Dequantize(v, t) : v;
        }
        return result;
    }

    /// <summary>Runs the model and returns the value of every tensor (by tensor index): intermediates too (calibration).</summary>
    internal Tensor?[] RunAllTensors(IReadOnlyDictionary<string, Tensor> inputs)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        var values = (Tensor?[])_constants.Clone();
        for (int i = 0; i < _state.Length; i++) if (_state[i] is { } s) values[i] = s;

        var given = new Tensor?[Inputs.Count];
        foreach (var (key, value) in inputs)
        {
            if (!_inputNames.TryGetValue(key, out int k))
                throw new ModelOpsException(ErrorIds.TfLiteInputMismatch, ErrorKind.InvalidArgument,
                    $"'{key}' is not an input of '{Model.Path}'. Its inputs are: {string.Join(", ", Inputs.Select(t => $"{t.Name} {t.DTypeName}[{string.Join(",", t.Shape)}]"))}.", key);
            given[k] = PrepareInput(Inputs[k], value);
        }
        for (int k = 0; k < Inputs.Count; k++)
        {
            if (given[k] is null)
                throw new ModelOpsException(ErrorIds.TfLiteInputMismatch, ErrorKind.InvalidArgument,
                    $"Input '{Inputs[k].Name}' ({Inputs[k].DTypeName}[{string.Join(",", Inputs[k].Shape)}]) of '{Model.Path}' was not given.", Inputs[k].Name);
            values[_graph.Inputs[k]] = given[k];
        }

        for (int o = 0; o < _kernels.Length; o++)
        {
            var ctx = new OpContext(Model, _graph, _graph.Operators[o], values, this);
            try
            {
                if (Options.Profile is { } profile)
                {
                    long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                    _kernels[o](ctx);
                    profile.Add(ctx.Code.Name, System.Diagnostics.Stopwatch.GetTimestamp() - t0);
                }
                else _kernels[o](ctx);
            }
            catch (Exception ex) when (ex is InvalidOperationException or InvalidCastException or IndexOutOfRangeException or ArgumentException or OverflowException)
            {
                // A verified file can still be inconsistent (tensor types or shapes that do not fit the op).
                throw new ModelOpsException(ErrorIds.TfLiteUnsupported, ErrorKind.InvalidData,
                    $"{ctx.Code.Name} (operator {o}) of '{Model.Path}' cannot run on its tensors: {ex.Message} The model is inconsistent or uses a variant of the op that is not implemented.", Model.Path, ex);
            }
            foreach (int x in _graph.Operators[o].Outputs)
                if (values[x] is null) throw ctx.Unsupported($"the kernel produced no value for output '{_graph.Tensors[x].Name}'");
        }
        foreach (var t in _graph.Tensors)
            if (t.IsVariable && values[t.Index] is { } v) _state[t.Index] = v;
        return values;
    }

    IReadOnlyList<TensorSpec> IInferenceSession.Inputs => Inputs.Select(Spec).ToList();

    IReadOnlyList<TensorSpec> IInferenceSession.Outputs => Outputs.Select(Spec).ToList();

    /// <summary>Runs with the model's outputs, or the named ones; <see cref="TfLiteSessionOptions.DequantizeIO"/> applies.</summary>
    IReadOnlyDictionary<string, Tensor> IInferenceSession.Run(IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyList<string>? fetches)
    {
        if (fetches is { Count: > 0 }) CheckFetches(fetches);
        var all = Run(feeds, Options.DequantizeIO);
        if (fetches is not { Count: > 0 }) return all;
        var picked = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var f in fetches) picked[f] = all[OutputName(f)!];
        return picked;
    }

    TensorSpec? IInferenceSession.FindInput(string name) => _inputNames.TryGetValue(name, out int k) ? Spec(Inputs[k]) : null;

    /// <summary>Fails, listing the outputs, when a fetch names no output of the model.</summary>
    internal void CheckFetches(IReadOnlyList<string> fetches)
    {
        foreach (var f in fetches)
            if (OutputName(f) is null)
                throw new ModelOpsException(ErrorIds.TfLiteInputMismatch, ErrorKind.InvalidArgument,
                    $"'{f}' is not an output of '{Model.Path}'. Its outputs are: {string.Join(", ", Outputs.Select(t => t.Name))}.", f);
    }

    // An output by tensor name, signature output name, or position.
    private string? OutputName(string fetch)
    {
        if (Outputs.Any(t => t.Name == fetch)) return fetch;
        foreach (var sig in Model.Signatures.Where(s => s.SubgraphIndex == _subgraph))
            foreach (var so in sig.Outputs)
                if (so.Name == fetch && Outputs.FirstOrDefault(t => t.Index == so.TensorIndex) is { } t) return t.Name;
        return int.TryParse(fetch, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int k) && k < Outputs.Count ? Outputs[k].Name : null;
    }

    private TensorSpec Spec(TfLiteTensor t)
    {
        bool real = Options.DequantizeIO && t.Quantization is { HasScale: true } && t.DType is DataType.DtInt8 or DataType.DtUint8 or DataType.DtInt16;
        var shape = (t.ShapeSignature ?? t.Shape).Select(d => (long)d).ToArray();
        return new TensorSpec(t.Name, real ? DataType.DtFloat.Name() : t.DType.Name(), shape);
    }

    /// <summary>Clears variable tensors (RNN/LSTM state) back to zeros.</summary>
    public void ResetState()
    {
        foreach (var t in _graph.Tensors)
            if (t.IsVariable && _constants[t.Index] is null) _state[t.Index] = InitialState(t);
    }

    /// <summary>A variable tensor's reset value, as TFLite's ResetVariableTensor sets it: the zero point for int8, else 0.</summary>
    private static Tensor InitialState(TfLiteTensor t)
    {
        if (t.DType == DataType.DtInt8 && t.Quantization is { ZeroPoint.Length: > 0 } q && q.ZeroPoint[0] != 0)
            return new Tensor(DataType.DtInt8, t.Shape, Enumerable.Repeat(unchecked((sbyte)q.ZeroPoint[0]), (int)Tensor.ElementCount(t.Shape)).ToArray());
        return Tensor.Zeros(t.DType, t.Shape);
    }

    private Tensor PrepareInput(TfLiteTensor spec, Tensor value)
    {
        var want = spec.DType;
        if (value.DType != want)
        {
            if (value.DType is DataType.DtFloat or DataType.DtDouble && spec.Quantization is { HasScale: true } && want is DataType.DtInt8 or DataType.DtUint8 or DataType.DtInt16)
                value = TfLiteQuantizer.Quantize(value, spec);
            else
                throw new ModelOpsException(ErrorIds.TfLiteInputMismatch, ErrorKind.InvalidArgument,
                    $"Input '{spec.Name}' of '{Model.Path}' is {spec.DTypeName} but a {value.DType.Name()} tensor was given." +
                    (spec.Quantization is { HasScale: true } ? " Give the quantized values, or float32 real values to be quantized." : ""), spec.Name);
        }
        var sig = spec.ShapeSignature ?? spec.Shape;
        bool ok = value.Shape.Length == sig.Length;
        for (int d = 0; ok && d < sig.Length; d++) ok = sig[d] < 0 || sig[d] == value.Shape[d];
        if (!ok && Tensor.ElementCount(value.Shape) == Tensor.ElementCount(spec.Shape) && spec.ShapeSignature is null)
        {
            value = value.Reshape(spec.Shape); // same elements, e.g. a flat array for [1,28,28]
            ok = true;
        }
        if (!ok)
            throw new ModelOpsException(ErrorIds.TfLiteInputMismatch, ErrorKind.InvalidArgument,
                $"Input '{spec.Name}' of '{Model.Path}' has shape [{string.Join(",", sig.Select(d => d < 0 ? "?" : d.ToString(System.Globalization.CultureInfo.InvariantCulture)))}] but the tensor given is {Tensor.FormatShape(value.Shape)}.", spec.Name);
        return value;
    }

    internal static Tensor Decode(TfLiteTensor t, ReadOnlySpan<byte> data)
    {
        if (t.Type == TensorType.STRING)
            return Tensor.FromStrings(Array.Empty<string>(), 0); // string constants are not used by supported kernels
        var dt = t.DType;
        if (dt.ByteSize() == 0 || t.Type is TensorType.INT4 or TensorType.UINT4)
            throw new ModelOpsException(ErrorIds.TfLiteUnsupported, ErrorKind.NotImplemented, $"Constant tensor '{t.Name}' has type {t.DTypeName}, which the interpreter cannot load.", t.Name);
        return TensorBytes.FromBytes(dt, t.Shape, data);
    }

    public void Dispose() => _disposed = true;
}
