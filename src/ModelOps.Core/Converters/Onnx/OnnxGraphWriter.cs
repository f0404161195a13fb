using ModelOps.Core.Protos;
using ModelOps.Core.Protos.Onnx;
using ModelOps.Core.Tensors;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Converters.Onnx;

/// <summary>What the converter knows about one TensorFlow tensor while lowering.</summary>
internal sealed class TfTensorInfo
{
    public string? OnnxName;
    public DataType Type;
    public long[]? Shape;
    public Tensor? Const;
}

/// <summary>The ONNX graph under construction: nodes, initializers, unique names, TF tensor → ONNX value map.</summary>
internal sealed class OnnxGraphWriter
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly HashSet<string> _nodeNames = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TfTensorInfo> _tensors = new(StringComparer.Ordinal);

    public OnnxGraphWriter(int opset) { Opset = opset; }

    public int Opset { get; }
    public GraphProto Graph { get; } = new();
    public int TransposesInserted { get; set; }

    public static string Canonical(string node, int index) => $"{node}:{index}";

    public string CanonicalName(string node, int index) => Canonical(node, index);

    public void Reserve(string name) => _names.Add(name);

    public string Fresh(string hint)
    {
        if (_names.Add(hint)) return hint;
        for (int i = 1; ; i++)
        {
            string c = $"{hint}_{i}";
            if (_names.Add(c)) return c;
        }
    }

    public string FreshNodeName(string hint)
    {
        if (_nodeNames.Add(hint)) return hint;
        for (int i = 1; ; i++)
        {
            string c = $"{hint}_{i}";
            if (_nodeNames.Add(c)) return c;
        }
    }

    public void AddNode(NodeProto n) => Graph.Node.Add(n);

    public string AddInitializer(Tensor t, string hint)
    {
        string name = Fresh(hint);
        Graph.Initializer.Add(OnnxTensors.FromTensor(t, name));
        return name;
    }

    public void Define(string tfTensor, TfTensorInfo info)
    {
        _names.Add(tfTensor);
        _tensors[tfTensor] = info;
    }

    public bool IsDefined(string tfTensor) => _tensors.ContainsKey(tfTensor);

    public TfTensorInfo Info(string tfTensor) =>
        _tensors.TryGetValue(tfTensor, out var i) ? i
            : throw new InvalidOperationException($"The tensor '{tfTensor}' was used before its node was lowered.");

    public void UpdateInfo(string node, int index, DataType? type = null, long[]? shape = null, string? alias = null, Tensor? constant = null)
    {
        var info = Info(Canonical(node, index));
        if (type is not null) info.Type = type.Value;
        if (shape is not null) info.Shape = shape;
        if (alias is not null) info.OnnxName = alias;
        if (constant is not null)
        {
            info.Const = constant;
            info.OnnxName = null;
            info.Type = constant.DType;
            info.Shape = constant.Shape.Select(d => (long)d).ToArray();
        }
    }

    /// <summary>The ONNX value of a TF tensor; a constant gets its initializer (named after the tensor) on first use.</summary>
    public string ValueName(string tfTensor)
    {
        var info = Info(tfTensor);
        if (info.OnnxName is not null) return info.OnnxName;
        if (info.Const is null) throw new InvalidOperationException($"The tensor '{tfTensor}' has no ONNX value.");
        // The tensor's own (reserved) name becomes the initializer's name.
        Graph.Initializer.Add(OnnxTensors.FromTensor(info.Const, tfTensor));
        info.OnnxName = tfTensor;
        return info.OnnxName;
    }
}
