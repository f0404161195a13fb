using System.Text;
using Google.Protobuf;
using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Protos.Onnx;
using ModelOps.Core.Tensors;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Converters.Onnx;

/// <summary>
/// What a lowering sees while it turns one TensorFlow node into ONNX nodes: the node and its attributes,
/// its inputs as ONNX value names (constants become initializers on first use) or as constant values,
/// dtypes and partially known shapes of the inputs, and builders for ONNX nodes and initializers.
/// A node's TF output i is by default the ONNX value <see cref="Out"/>(i) ("node:i"), typed like the
/// node's T attribute; a lowering must produce that value, or alias it to another one, or give it a constant.
/// </summary>
public sealed class OnnxLoweringContext : NodeAttributeReader
{
    private readonly OnnxGraphWriter _w;
    private readonly IReadOnlyList<TensorName> _inputs;

    internal OnnxLoweringContext(OnnxGraphWriter writer, NodeDef node, IReadOnlyList<TensorName> dataInputs)
        : base(node)
    {
        _w = writer;
        _inputs = dataInputs;
    }

    public string Name => Node.Name;
    public int Opset => _w.Opset;
    public int InputCount => _inputs.Count;

    // ---------------- inputs ----------------

    /// <summary>The ONNX value holding data input i (a constant input becomes an initializer).</summary>
    public string Input(int i) => _w.ValueName(TensorAt(i));

    /// <summary>Data input i as a constant value, or null when it is computed at run time.</summary>
    public Tensor? ConstInput(int i) => _w.Info(TensorAt(i)).Const;

    /// <summary>Data input i, which this lowering needs as a constant; fails naming the node otherwise.</summary>
    public Tensor ConstantInput(int i, string what) =>
        ConstInput(i) ?? throw Fail($"needs its {what} (input {i}, '{_inputs[i]}') to be a constant, but it is computed at run time.");

    public DataType InputType(int i) => _w.Info(TensorAt(i)).Type;

    /// <summary>Static shape of input i, -1 for unknown dims; null when even the rank is unknown.</summary>
    public long[]? InputShape(int i) => _w.Info(TensorAt(i)).Shape;

    public int? InputRank(int i) => InputShape(i)?.Length;

    private string TensorAt(int i) =>
        i < _inputs.Count ? _inputs[i].Tensor : throw Fail($"has {_inputs.Count} data inputs; input {i} was expected.");

    // ---------------- outputs ----------------

    /// <summary>The ONNX value name of TF output i ("node:i").</summary>
    public string Out(int i = 0) => _w.CanonicalName(Node.Name, i);

    /// <summary>Declares the static shape of output i (-1 for unknown dims).</summary>
    public void SetShape(int i, long[]? shape) => _w.UpdateInfo(Node.Name, i, shape: shape);

    public void SetType(int i, DataType type) => _w.UpdateInfo(Node.Name, i, type: type);

    /// <summary>Output i is the existing ONNX value <paramref name="value"/> (no node written).</summary>
    public void Alias(int i, string value) => _w.UpdateInfo(Node.Name, i, alias: value);

    /// <summary>Output i is a constant, known now (an initializer is written only if something needs it).</summary>
    public void SetConst(int i, Tensor value) => _w.UpdateInfo(Node.Name, i, constant: value);

    // ---------------- building ----------------

    /// <summary>A fresh ONNX value name derived from the node's name.</summary>
    public string Fresh(string hint) => _w.Fresh($"{Node.Name}/{hint}");

