using ModelOps.Core.Errors;
using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Converters.TfLite;

/// <summary>How a constant tensor is used, so quantization knows which ones are weights.</summary>
public enum TfLiteWeightRole
{
    /// <summary>Not a weight: shapes, axes, paddings, plain operands.</summary>
    None,
    /// <summary>A weight of a matrix/convolution op (quantizable per mode).</summary>
    Weight,
    /// <summary>A bias added to a weight op's accumulator (int32 in full-integer mode).</summary>
    Bias,
}

/// <summary>One tensor of the TFLite subgraph being built.</summary>
public sealed class TflTensor
{
    internal TflTensor(int index, string name, TensorType type, int[] shape)
    {
        Index = index;
        Name = name;
        Type = type;
        Shape = shape;
    }

    public int Index { get; }
    public string Name { get; set; }
    public TensorType Type { get; set; }
    public int[] Shape { get; set; }
    /// <summary>shape_signature: like <see cref="Shape"/> with -1 for the unknown batch; null when fully static.</summary>
    public int[]? ShapeSignature { get; set; }
    /// <summary>Constant content (little-endian, row-major) or null for activations.</summary>
    public byte[]? Data { get; set; }
    /// <summary>The float source of a constant (kept for quantization and reports).</summary>
    public Tensor? Value { get; set; }
    public TfLiteWeightRole Role { get; set; }
    /// <summary>For weights: the output-channel axis used for per-channel quantization.</summary>
    public int ChannelAxis { get; set; } = -1;
    public QuantizationParametersT? Quantization { get; set; }

    public bool IsConstant => Data is not null;

    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (int d in Shape) n *= d;
            return n;
        }
    }

    public override string ToString() => $"{Name} {Type}{Tensor.FormatShape(Shape)}";
}

/// <summary>One operator of the TFLite subgraph being built.</summary>
public sealed class TflOperator
{
    public TflOperator(BuiltinOperator code, IEnumerable<int> inputs, IEnumerable<int> outputs, BuiltinOptionsUnion? options, string sourceNode)
    {
        Code = code;
        Inputs = inputs.ToList();
        Outputs = outputs.ToList();
        Options = options;
        SourceNode = sourceNode;
    }

    public BuiltinOperator Code { get; set; }
    /// <summary>For CUSTOM ops: the custom code ("Flex" + op for Select TF ops).</summary>
    public string? CustomCode { get; set; }
    public byte[]? CustomOptions { get; set; }
    public List<int> Inputs { get; }
    public List<int> Outputs { get; }
    public BuiltinOptionsUnion? Options { get; set; }
    /// <summary>The TF node this op came from (for messages and reports).</summary>
    public string SourceNode { get; }
    public int Version { get; set; } = 1;

    public string OpName => Code == BuiltinOperator.CUSTOM ? CustomCode ?? "CUSTOM" : Code.ToString();

    /// <summary>The fused activation of ops that have one; NONE otherwise.</summary>
    public ActivationFunctionType FusedActivation
    {
        get => Options?.Value switch
        {
            Conv2DOptionsT o => o.FusedActivationFunction,
            DepthwiseConv2DOptionsT o => o.FusedActivationFunction,
            FullyConnectedOptionsT o => o.FusedActivationFunction,
            Pool2DOptionsT o => o.FusedActivationFunction,
            AddOptionsT o => o.FusedActivationFunction,
            SubOptionsT o => o.FusedActivationFunction,
            MulOptionsT o => o.FusedActivationFunction,
            DivOptionsT o => o.FusedActivationFunction,
            ConcatenationOptionsT o => o.FusedActivationFunction,
            _ => ActivationFunctionType.NONE,
        };
        set
        {
            switch (Options?.Value)
            {
                case Conv2DOptionsT o: o.FusedActivationFunction = value; break;
                case DepthwiseConv2DOptionsT o: o.FusedActivationFunction = value; break;
                case FullyConnectedOptionsT o: o.FusedActivationFunction = value; break;
                case Pool2DOptionsT o: o.FusedActivationFunction = value; break;
                case AddOptionsT o: o.FusedActivationFunction = value; break;
                case SubOptionsT o: o.FusedActivationFunction = value; break;
                case MulOptionsT o: o.FusedActivationFunction = value; break;
                case DivOptionsT o: o.FusedActivationFunction = value; break;
                case ConcatenationOptionsT o: o.FusedActivationFunction = value; break;
                default: throw new InvalidOperationException($"{OpName} has no fused activation.");
            }
        }
    }

