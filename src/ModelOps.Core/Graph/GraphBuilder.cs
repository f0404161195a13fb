using Google.Protobuf;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Graph;

/// <summary>
/// Builds GraphDefs in code: used by tests, the sample models and the optimization passes. Names are
/// made unique automatically when a name is already taken.
/// </summary>
public sealed class GraphBuilder
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    public GraphBuilder(int producer = 1882)
    {
        Graph = new GraphDef { Versions = new VersionDef { Producer = producer } };
    }

    public GraphDef Graph { get; }

    public string UniqueName(string name)
    {
        if (_names.Add(name)) return name;
        for (int i = 1; ; i++)
        {
            string candidate = $"{name}_{i}";
            if (_names.Add(candidate)) return candidate;
        }
    }

    public NodeDef Add(string name, string op, IEnumerable<string>? inputs = null, IDictionary<string, AttrValue>? attrs = null)
    {
        var node = new NodeDef { Name = UniqueName(name), Op = op };
        if (inputs is not null) node.Input.AddRange(inputs);
        if (attrs is not null) foreach (var kv in attrs) node.Attr[kv.Key] = kv.Value;
        Graph.Node.Add(node);
        return node;
    }

    public NodeDef Placeholder(string name, DataType dtype, params long[]? shape)
    {
        var attrs = new Dictionary<string, AttrValue> { ["dtype"] = Attr.Type(dtype) };
        if (shape is not null) attrs["shape"] = Attr.Shape(shape);
        return Add(name, "Placeholder", null, attrs);
    }

    public NodeDef Const(string name, Tensor value) =>
        Add(name, "Const", null, new Dictionary<string, AttrValue>
        {
            ["dtype"] = Attr.Type(value.DType),
            ["value"] = new AttrValue { Tensor = TensorProtoCodec.Encode(value) },
        });

    /// <summary>An op whose type attribute T is taken from the given dtype.</summary>
    public NodeDef Op(string name, string op, DataType t, params string[] inputs) =>
        Add(name, op, inputs, new Dictionary<string, AttrValue> { ["T"] = Attr.Type(t) });
}

/// <summary>Short constructors for AttrValue.</summary>
public static class Attr
{
    public static AttrValue Type(DataType t) => new() { Type = t };
    public static AttrValue Int(long v) => new() { I = v };
    public static AttrValue Float(float v) => new() { F = v };
    public static AttrValue Bool(bool v) => new() { B = v };
    public static AttrValue String(string v) => new() { S = ByteString.CopyFromUtf8(v) };
    public static AttrValue Shape(IEnumerable<long>? dims) => new() { Shape = TensorProtoCodec.FromShape(dims) };

    public static AttrValue Ints(params long[] v)
    {
        var a = new AttrValue { List = new AttrValue.Types.ListValue() };
        a.List.I.AddRange(v);
        return a;
    }

    public static AttrValue Strings(params string[] v)
    {
        var a = new AttrValue { List = new AttrValue.Types.ListValue() };
        a.List.S.AddRange(v.Select(ByteString.CopyFromUtf8));
        return a;
    }

    public static AttrValue Types(params DataType[] v)
    {
        var a = new AttrValue { List = new AttrValue.Types.ListValue() };
        a.List.Type.AddRange(v);
        return a;
    }
}
