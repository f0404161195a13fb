using System.Buffers.Binary;
using ModelOps.Core.Errors;

namespace ModelOps.Core.Formats.Checkpoint;

/// <summary>
/// The LevelDB-style immutable sorted table TensorFlow uses for checkpoint indexes (tensorflow/core/lib/io/table*):
/// data blocks of prefix-compressed keys with restart points, a metaindex block and an index block
/// (one entry per data block: a key ≥ every key in it → its BlockHandle), each block followed by a
/// 5-byte trailer (compression type, masked CRC-32C over block bytes + type), and a 48-byte footer
/// (two BlockHandles padded to 40 bytes, then the 64-bit magic number).
/// </summary>
public static class SortedTable
{
    public const ulong Magic = 0xdb4775248b80fb57UL;
    public const int FooterSize = 48;
    public const int BlockTrailerSize = 5;
    public const byte NoCompression = 0;
    public const byte SnappyCompression = 1;

    /// <summary>True when the bytes end with the table magic number (cheap check for "is this a table").</summary>
    public static bool HasMagic(ReadOnlySpan<byte> file) =>
        file.Length >= FooterSize && BinaryPrimitives.ReadUInt64LittleEndian(file[^8..]) == Magic;

    /// <summary>Every (key, value) of the table in key order; blocks are CRC-checked and Snappy blocks decompressed.</summary>
    public static List<KeyValuePair<byte[], byte[]>> ReadAll(byte[] file, string path)
    {
        if (file.Length < FooterSize)
            throw Corrupt(path, $"it is {file.Length} bytes long, shorter than the {FooterSize}-byte table footer (the file is truncated)");
        if (!HasMagic(file))
            throw Corrupt(path, "it does not end with the table magic number (the file is truncated or not a checkpoint index)");
        var footer = file.AsSpan(file.Length - FooterSize, FooterSize - 8);
        int pos = 0;
        var meta = ReadHandle(footer, ref pos, path);
        var index = ReadHandle(footer, ref pos, path);
        _ = meta;
        var result = new List<KeyValuePair<byte[], byte[]>>();
        var indexBlock = ReadBlock(file, index, path);
        foreach (var (_, handleBytes) in ReadBlockEntries(indexBlock, path))
        {
            int hp = 0;
            var h = ReadHandle(handleBytes, ref hp, path);
            var block = ReadBlock(file, h, path);
            foreach (var (k, v) in ReadBlockEntries(block, path)) result.Add(new(k, v));
        }
        return result;
    }

    /// <summary>The compression type byte of every data block followed by the index block (diagnostics, tests).</summary>
    public static IReadOnlyList<byte> BlockTypes(byte[] file, string path)
    {
        if (!HasMagic(file)) throw Corrupt(path, "it does not end with the table magic number");
        var footer = file.AsSpan(file.Length - FooterSize, FooterSize - 8);
        int pos = 0;
        ReadHandle(footer, ref pos, path);
        var index = ReadHandle(footer, ref pos, path);
        var types = new List<byte>();
        foreach (var (_, hb) in ReadBlockEntries(ReadBlock(file, index, path), path))
        {
            int hp = 0;
            var h = ReadHandle(hb, ref hp, path);
            types.Add(file[(int)(h.Offset + h.Size)]);
        }
        types.Add(file[(int)(index.Offset + index.Size)]);
        return types;
    }

    private readonly record struct Handle(ulong Offset, ulong Size);

    private static Handle ReadHandle(ReadOnlySpan<byte> b, ref int pos, string path) =>
        new(Varint.Read64(b, ref pos, path), Varint.Read64(b, ref pos, path));

    private static byte[] ReadBlock(byte[] file, Handle h, string path)
    {
        long end = (long)h.Offset + (long)h.Size + BlockTrailerSize;
        if (h.Offset > (ulong)file.Length || h.Size > (ulong)file.Length || end > file.Length - FooterSize)
            throw Corrupt(path, $"a block at offset {h.Offset} of {h.Size} bytes lies outside the file (the file is truncated)");
        var contents = file.AsSpan((int)h.Offset, (int)h.Size);
        byte type = file[(int)h.Offset + (int)h.Size];
        uint stored = BinaryPrimitives.ReadUInt32LittleEndian(file.AsSpan((int)h.Offset + (int)h.Size + 1, 4));
        uint actual = Crc32C.Extend(Crc32C.Compute(contents), new[] { type });
        if (Crc32C.Unmask(stored) != actual)
            throw new ModelOpsException(ErrorIds.CheckpointCrcMismatch, ErrorKind.InvalidData,
                $"The checkpoint index '{path}' is corrupt: the block at offset {h.Offset} fails its CRC-32C check (stored {Crc32C.Unmask(stored):x8}, computed {actual:x8}). Restore the file from a good copy.", path);
        switch (type)
        {
            case NoCompression:
                return contents.ToArray();
            case SnappyCompression:
                try { return Snappier.Snappy.DecompressToArray(contents); }
                catch (Exception ex) when (ex is InvalidDataException or ArgumentException or IndexOutOfRangeException)
                {
                    throw Corrupt(path, $"the Snappy block at offset {h.Offset} does not decompress ({ex.Message})");
                }
            default:
                throw Corrupt(path, $"the block at offset {h.Offset} uses compression type {type}; only 0 (none) and 1 (Snappy) exist");
        }
    }