    /// <summary>True when this op's options carry a fused_activation_function field.</summary>
    public bool HasFusedActivationField => Options?.Value is Conv2DOptionsT or DepthwiseConv2DOptionsT or FullyConnectedOptionsT
        or Pool2DOptionsT or AddOptionsT or SubOptionsT or MulOptionsT or DivOptionsT or ConcatenationOptionsT;

    public override string ToString() => $"{OpName}({string.Join(",", Inputs)})->({string.Join(",", Outputs)}) from '{SourceNode}'";
}

/// <summary>The main subgraph under construction: tensors, ops in execution order, inputs and outputs.</summary>
public sealed class TflGraph
{
    public List<TflTensor> Tensors { get; } = new();
    public List<TflOperator> Operators { get; } = new();
    public List<int> Inputs { get; } = new();
    public List<int> Outputs { get; } = new();
    /// <summary>Signature keys for inputs/outputs (TF names), parallel to Inputs/Outputs.</summary>
    public List<string> InputKeys { get; } = new();
    public List<string> OutputKeys { get; } = new();

    private readonly HashSet<string> _names = new(StringComparer.Ordinal);

    public TflTensor AddTensor(string name, TensorType type, int[] shape)
    {
        var t = new TflTensor(Tensors.Count, UniqueName(name), type, shape);
        Tensors.Add(t);
        return t;
    }

    public string UniqueName(string name)
    {
        if (_names.Add(name)) return name;
        for (int i = 1; ; i++)
            if (_names.Add($"{name}_{i}")) return $"{name}_{i}";
    }

    /// <summary>Renames a tensor, releasing its old name.</summary>
    public void Rename(TflTensor t, string name)
    {
        if (t.Name == name) return;
        _names.Remove(t.Name);
        t.Name = UniqueName(name);
    }

    /// <summary>Ops reading each tensor (indices into <see cref="Operators"/>).</summary>
    public List<int>[] Consumers()
    {
        var c = new List<int>[Tensors.Count];
        for (int i = 0; i < c.Length; i++) c[i] = new List<int>();
        for (int k = 0; k < Operators.Count; k++)
            foreach (int t in Operators[k].Inputs)
                if (t >= 0 && !c[t].Contains(k)) c[t].Add(k);
        return c;
    }

    /// <summary>Removes ops whose outputs nobody needs, then tensors nobody references (re-indexing everything).</summary>
    public void Compact()
    {
        // Dead ops: walk back from graph outputs.
        var needed = new HashSet<int>(Outputs);
        var keep = new bool[Operators.Count];
        for (int k = Operators.Count - 1; k >= 0; k--)
        {
            var op = Operators[k];
            if (!op.Outputs.Any(needed.Contains)) continue;
            keep[k] = true;
            foreach (int t in op.Inputs) if (t >= 0) needed.Add(t);
        }
        var ops = Operators.Where((_, k) => keep[k]).ToList();
        Operators.Clear();
        Operators.AddRange(ops);

        var used = new HashSet<int>(Inputs.Concat(Outputs));
        foreach (var op in Operators)
        {
            foreach (int t in op.Inputs) if (t >= 0) used.Add(t);
            foreach (int t in op.Outputs) used.Add(t);
        }
        var map = new int[Tensors.Count];
        var kept = new List<TflTensor>();
        for (int i = 0; i < Tensors.Count; i++)
        {
            if (!used.Contains(i)) { map[i] = -1; _names.Remove(Tensors[i].Name); continue; }
            map[i] = kept.Count;
            var t = Tensors[i];
            var copy = new TflTensor(kept.Count, t.Name, t.Type, t.Shape)
            {
                ShapeSignature = t.ShapeSignature, Data = t.Data, Value = t.Value, Role = t.Role,
                ChannelAxis = t.ChannelAxis, Quantization = t.Quantization,
            };
            kept.Add(copy);
        }
        Tensors.Clear();
        Tensors.AddRange(kept);
        foreach (var op in Operators)
        {
            for (int j = 0; j < op.Inputs.Count; j++) if (op.Inputs[j] >= 0) op.Inputs[j] = map[op.Inputs[j]];
            for (int j = 0; j < op.Outputs.Count; j++) op.Outputs[j] = map[op.Outputs[j]];
        }
        for (int j = 0; j < Inputs.Count; j++) Inputs[j] = map[Inputs[j]];
        for (int j = 0; j < Outputs.Count; j++) Outputs[j] = map[Outputs[j]];
    }
}

