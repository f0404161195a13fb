using Google.Protobuf;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Tensors;

/// <summary>
/// TensorProto ⇄ <see cref="Tensor"/>. Decoding accepts every storage form TensorFlow writes:
/// tensor_content, or the typed *_val field for the dtype, where fewer values than elements means
/// "repeat the last value" (the one-value broadcast form of constant fills) and none means zeros.
/// </summary>
public static class TensorProtoCodec
{
    public static int[] ToShape(TensorShapeProto? shape, string what = "tensor")
    {
        if (shape is null || shape.UnknownRank) return Array.Empty<int>();
        var dims = new int[shape.Dim.Count];
        for (int i = 0; i < dims.Length; i++)
        {
            long d = shape.Dim[i].Size;
            if (d < 0 || d > int.MaxValue)
                throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.InvalidData, $"The {what} has dimension {i} of size {d}; a constant tensor needs fixed, non-negative dimensions.");
            dims[i] = (int)d;
        }
        return dims;
    }

    /// <summary>A TensorShapeProto as a list of dims, -1 for unknown; null when the rank is unknown.</summary>
    public static long[]? ToPartialShape(TensorShapeProto? shape) =>
        shape is null || shape.UnknownRank ? null : shape.Dim.Select(d => d.Size).ToArray();

    public static TensorShapeProto FromShape(IEnumerable<long>? dims)
    {
        var s = new TensorShapeProto();
        if (dims is null) { s.UnknownRank = true; return s; }
        foreach (long d in dims) s.Dim.Add(new TensorShapeProto.Types.Dim { Size = d });
        return s;
    }

    public static TensorShapeProto FromShape(IEnumerable<int> dims) => FromShape(dims.Select(d => (long)d));

    public static Tensor Decode(TensorProto proto, string what = "tensor")
    {
        var dtype = proto.Dtype.Base();
        int[] shape = ToShape(proto.TensorShape, what);
        long n = Tensor.ElementCount(shape);
        if (dtype == DataType.DtString)
        {
            var strings = new byte[n][];
            FillFrom(proto.StringVal, strings, n, v => v.ToByteArray(), Array.Empty<byte>(), what);
            return new Tensor(dtype, shape, strings);
        }
        if (dtype.ByteSize() == 0)
            throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.NotImplemented, $"The {what} has dtype {dtype.Name()}, which cannot be held as a constant value.");
        if (!proto.TensorContent.IsEmpty)
            return TensorBytes.FromBytes(dtype, shape, proto.TensorContent.Span);

        long count = n * dtype.Lanes();
        switch (dtype)
        {
            case DataType.DtFloat: return Make(proto.FloatVal, v => v, 0f);
            case DataType.DtDouble: return Make(proto.DoubleVal, v => v, 0d);
            case DataType.DtHalf: return Make(proto.HalfVal, v => BitConverter.UInt16BitsToHalf((ushort)v), (Half)0);
            case DataType.DtBfloat16: return Make(proto.HalfVal, v => (ushort)v, (ushort)0);
            case DataType.DtInt8 or DataType.DtQint8: return Make(proto.IntVal, v => (sbyte)v, (sbyte)0);
            case DataType.DtUint8 or DataType.DtQuint8: return Make(proto.IntVal, v => (byte)v, (byte)0);
            case DataType.DtInt16 or DataType.DtQint16: return Make(proto.IntVal, v => (short)v, (short)0);
            case DataType.DtUint16 or DataType.DtQuint16: return Make(proto.IntVal, v => (ushort)v, (ushort)0);
            case DataType.DtInt32 or DataType.DtQint32: return Make(proto.IntVal, v => v, 0);
            case DataType.DtUint32: return Make(proto.Uint32Val, v => v, 0u);
            case DataType.DtInt64: return Make(proto.Int64Val, v => v, 0L);
            case DataType.DtUint64: return Make(proto.Uint64Val, v => v, 0UL);
            case DataType.DtBool: return Make(proto.BoolVal, v => v, false);
            case DataType.DtComplex64: return Make(proto.ScomplexVal, v => v, 0f, pairs: true);
            case DataType.DtComplex128: return Make(proto.DcomplexVal, v => v, 0d, pairs: true);
            default:
                throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.NotImplemented, $"The {what} has dtype {dtype.Name()}, which is not supported.");
        }

        Tensor Make<TSrc, TDst>(IList<TSrc> values, Func<TSrc, TDst> conv, TDst zero, bool pairs = false)
        {
            var data = new TDst[count];
            if (pairs)
            {
                // Complex: values come as (re, im) pairs; the last pair repeats.
                if (values.Count > count || values.Count % 2 != 0)
                    throw TooMany(values.Count);
                for (long i = 0; i < count; i++)
                    data[i] = values.Count == 0 ? zero : conv(values[(int)Math.Min(i, values.Count - 2 + (i % 2))]);
                return new Tensor(dtype, shape, data);
            }
            FillFrom(values, data, count, conv, zero, what);
            return new Tensor(dtype, shape, data);
        }

        ModelOpsException TooMany(int got) => new(ErrorIds.InvalidTensor, ErrorKind.InvalidData,
            $"The {what} holds {got} values but its shape {Tensor.FormatShape(shape)} has room for {n}.");
    }

    private static void FillFrom<TSrc, TDst>(IList<TSrc> values, TDst[] data, long count, Func<TSrc, TDst> conv, TDst zero, string what)
    {
        if (values.Count > count)
            throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.InvalidData,
                $"The {what} holds {values.Count} values but its shape has room for {count}.");
        int i = 0;
        for (; i < values.Count; i++) data[i] = conv(values[i]);
        TDst fill = values.Count == 0 ? zero : data[values.Count - 1];
        for (; i < count; i++) data[i] = fill;
    }

    /// <summary>Encodes a tensor the way TensorFlow does: numeric data in tensor_content, strings in string_val.</summary>
    public static TensorProto Encode(Tensor t)
    {
        var p = new TensorProto { Dtype = t.DType, TensorShape = FromShape(t.Shape) };
        if (t.DType == DataType.DtString)
        {
            foreach (var s in (byte[][])t.Data) p.StringVal.Add(ByteString.CopyFrom(s));
            return p;
        }
        if (t.Length == 1 && t.Rank == 0)
        {
            // Scalars go in the typed field, as TF's own make_tensor_proto does for small values.
            switch (t.Data)
            {
                case float[] f: p.FloatVal.Add(f[0]); return p;
                case double[] d: p.DoubleVal.Add(d[0]); return p;
                case int[] i when t.DType == DataType.DtInt32: p.IntVal.Add(i[0]); return p;
                case long[] l: p.Int64Val.Add(l[0]); return p;
                case bool[] b: p.BoolVal.Add(b[0]); return p;
            }
        }
        p.TensorContent = ByteString.CopyFrom(TensorBytes.AsBytes(t.Data));
        return p;
    }
}
