using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Formats.Npy;

/// <summary>
/// NumPy .npy (format 1.0, 2.0 and 3.0 headers) and .npz (zip of .npy, stored or deflated) ⇄
/// <see cref="Tensor"/>. Reads every numeric dtype and bool, little-endian (big-endian numbers are
/// byte-swapped), C and Fortran order, and byte strings (|S) / unicode (&lt;U) as string tensors.
/// Writes format 1.0 (2.0 when the header needs it), C order.
/// </summary>
public static partial class NpyFile
{
    private static readonly byte[] Magic = { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y' };

    public static Tensor Read(string path)
    {
        using var s = OpenRead(path);
        return Read(s, path);
    }

    public static Tensor Read(Stream stream, string name = "stream")
    {
        var head = new byte[8];
        ReadExactly(stream, head, name);
        if (!head.AsSpan(0, 6).SequenceEqual(Magic)) throw Bad(name, "it does not start with the \\x93NUMPY magic string");
        int major = head[6];
        int headerLen;
        if (major == 1)
        {
            var l = new byte[2]; ReadExactly(stream, l, name);
            headerLen = l[0] | l[1] << 8;
        }
        else if (major is 2 or 3)
        {
            var l = new byte[4]; ReadExactly(stream, l, name);
            headerLen = BitConverter.ToInt32(l);
        }
        else throw Bad(name, $"its format version {major}.{head[7]} is not 1.0, 2.0 or 3.0");
        var hb = new byte[headerLen];
        ReadExactly(stream, hb, name);
        string header = (major == 3 ? Encoding.UTF8 : Encoding.Latin1).GetString(hb);

        string descr = Match(DescrRx(), header, name, "descr");
        bool fortran = Match(FortranRx(), header, name, "fortran_order") == "True";
        string shapeText = Match(ShapeRx(), header, name, "shape");
        var shape = shapeText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(d => int.Parse(d.TrimEnd('L'), CultureInfo.InvariantCulture)).ToArray();

        char order = descr[0];
        string kind = descr[1..];
        long count = Tensor.ElementCount(shape);
        Tensor t;
        if (kind.StartsWith('S') || kind.StartsWith('U'))
        {
            int width = int.Parse(kind[1..], CultureInfo.InvariantCulture);
            bool unicode = kind[0] == 'U';
            int bytesPer = unicode ? 4 * width : width;
            var raw = new byte[count * bytesPer];
            ReadExactly(stream, raw, name);
            var strings = new byte[count][];
            for (long i = 0; i < count; i++)
            {
                var span = raw.AsSpan((int)(i * bytesPer), bytesPer);
                if (unicode)
                {
                    var enc = order == '>' ? new UTF32Encoding(bigEndian: true, byteOrderMark: false) : new UTF32Encoding(false, false);
                    strings[i] = Encoding.UTF8.GetBytes(enc.GetString(span).TrimEnd('\0'));
                }
                else
                {
                    int len = span.Length;
                    while (len > 0 && span[len - 1] == 0) len--;
                    strings[i] = span[..len].ToArray();
                }
            }
            t = new Tensor(DataType.DtString, fortran ? Enumerable.Reverse(shape).ToArray() : shape, strings);
        }
        else
        {
            var dtype = kind switch
            {
                "f4" => DataType.DtFloat,
                "f8" => DataType.DtDouble,
                "f2" => DataType.DtHalf,
                "i1" => DataType.DtInt8,
                "u1" => DataType.DtUint8,
                "i2" => DataType.DtInt16,
                "u2" => DataType.DtUint16,
                "i4" => DataType.DtInt32,
                "u4" => DataType.DtUint32,
                "i8" => DataType.DtInt64,
                "u8" => DataType.DtUint64,
                "b1" => DataType.DtBool,
                "c8" => DataType.DtComplex64,
                "c16" => DataType.DtComplex128,
                _ => throw Bad(name, $"its dtype '{descr}' is not supported (numbers, bool and strings are)"),
            };
            int size = dtype.ByteSize();
            var raw = new byte[count * size];
            ReadExactly(stream, raw, name);
            if (order == '>' && size > 1)
            {
                int lane = dtype.Lanes() == 2 ? size / 2 : size;
                for (int i = 0; i < raw.Length; i += lane) Array.Reverse(raw, i, lane);
            }
            t = TensorBytes.FromBytes(dtype, fortran ? Enumerable.Reverse(shape).ToArray() : shape, raw);
        }
        if (fortran && shape.Length > 1)
        {
            // Fortran order stores the transpose: read it as the reversed shape, then transpose back.
            var perm = Enumerable.Range(0, shape.Length).Reverse().ToArray();
            t = Ops.ArrayShape.Transpose(t, perm);
        }
        return t;
    }

    public static void Write(string path, Tensor tensor, bool overwrite = false) =>
        AtomicFile.Write(path, s => Write(s, tensor), overwrite);

    public static void Write(Stream stream, Tensor t)
    {
        string descr;
        byte[] payload;
        if (t.DType == DataType.DtString)
        {
            var strings = (byte[][])t.Data;
            int width = Math.Max(1, strings.Length == 0 ? 1 : strings.Max(s => s.Length));
            descr = "|S" + width.ToString(CultureInfo.InvariantCulture);
            payload = new byte[strings.Length * width];
            for (int i = 0; i < strings.Length; i++) strings[i].CopyTo(payload, i * width);
        }
        else
        {
            descr = t.DType switch
            {
                DataType.DtFloat => "<f4",
                DataType.DtDouble => "<f8",
                DataType.DtHalf => "<f2",
                DataType.DtInt8 => "|i1",
                DataType.DtUint8 => "|u1",
                DataType.DtInt16 => "<i2",
                DataType.DtUint16 => "<u2",
                DataType.DtInt32 => "<i4",
                DataType.DtUint32 => "<u4",
                DataType.DtInt64 => "<i8",
                DataType.DtUint64 => "<u8",
                DataType.DtBool => "|b1",
                DataType.DtComplex64 => "<c8",
                DataType.DtComplex128 => "<c16",
                DataType.DtBfloat16 => throw new ModelOpsException(ErrorIds.InvalidNpy, ErrorKind.NotImplemented, "NumPy has no bfloat16 dtype; cast the tensor to float32 first."),
                _ => throw new ModelOpsException(ErrorIds.InvalidNpy, ErrorKind.NotImplemented, $"{t.DType.Name()} tensors cannot be written to .npy."),
            };
            payload = TensorBytes.ToBytes(t);
        }
        string shape = t.Rank == 1 ? $"({t.Shape[0]},)" : "(" + string.Join(", ", t.Shape.Select(d => d.ToString(CultureInfo.InvariantCulture))) + ")";
        string dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}";
        // Pad with spaces and a newline so that the data starts on a 64-byte boundary.
        int major = dict.Length + 11 > ushort.MaxValue ? 2 : 1;
        int prefix = major == 1 ? 10 : 12;
        int total = prefix + dict.Length + 1;
        int pad = (64 - total % 64) % 64;
        string header = dict + new string(' ', pad) + "\n";
        stream.Write(Magic);
        stream.WriteByte((byte)major);
        stream.WriteByte(0);
        var hb = Encoding.Latin1.GetBytes(header);
        if (major == 1) { stream.WriteByte((byte)(hb.Length & 0xFF)); stream.WriteByte((byte)(hb.Length >> 8)); }
        else stream.Write(BitConverter.GetBytes(hb.Length));
        stream.Write(hb);
        stream.Write(payload);
    }

