using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using Google.FlatBuffers;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats.TfLite.Schema;

namespace ModelOps.Core.Formats.TfLite;

/// <summary>
/// Reads .tflite flatbuffers. The file is verified before anything is read from it: the flatbuffer
/// verifier (every table, vector and string inside the file), then our own checks — schema version 3,
/// buffers by offset/size inside the file, constant tensors whose buffer holds exactly dtype × shape
/// bytes, operator, tensor, buffer and subgraph indices within range. Failures are
/// <see cref="ModelOpsException"/>s with stable ids naming the file and the broken part.
/// </summary>
public static class TfLiteModelReader
{
    public const int SupportedSchemaVersion = 3;
    private const long MaxElements = 1L << 40;

    /// <summary>True when bytes 4..8 are the TFLite file identifier "TFL3".</summary>
    public static bool IsTfLite(ReadOnlySpan<byte> bytes) =>
        bytes.Length >= 8 && bytes[4] == (byte)'T' && bytes[5] == (byte)'F' && bytes[6] == (byte)'L' && bytes[7] == (byte)'3';

    public static TfLiteModel Read(string path)
    {
        if (!File.Exists(path))
            throw new ModelOpsException(ErrorIds.FileNotFound, ErrorKind.ObjectNotFound, $"Cannot find the TFLite model '{path}'. Check the path.", path);
        return Read(path, File.ReadAllBytes(path));
    }

    public static TfLiteModel Read(string path, byte[] bytes)
    {
        if (bytes.Length < 8 || !IsTfLite(bytes))
            throw Corrupt(path, bytes.Length < 8
                ? $"it is {bytes.Length} bytes long, too short for a flatbuffer"
                : "it lacks the TFLite file identifier 'TFL3' at bytes 4..8, so it is not a .tflite model");
        var bb = new ByteBuffer(bytes);
        bool ok;
        try
        {
            // Alignment checks off: real converter output (e.g. hello_world_float) has misaligned scalars
            // that the TFLite runtime itself accepts.
            ok = VerifyQuietly(bb);
        }
        catch (Exception ex) when (ex is ArgumentException or IndexOutOfRangeException or InvalidOperationException or OverflowException)
        {
            ok = false;
        }
        if (!ok) throw Corrupt(path, "the flatbuffer failed verification (an offset or size points outside the file)");

        try
        {
            return Build(path, bytes, Model.GetRootAsModel(bb));
        }
        catch (ModelOpsException) { throw; }
        catch (Exception ex) when (ex is ArgumentException or IndexOutOfRangeException or InvalidOperationException or OverflowException)
        {
            throw Corrupt(path, ex.Message);
        }
    }

    private static readonly object ConsoleLock = new();

    /// <summary>
    /// Google.FlatBuffers 25.2.10's verifier stores a table's distance to its vtable in an Int16: for tables more
    /// than 32 KB from their (shared) vtable, as in real 300 KB+ models, it catches the OverflowException, writes it
    /// to Console.Out and treats the field as absent. We silence that write; the fields it skips are still read
    /// only through the bounds-checked ByteBuffer during the eager structural pass in <see cref="Build"/>.
    /// </summary>
    private static bool VerifyQuietly(ByteBuffer bb)
    {
        lock (ConsoleLock)
        {
            var saved = Console.Out;
            Console.SetOut(TextWriter.Null);
            try
            {
                var verifier = new Verifier(bb, new Options(64, 10_000_000, true, false));
                return verifier.VerifyBuffer("TFL3", false, ModelVerify.Verify);
            }
            finally { Console.SetOut(saved); }
        }
    }

