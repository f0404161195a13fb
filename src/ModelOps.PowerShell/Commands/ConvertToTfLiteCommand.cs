using System.Collections;
using System.Management.Automation;
using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats.Npy;
using ModelOps.Core.Tensors;
using ModelOps.PowerShell.Infrastructure;

namespace ModelOps.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Converts a frozen TensorFlow graph to a .tflite model (float32, float16, dynamic-range or full-integer int8), without TensorFlow.</para>
/// <para type="description">What tf.lite.TFLiteConverter.from_frozen_graph does: TF ops lower to TFLite builtins with
/// TFLite's layouts (BiasAdd and activations fused into the producing op), each op gets the version its features
/// need, and the file carries SignatureDefs and min_runtime_version. -Quantization Float16 stores weights as half;
/// Dynamic stores large weights as int8 (hybrid kernels); Int8 quantizes weights and activations from the ranges seen
/// on -CalibrationData. Quantized conversions report their accuracy against the float graph (max abs error and SNR per
/// output). Ops without a builtin are listed in one error, unless -AllowCustomOps or -SelectTfOps is given.
/// The file is written atomically; an existing one needs -Force.</para>
/// </summary>
/// <example>
/// <code>ConvertTo-TfLite ./model.pb</code>
/// <para>float32 model.tflite beside the graph.</para>
/// </example>
/// <example>
/// <code>ConvertTo-TfLite ./model.pb -Quantization Int8 -CalibrationData ./calibration -InferenceInputType Int8 -InferenceOutputType Int8</code>
/// <para>Full-integer int8 calibrated on the .npy/.npz files of a folder, with int8 inputs and outputs.</para>
/// </example>
/// <example>
/// <code>Export-FrozenGraph -SavedModel ./export/1 | ConvertTo-TfLite -Quantization Dynamic | Select-Object Path, Bytes, Accuracy</code>
/// <para>Freezes and converts in one pipeline, then shows the accuracy report.</para>
/// </example>
[Cmdlet(VerbsData.ConvertTo, "TfLite", SupportsShouldProcess = true)]
[OutputType(typeof(TfLiteModelInfo))]
public sealed class ConvertToTfLiteCommand : ModelOpsCmdlet
{
    /// <summary>A frozen GraphDef (.pb/.pbtxt). Binds Path from Export-FrozenGraph / Optimize-TfGraph output, FullName from Get-ChildItem.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Where to write; default beside the input: &lt;name&gt;.tflite.</summary>
    [Parameter(Position = 1)]
    [Alias("OutFile")]
    public string? OutputPath { get; set; }

    /// <summary>None (float32), Float16, Dynamic (int8 weights, hybrid kernels) or Int8 (full integer).</summary>
    [Parameter]
    public TfLiteQuantization Quantization { get; set; } = TfLiteQuantization.None;

    /// <summary>Representative inputs: .npy/.npz files or folders of them, or tensors.</summary>
    [Parameter]
    public object[] CalibrationData { get; set; } = Array.Empty<object>();

    /// <summary>Input type of a full-integer model: Float32 (default), Int8 or UInt8.</summary>
    [Parameter]
    public TfLiteIoType InferenceInputType { get; set; } = TfLiteIoType.Float32;

    /// <summary>Output type of a full-integer model: Float32 (default), Int8 or UInt8.</summary>
    [Parameter]
    public TfLiteIoType InferenceOutputType { get; set; } = TfLiteIoType.Float32;

    /// <summary>Int8: the oldest TFLite the file must run on (e.g. 2.2.0); int8 kernels newer than that stay float.</summary>
    [Parameter]
    [ValidatePattern(@"^[0-9]{1,4}(\.[0-9]{1,4}){0,2}$")]
    public string? TargetRuntimeVersion { get; set; }

    /// <summary>Input node names (default: the placeholders the outputs need).</summary>
    [Parameter]
    public string[] Inputs { get; set; } = Array.Empty<string>();

    /// <summary>Output node or tensor names (default: the graph's sinks).</summary>
    [Parameter]
    public string[] Outputs { get; set; } = Array.Empty<string>();

    /// <summary>Shapes for inputs whose shape is unknown: @{ input = @(1,224,224,3) }.</summary>
    [Parameter]
    public Hashtable? InputShape { get; set; }

