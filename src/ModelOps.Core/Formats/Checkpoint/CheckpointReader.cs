using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Google.Protobuf;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Formats.Checkpoint;

/// <summary>One tensor listed in a checkpoint: what tf.train.list_variables shows, plus where its bytes are.</summary>
public sealed class CheckpointEntry
{
    internal CheckpointEntry(string key, BundleEntryProto proto)
    {
        Key = key;
        Proto = proto;
        DType = proto.Dtype;
        Shape = proto.Shape is null ? Array.Empty<long>() : proto.Shape.Dim.Select(d => d.Size).ToArray();
    }

    public string Key { get; }
    public DataType DType { get; }
    public long[] Shape { get; }
    public BundleEntryProto Proto { get; }
    public bool IsPartitioned => Proto.Slices.Count > 0;
    public long ElementCount => Shape.Aggregate(1L, (a, d) => a * Math.Max(d, 0));

    public override string ToString() => $"{Key} {DType.Name()}{Tensor.FormatShape(Shape)}";
}

/// <summary>
/// Reads a TensorFlow V2 checkpoint (tensor bundle): the <c>&lt;prefix&gt;.index</c> table mapping tensor
/// names to <see cref="BundleEntryProto"/> and the <c>&lt;prefix&gt;.data-NNNNN-of-MMMMM</c> shards holding
/// the bytes. Every read verifies the entry's CRC-32C; partitioned variables are assembled from their
/// slices; string tensors are read in both the varint64 and the older varint32 length layouts.
/// </summary>
public sealed class CheckpointReader : IDisposable
{
    private readonly Dictionary<string, CheckpointEntry> _entries = new(StringComparer.Ordinal);
    private readonly Dictionary<string, BundleEntryProto> _sliceEntries = new(StringComparer.Ordinal);
    private readonly FileStream?[] _shards;
    private readonly bool _swap;

    private CheckpointReader(string prefix, byte[] index)
    {
        Prefix = prefix;
        IndexPath = prefix + ".index";
        var rows = SortedTable.ReadAll(index, IndexPath);
        if (rows.Count == 0 || rows[0].Key.Length != 0)
            throw SortedTable.Corrupt(IndexPath, "it has no header entry (empty key) holding the BundleHeaderProto");
        try
        {
            Header = BundleHeaderProto.Parser.ParseFrom(rows[0].Value);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw SortedTable.Corrupt(IndexPath, "its header entry is not a BundleHeaderProto: " + ex.Message);
        }
        if (Header.NumShards <= 0) throw SortedTable.Corrupt(IndexPath, $"the header declares {Header.NumShards} data shards");
        if (Header.Version is { } v && v.BadConsumers.Contains(1))
            throw new ModelOpsException(ErrorIds.CheckpointUnsupported, ErrorKind.NotImplemented,
                $"The checkpoint '{prefix}' declares this bundle format version unreadable (bad consumer 1).", prefix);
        _swap = Header.Endianness == BundleHeaderProto.Types.Endianness.Big;
        _shards = new FileStream?[Header.NumShards];
        foreach (var (k, val) in rows.Skip(1))
        {
            BundleEntryProto e;
            try { e = BundleEntryProto.Parser.ParseFrom(val); }
            catch (InvalidProtocolBufferException ex)
            {
                throw SortedTable.Corrupt(IndexPath, $"the entry for '{Latin1(k)}' is not a BundleEntryProto: {ex.Message}");
            }
            if (k.Length > 0 && k[0] == 0)
                _sliceEntries[Latin1(k)] = e;
            else
            {
                string key = Encoding.UTF8.GetString(k);
                _entries[key] = new CheckpointEntry(key, e);
            }
        }
        Entries = _entries.Values.OrderBy(e => e.Key, StringComparer.Ordinal).ToList();
    }

    /// <summary>The checkpoint prefix (path without .index / .data-… suffix).</summary>
    public string Prefix { get; }
    public string IndexPath { get; }
    public BundleHeaderProto Header { get; }

    /// <summary>Every full tensor, sorted by name (slices of partitioned variables are folded into their variable).</summary>
    public IReadOnlyList<CheckpointEntry> Entries { get; }

