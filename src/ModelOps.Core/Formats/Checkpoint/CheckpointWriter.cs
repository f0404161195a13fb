using System.Buffers.Binary;
using System.Text;
using Google.Protobuf;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Formats.Checkpoint;

/// <summary>
/// Writes a V2 checkpoint (tensor bundle) with the byte layout TensorFlow's BundleWriter produces: one data
/// shard of tensors back to back (strings as varint64 lengths + masked length CRC + bytes), and an index
/// table whose first entry (empty key) is the BundleHeaderProto, then one BundleEntryProto per key in byte
/// order with the masked CRC-32C of the tensor's bytes. The two files appear only when <see cref="Finish"/>
/// succeeds; an existing checkpoint is replaced only with <c>overwrite</c>.
/// </summary>
public sealed class CheckpointWriter : IDisposable
{
    private readonly SortedDictionary<byte[], BundleEntryProto> _entries = new(ByteOrder.Instance);
    private readonly FileStream _data;
    private readonly string _tempData;
    private readonly bool _snappy;
    private readonly bool _overwrite;
    private long _size;
    private bool _done;

    public CheckpointWriter(string prefix, bool snappyIndex = false, bool overwrite = false)
    {
        Prefix = Path.GetFullPath(prefix);
        _snappy = snappyIndex;
        _overwrite = overwrite;
        AtomicFile.EnsureWritable(DataPath, overwrite);
        AtomicFile.EnsureWritable(CheckpointLocator.IndexPath(Prefix), overwrite);
        _tempData = Path.Combine(Path.GetDirectoryName(Prefix)!, "." + Path.GetFileName(DataPath) + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        _data = new FileStream(_tempData, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20);
    }

    public string Prefix { get; }
    public string DataPath => CheckpointLocator.DataPath(Prefix, 0, 1);

    /// <summary>Adds a whole tensor under <paramref name="key"/>.</summary>
    public void Add(string key, Tensor value)
    {
        var entry = NewEntry(key, value.DType, value.Shape.Select(d => (long)d));
        if (value.DType == DataType.DtString) WriteStrings(entry, (byte[][])value.Data);
        else WriteBytes(entry, TensorBytes.AsBytes(value.Data), value.Data is bool[] b ? b : null);
        _entries.Add(KeyBytes(key), entry);
    }

    /// <summary>Adds a fixed-size tensor given as its raw little-endian bytes.</summary>
    public void AddRaw(string key, DataType dtype, long[] shape, ReadOnlySpan<byte> bytes)
    {
        long n = shape.Aggregate(1L, (a, d) => a * d);
        if (dtype.ByteSize() == 0 || bytes.Length != n * dtype.ByteSize())
            throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.InvalidArgument, $"'{key}': {bytes.Length} bytes do not make a {dtype.Name()}{Tensor.FormatShape(shape)} tensor.", key);
        var entry = NewEntry(key, dtype, shape);
        WriteBytes(entry, bytes, null);
        _entries.Add(KeyBytes(key), entry);
    }

    /// <summary>Adds one slice of a partitioned variable (BundleWriter::AddSlice); a full slice is a plain Add.</summary>
    public void AddSlice(string key, int[] fullShape, IReadOnlyList<SliceExtent> extents, Tensor slice)
    {
        if (extents.Count != fullShape.Length)
            throw new ArgumentException($"The slice of '{key}' has {extents.Count} extents for a rank-{fullShape.Length} variable.");
        bool isFull = extents.Select((e, d) => e.IsFull || (e.Start == 0 && e.Length == fullShape[d])).All(x => x);
        if (isFull) { Add(key, slice); return; }
        var kb = KeyBytes(key);
        if (!_entries.TryGetValue(kb, out var fullEntry))
        {
            fullEntry = new BundleEntryProto { Dtype = slice.DType, Shape = TensorProtoCodec.FromShape(fullShape) };
            _entries.Add(kb, fullEntry);
        }
        else if (fullEntry.Slices.Count == 0 || fullEntry.Dtype != slice.DType)
            throw new ArgumentException($"'{key}' was already added as a whole tensor or with another dtype.");
        var sp = new TensorSliceProto();
        foreach (var e in extents)
        {
            var x = new TensorSliceProto.Types.Extent();
            if (!e.IsFull) { x.Start = e.Start; x.Length = e.Length; }
            sp.Extent.Add(x);
        }
        fullEntry.Slices.Add(sp);
        var sliceKey = SliceKey.Encode(key, extents);
        var entry = new BundleEntryProto { Dtype = slice.DType, Shape = TensorProtoCodec.FromShape(slice.Shape), Offset = _size };
        if (slice.DType == DataType.DtString) WriteStrings(entry, (byte[][])slice.Data);
        else WriteBytes(entry, TensorBytes.AsBytes(slice.Data), slice.Data is bool[] b ? b : null);
        _entries.Add(sliceKey, entry);
    }

