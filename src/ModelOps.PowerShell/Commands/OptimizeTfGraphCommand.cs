using System.Collections;
using System.Diagnostics;
using System.Management.Automation;
using Google.Protobuf;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Npy;
using ModelOps.Core.Graph;
using ModelOps.Core.Optimization;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using ModelOps.PowerShell.Infrastructure;

namespace ModelOps.PowerShell.Commands;

/// <summary>
/// <para type="synopsis">Optimizes a frozen TensorFlow graph for inference and proves it still computes the same outputs.</para>
/// <para type="description">Runs graph transforms (by default the equivalent of TF's optimize_for_inference plus
/// constant folding and grappler-style fusion), then runs the original and the optimized graph on the same inputs
/// and writes the result only when every output agrees within the tolerance.</para>
/// </summary>
/// <example>
/// <code>Optimize-TfGraph ./model.frozen.pb</code>
/// <para>The default transforms; writes model.frozen.optimized.pb once both graphs agree on generated inputs.</para>
/// </example>
/// <example>
/// <code>Optimize-TfGraph ./model.pb -Transform 'strip_unused_nodes', 'fold_constants(ignore_errors=true)', 'fold_batch_norms' -VerificationInput @{ input = './sample.npy' }</code>
/// <para>Graph Transform Tool syntax, verified on a real input.</para>
/// </example>
[Cmdlet(VerbsCommon.Optimize, "TfGraph", SupportsShouldProcess = true)]
[OutputType(typeof(OptimizationReport))]
public sealed class OptimizeTfGraphCommand : ModelOpsCmdlet
{
    /// <summary>The frozen graph (.pb or .pbtxt). Binds Path from Export-FrozenGraph and FullName from Get-ChildItem.</summary>
    [Parameter(Mandatory = true, Position = 0, ValueFromPipeline = true, ValueFromPipelineByPropertyName = true)]
    [Alias("FullName", "LiteralPath")]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>Where to write the optimized graph; default &lt;name&gt;.optimized.pb beside the input. A .pbtxt name writes text.</summary>
    [Parameter(Position = 1)]
    [ValidateNotNullOrEmpty]
    public string? OutputPath { get; set; }

    /// <summary>Transforms to run, as name or name(arg=value, ...); 'default' stands for the default list.</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TransformCompleter))]
    public string[]? Transform { get; set; }

    /// <summary>Input nodes (default: the placeholders the outputs need). A node inside the graph cuts it there.</summary>
    [Parameter]
    [Alias("Inputs")]
    public string[]? InputNode { get; set; }

    /// <summary>Output nodes to keep (default: the graph's natural outputs). Tensor names (node:0) are accepted.</summary>
    [Parameter]
    [Alias("Outputs")]
    public string[]? OutputNode { get; set; }

    /// <summary>Inputs for verification: a hashtable of input name → tensor, numeric array, or .npy path. Missing inputs are generated.</summary>
    [Parameter]
    public IDictionary? VerificationInput { get; set; }

    /// <summary>Per output, max |optimized − original| must not exceed Tolerance · max(1, max |original|).</summary>
    [Parameter]
    [ValidateRange(0.0, 1.0)]
    public double Tolerance { get; set; } = GraphVerifier.DefaultTolerance;

    /// <summary>Write without running both graphs (for graphs the engine cannot run).</summary>
    [Parameter]
    public SwitchParameter SkipVerification { get; set; }

    /// <summary>Overwrite an existing output file.</summary>
    [Parameter]
    public SwitchParameter Force { get; set; }

    protected override void ProcessRecord()
    {
        Guard(Path, () =>
        {
            var sw = Stopwatch.StartNew();
            string input = ResolveExistingPath(Path, allowDirectory: true);
            string output = ResolvePath(OutputPath ?? DefaultOutput(input));
            if (string.Equals(System.IO.Path.GetFullPath(output), System.IO.Path.GetFullPath(input), StringComparison.Ordinal))
                throw new ModelOpsException(ErrorIds.OutputExists, ErrorKind.InvalidArgument,
                    $"The output path is the input '{input}'. Choose another -OutputPath: the original is needed to verify the result.", output);
            if (!WhatIfMode()) AtomicFile.EnsureWritable(output, Force.IsPresent);

            var file = ModelReader.Read(input);
            var graph = file.Graph ?? throw new ModelOpsException(ErrorIds.UnrecognizedModelFormat, ErrorKind.InvalidData,
                $"'{input}' holds a {file.Format}, which contains no graph to optimize.", input);
            var transforms = Transform is { Length: > 0 } ? Transform : TransformRegistry.DefaultTransforms.ToArray();
            var steps = TransformRegistry.BuiltIn.Parse(transforms);

            WriteVerbose($"Optimizing '{input}' ({graph.Node.Count} nodes) with: {string.Join(" ", steps)}");
            var result = GraphOptimizer.Optimize(graph, steps, InputNode, OutputNode);
            foreach (var p in result.Passes)
                WriteVerbose($"{p}{(p.Notes.Count > 0 ? " — " + string.Join(" ", p.Notes) : "")}");

            VerificationResult? verification = null;
            if (!SkipVerification)
            {
                var reference = GraphVerifier.Reference(graph, result.Inputs, result.Outputs, out string? note);
                var given = VerificationInput is null ? null : ReadVerificationInputs(reference, VerificationInput);
                try
                {
                    verification = GraphVerifier.Verify(reference, result.Graph, result.Inputs, result.Outputs, given, Tolerance, referenceNote: note);
                }
                catch (ModelOpsException ex) when (ex.ErrorId != OptimizationErrorIds.VerificationInputInvalid)
                {
                    throw new ModelOpsException(OptimizationErrorIds.VerificationFailed, ErrorKind.InvalidOperation,
                        $"The graphs could not be run to verify the optimization: {ex.Message} Nothing was written. Use -SkipVerification to write without verifying.", input, ex);
                }
                WriteVerbose(verification.Message);
                if (!verification.Passed)
                    throw new ModelOpsException(OptimizationErrorIds.VerificationFailed, ErrorKind.InvalidData,
                        verification.Message + " Nothing was written. Leave out the transform that changed the result (see -Verbose), or raise -Tolerance if the difference is acceptable.", input);
            }

            byte[] bytes = output.EndsWith(".pbtxt", StringComparison.OrdinalIgnoreCase)
                ? System.Text.Encoding.UTF8.GetBytes(ModelOps.Core.Formats.Text.TextFormatPrinter.Print(result.Graph))
                : result.Graph.ToByteArray();
            bool written = false;
            if (ShouldProcess(output, $"Write the optimized graph ({graph.Node.Count} → {result.Graph.Node.Count} nodes)"))
            {
                AtomicFile.Write(output, bytes, Force.IsPresent);
                written = true;
            }
            WriteObject(new OptimizationReport
            {
                Path = output,
                SourcePath = input,
                Written = written,
                Transforms = steps.Select(s => s.ToString()).ToList(),
                Inputs = result.Inputs,
                Outputs = result.Outputs,
                NodesBefore = graph.Node.Count,
                NodesAfter = result.Graph.Node.Count,
                SizeBefore = file.FileSize,
                SizeAfter = bytes.LongLength,
                OpsBefore = GraphOptimizer.OpHistogram(graph),
                OpsAfter = GraphOptimizer.OpHistogram(result.Graph),
                Passes = result.Passes,
                Verification = verification,
                Elapsed = sw.Elapsed,
            });
        }, terminating: !MyInvocation.ExpectingInput);
    }

