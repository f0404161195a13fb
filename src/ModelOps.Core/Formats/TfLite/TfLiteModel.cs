using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Formats.TfLite;

/// <summary>Quantization parameters of a TFLite tensor: real = scale × (q − zero_point), per tensor or per channel along Axis.</summary>
public sealed record TfLiteQuantization(float[] Scale, long[] ZeroPoint, int Axis, float[] Min, float[] Max)
{
    /// <summary>True when the tensor carries scales (not just calibration min/max).</summary>
    public bool HasScale => Scale.Length > 0;
    public bool PerChannel => Scale.Length > 1;

    public override string ToString() => !HasScale ? "min/max only"
        : PerChannel ? $"per-channel axis {Axis} ({Scale.Length} scales)"
        : $"scale {Scale[0].ToString("G9", System.Globalization.CultureInfo.InvariantCulture)} zero_point {(ZeroPoint.Length > 0 ? ZeroPoint[0] : 0)}";
}

/// <summary>One tensor of a TFLite subgraph.</summary>
public sealed class TfLiteTensor
{
    public required int Index { get; init; }
    public required string Name { get; init; }
    public required TensorType Type { get; init; }
    /// <summary>Static shape (what the file says; -1 never appears here).</summary>
    public required int[] Shape { get; init; }
    /// <summary>Shape with -1 for dynamic dims, when the converter wrote one.</summary>
    public int[]? ShapeSignature { get; init; }
    /// <summary>Index into <see cref="TfLiteModel.Buffers"/> (0 = no data).</summary>
    public required int Buffer { get; init; }
    public bool IsVariable { get; init; }
    public bool IsSparse { get; init; }
    public TfLiteQuantization? Quantization { get; init; }

    /// <summary>The TensorFlow dtype matching this tensor's TFLite type (DtInvalid where there is none).</summary>
    public DataType DType => TfLiteTypes.ToDataType(Type);
    public string DTypeName => TfLiteTypes.Name(Type);

    public override string ToString() => $"{Name} {DTypeName}[{string.Join(",", Shape)}]";
}

/// <summary>One operator: which op code, which tensors (−1 = omitted optional input).</summary>
public sealed class TfLiteOperator
{
    public required int Index { get; init; }
    public required int OpcodeIndex { get; init; }
    public required int[] Inputs { get; init; }
    public required int[] Outputs { get; init; }
    public required int[] Intermediates { get; init; }
    /// <summary>The flatbuffer table (for builtin options); valid while the model's bytes live.</summary>
    public required Operator Raw { get; init; }
}

/// <summary>One subgraph: tensors, operators in execution order, inputs and outputs.</summary>
public sealed class TfLiteSubGraph
{
    public required int Index { get; init; }
    public required string Name { get; init; }
    public required IReadOnlyList<TfLiteTensor> Tensors { get; init; }
    public required IReadOnlyList<TfLiteOperator> Operators { get; init; }
    public required int[] Inputs { get; init; }
    public required int[] Outputs { get; init; }
}

/// <summary>An operator code: the builtin op (max of both code fields) or a custom op name, and its version.</summary>
public sealed record TfLiteOpCode(BuiltinOperator Builtin, string? CustomCode, int Version)
{
    public bool IsCustom => Builtin == BuiltinOperator.CUSTOM;
    public string Name => IsCustom ? (string.IsNullOrEmpty(CustomCode) ? "CUSTOM" : CustomCode!) : Builtin.ToString();
    public override string ToString() => $"{Name} v{Version}";
}

/// <summary>Where a buffer's bytes are in the file: inline in the flatbuffer or at offset/size (large models).</summary>
public readonly record struct TfLiteBufferRef(long Offset, long Length);

public sealed record TfLiteSignatureTensor(string Name, int TensorIndex);

public sealed record TfLiteSignature(string Key, int SubgraphIndex, IReadOnlyList<TfLiteSignatureTensor> Inputs, IReadOnlyList<TfLiteSignatureTensor> Outputs);

public sealed record TfLiteMetadataEntry(string Name, int Buffer, long Size);

/// <summary>
/// A verified view of a .tflite file. Every index and byte range in it has been checked against the file,
/// so code that consumes it does not need to re-check ranges.
/// </summary>
public sealed class TfLiteModel
{
    internal TfLiteModel(string path, byte[] bytes, Model root)
    {
        Path = path;
        Bytes = bytes;
        Root = root;
    }

    public string Path { get; }
    /// <summary>The whole file.</summary>
    public byte[] Bytes { get; }
    internal Model Root { get; }
    public uint SchemaVersion { get; init; }
    public string? Description { get; init; }
    public required IReadOnlyList<TfLiteOpCode> OperatorCodes { get; init; }
    public required IReadOnlyList<TfLiteSubGraph> Subgraphs { get; init; }
    public required IReadOnlyList<TfLiteBufferRef> Buffers { get; init; }
    public required IReadOnlyList<TfLiteMetadataEntry> Metadata { get; init; }
    public required IReadOnlyList<TfLiteSignature> Signatures { get; init; }
    /// <summary>The min_runtime_version metadata string, when present.</summary>
    public string? MinRuntimeVersion { get; init; }
    /// <summary>Files of the zip archive TFLite Metadata appends to the model (labels.txt ...), name → bytes.</summary>
    public IReadOnlyDictionary<string, byte[]> AssociatedFiles { get; init; } = new Dictionary<string, byte[]>();

