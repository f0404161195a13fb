using System.Collections;
using System.Diagnostics;
using System.Management.Automation;
using System.Text.Json;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Npy;
using ModelOps.Core.Inspection;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;
using ModelOps.PowerShell.Inference;
using ModelOps.PowerShell.Infrastructure;

namespace ModelOps.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Runs a frozen TensorFlow graph or a .tflite model on the CPU and returns its outputs.</para>
/// <para type="description">Inputs come from -Input (a hashtable of name = value), -InputFile
/// (.npy, .npz or .json), or pipeline objects whose properties are named like the model's inputs
/// (rows are stacked into batches of -BatchSize). The model is loaded and planned once per pipeline.
/// A .tflite runs on the managed TFLite interpreter; its inputs bind by tensor name, signature name or position,
/// and -Dequantize feeds real values to a quantized model and returns real values.
/// Emits one object per output (Name, DType, Shape, Data); with -Measure, one run summary instead (plan and run
/// times, and on the managed engines the kernel time per op type). -Repeat runs each input set several times,
/// for steadier timings; the outputs are those of the last run.</para>
/// </summary>
/// <example>
/// <code>Invoke-TfInference ./model.pb -Input @{ input = $image } | Format-Table Name, DType, Shape, Preview</code>
/// <para>One run of a frozen graph on the managed engine.</para>
/// </example>
/// <example>
/// <code>Invoke-TfInference ./model.tflite -InputFile ./inputs.npz -OutFile ./outputs.npz -Dequantize</code>
/// <para>A quantized .tflite fed with real values from an .npz; real-valued outputs written keyed by name.</para>
/// </example>
/// <example>
/// <code>Import-Csv ./rows.csv | Invoke-TfInference ./model.pb -BatchSize 256</code>
/// <para>Each row's columns bind to the inputs of the same name; rows run in batches of 256.</para>
/// </example>
/// <example>
/// <code>Invoke-TfInference ./model.pb -Input @{ input = $image } -Measure -Repeat 50 | Select-Object -ExpandProperty OpTimes</code>
/// <para>Median latency over 50 runs after a warm-up, and where the kernel time goes per op type.</para>
/// </example>
[Cmdlet(VerbsLifecycle.Invoke, "TfInference")]
[OutputType(typeof(TfInferenceOutput), typeof(TfRunSummary))]
public sealed class InvokeTfInferenceCommand : ModelOpsCmdlet
{
    /// <summary>A frozen GraphDef (.pb or .pbtxt) or a .tflite. Binds FullName from Get-ChildItem.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("Path", "FullName")]
    [ValidateNotNullOrEmpty]
    public string Model { get; set; } = "";

    /// <summary>name = value: a number, a (nested) array, a typed array (with -Shape), or a Tensor.</summary>
    [Parameter(Position = 1)]
    public Hashtable? Input { get; set; }

    /// <summary>.npy (for a one-input model), .npz (arrays keyed by input name or name:0) or .json ({"name": nested array}).</summary>
    [Parameter]
    public string? InputFile { get; set; }

    /// <summary>Pipeline objects whose properties bind to inputs by name; rows are batched.</summary>
    [Parameter(ValueFromPipeline = true)]
    public PSObject? InputObject { get; set; }

    /// <summary>The shape of flat (typed) array values in -Input.</summary>
    [Parameter]
    public int[]? Shape { get; set; }

    /// <summary>Outputs to compute ("node" or "node:i"); default: the model's outputs.</summary>
    [Parameter]
    public string[]? Output { get; set; }

    /// <summary>Writes the outputs to .npy (one output) or .npz (keyed by output name).</summary>
    [Parameter]
    public string? OutFile { get; set; }

    /// <summary>Overwrite -OutFile when it exists.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    /// <summary>Managed (default) or OnnxRuntime: .onnx files run directly, TF graphs are converted to ONNX in memory.</summary>
    [Parameter]
    public InferenceEngine Engine { get; set; } = InferenceEngine.Managed;

    /// <summary>Threads one op may use (both engines); default: all cores.</summary>
    [Parameter]
    [ValidateRange(1, 1024)]
    public int? IntraOpThreads { get; set; }

