using Google.Protobuf;
using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos.Onnx;

namespace ModelOps.Core.Formats;

/// <summary>Recognizes and reads ONNX models (ModelProto).</summary>
public static class OnnxModelFile
{
    /// <summary>True for a file named .onnx or whose top-level fields are ModelProto's (ir_version + graph/opset_import).</summary>
    public static bool IsOnnx(string path)
    {
        if (path.EndsWith(".onnx", StringComparison.OrdinalIgnoreCase) && File.Exists(path)) return true;
        if (!File.Exists(path)) return false;
        byte[] head = new byte[Math.Min(new FileInfo(path).Length, 1 << 20)];
        using (var fs = File.OpenRead(path)) fs.ReadExactly(head);
        return LooksLikeOnnx(head, complete: head.Length == new FileInfo(path).Length);
    }

    /// <summary>ModelProto starts with ir_version (field 1, varint) and holds graph (7) or opset_import (8) — a SavedModel has fields 1 and 2 only.</summary>
    public static bool LooksLikeOnnx(ReadOnlySpan<byte> bytes, bool complete = true)
    {
        if (bytes.Length < 2 || bytes[0] != 0x08) return false;
        var fields = ProtoSniffer.TopLevelFields(bytes, 16);
        if (fields is null) return !complete && bytes.Length > 2 && PartialOnnx(bytes);
        return fields.Count > 0 && fields[0] == (1, 0) && fields.Any(f => f is (7, 2) or (8, 2)) && fields.All(f => f.Field is >= 1 and <= 26 && f.Field != 9 || f == (1, 0));
    }

    private static bool PartialOnnx(ReadOnlySpan<byte> bytes)
    {
        // Large files are probed by their head: the small header fields (producer, opset) come before the graph in our writer and in onnx's.
        int pos = 0;
        int seen = 0;
        while (pos < bytes.Length && seen < 8)
        {
            ulong tag = 0; int shift = 0;
            while (pos < bytes.Length) { byte b = bytes[pos++]; tag |= (ulong)(b & 0x7F) << shift; if ((b & 0x80) == 0) break; shift += 7; }
            int field = (int)(tag >> 3), wt = (int)(tag & 7);
            if (field == 7 && wt == 2) return true;
            if (wt == 0) { while (pos < bytes.Length && (bytes[pos++] & 0x80) != 0) { } }
            else if (wt == 2)
            {
                ulong len = 0; shift = 0;
                while (pos < bytes.Length) { byte b = bytes[pos++]; len |= (ulong)(b & 0x7F) << shift; if ((b & 0x80) == 0) break; shift += 7; }
                pos += (int)Math.Min(len, int.MaxValue);
            }
            else return false;
            seen++;
        }
        return false;
    }

    public static ModelProto Read(string path)
    {
        try
        {
            return Parse(File.ReadAllBytes(path), path);
        }
        catch (FileNotFoundException)
        {
            throw new ModelOpsException(ErrorIds.FileNotFound, ErrorKind.ObjectNotFound, $"Cannot find the ONNX model '{path}'.", path);
        }
    }

    public static ModelProto Parse(byte[] bytes, string path)
    {
        try
        {
            var m = ModelProto.Parser.ParseFrom(bytes);
            if (m.Graph is null)
                throw new ModelOpsException(OnnxErrorIds.InvalidOnnx, ErrorKind.InvalidData, $"'{path}' is not an ONNX model: it has no graph.", path);
            return m;
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new ModelOpsException(OnnxErrorIds.InvalidOnnx, ErrorKind.InvalidData,
                $"'{path}' is not a valid ONNX model: {ex.Message} The file may be truncated or corrupt.", path, ex);
        }
    }
}
