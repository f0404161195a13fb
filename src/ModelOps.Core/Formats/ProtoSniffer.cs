using System.Text;

namespace ModelOps.Core.Formats;

/// <summary>
/// Tells text-format protobuf from binary by content, never by extension (TensorFlow itself ships a
/// text MetaGraphDef named .pb), and guesses which top-level message a file holds.
/// </summary>
public static class ProtoSniffer
{
    /// <summary>True when the bytes look like protobuf text format: valid UTF-8, printable, starting with a field name or comment.</summary>
    public static bool LooksLikeText(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length == 0) return false;
        int probe = Math.Min(bytes.Length, 4096);
        var head = bytes[..probe];
        // Cut at a character boundary so a multi-byte sequence split by the probe does not fail the check.
        while (probe < bytes.Length && probe > 0 && (head[probe - 1] & 0xC0) == 0x80) { probe--; head = bytes[..probe]; }
        if (probe > 0 && head[probe - 1] >= 0xC0) head = bytes[..(probe - 1)];
        foreach (byte b in head)
            if (b < 0x20 && b is not (byte)'\n' and not (byte)'\r' and not (byte)'\t' and not 0x0C) return false;
        try { _ = new UTF8Encoding(false, true).GetString(head); }
        catch (DecoderFallbackException) { return false; }
        int i = 0;
        if (head.Length >= 3 && head[0] == 0xEF && head[1] == 0xBB && head[2] == 0xBF) i = 3;
        while (i < head.Length)
        {
            byte c = head[i];
            if (c is (byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n') { i++; continue; }
            if (c == (byte)'#') { while (i < head.Length && head[i] != '\n') i++; continue; }
            return char.IsAsciiLetter((char)c) || c == '_' || c == '[';
        }
        return false;
    }

    /// <summary>The first field name of a text-format message (skipping comments), or null.</summary>
    public static string? FirstTextField(string text)
    {
        int i = 0;
        while (i < text.Length)
        {
            char c = text[i];
            if (char.IsWhiteSpace(c)) { i++; continue; }
            if (c == '#') { while (i < text.Length && text[i] != '\n') i++; continue; }
            int start = i;
            while (i < text.Length && (char.IsAsciiLetterOrDigit(text[i]) || text[i] == '_')) i++;
            return i > start ? text[start..i] : null;
        }
        return null;
    }

    /// <summary>Top-level (field number, wire type) pairs of a binary message, or null when the bytes are not well-formed protobuf.</summary>
    public static List<(int Field, int WireType)>? TopLevelFields(ReadOnlySpan<byte> bytes, int max = 64)
    {
        var list = new List<(int, int)>();
        int pos = 0;
        while (pos < bytes.Length && list.Count < max)
        {
            if (!ReadVarint(bytes, ref pos, out ulong tag)) return null;
            int field = (int)(tag >> 3), wt = (int)(tag & 7);
            if (field == 0) return null;
            switch (wt)
            {
                case 0: if (!ReadVarint(bytes, ref pos, out _)) return null; break;
                case 1: pos += 8; break;
                case 2:
                    if (!ReadVarint(bytes, ref pos, out ulong len) || len > (ulong)(bytes.Length - pos)) return null;
                    pos += (int)len; break;
                case 5: pos += 4; break;
                default: return null;
            }
            if (pos > bytes.Length) return null;
            list.Add((field, wt));
        }
        return list;
    }

    private static bool ReadVarint(ReadOnlySpan<byte> b, ref int pos, out ulong value)
    {
        value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= b.Length) return false;
            byte x = b[pos++];
            value |= (ulong)(x & 0x7F) << shift;
            if ((x & 0x80) == 0) return true;
        }
        return false;
    }
}
