using System.Text;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Graph;

/// <summary>
/// Typed access to a node's attributes with TensorFlow's defaults given by the caller — one implementation
/// for every context that works on a node (engine kernels, TFLite and ONNX lowerings). A missing attribute
/// without a default is an error the subclass words for its setting.
/// </summary>
public abstract class NodeAttributeReader
{
    protected NodeAttributeReader(NodeDef node) => Node = node;

    public NodeDef Node { get; }

    /// <summary>The error for an attribute that is absent and has no default.</summary>
    protected abstract ModelOpsException MissingAttribute(string name);

    public bool HasAttr(string name) => Node.Attr.ContainsKey(name);

    public long Int(string name, long? defaultValue = null) =>
        Node.Attr.TryGetValue(name, out var v) ? v.I : defaultValue ?? throw MissingAttribute(name);

    public float Float(string name, float? defaultValue = null) =>
        Node.Attr.TryGetValue(name, out var v) ? v.F : defaultValue ?? throw MissingAttribute(name);

    public bool Bool(string name, bool? defaultValue = null) =>
        Node.Attr.TryGetValue(name, out var v) ? v.B : defaultValue ?? throw MissingAttribute(name);

    /// <summary>
    /// When true, decoded string and list attributes are kept per reader (the engine's kernel contexts live as
    /// long as their plan and read the same attributes on every run; the node must not change meanwhile).
    /// Lists are handed out as copies, so callers may still modify what they get.
    /// </summary>
    protected virtual bool CacheAttributes => false;

    private Dictionary<string, object?>? _cache;

    private T? Cached<T>(string name, Func<AttrValue, T?> decode) where T : class
    {
        if (!CacheAttributes) return Node.Attr.TryGetValue(name, out var a) ? decode(a) : null;
        _cache ??= new Dictionary<string, object?>(StringComparer.Ordinal);
        if (!_cache.TryGetValue(name, out var value))
            _cache[name] = value = Node.Attr.TryGetValue(name, out var a) ? decode(a) : null;
        return (T?)value;
    }

    public string String(string name, string? defaultValue = null) =>
        Cached(name, v => Encoding.UTF8.GetString(v.S.Span)) ?? defaultValue ?? throw MissingAttribute(name);

    public DataType Type(string name, DataType? defaultValue = null) =>
        Node.Attr.TryGetValue(name, out var v) ? v.Type : defaultValue ?? throw MissingAttribute(name);

    public long[] Ints(string name, long[]? defaultValue = null) =>
        (long[]?)Cached(name, v => v.List?.I.ToArray())?.Clone() ?? defaultValue ?? throw MissingAttribute(name);

    public float[] Floats(string name, float[]? defaultValue = null) =>
        (float[]?)Cached(name, v => v.List?.F.ToArray())?.Clone() ?? defaultValue ?? throw MissingAttribute(name);

    public string[] Strings(string name, string[]? defaultValue = null) =>
        (string[]?)Cached(name, v => v.List?.S.Select(s => s.ToStringUtf8()).ToArray())?.Clone() ?? defaultValue ?? throw MissingAttribute(name);

    /// <summary>A shape attribute (-1 for unknown dims), or null when absent or of unknown rank.</summary>
    public long[]? Shape(string name) =>
        Node.Attr.TryGetValue(name, out var v) && v.Shape is not null ? TensorProtoCodec.ToPartialShape(v.Shape) : null;

    public Tensor TensorAttr(string name) =>
        Node.Attr.TryGetValue(name, out var v) && v.Tensor is not null ? TensorProtoCodec.Decode(v.Tensor, $"attribute '{name}' of node '{Node.Name}'") : throw MissingAttribute(name);
}