    private static TfLiteModel Build(string path, byte[] bytes, Model m)
    {
        if (m.Version != SupportedSchemaVersion)
            throw new ModelOpsException(ErrorIds.TfLiteSchemaVersion, ErrorKind.NotImplemented,
                $"'{path}' uses TFLite schema version {m.Version}; only version {SupportedSchemaVersion} (every converter since TF 1.x) is supported. Re-convert the model with a current TFLiteConverter.", path);

        // Buffers: inline data (a verified vector) or offset/size into the file (models over 2 GB).
        var buffers = new TfLiteBufferRef[m.BuffersLength];
        for (int i = 0; i < buffers.Length; i++)
        {
            var b = m.Buffers(i)!.Value;
            ulong off = b.Offset, size = b.Size;
            if (off > 1)
            {
                if (off > (ulong)bytes.Length || size > (ulong)bytes.Length - off)
                    throw Corrupt(path, $"buffer {i} claims {size} bytes at offset {off}, beyond the end of the {bytes.Length}-byte file");
                buffers[i] = new TfLiteBufferRef((long)off, (long)size);
            }
            else
            {
                var seg = b.GetDataBytes();
                buffers[i] = seg is { } s && s.Count > 0 ? new TfLiteBufferRef(s.Offset, s.Count) : default;
            }
        }

        var codes = new TfLiteOpCode[m.OperatorCodesLength];
        for (int i = 0; i < codes.Length; i++)
        {
            var c = m.OperatorCodes(i)!.Value;
            // Old files set only the deprecated byte; newer ones set both (deprecated capped at 127).
            int code = Math.Max(c.DeprecatedBuiltinCode, (int)c.BuiltinCode);
            codes[i] = new TfLiteOpCode((BuiltinOperator)code, c.CustomCode, c.Version);
        }

        var subgraphs = new TfLiteSubGraph[m.SubgraphsLength];
        for (int s = 0; s < subgraphs.Length; s++)
            subgraphs[s] = ReadSubGraph(path, bytes, m.Subgraphs(s)!.Value, s, codes.Length, buffers);

        var metadata = new List<TfLiteMetadataEntry>();
        string? minRuntime = null;
        for (int i = 0; i < m.MetadataLength; i++)
        {
            var md = m.Metadata(i)!.Value;
            if (md.Buffer >= (uint)buffers.Length)
                throw Corrupt(path, $"metadata '{md.Name}' refers to buffer {md.Buffer} but the model has {buffers.Length} buffers");
            var br = buffers[(int)md.Buffer];
            metadata.Add(new TfLiteMetadataEntry(md.Name ?? "", (int)md.Buffer, br.Length));
            if (md.Name == "min_runtime_version")
                minRuntime = Encoding.ASCII.GetString(bytes, (int)br.Offset, (int)br.Length).TrimEnd('\0');
        }

        var signatures = new List<TfLiteSignature>();
        for (int i = 0; i < m.SignatureDefsLength; i++)
        {
            var sd = m.SignatureDefs(i)!.Value;
            if (sd.SubgraphIndex >= (uint)subgraphs.Length)
                throw Corrupt(path, $"signature '{sd.SignatureKey}' refers to subgraph {sd.SubgraphIndex} but the model has {subgraphs.Length}");
            int tensorCount = subgraphs[sd.SubgraphIndex].Tensors.Count;
            List<TfLiteSignatureTensor> Maps(int n, Func<int, TensorMap?> get)
            {
                var list = new List<TfLiteSignatureTensor>();
                for (int j = 0; j < n; j++)
                {
                    var tm = get(j)!.Value;
                    if (tm.TensorIndex >= (uint)tensorCount)
                        throw Corrupt(path, $"signature '{sd.SignatureKey}' maps '{tm.Name}' to tensor {tm.TensorIndex} but its subgraph has {tensorCount} tensors");
                    list.Add(new TfLiteSignatureTensor(tm.Name ?? "", (int)tm.TensorIndex));
                }
                return list;
            }
            signatures.Add(new TfLiteSignature(sd.SignatureKey ?? "", (int)sd.SubgraphIndex, Maps(sd.InputsLength, sd.Inputs), Maps(sd.OutputsLength, sd.Outputs)));
        }

        return new TfLiteModel(path, bytes, m)
        {
            SchemaVersion = m.Version,
            Description = m.Description,
            OperatorCodes = codes,
            Subgraphs = subgraphs,
            Buffers = buffers,
            Metadata = metadata,
            Signatures = signatures,
            MinRuntimeVersion = minRuntime,
            AssociatedFiles = ReadAppendedZip(bytes),
        };
    }

