using System.Management.Automation;
using ModelOps.Core.Inspection;
using ModelOps.PowerShell.Infrastructure;

namespace ModelOps.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Describes a TensorFlow model: format, ops, inputs, outputs, variables, signatures.</para>
/// </summary>
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
