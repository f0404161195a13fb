using System.Text;

namespace ModelOps.Core.Formats.Checkpoint;

/// <summary>One dimension of a saved slice: <c>Length == -1</c> means the whole dimension (start 0).</summary>
public readonly record struct SliceExtent(long Start, long Length)
{
    public bool IsFull => Length < 0;
}

/// <summary>
/// The key under which a tensor bundle stores one slice of a partitioned variable
/// (checkpoint::EncodeTensorNameSlice): OrderedCode number 0, the escaped full-tensor name, the rank,
/// then signed-number-encoded (start, length) per dimension, with (0, -1) for a full dimension.
/// </summary>
public static class SliceKey
{
    public static byte[] Encode(string name, IReadOnlyList<SliceExtent> extents)
    {
        var b = new List<byte>(name.Length + 8 + extents.Count * 4);
        WriteNumIncreasing(b, 0);
        foreach (byte c in Encoding.UTF8.GetBytes(name))
        {
            if (c == 0x00) { b.Add(0x00); b.Add(0xff); }
            else if (c == 0xff) { b.Add(0xff); b.Add(0x00); }
            else b.Add(c);
        }
        b.Add(0x00);
        b.Add(0x01);
        WriteNumIncreasing(b, (ulong)extents.Count);
        foreach (var e in extents)
        {
            WriteSignedNumIncreasing(b, e.IsFull ? 0 : e.Start);
            WriteSignedNumIncreasing(b, e.IsFull ? -1 : e.Length);
        }
        return b.ToArray();
    }

    private static void WriteNumIncreasing(List<byte> b, ulong v)
    {
        Span<byte> tmp = stackalloc byte[8];
        int n = 0;
        while (v > 0) { tmp[7 - n++] = (byte)v; v >>= 8; }
        b.Add((byte)n);
        for (int i = 8 - n; i < 8; i++) b.Add(tmp[i]);
    }

    /// <summary>
    /// OrderedCode's signed format: a sign bit (1 = non-negative), then as many copies of the sign bit as
    /// bytes follow the first, a delimiter bit of the opposite value, then the two's-complement payload.
    /// </summary>
    internal static void WriteSignedNumIncreasing(List<byte> b, long v)
    {
        ulong x = v < 0 ? ~(ulong)v : (ulong)v;
        // Bits needed = position of the highest set bit of x, plus one; n bytes carry 7n-1 payload bits
        // for n ≤ 8, 9 bytes carry 63 bits... (lengths 1..10 as in OrderedCode).
        int bits = x == 0 ? 0 : 64 - System.Numerics.BitOperations.LeadingZeroCount(x);
        int len = bits switch { <= 6 => 1, <= 13 => 2, <= 20 => 3, <= 27 => 4, <= 34 => 5, <= 41 => 6, <= 48 => 7, <= 55 => 8, <= 62 => 9, _ => 10 };
        Span<byte> buf = stackalloc byte[10];
        byte sign = v < 0 ? (byte)0xff : (byte)0;
        buf[0] = sign;
        buf[1] = sign;
        for (int i = 0; i < 8; i++) buf[2 + i] = (byte)((ulong)v >> (56 - 8 * i));
        var enc = buf[(10 - len)..];
        // Header bits: `len` ones (for len ≤ 8 in the first byte; 9 and 10 spill into the second byte).
        (byte h0, byte h1) = len switch
        {
            1 => ((byte)0x80, (byte)0), 2 => ((byte)0xc0, (byte)0), 3 => ((byte)0xe0, (byte)0), 4 => ((byte)0xf0, (byte)0),
            5 => ((byte)0xf8, (byte)0), 6 => ((byte)0xfc, (byte)0), 7 => ((byte)0xfe, (byte)0), 8 => ((byte)0xff, (byte)0),
            9 => ((byte)0xff, (byte)0x80), _ => ((byte)0xff, (byte)0xc0),
        };
        enc[0] ^= h0;
        if (len >= 2) enc[1] ^= h1;
        foreach (byte c in enc) b.Add(c);
    }
}