    /// <summary>Rows stacked into one run for pipeline input.</summary>
    [Parameter]
    [ValidateRange(1, int.MaxValue)]
    public int BatchSize { get; set; } = 64;

    /// <summary>For a quantized .tflite: take float (real) input values, quantized with each input's scale and zero
    /// point, and return outputs as real float32 values.</summary>
    [Parameter]
    public SwitchParameter Dequantize { get; set; }

    /// <summary>Emit one run summary (plan and run times; per-op-type kernel times on the managed engines) instead of the outputs.</summary>
    [Parameter]
    public SwitchParameter Measure { get; set; }

    /// <summary>Runs each input set this many times (timings cover every run; outputs are the last run's).
    /// With -Measure, the first run of the pipeline warms up (JIT, buffers) and is left out of the timings.</summary>
    [Parameter]
    [ValidateRange(1, 1_000_000)]
    public int Repeat { get; set; } = 1;

    private IInferenceSession? _session;
    private string? _sessionPath;
    private readonly List<PSObject> _rows = new();
    private readonly Dictionary<string, List<Tensor>> _batchedOutputs = new(StringComparer.Ordinal);
    private readonly Stopwatch _planWatch = new();
    private readonly Stopwatch _runWatch = new();
    private int _runs;
    private int _samples;
    private readonly List<TimeSpan> _runTimes = new();
    private OpProfile? _profile;
    private bool _warmedUp;

    protected override void BeginProcessing()
    {
        // Planned here when -Model is a parameter; when it comes from the pipeline, on the first record.
        if (!string.IsNullOrEmpty(Model))
            Guard(Model, () => EnsureSession());
    }

    protected override void ProcessRecord()
    {
        Guard(Model, () =>
        {
            EnsureSession();
            var row = InputObject;
            if (row is not null && BindsInputs(row))
            {
                _rows.Add(row);
                if (_rows.Count >= BatchSize) FlushRows();
                return;
            }
            // No row to bind (plain -Input/-InputFile use, or a file object piped in for -Model): one run.
            var feeds = ExplicitFeeds();
            RunAndEmit(feeds, samples: 1);
        });
    }

    protected override void EndProcessing()
    {
        Guard(Model, () =>
        {
            if (_rows.Count > 0) FlushRows();
            if (OutFile is not null && _batchedOutputs.Count > 0) WriteOutFile(_batchedOutputs.ToDictionary(kv => kv.Key, kv => Concat(kv.Value)));
            if (Measure && _session is not null)
                WriteObject(new TfRunSummary
                {
                    Model = _sessionPath!,
                    Engine = Engine,
                    PlanTime = _planWatch.Elapsed,
                    RunTime = _runWatch.Elapsed,
                    Runs = _runs,
                    Samples = _samples,
                    Outputs = (Output is { Length: > 0 } ? Output : _session.Outputs.Select(o => o.Name)).ToList(),
                    RunTimes = _runTimes.ToList(),
                    OpTimes = OpTimes(),
                });
        });
        _session?.Dispose();
        _session = null;
    }

    protected override void StopProcessing()
    {
        _session?.Dispose();
        _session = null;
    }

    private List<TfOpTime> OpTimes()
    {
        if (_profile is null) return [];
        var entries = _profile.Entries;
        double total = entries.Sum(e => e.TotalMs);
        return entries.Select(e => new TfOpTime(e.Op, e.Calls, TimeSpan.FromMilliseconds(e.TotalMs), total > 0 ? e.TotalMs / total : 0)).ToList();
    }

    private void EnsureSession()
    {
        string full = ResolveExistingPath(Model, allowDirectory: true);
        if (_session is not null && string.Equals(full, _sessionPath, StringComparison.Ordinal)) return;
        if (_rows.Count > 0) FlushRows();
        _session?.Dispose();
        _planWatch.Start();
        try
        {
            WriteVerbose($"Loading and planning {full}");
            _profile = Measure ? new OpProfile() : null;
            _warmedUp = false;
            // The session reads the graph itself and every run asks for the same outputs: it may keep the weights once.
            _session = InferenceSessions.Open(full, Output is { Length: > 0 } ? Output : null, Dequantize, Engine, IntraOpThreads, _profile, releaseGraphConstants: true);
        }
        finally
        {
            _planWatch.Stop();
        }
        _sessionPath = full;
    }

