using System.Text;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using ModelOps.Core.Graph;

namespace ModelOps.Core.Converters.TfLite;

/// <summary>A TF tensor as the converter knows it: static shape (batch fixed to 1), dtype, and either a constant or a TFLite tensor.</summary>
public sealed class TfLiteValue
{
    public TfLiteValue(DataType dtype, int[] shape, Tensor? constant, int tensorIndex, bool batchDynamic)
    {
        DType = dtype;
        Shape = shape;
        Constant = constant;
        TensorIndex = tensorIndex;
        BatchDynamic = batchDynamic;
    }

    public DataType DType { get; }
    public int[] Shape { get; }
    public Tensor? Constant { get; }
    /// <summary>The TFLite tensor; -1 for a constant not materialized yet.</summary>
    public int TensorIndex { get; internal set; }
    /// <summary>True when dimension 0 follows the model's unknown batch size.</summary>
    public bool BatchDynamic { get; }
    public bool IsConstant => Constant is not null;
    public int Rank => Shape.Length;
}

/// <summary>What a TFLite lowering sees: the node, its inputs as <see cref="TfLiteValue"/>s, and ways to emit ops and tensors.</summary>
public sealed class TfLiteLoweringContext : NodeAttributeReader
{
    private readonly TfLiteConverterCore _conv;
    private readonly TfLiteValue[] _inputs;
    private readonly TfLiteValue?[] _outputs;

    internal TfLiteLoweringContext(TfLiteConverterCore conv, NodeDef node, TfLiteValue[] inputs, int outputCount)
        : base(node)
    {
        _conv = conv;
        _inputs = inputs;
        _outputs = new TfLiteValue?[outputCount];
    }

    public string Name => Node.Name;
    public string Op => Node.Op;
    public int InputCount => _inputs.Length;
    public TfLiteConverterOptions Options => _conv.Options;
    internal TfLiteValue?[] Outputs => _outputs;

    public TfLiteValue Input(int i) => i < _inputs.Length ? _inputs[i] : throw Error($"expects at least {i + 1} inputs but has {_inputs.Length}.");
    public int[] Shape(int i) => Input(i).Shape;
    public int Rank(int i) => Input(i).Shape.Length;
    public DataType DType(int i) => Input(i).DType;
    public bool IsConstant(int i) => Input(i).IsConstant;
    public bool AllInputsConstant => _inputs.All(v => v.IsConstant);

    /// <summary>True when any non-constant input follows the unknown batch.</summary>
    public bool BatchDynamic => _inputs.Any(v => !v.IsConstant && v.BatchDynamic);

    /// <summary>The constant value of input i; an error naming the node when it is computed at run time.</summary>
    public Tensor Constant(int i) => Input(i).Constant ?? throw new ModelOpsException(TfLiteErrorIds.UnsupportedAttribute, ErrorKind.NotImplemented,
        $"{Op} node '{Name}': input {i} must be a constant for TFLite (it is computed at run time). Freeze or fold the graph first (Optimize-TfGraph).", Name);

    /// <summary>The TFLite tensor of input i, writing a constant into a buffer on first use.</summary>
    public int Tensor(int i) => _conv.Materialize(Input(i), $"{Name}/input{i}");

    /// <summary>Adds a constant tensor (its name is this node's name plus the suffix).</summary>
    public int AddConstant(Tensor value, string suffix, TfLiteWeightRole role = TfLiteWeightRole.None, int channelAxis = -1) =>
        _conv.AddConstant(value, Name + "/" + suffix, role, channelAxis);

    /// <summary>Adds an intermediate activation tensor.</summary>
    public int AddTensor(string suffix, DataType dtype, int[] shape) =>
        _conv.AddActivation(Name + "/" + suffix, dtype, shape, BatchDynamic);

    /// <summary>Creates the TFLite tensor for TF output i, binds it, and returns its index.</summary>
    public int Output(int i, DataType dtype, int[] shape)
    {
        string name = i == 0 ? Name : $"{Name}:{i}";
        int t = _conv.AddActivation(name, dtype, shape, BatchDynamic);
        _outputs[i] = new TfLiteValue(dtype, shape, null, t, BatchDynamic);
        return t;
    }

    /// <summary>Binds TF output i to an existing TFLite tensor.</summary>
    public void SetOutput(int i, int tensor, DataType dtype, int[] shape) =>
        _outputs[i] = new TfLiteValue(dtype, shape, null, tensor, BatchDynamic);

    /// <summary>Binds TF output i to a constant (constant folding).</summary>
    public void SetConstant(int i, Tensor value) => _outputs[i] = new TfLiteValue(value.DType, value.Shape, value, -1, false);

    /// <summary>
    /// Call when a computed constant used input i's static shape (e.g. Shape folded): the unknown
    /// batch was fixed to 1, so the file no longer claims a resizable batch.
    /// </summary>
    public void UsedStaticShapeOf(int i)
    {
        if (Input(i).BatchDynamic) _conv.NoteBatchFolded();
    }

    /// <summary>Appends a builtin op.</summary>
    public TflOperator Emit(BuiltinOperator code, int[] inputs, int[] outputs, BuiltinOptionsUnion? options = null) =>
        _conv.Emit(new TflOperator(code, inputs, outputs, options, Name));

    // ---- attributes, with TF's defaults given by the caller ----

    public ModelOpsException Error(string message) =>
        new(TfLiteErrorIds.UnsupportedAttribute, ErrorKind.NotImplemented, $"{Op} node '{Name}' {message}", Name);

    protected override ModelOpsException MissingAttribute(string name) => Error($"has no '{name}' attribute.");
}