    /// <summary>Writes one ONNX node and returns it.</summary>
    public NodeProto AddNode(string opType, IEnumerable<string> inputs, IEnumerable<string> outputs, params AttributeProto[] attrs)
    {
        var n = new NodeProto { OpType = opType, Name = _w.FreshNodeName($"{Node.Name}/{opType}") };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attrs);
        _w.AddNode(n);
        return n;
    }

    /// <summary>Writes a single-output ONNX node with a fresh output name; returns that name.</summary>
    public string Op(string opType, string[] inputs, params AttributeProto[] attrs)
    {
        string o = Fresh(opType);
        AddNode(opType, inputs, new[] { o }, attrs);
        return o;
    }

    /// <summary>Writes a single-output ONNX node whose output is <paramref name="output"/>; returns it.</summary>
    public string OpTo(string output, string opType, string[] inputs, params AttributeProto[] attrs)
    {
        AddNode(opType, inputs, new[] { output }, attrs);
        return output;
    }

    /// <summary>An initializer holding the tensor; returns its name.</summary>
    public string Initializer(Tensor t, string hint = "const") => _w.AddInitializer(t, $"{Node.Name}/{hint}");

    public string Int64s(params long[] values) => Initializer(Tensor.Create(values, values.Length), "i64");

    public string Int64Scalar(long value) => Initializer(Tensor.Scalar(value), "i64");

    /// <summary>A scalar of the given floating/integer dtype (for Clip bounds, Pad values ...).</summary>
    public string ScalarOf(DataType type, double value) =>
        Initializer(OnnxTensors.Cast(Tensor.Scalar(value), type), "scalar");

    /// <summary>NHWC → NCHW (for rank 4; generally channels-last → channels-first) with an inserted Transpose.</summary>
    public string ToChannelsFirst(string value, int rank = 4)
    {
        _w.TransposesInserted++;
        return Op("Transpose", new[] { value }, OnnxAttr.Ints("perm", ChannelsFirstPerm(rank)));
    }

    /// <summary>NCHW → NHWC with an inserted Transpose writing <paramref name="output"/>.</summary>
    public string FromChannelsFirst(string value, string output, int rank = 4)
    {
        _w.TransposesInserted++;
        return OpTo(output, "Transpose", new[] { value }, OnnxAttr.Ints("perm", ChannelsLastPerm(rank)));
    }

    public static long[] ChannelsFirstPerm(int rank) => new long[] { 0, rank - 1 }.Concat(Enumerable.Range(1, rank - 2).Select(i => (long)i)).ToArray();

    public static long[] ChannelsLastPerm(int rank) => new long[] { 0 }.Concat(Enumerable.Range(2, rank - 2).Select(i => (long)i)).Append(1).ToArray();

    /// <summary>Casts a value to int64 (ONNX shape operands) unless it already is.</summary>
    public string AsInt64(int input)
    {
        var c = ConstInput(input);
        if (c is not null) return Initializer(OnnxTensors.Cast(c, DataType.DtInt64), "i64");
        return InputType(input) == DataType.DtInt64 ? Input(input)
            : Op("Cast", new[] { Input(input) }, OnnxAttr.Int("to", (long)ModelOps.Core.Protos.Onnx.TensorProto.Types.DataType.Int64));
    }

    // ---------------- TF attributes ----------------

    protected override ModelOpsException MissingAttribute(string name) => Fail($"has no '{name}' attribute.");

    /// <summary>An error naming this node: "Op node 'name' ...".</summary>
    public ModelOpsException Fail(string message) =>
        new(OnnxErrorIds.LoweringFailed, ErrorKind.NotImplemented, $"Cannot convert {Node.Op} node '{Node.Name}' to ONNX: it {message}", Node.Name);
}

/// <summary>Short constructors for ONNX AttributeProto.</summary>
public static class OnnxAttr
{
    public static AttributeProto Int(string name, long v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = v };

    public static AttributeProto Float(string name, float v) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = v };

    public static AttributeProto String(string name, string v) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(v) };

    public static AttributeProto Ints(string name, IEnumerable<long> v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(v);
        return a;
    }

    public static AttributeProto Floats(string name, IEnumerable<float> v)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Floats };
        a.Floats.AddRange(v);
        return a;
    }

    /// <summary>The attribute of a node by name, or null.</summary>
    public static AttributeProto? Find(NodeProto n, string name) => n.Attribute.FirstOrDefault(a => a.Name == name);
}