    private IEnumerable<TensorSpec> FeedableInputs => _session!.Inputs;

    private bool BindsInputs(PSObject row) =>
        FeedableInputs.Any(i => row.Properties[i.Name] is not null || row.Properties[i.Name + ":0"] is not null);

    // Exact names first: .tflite tensor names often end in ":0" themselves.

    private Dictionary<string, Tensor> ExplicitFeeds()
    {
        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        if (InputFile is not null)
            foreach (var kv in ReadInputFile(ResolveExistingPath(InputFile, allowDirectory: false))) feeds[kv.Key] = kv.Value;
        if (Input is not null)
            foreach (DictionaryEntry e in Input)
            {
                string name = e.Key?.ToString() ?? "";
                var spec = Spec(name);
                feeds[name] = TensorConverter.Convert(e.Value, ParseDType(spec), spec?.Shape, Shape, name);
            }
        return feeds;
    }

    private TensorSpec? Spec(string name)
    {
        if (_session!.FindInput(name) is { } exact) return exact;
        string node = name.EndsWith(":0", StringComparison.Ordinal) ? name[..^2] : name;
        return FeedableInputs.FirstOrDefault(i => i.Name == node);
    }

    // Unknown names fall through with float32; the session then reports them with the list of real inputs.
    private static DataType ParseDType(TensorSpec? spec) =>
        spec is null || spec.DType == "?" ? DataType.DtFloat : DataTypes.Parse(spec.DType);

