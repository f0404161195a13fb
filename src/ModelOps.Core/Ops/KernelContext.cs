using System.Text;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using ModelOps.Core.Graph;

namespace ModelOps.Core.Ops;

/// <summary>
/// What a kernel sees: the node (for attributes and error messages), its data inputs in order, and
/// the output slots it must fill. Kernels must not modify input tensors (they may be shared).
/// </summary>
public sealed class KernelContext : NodeAttributeReader
{
    public KernelContext(NodeDef node, Tensor[] inputs, int outputCount, EngineOptions? options = null)
        : base(node)
    {
        Inputs = inputs;
        Outputs = new Tensor[outputCount];
        Options = options ?? EngineOptions.Default;
    }

    public Tensor[] Inputs { get; }
    public Tensor[] Outputs { get; }
    public EngineOptions Options { get; }

    /// <summary>Per-node state a kernel may keep between runs of the same plan (packed weights ...).</summary>
    public object? State { get; set; }

    /// <summary>
    /// Which data inputs are graph constants (the same tensor, with the same contents, on every run), as
    /// set by the execution plan; null when unknown. Kernels may cache work derived from such inputs in <see cref="State"/>.
    /// </summary>
    public bool[]? ConstantInputs { get; init; }

    /// <summary>True when data input <paramref name="i"/> is known to be a graph constant.</summary>
    public bool IsConstantInput(int i) => ConstantInputs is { } c && i < c.Length && c[i];

    public Tensor Input(int i) => i < Inputs.Length ? Inputs[i] : throw Error($"expects at least {i + 1} inputs but has {Inputs.Length}.");

    public void SetOutput(int i, Tensor t) => Outputs[i] = t;

    public ModelOpsException Error(string message) =>
        new("KernelError", ErrorKind.InvalidData, $"{Node.Op} node '{Node.Name}' {message}", Node.Name);

    // ---- attributes, with TensorFlow's defaults given by the caller ----

    protected override ModelOpsException MissingAttribute(string name) => Error($"has no '{name}' attribute.");
}

/// <summary>Engine settings shared by all kernels of a run.</summary>
public sealed class EngineOptions
{
    public static EngineOptions Default { get; } = new();

    /// <summary>Threads kernels may use (1 = single-threaded). Defaults to the processor count.</summary>
    public int IntraOpThreads { get; init; } = Environment.ProcessorCount;

    /// <summary>When set, every kernel call is timed and added to this collector by op type.</summary>
    public Runtime.OpProfile? Profile { get; init; }
}