    private static TfLiteSubGraph ReadSubGraph(string path, byte[] bytes, SubGraph g, int s, int codeCount, TfLiteBufferRef[] buffers)
    {
        int nt = g.TensorsLength;
        var tensors = new TfLiteTensor[nt];
        for (int i = 0; i < nt; i++)
        {
            var t = g.Tensors(i)!.Value;
            string name = t.Name ?? $"tensor_{i}";
            var shape = t.GetShapeArray() ?? Array.Empty<int>();
            long n = 1;
            foreach (int d in shape)
            {
                if (d < 0)
                    throw Corrupt(path, $"tensor {i} '{name}' of subgraph {s} has a negative dimension {d} in its shape");
                n *= d;
                if (n > MaxElements) throw Corrupt(path, $"tensor {i} '{name}' of subgraph {s} has an impossible element count");
            }
            if (t.Buffer >= (uint)buffers.Length)
                throw Corrupt(path, $"tensor {i} '{name}' of subgraph {s} refers to buffer {t.Buffer} but the model has {buffers.Length} buffers");
            TfLiteQuantization? q = null;
            if (t.Quantization is { } qp)
            {
                q = new TfLiteQuantization(qp.GetScaleArray() ?? Array.Empty<float>(), qp.GetZeroPointArray() ?? Array.Empty<long>(),
                    qp.QuantizedDimension, qp.GetMinArray() ?? Array.Empty<float>(), qp.GetMaxArray() ?? Array.Empty<float>());
                if (q.Scale.Length == 0 && q.Min.Length == 0) q = null;
                // Old TOCO files give conv biases the filter's axis (3) although a bias is rank 1: accept rank-1 tensors
                // whose length matches the scale count, as TFLite does.
                else if (q.Scale.Length > 1 && (q.Axis < 0 || (q.Axis < shape.Length ? shape[q.Axis] != q.Scale.Length : !(shape.Length == 1 && shape[0] == q.Scale.Length))))
                    throw Corrupt(path, $"tensor {i} '{name}' of subgraph {s} has {q.Scale.Length} per-channel scales on axis {q.Axis}, which does not match its shape [{string.Join(",", shape)}]");
                else if (q.ZeroPoint.Length != 0 && q.ZeroPoint.Length != q.Scale.Length)
                    throw Corrupt(path, $"tensor {i} '{name}' of subgraph {s} has {q.Scale.Length} scales but {q.ZeroPoint.Length} zero points");
            }
            var tensor = new TfLiteTensor
            {
                Index = i, Name = name, Type = t.Type, Shape = shape,
                ShapeSignature = t.ShapeSignatureLength > 0 ? t.GetShapeSignatureArray() : null,
                Buffer = (int)t.Buffer, IsVariable = t.IsVariable, IsSparse = t.Sparsity.HasValue, Quantization = q,
            };
            long have = buffers[tensor.Buffer].Length;
            int bits = TfLiteTypes.BitSize(t.Type);
            if (tensor.Buffer != 0 && have > 0 && bits > 0 && !tensor.IsSparse)
            {
                long want = (n * bits + 7) / 8;
                if (have != want)
                    throw new ModelOpsException(ErrorIds.TfLiteBufferSizeMismatch, ErrorKind.InvalidData,
                        $"'{path}': tensor {i} '{name}' of subgraph {s} is {TfLiteTypes.Name(t.Type)}[{string.Join(",", shape)}] ({want} bytes) but its buffer {tensor.Buffer} holds {have} bytes. The file is corrupt or was written by a faulty converter.", path);
            }
            tensors[i] = tensor;
        }

        int[] Indices(int[]? idx, string what, bool allowOmitted)
        {
            idx ??= Array.Empty<int>();
            foreach (int x in idx)
                if (x >= nt || x < (allowOmitted ? -1 : 0))
                    throw Corrupt(path, $"{what} refers to tensor {x} but subgraph {s} has {nt} tensors");
            return idx;
        }

        var ops = new TfLiteOperator[g.OperatorsLength];
        for (int i = 0; i < ops.Length; i++)
        {
            var o = g.Operators(i)!.Value;
            if (o.OpcodeIndex >= (uint)codeCount)
                throw Corrupt(path, $"operator {i} of subgraph {s} uses op code {o.OpcodeIndex} but the model has {codeCount} op codes");
            ulong lo = o.LargeCustomOptionsOffset, ls = o.LargeCustomOptionsSize;
            if (lo > 1 && (lo > (ulong)bytes.Length || ls > (ulong)bytes.Length - lo))
                throw Corrupt(path, $"operator {i} of subgraph {s} has custom options beyond the end of the file");
            ops[i] = new TfLiteOperator
            {
                Index = i, OpcodeIndex = (int)o.OpcodeIndex,
                Inputs = Indices(o.GetInputsArray(), $"operator {i} (input)", true),
                Outputs = Indices(o.GetOutputsArray(), $"operator {i} (output)", false),
                Intermediates = Indices(o.GetIntermediatesArray(), $"operator {i} (intermediate)", true),
                Raw = o,
            };
        }
        return new TfLiteSubGraph
        {
            Index = s, Name = g.Name ?? "", Tensors = tensors, Operators = ops,
            Inputs = Indices(g.GetInputsArray(), $"subgraph {s} input", false),
            Outputs = Indices(g.GetOutputsArray(), $"subgraph {s} output", false),
        };
    }