    public TfLiteSubGraph Main => Subgraphs[0];

    /// <summary>The bytes of buffer <paramref name="index"/> (empty when it holds none).</summary>
    public ReadOnlySpan<byte> BufferData(int index)
    {
        var b = Buffers[index];
        return Bytes.AsSpan((int)b.Offset, (int)b.Length);
    }

    /// <summary>Constant data of a tensor, or empty when it has none (an activation or input).</summary>
    public ReadOnlySpan<byte> TensorData(TfLiteTensor t) => t.Buffer == 0 ? ReadOnlySpan<byte>.Empty : BufferData(t.Buffer);

    public TfLiteOpCode OpCodeOf(TfLiteOperator op) => OperatorCodes[op.OpcodeIndex];

    /// <summary>Label lines of the first associated .txt file (ImageNet labels for a classifier), or null.</summary>
    public IReadOnlyList<string>? Labels
    {
        get
        {
            var f = AssociatedFiles.FirstOrDefault(kv => kv.Key.EndsWith(".txt", StringComparison.OrdinalIgnoreCase));
            if (f.Value is null) return null;
            return System.Text.Encoding.UTF8.GetString(f.Value).Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0).ToList();
        }
    }
}

/// <summary>TFLite tensor types ⇄ TensorFlow dtypes and names.</summary>
public static class TfLiteTypes
{
    public static DataType ToDataType(TensorType t) => t switch
    {
        TensorType.FLOAT32 => DataType.DtFloat,
        TensorType.FLOAT16 => DataType.DtHalf,
        TensorType.INT32 => DataType.DtInt32,
        TensorType.UINT8 => DataType.DtUint8,
        TensorType.INT64 => DataType.DtInt64,
        TensorType.STRING => DataType.DtString,
        TensorType.BOOL => DataType.DtBool,
        TensorType.INT16 => DataType.DtInt16,
        TensorType.COMPLEX64 => DataType.DtComplex64,
        TensorType.INT8 => DataType.DtInt8,
        TensorType.FLOAT64 => DataType.DtDouble,
        TensorType.COMPLEX128 => DataType.DtComplex128,
        TensorType.UINT64 => DataType.DtUint64,
        TensorType.RESOURCE => DataType.DtResource,
        TensorType.VARIANT => DataType.DtVariant,
        TensorType.UINT32 => DataType.DtUint32,
        TensorType.UINT16 => DataType.DtUint16,
        TensorType.BFLOAT16 => DataType.DtBfloat16,
        TensorType.INT4 => DataType.DtInt4,
        TensorType.UINT4 => DataType.DtUint4,
        _ => DataType.DtInvalid,
    };

    public static TensorType FromDataType(DataType t) => t switch
    {
        DataType.DtFloat => TensorType.FLOAT32,
        DataType.DtHalf => TensorType.FLOAT16,
        DataType.DtInt32 => TensorType.INT32,
        DataType.DtUint8 => TensorType.UINT8,
        DataType.DtInt64 => TensorType.INT64,
        DataType.DtString => TensorType.STRING,
        DataType.DtBool => TensorType.BOOL,
        DataType.DtInt16 => TensorType.INT16,
        DataType.DtInt8 => TensorType.INT8,
        DataType.DtDouble => TensorType.FLOAT64,
        _ => throw new ArgumentOutOfRangeException(nameof(t), t, "no TFLite type"),
    };

    public static string Name(TensorType t) => t switch
    {
        TensorType.FLOAT32 => "float32",
        TensorType.FLOAT16 => "float16",
        TensorType.FLOAT64 => "float64",
        TensorType.BFLOAT16 => "bfloat16",
        _ => t.ToString().ToLowerInvariant(),
    };

    /// <summary>Bits per element for fixed-size types; 0 for strings, resources and variants.</summary>
    public static int BitSize(TensorType t) => t switch
    {
        TensorType.FLOAT32 or TensorType.INT32 or TensorType.UINT32 => 32,
        TensorType.FLOAT16 or TensorType.INT16 or TensorType.UINT16 or TensorType.BFLOAT16 => 16,
        TensorType.UINT8 or TensorType.INT8 or TensorType.BOOL or TensorType.FLOAT8_E4M3FN or TensorType.FLOAT8_E5M2 => 8,
        TensorType.INT64 or TensorType.UINT64 or TensorType.FLOAT64 or TensorType.COMPLEX64 => 64,
        TensorType.COMPLEX128 => 128,
        TensorType.INT4 or TensorType.UINT4 => 4,
        TensorType.INT2 => 2,
        _ => 0,
    };
}
