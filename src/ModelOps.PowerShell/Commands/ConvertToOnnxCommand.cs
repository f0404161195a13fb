using System.Management.Automation;
using ModelOps.Core.Converters.Onnx;
using ModelOps.PowerShell.Infrastructure;

namespace ModelOps.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Converts a frozen TensorFlow graph to an ONNX model (no TensorFlow needed).</para>
/// <para type="description">NHWC ops run as NCHW in ONNX through inserted Transposes that an optimizer
/// cancels where it can; unknown batch dimensions stay symbolic; ops without a lowering are listed
/// together with their counts (error id UnsupportedOps).</para>
/// </summary>
/// <example>
/// <code>ConvertTo-Onnx ./model.pb -Opset 17</code>
/// <para>model.onnx beside the graph.</para>
/// </example>
/// <example>
/// <code>ConvertTo-Onnx ./model.pb -InputsAsNchw input | Invoke-TfInference -Engine OnnxRuntime -Input @{ input = $nchw }</code>
/// <para>An ONNX model that takes its image input as NCHW, run on ONNX Runtime.</para>
/// </example>
[Cmdlet(VerbsData.ConvertTo, "Onnx", SupportsShouldProcess = true)]
[OutputType(typeof(OnnxExportInfo))]
public sealed class ConvertToOnnxCommand : ModelOpsCmdlet
{
    /// <summary>A frozen graph (.pb / .pbtxt, sniffed by content). Binds FullName from Get-ChildItem.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "Model", "LiteralPath")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Target ONNX opset, 13..21 (default 17).</summary>
    [Parameter]
    [ValidateRange(OnnxLoweringRegistry.MinOpset, OnnxLoweringRegistry.MaxOpset)]
    public int Opset { get; set; } = OnnxLoweringRegistry.DefaultOpset;

    /// <summary>NHWC image inputs (placeholder names) the ONNX model takes as NCHW.</summary>
    [Parameter]
    public string[] InputsAsNchw { get; set; } = Array.Empty<string>();

    /// <summary>Outputs to keep ("node" or "node:i"); default: the graph's natural outputs.</summary>
    [Parameter]
    [Alias("Outputs")]
    public string[] Output { get; set; } = Array.Empty<string>();

    /// <summary>Where to write; default beside the input: &lt;name&gt;.onnx.</summary>
    [Parameter]
    [Alias("OutFile")]
    public string? OutputPath { get; set; }

    /// <summary>Overwrite an existing output file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        Guard(Path, () =>
        {
            string input = ResolveExistingPath(Path, allowDirectory: false);
            string output = OutputPath is { Length: > 0 } ? ResolvePath(OutputPath)
                : System.IO.Path.Combine(System.IO.Path.GetDirectoryName(input) ?? ".", System.IO.Path.GetFileNameWithoutExtension(input) + ".onnx");
            if (!ShouldProcess(output, $"Convert '{input}' to ONNX opset {Opset} and write the model")) return;
            var options = new OnnxConversionOptions { Opset = Opset, InputsAsNchw = InputsAsNchw, Outputs = Output.Length > 0 ? Output : null };
            WriteObject(OnnxExportInfo.Export(input, output, options, Force.IsPresent));
        }, terminating: !MyInvocation.ExpectingInput);
    }
}