    private static IEnumerable<(byte[] Key, byte[] Value)> ReadBlockEntries(byte[] block, string path)
    {
        if (block.Length < 4) throw Corrupt(path, "a block is shorter than its restart count");
        uint restarts = BinaryPrimitives.ReadUInt32LittleEndian(block.AsSpan(block.Length - 4));
        long limit = block.Length - 4 - 4L * restarts;
        if (restarts == 0 || limit < 0) throw Corrupt(path, $"a block declares {restarts} restart points, which do not fit in its {block.Length} bytes");
        var entries = new List<(byte[], byte[])>();
        byte[] last = Array.Empty<byte>();
        int pos = 0;
        while (pos < limit)
        {
            uint shared = Varint.Read32(block, ref pos, path);
            uint nonShared = Varint.Read32(block, ref pos, path);
            uint valueLen = Varint.Read32(block, ref pos, path);
            if (shared > last.Length || pos + (long)nonShared + valueLen > limit)
                throw Corrupt(path, $"a block entry at byte {pos} overruns its block");
            var key = new byte[shared + nonShared];
            Array.Copy(last, key, shared);
            Array.Copy(block, pos, key, shared, nonShared);
            pos += (int)nonShared;
            var value = block.AsSpan(pos, (int)valueLen).ToArray();
            pos += (int)valueLen;
            entries.Add((key, value));
            last = key;
        }
        return entries;
    }

    internal static ModelOpsException Corrupt(string path, string why) =>
        new(ErrorIds.CheckpointCorrupt, ErrorKind.InvalidData, $"The checkpoint index '{path}' is not readable: {why}. Re-save the checkpoint or restore it from a good copy.", path);
}

/// <summary>
/// Builds a table with TensorFlow's TableBuilder layout: 256 KiB blocks, a restart point every 16 keys
/// (every key in the index block), shortest-separator index keys, empty metaindex block, optional Snappy
/// (kept only when it saves at least 1/8 of the block, as TF does).
/// </summary>
public sealed class SortedTableWriter
{
    private const int BlockSize = 262144;
    private const int RestartInterval = 16;
    private readonly Stream _out;
    private readonly bool _snappy;
    private readonly BlockBuilder _data = new(RestartInterval);
    private readonly BlockBuilder _index = new(1);
    private byte[] _lastKey = Array.Empty<byte>();
    private long _offset;
    private long _entries;
    private bool _pendingIndex;
    private (long Offset, long Size) _pendingHandle;

    public SortedTableWriter(Stream output, bool snappy)
    {
        _out = output;
        _snappy = snappy;
    }

    /// <summary>Adds a key; keys must come in strictly increasing byte order.</summary>
    public void Add(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        if (_entries > 0 && key.SequenceCompareTo(_lastKey) <= 0)
            throw new InvalidOperationException("Table keys must be added in strictly increasing order.");
        if (_entries > 0 && key.Length + value.Length >= 2 * BlockSize) Flush();
        if (_pendingIndex)
        {
            var sep = ShortestSeparator(_lastKey, key);
            _index.Add(sep, EncodeHandle(_pendingHandle));
            _pendingIndex = false;
        }
        _lastKey = key.ToArray();
        _entries++;
        _data.Add(key, value);
        if (_data.SizeEstimate >= BlockSize) Flush();
    }

    public void Finish()
    {
        Flush();
        var meta = WriteBlock(new BlockBuilder(RestartInterval));
        if (_pendingIndex)
        {
            _index.Add(ShortSuccessor(_lastKey), EncodeHandle(_pendingHandle));
            _pendingIndex = false;
        }
        var index = WriteBlock(_index);
        var footer = new byte[SortedTable.FooterSize];
        int p = 0;
        p = Varint.Write64(footer, p, (ulong)meta.Offset);
        p = Varint.Write64(footer, p, (ulong)meta.Size);
        p = Varint.Write64(footer, p, (ulong)index.Offset);
        _ = Varint.Write64(footer, p, (ulong)index.Size);
        BinaryPrimitives.WriteUInt64LittleEndian(footer.AsSpan(40), SortedTable.Magic);
        _out.Write(footer);
        _offset += footer.Length;
    }

    private void Flush()
    {
        if (_data.Empty) return;
        _pendingHandle = WriteBlock(_data);
        _pendingIndex = true;
    }