    /// <summary>Reads every array of an .npz; keys are the member names without ".npy".</summary>
    public static IReadOnlyDictionary<string, Tensor> ReadNpz(string path)
    {
        using var s = OpenRead(path);
        try
        {
            using var zip = new ZipArchive(s, ZipArchiveMode.Read);
            var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var e in zip.Entries)
            {
                if (!e.FullName.EndsWith(".npy", StringComparison.OrdinalIgnoreCase)) continue;
                using var es = e.Open();
                using var ms = new MemoryStream();
                es.CopyTo(ms);
                ms.Position = 0;
                result[e.FullName[..^4]] = Read(ms, $"{path}!{e.FullName}");
            }
            return result;
        }
        catch (InvalidDataException ex)
        {
            throw new ModelOpsException(ErrorIds.InvalidNpy, ErrorKind.InvalidData, $"'{path}' is not a valid .npz (zip) file: {ex.Message}", path, ex);
        }
    }

    /// <summary>Writes an .npz (members deflated unless <paramref name="compress"/> is false); a key "x:0" is stored as "x:0.npy".</summary>
    public static void WriteNpz(string path, IEnumerable<KeyValuePair<string, Tensor>> arrays, bool overwrite = false, bool compress = true) =>
        AtomicFile.Write(path, s =>
        {
            using var zip = new ZipArchive(s, ZipArchiveMode.Create, leaveOpen: true);
            foreach (var (key, t) in arrays)
            {
                var e = zip.CreateEntry(key + ".npy", compress ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
                using var es = e.Open();
                Write(es, t);
            }
        }, overwrite);

    /// <summary>Finds an array by node or tensor name: "x" matches "x" or "x:0", and "x:0" matches "x" too.</summary>
    public static Tensor? Find(IReadOnlyDictionary<string, Tensor> arrays, string name)
    {
        if (arrays.TryGetValue(name, out var t)) return t;
        if (name.EndsWith(":0", StringComparison.Ordinal) && arrays.TryGetValue(name[..^2], out t)) return t;
        if (!name.Contains(':') && arrays.TryGetValue(name + ":0", out t)) return t;
        return null;
    }

    private static Stream OpenRead(string path)
    {
        if (!File.Exists(path))
            throw new ModelOpsException(ErrorIds.FileNotFound, ErrorKind.ObjectNotFound, $"Cannot find '{path}'.", path);
        return File.OpenRead(path);
    }

    private static void ReadExactly(Stream s, byte[] buffer, string name)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = s.Read(buffer, read, buffer.Length - read);
            if (n == 0) throw Bad(name, "it ends early (truncated)");
            read += n;
        }
    }

    private static string Match(Regex rx, string header, string name, string key)
    {
        var m = rx.Match(header);
        if (!m.Success) throw Bad(name, $"its header has no '{key}' entry");
        return m.Groups[1].Value;
    }

    private static ModelOpsException Bad(string name, string why) =>
        new(ErrorIds.InvalidNpy, ErrorKind.InvalidData, $"'{name}' is not a valid .npy file: {why}.", name);

    [GeneratedRegex(@"['""]descr['""]\s*:\s*['""]([^'""]+)['""]")]
    private static partial Regex DescrRx();

    [GeneratedRegex(@"['""]fortran_order['""]\s*:\s*(True|False)")]
    private static partial Regex FortranRx();

    [GeneratedRegex(@"['""]shape['""]\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapeRx();
}
