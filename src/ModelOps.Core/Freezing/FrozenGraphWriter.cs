using System.Buffers;
using Google.Protobuf;
using ModelOps.Core.Formats.Checkpoint;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Freezing;

/// <summary>
/// Variable values a freeze has not read yet. Each frozen Const's TensorProto carries a tensor_content of the
/// right length that holds no memory (<see cref="LengthOnly"/>), so sizes, node structure and every graph pass
/// work as usual; the bytes stay in the checkpoint until <see cref="FrozenGraphWriter"/> copies them to the output
/// (CRC-checked on the way), or until <see cref="Materialize"/> reads them all for callers that want the graph
/// in memory. Owns the checkpoint reader.
/// </summary>
internal sealed class DeferredWeights : IDisposable
{
    private readonly Dictionary<TensorProto, (string Key, string Node)> _pending = new(ReferenceEqualityComparer.Instance);
    private readonly Action<string, long, long>? _progress;

    public DeferredWeights(CheckpointReader reader, Action<string, long, long>? progress)
    {
        Reader = reader;
        _progress = progress;
    }

    public CheckpointReader Reader { get; }
    public int Count => _pending.Count;
    /// <summary>Progress: bytes of surviving frozen values already in memory (the start), reported so far, and all.</summary>
    public long Start { get; set; }
    public long Done { get; private set; }
    public long Total { get; set; }
    public long PendingBytes => _pending.Keys.Sum(t => (long)t.TensorContent.Length);

    /// <summary>A TensorProto for checkpoint tensor <paramref name="key"/> whose content is read later.</summary>
    public TensorProto Add(string key, string node, CheckpointEntry entry)
    {
        var t = new TensorProto
        {
            Dtype = entry.DType, TensorShape = Tensors.TensorProtoCodec.FromShape(entry.Shape),
            TensorContent = LengthOnly.Of(entry.Proto.Size),
        };
        _pending[t] = (key, node);
        return t;
    }

    public bool TryGet(TensorProto t, out string key, out string node)
    {
        if (_pending.TryGetValue(t, out var v)) { (key, node) = v; return true; }
        key = node = "";
        return false;
    }

    /// <summary>Drops the entries whose nodes did not survive (they are never read).</summary>
    public void Retain(IEnumerable<TensorProto> alive)
    {
        var keep = new HashSet<TensorProto>(alive, ReferenceEqualityComparer.Instance);
        foreach (var t in _pending.Keys.Where(t => !keep.Contains(t)).ToList()) _pending.Remove(t);
    }

    public void Rewind() => Done = Start;

    public void Report(string node, long bytes)
    {
        Done += bytes;
        _progress?.Invoke(node, Done, Total);
    }

    /// <summary>Reads every pending value into memory (CRC-checked), in data-file order, and closes the checkpoint.</summary>
    public void Materialize()
    {
        Done = Start;
        foreach (var (t, (key, node)) in _pending.OrderBy(kv => Reader.Location(kv.Value.Key)).ToList())
        {
            t.TensorContent = UnsafeByteOperations.UnsafeWrap(Reader.ReadRaw(key));
            Report(node, t.TensorContent.Length);
        }
        _pending.Clear();
        Reader.Dispose();
    }

    public void Dispose() => Reader.Dispose();
}

/// <summary>
/// A ByteString of a given length with no bytes behind it: lets a TensorProto report the serialized size its
/// content will have before the content is read. Reading it is a bug and throws.
/// </summary>
internal sealed class LengthOnly : MemoryManager<byte>
{
    private readonly int _length;
    private LengthOnly(int length) => _length = length;

    public static ByteString Of(long length) => UnsafeByteOperations.UnsafeWrap(new LengthOnly(checked((int)length)).Memory);

    public override Span<byte> GetSpan() =>
        throw new InvalidOperationException("Internal error: a frozen variable's value was used before it was read from the checkpoint.");
    public override MemoryHandle Pin(int elementIndex = 0) => throw new InvalidOperationException("Internal error: a frozen variable's value was pinned before it was read.");
    public override void Unpin() { }
    protected override void Dispose(bool disposing) { }
    public override Memory<byte> Memory => CreateMemory(_length);
}

/// <summary>
/// Writes a frozen GraphDef whose variable values are still in the checkpoint (<see cref="DeferredWeights"/>):
/// every node is serialized as Google.Protobuf would, except that a frozen Const's tensor_content is copied from
/// the checkpoint data file to the output in 1 MiB chunks (read, CRC-32C, write) instead of being held in memory.
/// The bytes are identical to serializing the materialized graph (tests compare the two). A node whose layout is
/// not the one GraphFreezer builds (extra fields) has its value read whole into a pooled buffer and goes
/// through the ordinary serializer.
/// </summary>
internal static class FrozenGraphWriter
{
    /// <summary>Chunk for the checkpoint → file copy: small enough to stay in L2 between the read, the CRC and the write.</summary>
    internal const int ChunkSize = 1 << 20;
    private const int WireLengthDelimited = 2;

