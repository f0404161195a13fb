using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Formats;

/// <summary>NumPy .npy (format 1.0–3.0, little-endian numeric, C order) and .npz (zip of .npy) files.</summary>
public static partial class NpyFile
{
    private static readonly byte[] Magic = { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y' };

    public static Tensor Read(string path)
    {
        if (!File.Exists(path))
            throw new ModelOpsException(ErrorIds.FileNotFound, ErrorKind.ObjectNotFound, $"Cannot find the .npy file '{path}'.", path);
        return Read(File.ReadAllBytes(path), path);
    }

    /// <summary>Every array of an .npz, by name (without the .npy suffix).</summary>
    public static IReadOnlyDictionary<string, Tensor> ReadNpz(string path)
    {
        if (!File.Exists(path))
            throw new ModelOpsException(ErrorIds.FileNotFound, ErrorKind.ObjectNotFound, $"Cannot find the .npz file '{path}'.", path);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            using var zip = ZipFile.OpenRead(path);
            foreach (var e in zip.Entries)
            {
                using var s = e.Open();
                using var ms = new MemoryStream();
                s.CopyTo(ms);
                string name = e.FullName.EndsWith(".npy", StringComparison.Ordinal) ? e.FullName[..^4] : e.FullName;
                result[name] = Read(ms.ToArray(), $"{path}:{e.FullName}");
            }
        }
        catch (InvalidDataException ex)
        {
            throw new ModelOpsException(ErrorIds.InvalidNpy, ErrorKind.InvalidData, $"'{path}' is not a valid .npz (zip) file: {ex.Message}", path, ex);
        }
        return result;
    }

    public static Tensor Read(byte[] bytes, string what)
    {
        ModelOpsException Bad(string why) => new(ErrorIds.InvalidNpy, ErrorKind.InvalidData, $"'{what}' is not a readable .npy file: {why}", what);
        if (bytes.Length < 10 || !bytes.AsSpan(0, 6).SequenceEqual(Magic)) throw Bad("it does not start with the NumPy magic bytes.");
        int major = bytes[6];
        int headerLen, start;
        if (major == 1) { headerLen = BitConverter.ToUInt16(bytes, 8); start = 10; }
        else if (major is 2 or 3) { if (bytes.Length < 12) throw Bad("truncated header."); headerLen = (int)BitConverter.ToUInt32(bytes, 8); start = 12; }
        else throw Bad($"format version {major} is not supported.");
        if (start + headerLen > bytes.Length) throw Bad("truncated header.");
        string header = Encoding.Latin1.GetString(bytes, start, headerLen);
        var descr = DescrRegex().Match(header);
        var order = FortranRegex().Match(header);
        var shapeM = ShapeRegex().Match(header);
        if (!descr.Success || !shapeM.Success) throw Bad("the header has no 'descr' or 'shape'.");
        if (order.Success && order.Groups[1].Value == "True") throw Bad("Fortran-order arrays are not supported; save with np.ascontiguousarray.");
        var shape = shapeM.Groups[1].Value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.Parse(s, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        string d = descr.Groups[1].Value;
        if (d.Length < 2) throw Bad($"dtype '{d}' is not supported.");
        if (d[0] == '>') throw Bad("big-endian data is not supported.");
        var dtype = d[1..] switch
        {
            "f4" => DataType.DtFloat, "f8" => DataType.DtDouble, "f2" => DataType.DtHalf,
            "i1" => DataType.DtInt8, "u1" => DataType.DtUint8, "i2" => DataType.DtInt16, "u2" => DataType.DtUint16,
            "i4" => DataType.DtInt32, "u4" => DataType.DtUint32, "i8" => DataType.DtInt64, "u8" => DataType.DtUint64,
            "b1" => DataType.DtBool,
            _ => throw Bad($"dtype '{d}' is not supported."),
        };
        int offset = start + headerLen;
        long need = Tensor.ElementCount(shape) * dtype.ByteSize();
        if (bytes.Length - offset < need) throw Bad($"it holds {bytes.Length - offset} data bytes but shape {Tensor.FormatShape(shape)} needs {need}.");
        return TensorBytes.FromBytes(dtype, shape, bytes.AsSpan(offset, (int)need));
    }

    /// <summary>Writes a numeric tensor as .npy (format 1.0).</summary>
    public static byte[] Write(Tensor t)
    {
        string code = t.DType switch
        {
            DataType.DtFloat => "<f4", DataType.DtDouble => "<f8", DataType.DtHalf => "<f2",
            DataType.DtInt8 => "|i1", DataType.DtUint8 => "|u1", DataType.DtInt16 => "<i2", DataType.DtUint16 => "<u2",
            DataType.DtInt32 => "<i4", DataType.DtUint32 => "<u4", DataType.DtInt64 => "<i8", DataType.DtUint64 => "<u8",
            DataType.DtBool => "|b1",
            _ => throw new ModelOpsException(ErrorIds.InvalidNpy, ErrorKind.InvalidArgument, $"{t.DType.Name()} tensors cannot be written as .npy."),
        };
        string shape = t.Rank == 1 ? $"({t.Shape[0]},)" : "(" + string.Join(", ", t.Shape) + ")";
        string header = $"{{'descr': '{code}', 'fortran_order': False, 'shape': {shape}, }}";
        int total = 10 + header.Length + 1;
        header += new string(' ', (64 - total % 64) % 64) + "\n";
        var ms = new MemoryStream();
        ms.Write(Magic);
        ms.WriteByte(1);
        ms.WriteByte(0);
        ms.Write(BitConverter.GetBytes((ushort)header.Length));
        ms.Write(Encoding.Latin1.GetBytes(header));
        ms.Write(TensorBytes.ToBytes(t));
        return ms.ToArray();
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex DescrRegex();

    [GeneratedRegex(@"'fortran_order'\s*:\s*(True|False)")]
    private static partial Regex FortranRegex();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapeRegex();
}
