using System.Management.Automation;
using ModelOps.Core.Inspection;
using ModelOps.PowerShell.Infrastructure;

namespace ModelOps.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Describes a TensorFlow model: format, ops, inputs, outputs, variables, signatures.</para>
/// <para type="description">Reads a GraphDef (.pb or .pbtxt, sniffed by content), a MetaGraphDef (.meta), a SavedModel
/// folder, a checkpoint (prefix, .index file or folder with a checkpoint state file), a .tflite or an .onnx file and
/// emits one ModelInfo: format, op counts, inputs and outputs with dtype and shape, variables (checkpoints list every
/// tensor like tf.train.list_variables), signatures, and for .tflite the tensors' quantization and the embedded metadata.
/// Nothing is run. Several paths (or piped files) are described one by one; a bad one is a non-terminating error.</para>
/// </summary>
/// <example>
/// <code>Get-TfModel ./model.pb | Format-List Format, Inputs, Outputs, OpHistogram</code>
/// <para>What to feed and what to fetch before freezing, converting or running a graph.</para>
/// </example>
/// <example>
/// <code>Get-TfModel ./checkpoints/model.ckpt-1000 | Select-Object -ExpandProperty Variables</code>
/// <para>The variables in a checkpoint, with dtype and shape.</para>
/// </example>
/// <example>
/// <code>Get-ChildItem ./models -Recurse -Include *.tflite, *.onnx | Get-TfModel</code>
/// <para>Describes every model file under a folder.</para>
/// </example>
[Cmdlet(VerbsCommon.Get, "TfModel")]
[OutputType(typeof(ModelInfo))]
public sealed class GetTfModelCommand : ModelOpsCmdlet
{
    /// <summary>A model file (.pb, .pbtxt, .meta, ...) or a SavedModel folder. Binds FullName from Get-ChildItem.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "Model", "LiteralPath")]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = Array.Empty<string>();

    protected override void ProcessRecord()
    {
        foreach (var p in Path)
        {
            // One bad file in a pipeline does not stop the others: non-terminating per input.
            Guard(p, () =>
            {
                string full = ResolveExistingPath(p);
                WriteObject(ModelInspector.Inspect(full));
            }, terminating: Path.Length == 1 && !MyInvocation.ExpectingInput);
        }
    }
}