    /// <summary>
    /// TFLite Metadata packs associated files (labels ...) as a zip appended to the flatbuffer. The zip's
    /// own offsets are relative to where it starts, so its start is found from the end-of-central-directory record.
    /// </summary>
    private static Dictionary<string, byte[]> ReadAppendedZip(byte[] bytes)
    {
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        int minEocd = Math.Max(0, bytes.Length - 22 - 65535);
        for (int p = bytes.Length - 22; p >= minEocd; p--)
        {
            if (BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(p)) != 0x06054b50) continue;
            long cdSize = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(p + 12));
            long cdOffset = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(p + 16));
            long cdStart = p - cdSize;
            long delta = cdStart - cdOffset;
            if (cdStart < 0 || delta < 0) continue;
            try
            {
                long q = cdStart;
                while (q + 46 <= p && BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan((int)q)) == 0x02014b50)
                {
                    var h = bytes.AsSpan((int)q);
                    int method = BinaryPrimitives.ReadUInt16LittleEndian(h[10..]);
                    long csize = BinaryPrimitives.ReadUInt32LittleEndian(h[20..]);
                    long usize = BinaryPrimitives.ReadUInt32LittleEndian(h[24..]);
                    int nlen = BinaryPrimitives.ReadUInt16LittleEndian(h[28..]), xlen = BinaryPrimitives.ReadUInt16LittleEndian(h[30..]), clen = BinaryPrimitives.ReadUInt16LittleEndian(h[32..]);
                    long local = BinaryPrimitives.ReadUInt32LittleEndian(h[42..]) + delta;
                    string name = Encoding.UTF8.GetString(bytes, (int)q + 46, nlen);
                    q += 46 + nlen + xlen + clen;
                    if (local + 30 > bytes.Length) break;
                    var lh = bytes.AsSpan((int)local);
                    long data = local + 30 + BinaryPrimitives.ReadUInt16LittleEndian(lh[26..]) + BinaryPrimitives.ReadUInt16LittleEndian(lh[28..]);
                    if (data + csize > bytes.Length || usize > 64 << 20) break;
                    if (method == 0) files[name] = bytes.AsSpan((int)data, (int)csize).ToArray();
                    else if (method == 8)
                    {
                        using var ds = new DeflateStream(new MemoryStream(bytes, (int)data, (int)csize), CompressionMode.Decompress);
                        var buf = new byte[usize];
                        ds.ReadExactly(buf);
                        files[name] = buf;
                    }
                }
            }
            catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or ArgumentException)
            {
                // A damaged appended archive only loses the associated files; the model itself is verified.
            }
            break;
        }
        return files;
    }

    private static ModelOpsException Corrupt(string path, string why) =>
        new(ErrorIds.TfLiteCorrupt, ErrorKind.InvalidData,
            $"'{path}' is not a valid TFLite model: {why}. The file is truncated or corrupt; re-export or re-download it.", path);
}