    /// <summary>Writes <paramref name="graph"/> to <paramref name="output"/>; returns how many values were streamed in chunks and how many read whole (fallback).</summary>
    public static (int Streamed, int ReadWhole) Write(GraphDef graph, DeferredWeights weights, Stream output)
    {
        int streamed = 0, whole = 0;
        byte[] chunk = ArrayPool<byte>.Shared.Rent(ChunkSize);
        weights.Rewind();
        try
        {
            var cos = new CodedOutputStream(output, 1 << 16, leaveOpen: true);
            long expected = graph.CalculateSize();
            long start = output.CanSeek ? output.Position : -1;
            foreach (var node in graph.Node)
            {
                if (node.Attr.TryGetValue("value", out var av) && av.Tensor is { } t && weights.TryGet(t, out var key, out var name))
                {
                    if (TryWriteStreamed(cos, output, node, av, t, key, weights.Reader, chunk)) streamed++;
                    else
                    {
                        WriteMaterialized(cos, node, t, key, weights.Reader);
                        whole++;
                    }
                    weights.Report(name, t.TensorContent.Length);
                }
                else
                {
                    cos.WriteTag(GraphDef.NodeFieldNumber, WireFormat.WireType.LengthDelimited);
                    cos.WriteMessage(node);
                }
            }
            // Every other GraphDef field has a higher number than node (1), so it follows the nodes.
            var rest = new GraphDef { Versions = graph.Versions, Library = graph.Library, DebugInfo = graph.DebugInfo };
#pragma warning disable CS0612
            rest.Version = graph.Version;
#pragma warning restore CS0612
            rest.WriteTo(cos);
            cos.Flush();
            if (start >= 0 && output.Position - start != expected)
                throw new InvalidOperationException($"Internal error: the frozen graph was written as {output.Position - start} bytes but serializes to {expected}.");
            return (streamed, whole);
        }
        finally { ArrayPool<byte>.Shared.Return(chunk); }
    }

    /// <summary>
    /// The node as the serializer lays it out — fields 1–4, then the attr map entries in order, the "value" entry
    /// being key, AttrValue{tensor: TensorProto{dtype, shape, tensor_content}} — with the content streamed. Returns
    /// false (writing nothing) when the node or tensor has any other field: then the sizes do not add up.
    /// </summary>
    private static bool TryWriteStreamed(CodedOutputStream cos, Stream output, NodeDef node, AttrValue av, TensorProto t, string key,
        CheckpointReader reader, byte[] chunk)
    {
        int contentLength = t.TensorContent.Length;
        var head = new NodeDef { Name = node.Name, Op = node.Op, Device = node.Device };
        head.Input.AddRange(node.Input);
        var tensorHead = new TensorProto { Dtype = t.Dtype, TensorShape = t.TensorShape, VersionNumber = t.VersionNumber };
        int tensorSize = tensorHead.CalculateSize() + 1 + CodedOutputStream.ComputeLengthSize(contentLength) + contentLength;
        int attrValueSize = 1 + CodedOutputStream.ComputeLengthSize(tensorSize) + tensorSize;
        int entrySize = 1 + CodedOutputStream.ComputeStringSize("value") + 1 + CodedOutputStream.ComputeLengthSize(attrValueSize) + attrValueSize;
        var others = new List<NodeDef?>(node.Attr.Count);
        int nodeSize = head.CalculateSize();
        bool seenValue = false;
        foreach (var kv in node.Attr)
        {
            if (kv.Key == "value") { seenValue = true; others.Add(null); nodeSize += 1 + CodedOutputStream.ComputeLengthSize(entrySize) + entrySize; continue; }
            var one = new NodeDef { Attr = { [kv.Key] = kv.Value } };
            others.Add(one);
            nodeSize += one.CalculateSize();
        }
        if (!seenValue || t.CalculateSize() != tensorSize || av.CalculateSize() != attrValueSize || node.CalculateSize() != nodeSize) return false;

        cos.WriteTag(GraphDef.NodeFieldNumber, WireFormat.WireType.LengthDelimited);
        cos.WriteLength(nodeSize);
        head.WriteTo(cos);
        foreach (var one in others)
        {
            if (one is not null) { one.WriteTo(cos); continue; }
            cos.WriteTag(NodeDef.AttrFieldNumber, WireFormat.WireType.LengthDelimited);
            cos.WriteLength(entrySize);
            cos.WriteTag(1, WireFormat.WireType.LengthDelimited);
            cos.WriteString("value");
            cos.WriteTag(2, WireFormat.WireType.LengthDelimited);
            cos.WriteLength(attrValueSize);
            cos.WriteTag(AttrValue.TensorFieldNumber, WireFormat.WireType.LengthDelimited);
            cos.WriteLength(tensorSize);
            tensorHead.WriteTo(cos);
            cos.WriteTag(TensorProto.TensorContentFieldNumber, WireFormat.WireType.LengthDelimited);
            cos.WriteLength(contentLength);
            cos.Flush();
            reader.CopyRawTo(key, output, chunk);
        }
        return true;
    }

    /// <summary>Fallback for unusual node layouts: the value is read whole into a pooled buffer, serialized, released.</summary>
    private static void WriteMaterialized(CodedOutputStream cos, NodeDef node, TensorProto t, string key, CheckpointReader reader)
    {
        var placeholder = t.TensorContent;
        int n = placeholder.Length;
        byte[] buf = ArrayPool<byte>.Shared.Rent(Math.Max(n, 1));
        try
        {
            reader.ReadRawInto(key, buf.AsSpan(0, n));
            t.TensorContent = UnsafeByteOperations.UnsafeWrap(buf.AsMemory(0, n));
            cos.WriteTag(GraphDef.NodeFieldNumber, WireFormat.WireType.LengthDelimited);
            cos.WriteMessage(node);
        }
        finally
        {
            t.TensorContent = placeholder;
            ArrayPool<byte>.Shared.Return(buf);
        }
    }
}