    /// <summary>Write ops without a TFLite builtin as CUSTOM ops (the runtime must provide them).</summary>
    [Parameter]
    public SwitchParameter AllowCustomOps { get; set; }

    /// <summary>Write ops without a TFLite builtin as Select TF ops (Flex delegate).</summary>
    [Parameter]
    public SwitchParameter SelectTfOps { get; set; }

    /// <summary>Overwrite an existing output file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        Guard(Path, () =>
        {
            string input = ResolveExistingPath(Path, allowDirectory: false);
            string output = OutputPath is { Length: > 0 } ? ResolvePath(OutputPath)
                : System.IO.Path.Combine(System.IO.Path.GetDirectoryName(input) ?? ".", System.IO.Path.GetFileNameWithoutExtension(input) + ".tflite");
            if (!ShouldProcess(output, $"Convert '{input}' to TFLite ({Quantization})")) return;
            var options = new TfLiteConverterOptions
            {
                Quantization = Quantization, InferenceInputType = InferenceInputType, InferenceOutputType = InferenceOutputType,
                AllowCustomOps = AllowCustomOps.IsPresent, SelectTfOps = SelectTfOps.IsPresent,
                Inputs = Inputs.Length > 0 ? Inputs : null, Outputs = Outputs.Length > 0 ? Outputs : null,
                InputShapes = InputShape is null ? null : InputShape.Keys.Cast<object>().ToDictionary(k => k.ToString()!,
                    k => LanguagePrimitives.ConvertTo<int[]>(InputShape[k]), StringComparer.Ordinal),
                CalibrationData = CalibrationData.Length > 0 ? LoadCalibration(CalibrationData) : null,
                TargetRuntimeVersion = TargetRuntimeVersion,
            };
            var info = TfLiteFileConverter.Convert(input, output, options, Force.IsPresent);
            if (info.CustomOps.Count > 0)
                WriteWarning($"The model uses {string.Join(", ", info.CustomOps)} as custom ops; the TFLite runtime that loads it must provide them.");
            WriteObject(info);
        });
    }

    /// <summary>Each sample maps input names to tensors: .npz = one sample (arrays by input name), .npy = samples for the single input (a leading batch splits).</summary>
    private IReadOnlyList<IReadOnlyDictionary<string, Tensor>> LoadCalibration(object[] items)
    {
        var samples = new List<IReadOnlyDictionary<string, Tensor>>();
        void AddNpy(Tensor t)
        {
            if (t.Rank > 0 && t.Shape[0] > 1)
            {
                int per = t.Length / t.Shape[0];
                var shape = t.Shape.ToArray();
                shape[0] = 1;
                for (int b = 0; b < t.Shape[0]; b++)
                {
                    var part = Array.CreateInstance(t.Data.GetType().GetElementType()!, per);
                    Array.Copy(t.Data, b * per, part, 0, per);
                    samples.Add(new Dictionary<string, Tensor> { [""] = new Tensor(t.DType, shape, part) });
                }
            }
            else samples.Add(new Dictionary<string, Tensor> { [""] = t });
        }
        void AddFile(string f)
        {
            if (f.EndsWith(".npz", StringComparison.OrdinalIgnoreCase)) samples.Add(NpyFile.ReadNpz(f));
            else AddNpy(NpyFile.Read(f));
        }
        foreach (var item in items.Select(i => i is PSObject p ? p.BaseObject : i))
        {
            switch (item)
            {
                case Tensor t: AddNpy(t); break;
                case FileInfo fi: AddFile(fi.FullName); break;
                case string s:
                    string full = ResolveExistingPath(s);
                    if (Directory.Exists(full))
                        foreach (var f in Directory.EnumerateFiles(full).Where(f => f.EndsWith(".npy", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".npz", StringComparison.OrdinalIgnoreCase)).OrderBy(f => f, StringComparer.Ordinal))
                            AddFile(f);
                    else AddFile(full);
                    break;
                default:
                    throw new ModelOpsException(TfLiteErrorIds.CalibrationData, ErrorKind.InvalidArgument,
                        $"-CalibrationData takes .npy/.npz paths, folders of them, or tensors; got {item?.GetType().Name ?? "null"}.");
            }
        }
        if (samples.Count == 0)
            throw new ModelOpsException(TfLiteErrorIds.CalibrationData, ErrorKind.InvalidArgument, "-CalibrationData named no .npy or .npz files.");
        return samples;
    }
}