    /// <summary>Opens a checkpoint given its prefix, its .index or .data file, or a folder with a `checkpoint` state file.</summary>
    public static CheckpointReader Open(string path)
    {
        string prefix = CheckpointLocator.ResolvePrefix(path);
        byte[] index;
        try { index = File.ReadAllBytes(prefix + ".index"); }
        catch (FileNotFoundException)
        {
            throw new ModelOpsException(ErrorIds.CheckpointNotFound, ErrorKind.ObjectNotFound, $"The checkpoint index '{prefix}.index' does not exist.", path);
        }
        return new CheckpointReader(prefix, index);
    }

    public bool Contains(string key) => _entries.ContainsKey(key);

    public CheckpointEntry? Find(string key) => _entries.GetValueOrDefault(key);

    public CheckpointEntry GetEntry(string key) => _entries.TryGetValue(key, out var e) ? e : throw NotFound(key);

    public ModelOpsException NotFound(string key)
    {
        var near = _entries.Keys.Select(k => (k, d: Distance(k, key))).OrderBy(p => p.d).ThenBy(p => p.k, StringComparer.Ordinal)
            .Take(5).Select(p => p.k).ToList();
        return new ModelOpsException(ErrorIds.CheckpointKeyNotFound, ErrorKind.ObjectNotFound,
            $"The checkpoint '{Prefix}' has no tensor '{key}'." + (near.Count > 0 ? $" Nearest names: {string.Join(", ", near)}." : " It is empty."), key);
    }

    /// <summary>Reads a tensor (CRC-verified; partitioned variables assembled).</summary>
    public Tensor Read(string key)
    {
        var e = GetEntry(key);
        if (!e.IsPartitioned) return ReadStored(key, e.Proto);
        return Assemble(e);
    }

    /// <summary>
    /// The raw little-endian bytes of a fixed-size tensor (the TensorProto.tensor_content layout), CRC-verified,
    /// without building a typed array: the cheap path for freezing.
    /// </summary>
    public byte[] ReadRaw(string key)
    {
        var e = GetEntry(key);
        if (e.DType.ByteSize() == 0)
            throw new ModelOpsException(ErrorIds.InvalidTensor, ErrorKind.InvalidArgument, $"'{key}' is a {e.DType.Name()} tensor, which has no fixed-size byte layout.", key);
        if (e.IsPartitioned || _swap) return TensorBytes.ToBytes(Read(key));
        return ReadBytesChecked(key, e.Proto, expectedSize: checked(e.ElementCount * e.DType.ByteSize()));
    }

    /// <summary>
    /// True when <paramref name="key"/> is a fixed-size tensor stored whole and little-endian, so its bytes are the
    /// TensorProto.tensor_content layout and can be streamed with <see cref="CopyRawTo"/>. Checks everything that
    /// can be checked without reading the data (stored size against dtype and shape, shard present and long enough);
    /// only the CRC-32C is left for the copy.
    /// </summary>
    internal bool CanStreamRaw(string key)
    {
        var e = GetEntry(key);
        if (e.IsPartitioned || _swap || e.DType.ByteSize() == 0) return false;
        long expected = checked(e.ElementCount * e.DType.ByteSize());
        var p = e.Proto;
        if (p.Size != expected)
            throw Corrupt($"the entry for '{key}' stores {p.Size} bytes but its dtype and shape need {expected}");
        var fs = Shard(key, p.ShardId);
        if (p.Offset < 0 || p.Offset + p.Size > fs.Length)
            throw Corrupt($"the entry for '{key}' points at bytes {p.Offset}..{p.Offset + p.Size} but shard {p.ShardId} '{fs.Name}' is {fs.Length} bytes long (the data file is truncated)");
        return true;
    }

    /// <summary>
    /// Streams the raw bytes of a tensor that <see cref="CanStreamRaw"/> accepted to <paramref name="output"/>, one
    /// <paramref name="buffer"/>-full at a time: each chunk is read, added to the running CRC-32C while it is still in
    /// cache, and written. The CRC covers the whole tensor, so a mismatch is only known after the last chunk has been
    /// written: callers must write to a file they discard on failure (AtomicFile does).
    /// </summary>
    internal void CopyRawTo(string key, Stream output, byte[] buffer)
    {
        var p = GetEntry(key).Proto;
        var fs = Shard(key, p.ShardId);
        long offset = p.Offset, end = p.Offset + p.Size;
        uint crc = 0;
        while (offset < end)
        {
            var chunk = buffer.AsSpan(0, (int)Math.Min(buffer.Length, end - offset));
            int n = RandomAccess.Read(fs.SafeFileHandle, chunk, offset);
            if (n <= 0)
                throw Corrupt($"shard {p.ShardId} '{fs.Name}' ended while reading '{key}' (the data file is truncated)");
            crc = Crc32C.Extend(crc, chunk[..n]);
            output.Write(chunk[..n]);
            offset += n;
        }
        CheckCrc(key, p, crc);
    }