    private BundleEntryProto NewEntry(string key, DataType dtype, IEnumerable<long> shape)
    {
        if (_done) throw new InvalidOperationException("The checkpoint writer is finished.");
        if (key.Length == 0) throw new ArgumentException("The empty key is reserved for the bundle header.", nameof(key));
        if (_entries.ContainsKey(KeyBytes(key)))
            throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.InvalidArgument, $"The checkpoint already has a tensor named '{key}'.", key);
        return new BundleEntryProto { Dtype = dtype.Base(), Shape = TensorProtoCodec.FromShape(shape), Offset = _size };
    }

    private void WriteBytes(BundleEntryProto entry, ReadOnlySpan<byte> bytes, bool[]? bools)
    {
        if (bools is not null)
        {
            // Normalise bools to 0/1 bytes as TF stores them.
            var b = new byte[bools.Length];
            for (int i = 0; i < b.Length; i++) b[i] = bools[i] ? (byte)1 : (byte)0;
            bytes = b;
        }
        _data.Write(bytes);
        entry.Size = bytes.Length;
        entry.Crc32C = Crc32C.Mask(Crc32C.Compute(bytes));
        _size += bytes.Length;
    }

    private void WriteStrings(BundleEntryProto entry, byte[][] strings)
    {
        var lengths = new byte[strings.Length * 10];
        int p = 0;
        uint crc = 0;
        Span<byte> tmp = stackalloc byte[8];
        foreach (var s in strings)
        {
            ulong len = (ulong)s.LongLength;
            p = Varint.Write64(lengths, p, len);
            if (len <= uint.MaxValue)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(tmp, (uint)len);
                crc = Crc32C.Extend(crc, tmp[..4]);
            }
            else
            {
                BinaryPrimitives.WriteUInt64LittleEndian(tmp, len);
                crc = Crc32C.Extend(crc, tmp);
            }
        }
        _data.Write(lengths, 0, p);
        long written = p;
        BinaryPrimitives.WriteUInt32LittleEndian(tmp, Crc32C.Mask(crc));
        _data.Write(tmp[..4]);
        crc = Crc32C.Extend(crc, tmp[..4]);
        written += 4;
        foreach (var s in strings)
        {
            _data.Write(s);
            crc = Crc32C.Extend(crc, s);
            written += s.Length;
        }
        entry.Size = written;
        entry.Crc32C = Crc32C.Mask(crc);
        _size += written;
    }

    /// <summary>Writes the index and publishes both files.</summary>
    public void Finish()
    {
        if (_done) throw new InvalidOperationException("The checkpoint writer is finished.");
        _done = true;
        try
        {
            _data.Flush(true);
            _data.Dispose();
            foreach (var kv in _entries)
                if (kv.Value.Slices.Count > 0 == false && kv.Value.Dtype == DataType.DtInvalid)
                    throw new InvalidOperationException($"Entry '{Encoding.UTF8.GetString(kv.Key)}' has no dtype.");
            var header = new BundleHeaderProto { NumShards = 1, Endianness = BundleHeaderProto.Types.Endianness.Little, Version = new VersionDef { Producer = 1 } };
            AtomicFile.EnsureWritable(DataPath, _overwrite);
            File.Move(_tempData, DataPath, _overwrite);
            AtomicFile.Write(CheckpointLocator.IndexPath(Prefix), s =>
            {
                var table = new SortedTableWriter(s, _snappy);
                table.Add(ReadOnlySpan<byte>.Empty, header.ToByteArray());
                foreach (var kv in _entries) table.Add(kv.Key, kv.Value.ToByteArray());
                table.Finish();
            }, _overwrite);
        }
        catch
        {
            TryDelete(_tempData);
            throw;
        }
    }

    public void Dispose()
    {
        if (_done) return;
        _done = true;
        _data.Dispose();
        TryDelete(_tempData);
    }

    private static void TryDelete(string p)
    {
        try { File.Delete(p); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static byte[] KeyBytes(string key) => Encoding.UTF8.GetBytes(key);

    private sealed class ByteOrder : IComparer<byte[]>
    {
        public static readonly ByteOrder Instance = new();
        public int Compare(byte[]? x, byte[]? y) => x.AsSpan().SequenceCompareTo(y);
    }
}
