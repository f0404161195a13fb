using System.Text;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Tensors;

/// <summary>
/// The one tensor type the whole core shares: a dtype, a dense row-major shape and a typed array
/// (float[] for float32, long[] for int64, byte[][] for strings ... see <see cref="DataTypes.StorageType"/>).
/// Complex tensors store interleaved real/imaginary pairs. Tensors are treated as immutable once built.
/// </summary>
public sealed class Tensor
{
    private static readonly int[] ScalarShape = Array.Empty<int>();

    public Tensor(DataType dtype, int[] shape, Array data)
        : this(dtype, shape, data, spare: false)
    {
    }

    /// <summary>
    /// A tensor over the first elements of <paramref name="data"/>, which may be longer than the tensor when
    /// <paramref name="spare"/> (an engine buffer planned for several tensors: see <see cref="HasSpareCapacity"/>).
    /// </summary>
    internal Tensor(DataType dtype, int[] shape, Array data, bool spare)
    {
        DType = dtype.Base();
        Shape = shape;
        Data = data;
        long n = ElementCount(shape);
        if (spare ? data.Length < n * DType.Lanes() : data.Length != n * DType.Lanes())
            throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.InvalidData,
                $"A {DType.Name()} tensor of shape {FormatShape(shape)} needs {n} elements but {data.Length} were given.");
        var expected = DType.StorageType();
        var actual = data.GetType().GetElementType();
        if (expected != typeof(object) && actual != expected)
            throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.InvalidData,
                $"A {DType.Name()} tensor stores {expected.Name}[], not {actual?.Name}[].");
        Length = (int)n;
    }

    /// <summary>
    /// A tensor of <paramref name="shape"/> over the first elements of an engine buffer <paramref name="data"/>, which may
    /// be longer. Only kernels registered with <see cref="Ops.KernelTraits.SpareCapacity"/> make or read such tensors.
    /// </summary>
    internal static Tensor Over(DataType dtype, int[] shape, Array data) => new(dtype, shape, data, spare: true);

    private Tensor(Tensor of)
    {
        DType = of.DType;
        Shape = of.Shape;
        Length = of.Length;
        Data = Array.CreateInstance(of.Data.GetType().GetElementType()!, 0);
        IsShapeOnly = true;
    }

    /// <summary>
    /// A stand-in for <paramref name="of"/> with its dtype and shape but no elements (an empty array): what an execution plan
    /// keeps of a constant weight once every kernel reading it holds its own prepared copy (see
    /// <see cref="Ops.KernelTraits.PreparesWeights"/>). Reading its elements fails loudly.
    /// </summary>
    internal static Tensor ShapeOnly(Tensor of) => new(of);

    /// <summary>True for a <see cref="ShapeOnly"/> stand-in: the dtype and shape are real, the elements are gone.</summary>
    internal bool IsShapeOnly { get; }

    public DataType DType { get; }
    public int[] Shape { get; }
    /// <summary>
    /// The elements. Every tensor handed out by the engine's public API stores exactly <see cref="Length"/> elements (times
    /// the lanes of complex types); inside a run, a kernel may see an engine buffer that is longer (<see cref="HasSpareCapacity"/>).
    /// </summary>
    public Array Data { get; }
    public int Rank => Shape.Length;

    /// <summary>Number of elements (the product of the shape).</summary>
    public int Length { get; }

    /// <summary>True when <see cref="Data"/> is longer than the tensor (an engine buffer shared over a run; internal to kernels).</summary>
    internal bool HasSpareCapacity => !IsShapeOnly && Data.Length != Length * DType.Lanes();

    public T[] As<T>() => Data as T[] ?? throw new InvalidCastException(
        $"Tensor of {DType.Name()} stores {Data.GetType().Name}, not {typeof(T).Name}[].");

    /// <summary>The tensor's elements (exactly <see cref="Length"/> of them, times the lanes of complex types).</summary>
    public Span<T> Span<T>() => As<T>().AsSpan(0, Length * DType.Lanes());

    public static Tensor Create<T>(T[] data, params int[] shape) => new(DataTypes.FromClr(typeof(T)), shape, data);

    public static Tensor Scalar<T>(T value) => new(DataTypes.FromClr(typeof(T)), ScalarShape, new[] { value });

    public static Tensor FromStrings(IEnumerable<string> values, params int[] shape) =>
        new(DataType.DtString, shape, values.Select(v => Encoding.UTF8.GetBytes(v)).ToArray());

    /// <summary>A zero-filled tensor (empty byte strings for DT_STRING).</summary>
    public static Tensor Zeros(DataType dtype, int[] shape)
    {
        long n = ElementCount(shape) * dtype.Lanes();
        var st = dtype.StorageType();
        Array data = Array.CreateInstance(st, n);
        if (st == typeof(byte[]))
        {
            var s = (byte[][])data;
            for (int i = 0; i < s.Length; i++) s[i] = Array.Empty<byte>();
        }
        return new Tensor(dtype, shape, data);
    }

    public Tensor Reshape(params int[] shape)
    {
        if (!HasSpareCapacity) return new(DType, shape, Data);
        if (ElementCount(shape) != Length) // the array's length cannot catch a wrong count here: it is longer anyway
            throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.InvalidData,
                $"A {DType.Name()} tensor of {Length} elements cannot take the shape {FormatShape(shape)}.");
        return new(DType, shape, Data, spare: true);
    }

    public static long ElementCount(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (int d in shape)
        {
            if (d < 0) throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.InvalidData, $"Tensor dimension {d} is negative.");
            n *= d;
        }
        return n;
    }

    public static string FormatShape(IReadOnlyList<int> shape) => "[" + string.Join(",", shape) + "]";

    public static string FormatShape(IReadOnlyList<long> shape) =>
        "[" + string.Join(",", shape.Select(d => d < 0 ? "?" : d.ToString(System.Globalization.CultureInfo.InvariantCulture))) + "]";

    /// <summary>Element i converted to double (numeric and bool tensors).</summary>
    public double GetDouble(int i) => DType switch
    {
        // Switch on the dtype, not the array type: the CLR lets byte[] pass as sbyte[] (ushort[] as short[] ...).
        DataType.DtFloat => ((float[])Data)[i],
        DataType.DtDouble => ((double[])Data)[i],
        DataType.DtHalf => (double)((Half[])Data)[i],
        DataType.DtBfloat16 => BFloat16ToSingle(((ushort[])Data)[i]),
        DataType.DtComplex64 => ((float[])Data)[2 * i],
        DataType.DtComplex128 => ((double[])Data)[2 * i],
        _ => GetInt64(i),
    };

    /// <summary>Element i as a 64-bit integer (integer and bool tensors; float tensors truncate).</summary>
    public long GetInt64(int i) => DType switch
    {
        DataType.DtInt8 or DataType.DtQint8 => ((sbyte[])Data)[i],
        DataType.DtUint8 or DataType.DtQuint8 => ((byte[])Data)[i],
        DataType.DtInt16 or DataType.DtQint16 => ((short[])Data)[i],
        DataType.DtUint16 or DataType.DtQuint16 => ((ushort[])Data)[i],
        DataType.DtInt32 or DataType.DtQint32 => ((int[])Data)[i],
        DataType.DtUint32 => ((uint[])Data)[i],
        DataType.DtInt64 => ((long[])Data)[i],
        DataType.DtUint64 => (long)((ulong[])Data)[i],
        DataType.DtBool => ((bool[])Data)[i] ? 1 : 0,
        DataType.DtFloat or DataType.DtDouble or DataType.DtHalf or DataType.DtBfloat16 => (long)GetDouble(i),
        _ => throw new InvalidCastException($"{DType.Name()} elements are not numbers."),
    };

    /// <summary>All elements as long (for shape-like tensors).</summary>
    public long[] ToInt64Array()
    {
        var r = new long[Length];
        for (int i = 0; i < r.Length; i++) r[i] = GetInt64(i);
        return r;
    }

    public int[] ToInt32Array()
    {
        var r = new int[Length];
        for (int i = 0; i < r.Length; i++) r[i] = checked((int)GetInt64(i));
        return r;
    }

    public static float BFloat16ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    public static ushort SingleToBFloat16(float f)
    {
        int bits = BitConverter.SingleToInt32Bits(f);
        if (float.IsNaN(f)) return 0x7FC0;
        int rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>Exact equality of dtype, shape and every element (bitwise for floats; NaN equals NaN).</summary>
    public bool ContentEquals(Tensor other)
    {
        if (DType != other.DType || !Shape.AsSpan().SequenceEqual(other.Shape)) return false;
        if (HasSpareCapacity || other.HasSpareCapacity) return Exact().ContentEquals(other.Exact());
        return (Data, other.Data) switch
        {
            (float[] a, float[] b) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(b.AsSpan())),
            (double[] a, double[] b) => System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan()).SequenceEqual(System.Runtime.InteropServices.MemoryMarshal.AsBytes(b.AsSpan())),
            (byte[][] a, byte[][] b) => a.Length == b.Length && a.Zip(b).All(p => p.First.AsSpan().SequenceEqual(p.Second)),
            _ => TensorBytes.ToBytes(this).AsSpan().SequenceEqual(TensorBytes.ToBytes(other)),
        };
    }

    /// <summary>This tensor, or a copy of it storing exactly its elements when its array is longer (see <see cref="HasSpareCapacity"/>).</summary>
    internal Tensor Exact()
    {
        if (IsShapeOnly) throw new InvalidOperationException("A shape-only stand-in of a constant has no elements to copy.");
        if (!HasSpareCapacity) return this;
        int n = Length * DType.Lanes();
        var copy = Array.CreateInstance(Data.GetType().GetElementType()!, n);
        Array.Copy(Data, copy, n);
        return new Tensor(DType, Shape, copy);
    }

    public override string ToString() => $"{DType.Name()}{FormatShape(Shape)}";
}