    /// <summary>Reads the raw bytes of a tensor that <see cref="CanStreamRaw"/> accepted into <paramref name="dest"/> (exactly its size), CRC-checked.</summary>
    internal void ReadRawInto(string key, Span<byte> dest)
    {
        var p = GetEntry(key).Proto;
        if (dest.Length != p.Size) throw new ArgumentException($"'{key}' holds {p.Size} bytes, not {dest.Length}.", nameof(dest));
        ReadInto(key, p, dest);
    }

    private Tensor ReadStored(string key, BundleEntryProto p)
    {
        var dtype = p.Dtype;
        int[] shape = ToShape(key, p);
        if (dtype == DataType.DtString) return ReadStrings(key, p, shape);
        if (dtype.ByteSize() == 0)
            throw new ModelOpsException(ErrorIds.CheckpointUnsupported, ErrorKind.NotImplemented,
                $"The checkpoint tensor '{key}' has dtype {dtype.Name()}, which cannot be read as a value (variant and resource tensors hold C++ objects).", key);
        long n = Tensor.ElementCount(shape);
        long expected = checked(n * dtype.ByteSize());
        if (p.Size != expected)
            throw Corrupt($"the entry for '{key}' stores {p.Size} bytes but a {dtype.Name()}{Tensor.FormatShape(shape)} tensor needs {expected}");
        Array data = Array.CreateInstance(dtype.StorageType(), n * dtype.Lanes());
        var bytes = TensorBytes.WritableBytes(data);
        ReadInto(key, p, bytes);
        if (_swap) SwapBytes(bytes, dtype.ByteSize() / dtype.Lanes());
        return new Tensor(dtype, shape, data);
    }

    private byte[] ReadBytesChecked(string key, BundleEntryProto p, long expectedSize)
    {
        if (p.Size != expectedSize)
            throw Corrupt($"the entry for '{key}' stores {p.Size} bytes but its dtype and shape need {expectedSize}");
        var buf = GC.AllocateUninitializedArray<byte>(checked((int)p.Size));
        ReadInto(key, p, buf);
        return buf;
    }

    private void ReadInto(string key, BundleEntryProto p, Span<byte> dest)
    {
        var fs = Shard(key, p.ShardId);
        if (p.Offset < 0 || p.Offset + p.Size > fs.Length)
            throw Corrupt($"the entry for '{key}' points at bytes {p.Offset}..{p.Offset + p.Size} but shard {p.ShardId} '{fs.Name}' is {fs.Length} bytes long (the data file is truncated)");
        // One read straight into the exactly-sized destination (looping only on short reads), then one CRC pass
        // over it. Measured against 256 KiB–4 MiB chunks checksummed as they arrive: the single read was faster.
        var rest = dest;
        long offset = p.Offset;
        while (rest.Length > 0)
        {
            int n = RandomAccess.Read(fs.SafeFileHandle, rest, offset);
            if (n <= 0)
                throw Corrupt($"shard {p.ShardId} '{fs.Name}' ended while reading '{key}' (the data file is truncated)");
            offset += n;
            rest = rest[n..];
        }
        CheckCrc(key, p, Crc32C.Compute(dest));
    }

    /// <summary>Where a tensor's bytes are stored (shard, offset): reading in this order is sequential in the data files.</summary>
    public (int Shard, long Offset) Location(string key)
    {
        var e = GetEntry(key);
        return e.IsPartitioned ? (int.MaxValue, 0) : (e.Proto.ShardId, e.Proto.Offset);
    }

    private void CheckCrc(string key, BundleEntryProto p, uint actual)
    {
        uint stored = Crc32C.Unmask(p.Crc32C);
        if (stored != actual)
            throw new ModelOpsException(ErrorIds.CheckpointCrcMismatch, ErrorKind.InvalidData,
                $"The checkpoint tensor '{key}' in '{ShardPath(p.ShardId)}' is corrupt: its CRC-32C is {actual:x8} but the index records {stored:x8}. Restore the checkpoint from a good copy or re-save it.", key);
    }

