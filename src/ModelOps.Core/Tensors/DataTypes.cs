using ModelOps.Core.Errors;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Tensors;

/// <summary>Facts about TensorFlow dtypes: storage type, element size, user-facing names.</summary>
public static class DataTypes
{
    /// <summary>Strips the _REF flavour (value 100 + base) that old graphs carry on variables.</summary>
    public static DataType Base(this DataType t) => (int)t > 100 ? (DataType)((int)t - 100) : t;

    /// <summary>The CLR element type a tensor of this dtype stores its data in.</summary>
    public static Type StorageType(this DataType t) => t.Base() switch
    {
        DataType.DtFloat => typeof(float),
        DataType.DtDouble => typeof(double),
        DataType.DtHalf => typeof(Half),
        DataType.DtBfloat16 => typeof(ushort),
        DataType.DtInt8 or DataType.DtQint8 => typeof(sbyte),
        DataType.DtUint8 or DataType.DtQuint8 => typeof(byte),
        DataType.DtInt16 or DataType.DtQint16 => typeof(short),
        DataType.DtUint16 or DataType.DtQuint16 => typeof(ushort),
        DataType.DtInt32 or DataType.DtQint32 => typeof(int),
        DataType.DtUint32 => typeof(uint),
        DataType.DtInt64 => typeof(long),
        DataType.DtUint64 => typeof(ulong),
        DataType.DtBool => typeof(bool),
        DataType.DtString => typeof(byte[]),
        DataType.DtComplex64 => typeof(float),
        DataType.DtComplex128 => typeof(double),
        _ => typeof(object),
    };

    /// <summary>Storage elements per tensor element (2 for complex types).</summary>
    public static int Lanes(this DataType t) => t.Base() is DataType.DtComplex64 or DataType.DtComplex128 ? 2 : 1;

    /// <summary>Bytes of one element in tensor_content / checkpoint layout; 0 for variable-size types.</summary>
    public static int ByteSize(this DataType t) => t.Base() switch
    {
        DataType.DtFloat or DataType.DtInt32 or DataType.DtUint32 or DataType.DtQint32 => 4,
        DataType.DtDouble or DataType.DtInt64 or DataType.DtUint64 or DataType.DtComplex64 => 8,
        DataType.DtComplex128 => 16,
        DataType.DtHalf or DataType.DtBfloat16 or DataType.DtInt16 or DataType.DtUint16
            or DataType.DtQint16 or DataType.DtQuint16 => 2,
        DataType.DtInt8 or DataType.DtUint8 or DataType.DtQint8 or DataType.DtQuint8 or DataType.DtBool => 1,
        _ => 0,
    };

    public static bool IsNumeric(this DataType t) => t.ByteSize() > 0 && t.Base() != DataType.DtBool;

    public static bool IsFloating(this DataType t) =>
        t.Base() is DataType.DtFloat or DataType.DtDouble or DataType.DtHalf or DataType.DtBfloat16;

    /// <summary>The short name users see (numpy/TF python spelling): float32, int64, string...</summary>
    public static string Name(this DataType t)
    {
        var b = t.Base();
        string name = b switch
        {
            DataType.DtFloat => "float32",
            DataType.DtDouble => "float64",
            DataType.DtHalf => "float16",
            DataType.DtBfloat16 => "bfloat16",
            DataType.DtInt8 => "int8",
            DataType.DtUint8 => "uint8",
            DataType.DtInt16 => "int16",
            DataType.DtUint16 => "uint16",
            DataType.DtInt32 => "int32",
            DataType.DtUint32 => "uint32",
            DataType.DtInt64 => "int64",
            DataType.DtUint64 => "uint64",
            DataType.DtBool => "bool",
            DataType.DtString => "string",
            DataType.DtComplex64 => "complex64",
            DataType.DtComplex128 => "complex128",
            DataType.DtQint8 => "qint8",
            DataType.DtQuint8 => "quint8",
            DataType.DtQint16 => "qint16",
            DataType.DtQuint16 => "quint16",
            DataType.DtQint32 => "qint32",
            DataType.DtResource => "resource",
            DataType.DtVariant => "variant",
            DataType.DtInvalid => "invalid",
            _ => b.ToString(),
        };
        return (int)t > 100 ? name + "_ref" : name;
    }

    /// <summary>Parses a user-given dtype name (float32, float, DT_FLOAT, int64 ...).</summary>
    public static DataType Parse(string name)
    {
        string n = name.Trim().ToLowerInvariant();
        if (n.StartsWith("dt_", StringComparison.Ordinal)) n = n[3..];
        return n switch
        {
            "float32" or "float" or "single" => DataType.DtFloat,
            "float64" or "double" => DataType.DtDouble,
            "float16" or "half" => DataType.DtHalf,
            "bfloat16" => DataType.DtBfloat16,
            "int8" or "sbyte" => DataType.DtInt8,
            "uint8" or "byte" => DataType.DtUint8,
            "int16" or "short" => DataType.DtInt16,
            "uint16" or "ushort" => DataType.DtUint16,
            "int32" or "int" => DataType.DtInt32,
            "uint32" or "uint" => DataType.DtUint32,
            "int64" or "long" => DataType.DtInt64,
            "uint64" or "ulong" => DataType.DtUint64,
            "bool" or "boolean" => DataType.DtBool,
            "string" => DataType.DtString,
            "complex64" => DataType.DtComplex64,
            "complex128" => DataType.DtComplex128,
            _ => throw new ModelOpsException("UnknownDataType", ErrorKind.InvalidArgument,
                $"'{name}' is not a known data type. Use one of: float32, float64, float16, bfloat16, int8, uint8, int16, uint16, int32, uint32, int64, uint64, bool, string."),
        };
    }

    /// <summary>The dtype whose storage is the given CLR type (float → float32 ...).</summary>
    public static DataType FromClr(Type t)
    {
        if (t == typeof(float)) return DataType.DtFloat;
        if (t == typeof(double)) return DataType.DtDouble;
        if (t == typeof(Half)) return DataType.DtHalf;
        if (t == typeof(sbyte)) return DataType.DtInt8;
        if (t == typeof(byte)) return DataType.DtUint8;
        if (t == typeof(short)) return DataType.DtInt16;
        if (t == typeof(ushort)) return DataType.DtUint16;
        if (t == typeof(int)) return DataType.DtInt32;
        if (t == typeof(uint)) return DataType.DtUint32;
        if (t == typeof(long)) return DataType.DtInt64;
        if (t == typeof(ulong)) return DataType.DtUint64;
        if (t == typeof(bool)) return DataType.DtBool;
        if (t == typeof(byte[]) || t == typeof(string)) return DataType.DtString;
        throw new ModelOpsException("UnknownDataType", ErrorKind.InvalidArgument, $"The .NET type {t.Name} has no TensorFlow data type.");
    }
}
