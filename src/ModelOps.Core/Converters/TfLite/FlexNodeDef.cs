using System.Text;
using Google.Protobuf;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Converters.TfLite;

/// <summary>
/// custom_options of a Select TF op ("Flex" prefix): a FlexBuffer vector of two strings, the TF op
/// name and the serialized NodeDef, which the Flex delegate turns back into a TF kernel call.
/// </summary>
internal static class FlexNodeDef
{
    private const int Width = 4;            // every offset and length is 32-bit
    private const byte TypeString = 5;      // FlexBuffers FBT_STRING
    private const byte TypeVector = 10;     // FlexBuffers FBT_VECTOR (untyped elements)
    private const byte BitWidth32 = 2;      // log2(4)

    public static byte[] Encode(NodeDef node)
    {
        var buf = new List<byte>();
        int s0 = WriteString(buf, Encoding.UTF8.GetBytes(node.Op));
        int s1 = WriteString(buf, node.ToByteArray());
        Align(buf);
        WriteUInt(buf, 2);                  // vector length
        int vec = buf.Count;
        foreach (int s in new[] { s0, s1 }) WriteUInt(buf, (uint)(buf.Count - s));
        buf.Add((byte)(TypeString << 2 | BitWidth32));
        buf.Add((byte)(TypeString << 2 | BitWidth32));
        Align(buf);
        WriteUInt(buf, (uint)(buf.Count - vec));       // root: offset back to the vector
        buf.Add((byte)(TypeVector << 2 | BitWidth32)); // root type
        buf.Add(Width);                                 // root byte width
        return buf.ToArray();
    }

    private static int WriteString(List<byte> buf, byte[] bytes)
    {
        Align(buf);
        WriteUInt(buf, (uint)bytes.Length);
        int start = buf.Count;
        buf.AddRange(bytes);
        buf.Add(0);
        return start;
    }

    private static void Align(List<byte> buf)
    {
        while (buf.Count % Width != 0) buf.Add(0);
    }

    private static void WriteUInt(List<byte> buf, uint v)
    {
        buf.Add((byte)v);
        buf.Add((byte)(v >> 8));
        buf.Add((byte)(v >> 16));
        buf.Add((byte)(v >> 24));
    }
}
