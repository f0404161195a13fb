using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace ModelOps.Core.Formats.Checkpoint;

/// <summary>
/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) as LevelDB and TensorFlow use it, with their
/// "mask" transform for CRCs stored next to the data they cover. Uses the SSE4.2 CRC32 instruction when
/// the CPU has it and a slicing-by-8 table otherwise; both give identical results. On x64, long inputs are
/// split into three interleaved streams (the instruction has a latency of 3 cycles but issues every cycle),
/// whose CRCs are merged with a table-driven "advance over N zero bytes" operator.
/// </summary>
public static class Crc32C
{
    private const uint Poly = 0x82F63B78u;
    private const uint MaskDelta = 0xa282ead8u;
    private static readonly uint[] Table = BuildTable();

    /// <summary>CRC-32C of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Extend(0, data);

    /// <summary>The CRC of (bytes already covered by <paramref name="crc"/>) followed by <paramref name="data"/>.</summary>
    public static uint Extend(uint crc, ReadOnlySpan<byte> data) => ~Update(~crc, data, Sse42.IsSupported);

    /// <summary>Forces the table implementation (tests compare it with the hardware path).</summary>
    internal static uint ExtendSoftware(uint crc, ReadOnlySpan<byte> data) => ~Update(~crc, data, false);

    public static uint Mask(uint crc) => ((crc >> 15) | (crc << 17)) + MaskDelta;

    public static uint Unmask(uint masked)
    {
        uint rot = masked - MaskDelta;
        return (rot >> 17) | (rot << 15);
    }

    private static uint Update(uint state, ReadOnlySpan<byte> data, bool hardware)
    {
        if (hardware)
        {
            if (Sse42.X64.IsSupported)
            {
                if (data.Length >= 3 * Stripe) state = UpdateStriped(state, ref data);
                ulong s = state;
                while (data.Length >= 8)
                {
                    s = Sse42.X64.Crc32(s, BinaryPrimitives.ReadUInt64LittleEndian(data));
                    data = data[8..];
                }
                state = (uint)s;
            }
            while (data.Length >= 4)
            {
                state = Sse42.Crc32(state, BinaryPrimitives.ReadUInt32LittleEndian(data));
                data = data[4..];
            }
            foreach (byte b in data) state = Sse42.Crc32(state, b);
            return state;
        }
        var t = Table;
        while (data.Length >= 8)
        {
            uint lo = BinaryPrimitives.ReadUInt32LittleEndian(data) ^ state;
            uint hi = BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            state = t[7 * 256 + (lo & 0xFF)] ^ t[6 * 256 + ((lo >> 8) & 0xFF)] ^ t[5 * 256 + ((lo >> 16) & 0xFF)] ^ t[4 * 256 + (lo >> 24)]
                  ^ t[3 * 256 + (hi & 0xFF)] ^ t[2 * 256 + ((hi >> 8) & 0xFF)] ^ t[256 + ((hi >> 16) & 0xFF)] ^ t[hi >> 24];
            data = data[8..];
        }
        foreach (byte b in data) state = t[(state ^ b) & 0xFF] ^ (state >> 8);
        return state;
    }

    /// <summary>Bytes per stream and round of the interleaved path (three stripes fit in L1).</summary>
    private const int Stripe = 8192;

    /// <summary>Z(r) = the CRC register after feeding <see cref="Stripe"/> zero bytes from register r, as 4 byte-indexed tables (Z is linear over GF(2)).</summary>
    private static uint[]? _advance;

    /// <summary>
    /// Whole rounds of 3 × <see cref="Stripe"/> bytes: stream A continues <paramref name="state"/>, B and C start
    /// from 0; since the register update is linear, crc(A‖B‖C) = c + Z(b + Z(a)) (+ is XOR). Leaves the tail in <paramref name="data"/>.
    /// </summary>
    private static uint UpdateStriped(uint state, ref ReadOnlySpan<byte> data)
    {
        var z = _advance ??= BuildAdvance();
        ulong a = state;
        while (data.Length >= 3 * Stripe)
        {
            ulong b = 0, c = 0;
            ref byte p = ref MemoryMarshal.GetReference(data);
            for (int i = 0; i < Stripe; i += 8)
            {
                a = Sse42.X64.Crc32(a, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i)));
                b = Sse42.X64.Crc32(b, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i + Stripe)));
                c = Sse42.X64.Crc32(c, Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref p, i + 2 * Stripe)));
            }
            a = c ^ Advance(z, (uint)b ^ Advance(z, (uint)a));
            data = data[(3 * Stripe)..];
        }
        return (uint)a;
    }

    private static uint Advance(uint[] z, uint r) =>
        z[r & 0xFF] ^ z[256 + ((r >> 8) & 0xFF)] ^ z[512 + ((r >> 16) & 0xFF)] ^ z[768 + (r >> 24)];

    private static uint[] BuildAdvance()
    {
        // Z of each single-bit register, by running the instruction over Stripe zero bytes; then every byte value per position.
        var basis = new uint[32];
        for (int bit = 0; bit < 32; bit++)
        {
            ulong r = 1u << bit;
            for (int i = 0; i < Stripe; i += 8) r = Sse42.X64.Crc32(r, 0UL);
            basis[bit] = (uint)r;
        }
        var z = new uint[4 * 256];
        for (int pos = 0; pos < 4; pos++)
            for (int v = 0; v < 256; v++)
            {
                uint acc = 0;
                for (int k = 0; k < 8; k++) if ((v & (1 << k)) != 0) acc ^= basis[pos * 8 + k];
                z[pos * 256 + v] = acc;
            }
        return z;
    }

    private static uint[] BuildTable()
    {
        var t = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ Poly : c >> 1;
            t[i] = c;
        }
        for (int s = 1; s < 8; s++)
            for (int i = 0; i < 256; i++)
                t[s * 256 + i] = (t[(s - 1) * 256 + i] >> 8) ^ t[t[(s - 1) * 256 + i] & 0xFF];
        return t;
    }
}
