using System.Text;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Ops;

/// <summary>
/// What a kernel sees: the node (for attributes and error messages), its data inputs in order, and
/// the output slots it must fill. Kernels must not modify input tensors (they may be shared).
/// </summary>
public sealed class KernelContext
{
    public KernelContext(NodeDef node, Tensor[] inputs, int outputCount, EngineOptions? options = null)
    {
        Node = node;
        Inputs = inputs;
        Outputs = new Tensor[outputCount];
        Options = options ?? EngineOptions.Default;
    }

    public NodeDef Node { get; }
    public Tensor[] Inputs { get; }
    public Tensor[] Outputs { get; }
    public EngineOptions Options { get; }

    /// <summary>Per-node state a kernel may keep between runs of the same plan (packed weights ...).</summary>
    public object? State { get; set; }

    public Tensor Input(int i) => i < Inputs.Length ? Inputs[i] : throw Error($"expects at least {i + 1} inputs but has {Inputs.Length}.");

    public void SetOutput(int i, Tensor t) => Outputs[i] = t;

    public ModelOpsException Error(string message) =>
        new("KernelError", ErrorKind.InvalidData, $"{Node.Op} node '{Node.Name}' {message}", Node.Name);

    // ---- attributes, with TensorFlow's defaults given by the caller ----

    public bool HasAttr(string name) => Node.Attr.ContainsKey(name);

    public long Int(string name, long? defaultValue = null) =>
        Node.Attr.TryGetValue(name, out var v) ? v.I : defaultValue ?? throw MissingAttr(name);

    public float Float(string name, float? defaultValue = null) =>
        Node.Attr.TryGetValue(name, out var v) ? v.F : defaultValue ?? throw MissingAttr(name);

    public bool Bool(string name, bool? defaultValue = null) =>
        Node.Attr.TryGetValue(name, out var v) ? v.B : defaultValue ?? throw MissingAttr(name);

    public string String(string name, string? defaultValue = null) =>
        Node.Attr.TryGetValue(name, out var v) ? Encoding.UTF8.GetString(v.S.Span) : defaultValue ?? throw MissingAttr(name);

    public DataType Type(string name, DataType? defaultValue = null) =>
        Node.Attr.TryGetValue(name, out var v) ? v.Type : defaultValue ?? throw MissingAttr(name);

    public long[] Ints(string name, long[]? defaultValue = null) =>
        Node.Attr.TryGetValue(name, out var v) && v.List is not null ? v.List.I.ToArray() : defaultValue ?? throw MissingAttr(name);

    public float[] Floats(string name, float[]? defaultValue = null) =>
        Node.Attr.TryGetValue(name, out var v) && v.List is not null ? v.List.F.ToArray() : defaultValue ?? throw MissingAttr(name);

    public string[] Strings(string name, string[]? defaultValue = null) =>
        Node.Attr.TryGetValue(name, out var v) && v.List is not null ? v.List.S.Select(s => s.ToStringUtf8()).ToArray() : defaultValue ?? throw MissingAttr(name);

    public long[]? Shape(string name) =>
        Node.Attr.TryGetValue(name, out var v) && v.Shape is not null ? TensorProtoCodec.ToPartialShape(v.Shape) : null;

    public Tensor TensorAttr(string name) =>
        Node.Attr.TryGetValue(name, out var v) && v.Tensor is not null ? TensorProtoCodec.Decode(v.Tensor, $"attribute '{name}' of node '{Node.Name}'") : throw MissingAttr(name);

    private ModelOpsException MissingAttr(string name) => Error($"has no '{name}' attribute.");
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