    private Tensor ReadStrings(string key, BundleEntryProto p, int[] shape)
    {
        long n = Tensor.ElementCount(shape);
        var result = new byte[n][];
        if (p.Size == 0)
        {
            for (long i = 0; i < n; i++) result[i] = Array.Empty<byte>();
            if (n != 0) throw Corrupt($"the string tensor '{key}' has {n} elements but 0 stored bytes");
            CheckCrc(key, p, 0);
            return new Tensor(DataType.DtString, shape, result);
        }
        var fs = Shard(key, p.ShardId);
        if (p.Offset < 0 || p.Offset + p.Size > fs.Length)
            throw Corrupt($"the entry for '{key}' points past the end of shard {p.ShardId} (the data file is truncated)");
        var buf = new byte[p.Size];
        RandomAccess.Read(fs.SafeFileHandle, buf, p.Offset);
        // Layout: varint lengths (varint64 now, varint32 in old bundles: the same bytes for lengths < 2^32),
        // a 4-byte masked CRC of the lengths (each checksummed as a little-endian uint32, or uint64 when ≥ 2^32),
        // then the string bytes. The entry CRC covers lengths, the raw length-checksum bytes and the strings.
        int pos = 0;
        var lengths = new ulong[n];
        uint crc = 0;
        Span<byte> tmp = stackalloc byte[8];
        for (long i = 0; i < n; i++)
        {
            ulong len = Varint.Read64(buf, ref pos, IndexPath);
            lengths[i] = len;
            if (len <= uint.MaxValue)
            {
                uint l32 = (uint)len;
                if (_swap) l32 = BinaryPrimitives.ReverseEndianness(l32);
                BinaryPrimitives.WriteUInt32LittleEndian(tmp, l32);
                crc = Crc32C.Extend(crc, tmp[..4]);
            }
            else
            {
                ulong l64 = _swap ? BinaryPrimitives.ReverseEndianness(len) : len;
                BinaryPrimitives.WriteUInt64LittleEndian(tmp, l64);
                crc = Crc32C.Extend(crc, tmp);
            }
        }
        if (pos + 4 > buf.Length) throw Corrupt($"the string tensor '{key}' ends inside its length table");
        uint rawLenCrc = BinaryPrimitives.ReadUInt32LittleEndian(buf.AsSpan(pos));
        uint lenCrc = _swap ? BinaryPrimitives.ReverseEndianness(rawLenCrc) : rawLenCrc;
        if (Crc32C.Unmask(lenCrc) != crc)
            throw new ModelOpsException(ErrorIds.CheckpointCrcMismatch, ErrorKind.InvalidData,
                $"The checkpoint string tensor '{key}' is corrupt: the checksum of its element lengths does not match. Restore the checkpoint from a good copy.", key);
        crc = Crc32C.Extend(crc, buf.AsSpan(pos, 4));
        pos += 4;
        for (long i = 0; i < n; i++)
        {
            if ((ulong)(buf.Length - pos) < lengths[i]) throw Corrupt($"the string tensor '{key}' element {i} runs past its stored bytes");
            result[i] = buf.AsSpan(pos, (int)lengths[i]).ToArray();
            crc = Crc32C.Extend(crc, result[i]);
            pos += (int)lengths[i];
        }
        CheckCrc(key, p, crc);
        return new Tensor(DataType.DtString, shape, result);
    }

