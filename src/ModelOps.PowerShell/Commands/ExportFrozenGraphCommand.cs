using System.Management.Automation;
using ModelOps.Core.Freezing;
using ModelOps.PowerShell.Infrastructure;

namespace ModelOps.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Freezes a TensorFlow model (graph + checkpoint, TF1 or TF2 SavedModel) into one GraphDef with variables as constants.</para>
/// <para type="description">What freeze_graph.py and convert_variables_to_constants(_v2) do, without TensorFlow: reads
/// the checkpoint (V2 tensor bundle, CRC-checked), replaces every variable the outputs need by a Const holding its
/// value, inlines TF2 functions, prunes savers, initializers and training-only nodes, clears devices, and writes one
/// GraphDef atomically (nothing is written on any error; an existing file needs -Force). -OutputNode takes node names
/// or tensor names ("logits:0"); without it the SavedModel signature's outputs are used. Emits a FrozenGraphInfo (Path,
/// inputs, outputs, variables frozen, parameter count, bytes, elapsed time) that Optimize-TfGraph, ConvertTo-TfLite,
/// ConvertTo-Onnx and Invoke-TfInference bind by its Path.</para>
/// </summary>
/// <example>
/// <code>Export-FrozenGraph -Graph ./model.pbtxt -Checkpoint ./model.ckpt -OutputNode output</code>
/// <para>A TF1 graph and checkpoint to model.frozen.pb beside the graph.</para>
/// </example>
/// <example>
/// <code>Export-FrozenGraph -SavedModel ./export/1 -Signature serving_default -OutputPath ./model.pb</code>
/// <para>A TF1 or TF2 SavedModel; inputs and outputs keep the signature's names.</para>
/// </example>
/// <example>
/// <code>Export-FrozenGraph ./model.meta ./checkpoints -OutputNode logits | Optimize-TfGraph | ConvertTo-TfLite</code>
/// <para>Freezes with the latest checkpoint in a folder, optimizes the result and converts it to .tflite.</para>
/// </example>
[Cmdlet(VerbsData.Export, "FrozenGraph", DefaultParameterSetName = GraphSet, SupportsShouldProcess = true)]
[OutputType(typeof(FrozenGraphInfo))]
public sealed class ExportFrozenGraphCommand : ModelOpsCmdlet
{
    private const string GraphSet = "Graph";
    private const string SavedModelSet = "SavedModel";

    /// <summary>A graph file: .pb / .pbtxt GraphDef or .meta MetaGraphDef (sniffed by content).</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = GraphSet, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "Path", "InputGraph")]
    [ValidateNotNullOrEmpty]
    public string Graph { get; set; } = "";

    /// <summary>Checkpoint prefix, its .index file, or a folder with a `checkpoint` state file (latest is used).</summary>
    [Parameter(Position = 1, ParameterSetName = GraphSet, ValueFromPipelineByPropertyName = true)]
    [Alias("InputCheckpoint")]
    public string? Checkpoint { get; set; }

    /// <summary>A SavedModel folder (TF1 or TF2).</summary>
    [Parameter(Mandatory = true, ParameterSetName = SavedModelSet, ValueFromPipelineByPropertyName = true)]
    [Alias("SavedModelDir")]
    [ValidateNotNullOrEmpty]
    public string SavedModel { get; set; } = "";

    /// <summary>The MetaGraph tag set to freeze (all tags must match); default serve.</summary>
    [Parameter(ParameterSetName = SavedModelSet)]
    [Alias("Tags")]
    public string[] Tag { get; set; } = { "serve" };

    /// <summary>The signature whose outputs are frozen; default serving_default.</summary>
    [Parameter(ParameterSetName = SavedModelSet)]
    [Alias("SignatureName")]
    public string Signature { get; set; } = "serving_default";

    /// <summary>Output node or tensor names ("logits" or "logits:0"); default: the signature's outputs.</summary>
    [Parameter]
    [Alias("OutputNodeNames", "Output")]
    public string[] OutputNode { get; set; } = Array.Empty<string>();

    /// <summary>Where to write; default beside the input: &lt;name&gt;.frozen.pb (a SavedModel folder gives &lt;folder&gt;.frozen.pb).</summary>
    [Parameter]
    [Alias("OutFile")]
    public string? OutputPath { get; set; }

    /// <summary>Freeze only variables matching these wildcards.</summary>
    [Parameter]
    [SupportsWildcards]
    public string[] IncludeVariable { get; set; } = Array.Empty<string>();

    /// <summary>Leave variables matching these wildcards as variables.</summary>
    [Parameter]
    [SupportsWildcards]
    public string[] ExcludeVariable { get; set; } = Array.Empty<string>();

    /// <summary>Keep node device placements (cleared by default).</summary>
    [Parameter]
    public SwitchParameter KeepDevices { get; set; }

    /// <summary>Write text format (pbtxt) instead of binary.</summary>
    [Parameter]
    public SwitchParameter AsText { get; set; }

    /// <summary>Overwrite an existing output file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        bool isSaved = ParameterSetName == SavedModelSet;
        string input = isSaved ? SavedModel : Graph;
        Guard(input, () =>
        {
            string inputFull = ResolveExistingPath(input);
            string? ckpt = !isSaved && !string.IsNullOrEmpty(Checkpoint) ? ResolvePath(Checkpoint) : null;
            string output = OutputPath is { Length: > 0 } ? ResolvePath(OutputPath) : DefaultOutput(inputFull, AsText.IsPresent);
            if (!ShouldProcess(output, $"Freeze '{inputFull}' and write the frozen graph")) return;
            var progress = new ProgressRecord(1, "Export-FrozenGraph", "Copying variable values");
            var options = new FreezeOptions
            {
                OutputNodes = OutputNode, IncludeVariables = IncludeVariable, ExcludeVariables = ExcludeVariable,
                ClearDevices = !KeepDevices.IsPresent, Tags = Tag, Signature = Signature,
                Progress = (name, done, total) =>
                {
                    if (total < (64L << 20)) return; // only large checkpoints
                    progress.StatusDescription = name;
                    progress.PercentComplete = (int)Math.Min(100, done * 100 / Math.Max(1, total));
                    WriteProgress(progress);
                },
            };
            var info = GraphFreezer.Export(
                () => isSaved ? GraphFreezer.FreezeSavedModel(inputFull, options) : GraphFreezer.FreezeGraph(inputFull, ckpt, options),
                output, AsText.IsPresent, Force.IsPresent);
            progress.RecordType = ProgressRecordType.Completed;
            WriteProgress(progress);
            WriteObject(info);
        });
    }

    /// <summary>&lt;dir&gt;/&lt;name&gt;.frozen.pb beside a file; &lt;parent&gt;/&lt;folder&gt;.frozen.pb for a folder.</summary>
    internal static string DefaultOutput(string input, bool text)
    {
        string ext = text ? ".frozen.pbtxt" : ".frozen.pb";
        string trimmed = input.TrimEnd(System.IO.Path.DirectorySeparatorChar, System.IO.Path.AltDirectorySeparatorChar);
        if (Directory.Exists(trimmed))
            return System.IO.Path.Combine(System.IO.Path.GetDirectoryName(trimmed) ?? ".", System.IO.Path.GetFileName(trimmed) + ext);
        string dir = System.IO.Path.GetDirectoryName(trimmed) ?? ".";
        return System.IO.Path.Combine(dir, System.IO.Path.GetFileNameWithoutExtension(trimmed) + ext);
    }
}
