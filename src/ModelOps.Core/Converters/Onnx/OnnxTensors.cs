using Google.Protobuf;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using OnnxTensorProto = ModelOps.Core.Protos.Onnx.TensorProto;
using OnnxDataType = ModelOps.Core.Protos.Onnx.TensorProto.Types.DataType;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Converters.Onnx;

/// <summary>TensorFlow dtypes and <see cref="Tensor"/>s to and from ONNX element types and TensorProtos.</summary>
public static class OnnxTensors
{
    /// <summary>The ONNX element type of a TensorFlow dtype; UNDEFINED where ONNX has none (resource, variant, quantized).</summary>
    public static OnnxDataType ToOnnx(DataType t) => t.Base() switch
    {
        DataType.DtFloat => OnnxDataType.Float,
        DataType.DtDouble => OnnxDataType.Double,
        DataType.DtHalf => OnnxDataType.Float16,
        DataType.DtBfloat16 => OnnxDataType.Bfloat16,
        DataType.DtInt8 => OnnxDataType.Int8,
        DataType.DtUint8 => OnnxDataType.Uint8,
        DataType.DtInt16 => OnnxDataType.Int16,
        DataType.DtUint16 => OnnxDataType.Uint16,
        DataType.DtInt32 => OnnxDataType.Int32,
        DataType.DtUint32 => OnnxDataType.Uint32,
        DataType.DtInt64 => OnnxDataType.Int64,
        DataType.DtUint64 => OnnxDataType.Uint64,
        DataType.DtBool => OnnxDataType.Bool,
        DataType.DtString => OnnxDataType.String,
        DataType.DtComplex64 => OnnxDataType.Complex64,
        DataType.DtComplex128 => OnnxDataType.Complex128,
        _ => OnnxDataType.Undefined,
    };

    /// <summary>The TensorFlow dtype of an ONNX element type; DtInvalid when TensorFlow has none.</summary>
    public static DataType FromOnnx(int elemType) => (OnnxDataType)elemType switch
    {
        OnnxDataType.Float => DataType.DtFloat,
        OnnxDataType.Double => DataType.DtDouble,
        OnnxDataType.Float16 => DataType.DtHalf,
        OnnxDataType.Bfloat16 => DataType.DtBfloat16,
        OnnxDataType.Int8 => DataType.DtInt8,
        OnnxDataType.Uint8 => DataType.DtUint8,
        OnnxDataType.Int16 => DataType.DtInt16,
        OnnxDataType.Uint16 => DataType.DtUint16,
        OnnxDataType.Int32 => DataType.DtInt32,
        OnnxDataType.Uint32 => DataType.DtUint32,
        OnnxDataType.Int64 => DataType.DtInt64,
        OnnxDataType.Uint64 => DataType.DtUint64,
        OnnxDataType.Bool => DataType.DtBool,
        OnnxDataType.String => DataType.DtString,
        OnnxDataType.Complex64 => DataType.DtComplex64,
        OnnxDataType.Complex128 => DataType.DtComplex128,
        _ => DataType.DtInvalid,
    };

    /// <summary>The name users see for an ONNX element type (float32, int64 ...).</summary>
    public static string ElementTypeName(int elemType)
    {
        var t = FromOnnx(elemType);
        return t == DataType.DtInvalid ? ((OnnxDataType)elemType).ToString().ToLowerInvariant() : t.Name();
    }

    /// <summary>An ONNX initializer holding the tensor: numeric data little-endian in raw_data, strings in string_data.</summary>
    public static OnnxTensorProto FromTensor(Tensor t, string name)
    {
        var type = ToOnnx(t.DType);
        if (type == OnnxDataType.Undefined)
            throw new ModelOpsException(OnnxErrorIds.UnsupportedDataType, ErrorKind.NotImplemented,
                $"The constant '{name}' has dtype {t.DType.Name()}, which ONNX cannot hold.", name);
        var p = new OnnxTensorProto { Name = name, DataType = (int)type };
        foreach (int d in t.Shape) p.Dims.Add(d);
        if (t.DType == DataType.DtString)
        {
            foreach (var s in (byte[][])t.Data) p.StringData.Add(ByteString.CopyFrom(s));
            return p;
        }
        p.RawData = ByteString.CopyFrom(TensorBytes.ToBytes(t));
        return p;
    }