/// <summary>Mapping between TensorFlow dtypes and TFLite tensor types.</summary>
public static class TfLiteTypes
{
    public static bool TryFromTf(DataType dtype, out TensorType type)
    {
        type = dtype.Base() switch
        {
            DataType.DtFloat => TensorType.FLOAT32,
            DataType.DtHalf => TensorType.FLOAT16,
            DataType.DtDouble => TensorType.FLOAT64,
            DataType.DtInt32 => TensorType.INT32,
            DataType.DtInt64 => TensorType.INT64,
            DataType.DtInt16 => TensorType.INT16,
            DataType.DtInt8 => TensorType.INT8,
            DataType.DtUint8 => TensorType.UINT8,
            DataType.DtUint16 => TensorType.UINT16,
            DataType.DtUint32 => TensorType.UINT32,
            DataType.DtUint64 => TensorType.UINT64,
            DataType.DtBool => TensorType.BOOL,
            DataType.DtString => TensorType.STRING,
            DataType.DtComplex64 => TensorType.COMPLEX64,
            DataType.DtComplex128 => TensorType.COMPLEX128,
            DataType.DtBfloat16 => TensorType.BFLOAT16,
            _ => (TensorType)(-1),
        };
        return (int)type >= 0;
    }

    public static TensorType FromTf(DataType dtype, string what) =>
        TryFromTf(dtype, out var t) ? t : throw new ModelOpsException(TfLiteErrorIds.UnsupportedDataType, ErrorKind.NotImplemented,
            $"{what} has data type {dtype.Name()}, which TFLite cannot store.", what);

    /// <summary>The user-facing name of a TFLite type (float32, int8 ...).</summary>
    public static string Name(TensorType t) => t switch
    {
        TensorType.FLOAT32 => "float32",
        TensorType.FLOAT16 => "float16",
        TensorType.FLOAT64 => "float64",
        TensorType.INT32 => "int32",
        TensorType.INT64 => "int64",
        TensorType.INT16 => "int16",
        TensorType.INT8 => "int8",
        TensorType.UINT8 => "uint8",
        TensorType.BOOL => "bool",
        TensorType.STRING => "string",
        _ => t.ToString().ToLowerInvariant(),
    };
}

/// <summary>Stable error ids of the TFLite converter.</summary>
public static class TfLiteErrorIds
{
    public const string UnsupportedOps = "TfLiteUnsupportedOps";
    public const string UnsupportedDataType = "TfLiteUnsupportedDataType";
    public const string UnsupportedAttribute = "TfLiteUnsupportedAttribute";
    public const string UnknownShape = "TfLiteUnknownShape";
    public const string InvalidOutput = "TfLiteInvalidOutput";
    public const string CalibrationRequired = "TfLiteCalibrationRequired";
    public const string CalibrationData = "TfLiteCalibrationData";
    public const string InvalidTargetRuntime = "TfLiteInvalidTargetRuntime";
}