    private Tensor Assemble(CheckpointEntry e)
    {
        int[] full = ToShape(e.Key, e.Proto);
        var result = Tensor.Zeros(e.DType, full);
        int lanes = e.DType.Lanes();
        foreach (var sp in e.Proto.Slices)
        {
            var extents = new SliceExtent[full.Length];
            if (sp.Extent.Count != full.Length)
                throw Corrupt($"a slice of '{e.Key}' has rank {sp.Extent.Count} but the variable has rank {full.Length}");
            for (int d = 0; d < full.Length; d++)
            {
                var x = sp.Extent[d];
                extents[d] = x.HasLengthCase == TensorSliceProto.Types.Extent.HasLengthOneofCase.Length
                    ? new SliceExtent(x.Start, x.Length) : new SliceExtent(0, -1);
            }
            string sliceKey = Latin1(SliceKey.Encode(e.Key, extents));
            if (!_sliceEntries.TryGetValue(sliceKey, out var sliceProto))
                throw Corrupt($"the slice {FormatExtents(extents)} of the partitioned variable '{e.Key}' is listed but has no entry");
            var part = ReadStored(e.Key + FormatExtents(extents), sliceProto);
            var starts = new int[full.Length];
            var lens = new int[full.Length];
            for (int d = 0; d < full.Length; d++)
            {
                starts[d] = extents[d].IsFull ? 0 : checked((int)extents[d].Start);
                lens[d] = extents[d].IsFull ? full[d] : checked((int)extents[d].Length);
                if (starts[d] + lens[d] > full[d] || part.Shape.Length != full.Length || part.Shape[d] != lens[d])
                    throw Corrupt($"the slice {FormatExtents(extents)} of '{e.Key}' does not fit the variable shape {Tensor.FormatShape(full)}");
            }
            CopySlice(part.Data, result.Data, full, starts, lens, lanes);
        }
        return result;
    }

    /// <summary>Copies a dense block (row-major, shape <paramref name="lens"/>) into the full tensor at <paramref name="starts"/>.</summary>
    internal static void CopySlice(Array src, Array dst, int[] full, int[] starts, int[] lens, int lanes)
    {
        int rank = full.Length;
        if (rank == 0) { Array.Copy(src, dst, lanes); return; }
        long total = lens.Aggregate(1L, (a, b) => a * b);
        if (total == 0) return;
        int run = lens[rank - 1] * lanes;
        var idx = new int[rank];
        long srcPos = 0;
        while (true)
        {
            long dstPos = 0;
            for (int d = 0; d < rank; d++) dstPos = dstPos * full[d] + starts[d] + (d == rank - 1 ? 0 : idx[d]);
            Array.Copy(src, srcPos, dst, dstPos * lanes, run);
            srcPos += run;
            int k = rank - 2;
            while (k >= 0 && ++idx[k] == lens[k]) idx[k--] = 0;
            if (k < 0) break;
        }
    }

    private static string FormatExtents(IEnumerable<SliceExtent> ex) =>
        "[" + string.Join(",", ex.Select(x => x.IsFull ? "-" : $"{x.Start}+{x.Length}")) + "]";

    private int[] ToShape(string key, BundleEntryProto p)
    {
        try { return TensorProtoCodec.ToShape(p.Shape, $"checkpoint tensor '{key}'"); }
        catch (ModelOpsException ex) { throw Corrupt(ex.Message); }
    }

    public string ShardPath(int shard) => CheckpointLocator.DataPath(Prefix, shard, Header.NumShards);

    private FileStream Shard(string key, int shard)
    {
        if (shard < 0 || shard >= _shards.Length)
            throw Corrupt($"the entry for '{key}' names data shard {shard} but the header declares {_shards.Length}");
        var fs = _shards[shard];
        if (fs is not null) return fs;
        string path = ShardPath(shard);
        try
        {
            fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.RandomAccess);
        }
        catch (FileNotFoundException)
        {
            throw new ModelOpsException(ErrorIds.CheckpointNotFound, ErrorKind.ObjectNotFound,
                $"The checkpoint data file '{path}' is missing (needed for '{key}'). Copy every '{System.IO.Path.GetFileName(Prefix)}.data-*' file along with the .index.", path);
        }
        _shards[shard] = fs;
        return fs;
    }

    private ModelOpsException Corrupt(string why) =>
        new(ErrorIds.CheckpointCorrupt, ErrorKind.InvalidData, $"The checkpoint '{Prefix}' is not readable: {why}. Restore it from a good copy or re-save it.", Prefix);

    private static void SwapBytes(Span<byte> b, int width)
    {
        if (width <= 1) return;
        for (int i = 0; i + width <= b.Length; i += width) b.Slice(i, width).Reverse();
    }

    internal static string Latin1(byte[] b) => Encoding.Latin1.GetString(b);

    private static int Distance(string a, string b)
    {
        if (a.Contains(b, StringComparison.OrdinalIgnoreCase) || b.Contains(a, StringComparison.OrdinalIgnoreCase)) return 0;
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }

    public void Dispose()
    {
        foreach (var s in _shards) s?.Dispose();
    }
}
