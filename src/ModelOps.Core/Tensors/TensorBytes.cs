using System.Runtime.InteropServices;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Tensors;

/// <summary>
/// Raw little-endian element layout of numeric tensors — the layout of TensorProto.tensor_content,
/// checkpoint bundle data and .npy payloads alike. (This machine family is little-endian.)
/// </summary>
public static class TensorBytes
{
    public static byte[] ToBytes(Tensor t)
    {
        if (t.DType == DataType.DtString)
            throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.InvalidArgument, "String tensors have no fixed-size byte layout.");
        return t.Data switch
        {
            bool[] b => b.Select(x => x ? (byte)1 : (byte)0).ToArray(),
            byte[] b => (byte[])b.Clone(),
            _ => AsBytes(t.Data).ToArray(),
        };
    }

    /// <summary>A read-only byte view of a numeric tensor's storage (no copy).</summary>
    public static ReadOnlySpan<byte> AsBytes(Array data) => data switch
    {
        float[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        double[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        Half[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        sbyte[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        byte[] a => a,
        short[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        ushort[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        int[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        uint[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        long[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        ulong[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        bool[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        _ => throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.InvalidArgument, $"{data.GetType().Name} has no byte layout."),
    };

    /// <summary>Builds a numeric tensor from its raw bytes; the byte count must match the shape exactly.</summary>
    public static Tensor FromBytes(DataType dtype, int[] shape, ReadOnlySpan<byte> bytes)
    {
        dtype = dtype.Base();
        int size = dtype.ByteSize();
        if (size == 0)
            throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.InvalidData, $"{dtype.Name()} tensors cannot be read from raw bytes.");
        long n = Tensor.ElementCount(shape);
        if (bytes.Length != n * size)
            throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.InvalidData,
                $"A {dtype.Name()} tensor of shape {Tensor.FormatShape(shape)} needs {n * size} bytes but has {bytes.Length}.");
        Array data = Array.CreateInstance(dtype.StorageType(), n * dtype.Lanes());
        if (data is bool[] bools)
        {
            for (int i = 0; i < bools.Length; i++) bools[i] = bytes[i] != 0;
        }
        else
        {
            bytes.CopyTo(WritableBytes(data));
        }
        return new Tensor(dtype, shape, data);
    }

    /// <summary>A writable byte view of a tensor storage array (no copy); bool[] views its 0/1 bytes.</summary>
    internal static Span<byte> WritableBytes(Array data) => data switch
    {
        float[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        double[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        Half[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        sbyte[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        byte[] a => a,
        short[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        ushort[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        int[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        uint[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        long[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        ulong[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        bool[] a => MemoryMarshal.AsBytes(a.AsSpan()),
        _ => throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.InvalidArgument, $"{data.GetType().Name} has no byte layout."),
    };
}