    private (long Offset, long Size) WriteBlock(BlockBuilder block)
    {
        byte[] raw = block.Finish();
        byte type = SortedTable.NoCompression;
        byte[] contents = raw;
        if (_snappy)
        {
            var compressed = Snappier.Snappy.CompressToArray(raw);
            if (compressed.Length < raw.Length - raw.Length / 8)
            {
                contents = compressed;
                type = SortedTable.SnappyCompression;
            }
        }
        var handle = (_offset, (long)contents.Length);
        _out.Write(contents);
        Span<byte> trailer = stackalloc byte[SortedTable.BlockTrailerSize];
        trailer[0] = type;
        uint crc = Crc32C.Extend(Crc32C.Compute(contents), trailer[..1]);
        BinaryPrimitives.WriteUInt32LittleEndian(trailer[1..], Crc32C.Mask(crc));
        _out.Write(trailer);
        _offset += contents.Length + SortedTable.BlockTrailerSize;
        block.Reset();
        return handle;
    }

    private static byte[] EncodeHandle((long Offset, long Size) h)
    {
        var b = new byte[20];
        int p = Varint.Write64(b, 0, (ulong)h.Offset);
        p = Varint.Write64(b, p, (ulong)h.Size);
        return b[..p];
    }

    internal static byte[] ShortestSeparator(byte[] start, ReadOnlySpan<byte> limit)
    {
        int min = Math.Min(start.Length, limit.Length);
        int i = 0;
        while (i < min && start[i] == limit[i]) i++;
        if (i >= min) return start;
        byte d = start[i];
        if (d < 0xff && d + 1 < limit[i])
        {
            var r = start[..(i + 1)];
            r[i]++;
            return r;
        }
        return start;
    }

    internal static byte[] ShortSuccessor(byte[] key)
    {
        for (int i = 0; i < key.Length; i++)
        {
            if (key[i] != 0xff)
            {
                var r = key[..(i + 1)];
                r[i]++;
                return r;
            }
        }
        return key;
    }

    private sealed class BlockBuilder
    {
        private readonly int _interval;
        private readonly MemoryStream _buf = new();
        private readonly List<int> _restarts = new() { 0 };
        private byte[] _last = Array.Empty<byte>();
        private int _counter;

        public BlockBuilder(int interval) => _interval = interval;

        public bool Empty => _buf.Length == 0;

        public long SizeEstimate => _buf.Length + 4L * _restarts.Count + 4;

        public void Add(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
        {
            int shared = 0;
            if (_counter < _interval)
            {
                int min = Math.Min(_last.Length, key.Length);
                while (shared < min && _last[shared] == key[shared]) shared++;
            }
            else
            {
                _restarts.Add((int)_buf.Length);
                _counter = 0;
            }
            Span<byte> v = stackalloc byte[15];
            int p = Varint.Write32(v, 0, (uint)shared);
            p = Varint.Write32(v, p, (uint)(key.Length - shared));
            p = Varint.Write32(v, p, (uint)value.Length);
            _buf.Write(v[..p]);
            _buf.Write(key[shared..]);
            _buf.Write(value);
            _last = key.ToArray();
            _counter++;
        }

        public byte[] Finish()
        {
            Span<byte> b = stackalloc byte[4];
            foreach (int r in _restarts)
            {
                BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)r);
                _buf.Write(b);
            }
            BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)_restarts.Count);
            _buf.Write(b);
            return _buf.ToArray();
        }

        public void Reset()
        {
            _buf.SetLength(0);
            _restarts.Clear();
            _restarts.Add(0);
            _counter = 0;
            _last = Array.Empty<byte>();
        }
    }
}

/// <summary>Protobuf-style base-128 varints (LevelDB coding.cc).</summary>
internal static class Varint
{
    public static ulong Read64(ReadOnlySpan<byte> b, ref int pos, string path)
    {
        ulong result = 0;
        for (int shift = 0; shift <= 63; shift += 7)
        {
            if (pos >= b.Length) throw SortedTable.Corrupt(path, "a varint runs past the end of its data");
            byte x = b[pos++];
            result |= (ulong)(x & 0x7f) << shift;
            if (x < 0x80) return result;
        }
        throw SortedTable.Corrupt(path, "a varint is longer than 10 bytes");
    }

    public static uint Read32(ReadOnlySpan<byte> b, ref int pos, string path)
    {
        ulong v = Read64(b, ref pos, path);
        if (v > uint.MaxValue) throw SortedTable.Corrupt(path, "a 32-bit varint is too large");
        return (uint)v;
    }

    public static int Write64(Span<byte> b, int pos, ulong v)
    {
        while (v >= 0x80)
        {
            b[pos++] = (byte)(v | 0x80);
            v >>= 7;
        }
        b[pos++] = (byte)v;
        return pos;
    }

    public static int Write32(Span<byte> b, int pos, uint v) => Write64(b, pos, v);
}