    private Dictionary<string, Tensor> ReadInputFile(string path)
    {
        string ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        switch (ext)
        {
            case ".npy":
            {
                var required = FeedableInputs.ToList();
                if (required.Count != 1)
                    throw new ModelOpsException("InputFileAmbiguous", ErrorKind.InvalidArgument,
                        $"A .npy file holds one array but the model has {required.Count} inputs ({string.Join(", ", required)}). Use an .npz keyed by input name.", path);
                return new Dictionary<string, Tensor> { [required[0].Name] = NpyFile.Read(path) };
            }
            case ".npz":
            {
                var arrays = NpyFile.ReadNpz(path);
                var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
                foreach (var i in FeedableInputs)
                    if (NpyFile.Find(arrays, i.Name) is { } t) feeds[i.Name] = t;
                foreach (var key in arrays.Keys)
                    if (!FeedableInputs.Any(i => i.Name == key || i.Name + ":0" == key))
                        feeds[key] = arrays[key]; // unknown keys: the session names the real inputs
                return feeds;
            }
            case ".json":
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(path));
                if (doc.RootElement.ValueKind != JsonValueKind.Object)
                    throw new ModelOpsException("InvalidInputFile", ErrorKind.InvalidData, $"'{path}' must hold a JSON object of input name → (nested) array.", path);
                var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
                foreach (var p in doc.RootElement.EnumerateObject())
                {
                    var spec = Spec(p.Name);
                    feeds[p.Name] = TensorConverter.Convert(p.Value.Clone(), ParseDType(spec), spec?.Shape, null, p.Name);
                }
                return feeds;
            }
            default:
                throw new ModelOpsException("InvalidInputFile", ErrorKind.InvalidArgument, $"'{path}' is not an .npy, .npz or .json file.", path);
        }
    }

    private void FlushRows()
    {
        var bound = FeedableInputs
            .Select(spec => (Spec: spec, Prop: _rows[0].Properties[spec.Name] is not null ? spec.Name : spec.Name + ":0"))
            .Where(b => _rows[0].Properties[b.Prop] is not null).ToList();
        // Rows stack into one batch when every bound input has a free leading (batch) dimension;
        // otherwise (a scalar or fixed-size input) each row is its own run.
        bool batch = bound.All(b => b.Spec.Shape is null || b.Spec.Shape is { Length: > 0 } s && s[0] < 0);
        var rows = _rows.ToList();
        _rows.Clear();
        if (!batch)
        {
            foreach (var row in rows)
            {
                var feeds = ExplicitFeeds();
                foreach (var (spec, prop) in bound)
                    feeds[spec.Name] = TensorConverter.Convert(row.Properties[prop]?.Value, ParseDType(spec), spec.Shape, null, spec.Name);
                RunAndEmit(feeds, 1, batched: true);
            }
            return;
        }
        var batchFeeds = ExplicitFeeds();
        foreach (var (spec, prop) in bound)
        {
            var dtype = ParseDType(spec);
            long[]? rowShape = spec.Shape is { Length: > 0 } ? spec.Shape[1..] : null;
            var perRow = rows.Select(r => TensorConverter.Convert(r.Properties[prop]?.Value, dtype, rowShape, null, spec.Name)).ToList();
            batchFeeds[spec.Name] = TensorConverter.Stack(perRow, spec.Name);
        }
        RunAndEmit(batchFeeds, rows.Count, batched: true);
    }

    private void RunAndEmit(Dictionary<string, Tensor> feeds, int samples, bool batched = false)
    {
        var fetches = Output is { Length: > 0 } ? Output : null;
        if (Measure && Repeat > 1 && !_warmedUp)
        {
            // One untimed run first, so that JIT compilation and first-run allocations stay out of the figures.
            _session!.Run(feeds, fetches);
            _profile?.Reset();
        }
        _warmedUp = true;
        IReadOnlyDictionary<string, Tensor> result = null!;
        for (int r = 0; r < Repeat; r++)
        {
            var start = _runWatch.Elapsed;
            _runWatch.Start();
            try
            {
                result = _session!.Run(feeds, fetches);
            }
            finally
            {
                _runWatch.Stop();
            }
            _runTimes.Add(_runWatch.Elapsed - start);
            _runs++;
        }
        _samples += samples;
        if (batched && OutFile is not null)
        {
            foreach (var (k, v) in result)
            {
                if (!_batchedOutputs.TryGetValue(k, out var l)) _batchedOutputs[k] = l = new List<Tensor>();
                l.Add(v);
            }
        }
        else if (OutFile is not null) WriteOutFile(result);
        if (Measure) return;
        foreach (var (k, v) in result) WriteObject(new TfInferenceOutput(k, v));
    }

    private static Tensor Concat(List<Tensor> parts)
    {
        if (parts.Count == 1) return parts[0];
        var shape = (int[])parts[0].Shape.Clone();
        shape[0] = parts.Sum(p => p.Shape[0]);
        Array data = Array.CreateInstance(parts[0].Data.GetType().GetElementType()!, parts.Sum(p => p.Data.Length));
        long off = 0;
        foreach (var p in parts) { Array.Copy(p.Data, 0, data, off, p.Data.Length); off += p.Data.Length; }
        return new Tensor(parts[0].DType, shape, data);
    }

    private bool _outFileWritten;

    private void WriteOutFile(IReadOnlyDictionary<string, Tensor> result)
    {
        string path = ResolvePath(OutFile!);
        bool overwrite = Force || _outFileWritten;
        if (_outFileWritten && !Force)
            throw new ModelOpsException(ErrorIds.OutputExists, ErrorKind.ResourceExists,
                $"-OutFile '{OutFile}' would be written by more than one run. Give one input set per call, or pipe rows (they are written together).", OutFile);
        string ext = System.IO.Path.GetExtension(path).ToLowerInvariant();
        if (ext == ".npy")
        {
            if (result.Count != 1)
                throw new ModelOpsException("OutFileAmbiguous", ErrorKind.InvalidArgument,
                    $"An .npy file holds one array but {result.Count} outputs were computed ({string.Join(", ", result.Keys)}). Use .npz, or pick one with -Output.", OutFile);
            NpyFile.Write(path, result.Values.First(), overwrite);
        }
        else if (ext == ".npz") NpyFile.WriteNpz(path, result, overwrite);
        else throw new ModelOpsException("InvalidOutFile", ErrorKind.InvalidArgument, $"-OutFile must end in .npy or .npz, not '{ext}'.", OutFile);
        _outFileWritten = true;
    }
}