    private bool WhatIfMode() => MyInvocation.BoundParameters.TryGetValue("WhatIf", out var w) && w is SwitchParameter s && s.IsPresent;

    private static string DefaultOutput(string input)
    {
        string full = System.IO.Path.GetFullPath(input.TrimEnd('/', '\\'));
        string dir = Directory.Exists(full) ? full : System.IO.Path.GetDirectoryName(full)!;
        string name = System.IO.Path.GetFileNameWithoutExtension(full);
        return System.IO.Path.Combine(dir, name + ".optimized.pb");
    }

    /// <summary>Hashtable values → tensors in each input's dtype: a Tensor as is, a .npy path, or numbers (flattened) shaped by the placeholder.</summary>
    private Dictionary<string, Tensor> ReadVerificationInputs(GraphDef reference, IDictionary values)
    {
        var view = new TfGraph(reference);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (DictionaryEntry e in values)
        {
            string name = e.Key?.ToString() ?? "";
            var node = view.Find(TensorName.Parse(name).Node) ?? throw new ModelOpsException(OptimizationErrorIds.VerificationInputInvalid, ErrorKind.InvalidArgument,
                $"The verification input '{name}' is not a node of the graph.", name);
            object? v = e.Value is PSObject pso ? pso.BaseObject : e.Value;
            result[node.Name] = v switch
            {
                Tensor t => t,
                string path => NpyFile.Read(ResolveExistingPath(path, allowDirectory: false)),
                FileInfo fi => NpyFile.Read(fi.FullName),
                _ => FromNumbers(node, v, name),
            };
        }
        return result;
    }

    private static Tensor FromNumbers(NodeDef node, object? value, string name)
    {
        var items = new List<object?>();
        void Flatten(object? o)
        {
            o = o is PSObject p ? p.BaseObject : o;
            if (o is IEnumerable en && o is not string) foreach (var x in en) Flatten(x);
            else items.Add(o);
        }
        Flatten(value);
        var dtype = node.Attr.TryGetValue("dtype", out var dt) ? dt.Type.Base() : DataType.DtFloat;
        long[] shape = node.Attr.TryGetValue("shape", out var sh) && sh.Shape is not null ? TensorProtoCodec.ToPartialShape(sh.Shape) ?? new long[] { -1 } : new long[] { -1 };
        long known = shape.Where(d => d >= 0).Aggregate(1L, (a, b) => a * b);
        int unknown = shape.Count(d => d < 0);
        if (unknown > 1 || known == 0 || items.Count % known != 0 || (unknown == 0 && items.Count != known))
            throw new ModelOpsException(OptimizationErrorIds.VerificationInputInvalid, ErrorKind.InvalidArgument,
                $"The verification input '{name}' has {items.Count} values, which do not fill its shape {Tensor.FormatShape(shape)}. Give a tensor or a .npy file instead.", name);
        var dims = shape.Select(d => d < 0 ? (int)(items.Count / known) : (int)d).ToArray();
        string text = string.Join(",", items.Select(i => Convert.ToString(i, System.Globalization.CultureInfo.InvariantCulture)));
        return ModelOps.Core.Optimization.Passes.PlaceholdersToConstantsPass.ParseValue(name, dtype, dims.Select(d => (long)d).ToArray(), text);
    }

    /// <summary>Tab completion of transform names.</summary>
    public sealed class TransformCompleter : IArgumentCompleter
    {
        public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
            System.Management.Automation.Language.CommandAst commandAst, IDictionary fakeBoundParameters) =>
            TransformRegistry.BuiltIn.Passes.Where(p => p.Name.StartsWith(wordToComplete, StringComparison.OrdinalIgnoreCase))
                .OrderBy(p => p.Name, StringComparer.Ordinal)
                .Select(p => new CompletionResult(p.Name, p.Name, CompletionResultType.ParameterValue, p.Description));
    }
}