    /// <summary>Decodes an ONNX TensorProto held in the model (raw_data or the typed *_data fields).</summary>
    public static Tensor ToTensor(OnnxTensorProto p)
    {
        var dtype = FromOnnx(p.DataType);
        if (dtype == DataType.DtInvalid)
            throw new ModelOpsException(OnnxErrorIds.UnsupportedDataType, ErrorKind.NotImplemented,
                $"The ONNX tensor '{p.Name}' has element type {(OnnxDataType)p.DataType}, which ModelOps does not handle.", p.Name);
        if (p.DataLocation == OnnxTensorProto.Types.DataLocation.External)
            throw new ModelOpsException(OnnxErrorIds.UnsupportedDataType, ErrorKind.NotImplemented,
                $"The ONNX tensor '{p.Name}' keeps its data in an external file, which ModelOps does not read.", p.Name);
        int[] shape = p.Dims.Select(d => checked((int)d)).ToArray();
        long n = Tensor.ElementCount(shape);
        if (dtype == DataType.DtString)
            return new Tensor(dtype, shape, p.StringData.Select(s => s.ToByteArray()).ToArray());
        if (p.HasRawData)
            return TensorBytes.FromBytes(dtype, shape, p.RawData.Span);
        Array data = dtype switch
        {
            DataType.DtFloat => p.FloatData.ToArray(),
            DataType.DtDouble => p.DoubleData.ToArray(),
            DataType.DtInt64 => p.Int64Data.ToArray(),
            DataType.DtInt32 => p.Int32Data.ToArray(),
            DataType.DtInt16 => p.Int32Data.Select(v => (short)v).ToArray(),
            DataType.DtInt8 => p.Int32Data.Select(v => (sbyte)v).ToArray(),
            DataType.DtUint8 => p.Int32Data.Select(v => (byte)v).ToArray(),
            DataType.DtUint16 => p.Int32Data.Select(v => (ushort)v).ToArray(),
            DataType.DtBool => p.Int32Data.Select(v => v != 0).ToArray(),
            DataType.DtHalf => p.Int32Data.Select(v => BitConverter.UInt16BitsToHalf((ushort)v)).ToArray(),
            DataType.DtBfloat16 => p.Int32Data.Select(v => (ushort)v).ToArray(),
            DataType.DtUint32 => p.Uint64Data.Select(v => (uint)v).ToArray(),
            DataType.DtUint64 => p.Uint64Data.ToArray(),
            _ => throw new ModelOpsException(OnnxErrorIds.UnsupportedDataType, ErrorKind.NotImplemented,
                $"The ONNX tensor '{p.Name}' has element type {(OnnxDataType)p.DataType}, which ModelOps does not decode.", p.Name),
        };
        if (data.Length != n)
            throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.InvalidData,
                $"The ONNX tensor '{p.Name}' of shape {Tensor.FormatShape(shape)} holds {data.Length} values instead of {n}.", p.Name);
        return new Tensor(dtype, shape, data);
    }

    /// <summary>Permutes the axes of a tensor: output dim i is input dim perm[i] (ONNX Transpose semantics).</summary>
    public static Tensor Transpose(Tensor t, IReadOnlyList<int> perm)
    {
        int r = t.Rank;
        if (perm.Count != r) throw new ArgumentException($"A permutation of {perm.Count} axes does not fit a rank-{r} tensor.");
        var outShape = new int[r];
        for (int i = 0; i < r; i++) outShape[i] = t.Shape[perm[i]];
        var inStrides = Strides(t.Shape);
        var src = t.Data;
        var dst = Array.CreateInstance(src.GetType().GetElementType()!, src.Length);
        int lanes = t.DType.Lanes();
        var idx = new int[r];
        long count = Tensor.ElementCount(outShape);
        for (long o = 0; o < count; o++)
        {
            long s = 0;
            for (int i = 0; i < r; i++) s += (long)idx[i] * inStrides[perm[i]];
            for (int l = 0; l < lanes; l++) dst.SetValue(src.GetValue(s * lanes + l), o * lanes + l);
            for (int i = r - 1; i >= 0; i--)
            {
                if (++idx[i] < outShape[i]) break;
                idx[i] = 0;
            }
        }
        return new Tensor(t.DType, outShape, dst);
    }

    /// <summary>Row-major strides of a shape.</summary>
    public static long[] Strides(IReadOnlyList<int> shape)
    {
        var s = new long[shape.Count];
        long acc = 1;
        for (int i = shape.Count - 1; i >= 0; i--) { s[i] = acc; acc *= shape[i]; }
        return s;
    }

    /// <summary>The inverse of a permutation.</summary>
    public static int[] Inverse(IReadOnlyList<int> perm)
    {
        var inv = new int[perm.Count];
        for (int i = 0; i < perm.Count; i++) inv[perm[i]] = i;
        return inv;
    }

    /// <summary>Float tensors of any float dtype, or integer tensors, converted to the requested dtype.</summary>
    public static Tensor Cast(Tensor t, DataType to)
    {
        if (t.DType == to) return t;
        var n = t.Length;
        Array data = to switch
        {
            DataType.DtFloat => Enumerable.Range(0, n).Select(i => (float)t.GetDouble(i)).ToArray(),
            DataType.DtDouble => Enumerable.Range(0, n).Select(t.GetDouble).ToArray(),
            DataType.DtInt64 => Enumerable.Range(0, n).Select(t.GetInt64).ToArray(),
            DataType.DtInt32 => Enumerable.Range(0, n).Select(i => checked((int)t.GetInt64(i))).ToArray(),
            _ => throw new ArgumentException($"Casting constants to {to.Name()} is not supported."),
        };
        return new Tensor(to, (int[])t.Shape.Clone(), data);
    }
}
