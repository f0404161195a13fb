using System.Collections;
using System.Globalization;
using System.Management.Automation;
using System.Text.Json;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.PowerShell.Inference;

/// <summary>
/// PowerShell values → tensors of a wanted dtype: numbers, strings (CSV cells parse as numbers),
/// nested arrays (shape from the nesting), typed arrays (shape from -Shape or the input's declared
/// shape when fully known, else 1-D), and Tensor objects (used as they are).
/// </summary>
internal static class TensorConverter
{
    public const string ValueCannotConvert = "ValueCannotConvert";

    public static Tensor Convert(object? value, DataType dtype, long[]? declared, int[]? shape, string input)
    {
        value = Unwrap(value);
        if (value is Tensor t) return t;
        if (value is null) throw Fail(input, "the value is null");
        if (value is JsonElement je) value = FromJson(je);

        var flat = new List<object?>();
        int[] inferred;
        if (value is string || value is not IEnumerable)
        {
            flat.Add(value);
            inferred = Array.Empty<int>();
        }
        else
        {
            var dims = new List<int>();
            Flatten(value, 0, dims, flat, input);
            inferred = dims.ToArray();
        }

        int[] finalShape = inferred;
        if (shape is not null)
        {
            if (Tensor.ElementCount(shape) != flat.Count)
                throw Fail(input, $"-Shape {Tensor.FormatShape(shape)} needs {Tensor.ElementCount(shape)} values but {flat.Count} were given");
            finalShape = shape;
        }
        else if (declared is not null && inferred.Length <= 1 && declared.Length != inferred.Length && declared.Count(d => d < 0) <= 1)
        {
            // A flat value for a declared shape: fill in the one unknown dimension (e.g. [?,3] from 6 values).
            long known = declared.Where(d => d >= 0).Aggregate(1L, (a, d) => a * d);
            bool fits = declared.Any(d => d < 0) ? known > 0 && flat.Count % known == 0 : known == flat.Count;
            if (fits) finalShape = declared.Select(d => (int)(d >= 0 ? d : flat.Count / known)).ToArray();
        }

        Array data = Array.CreateInstance(dtype.StorageType(), flat.Count);
        for (int i = 0; i < flat.Count; i++)
        {
            try
            {
                data.SetValue(Element(flat[i], dtype), i);
            }
            catch (Exception ex) when (ex is FormatException or InvalidCastException or OverflowException)
            {
                throw Fail(input, $"element {i} ('{flat[i]}') is not a {dtype.Name()} value", ex);
            }
        }
        return new Tensor(dtype, finalShape, data);
    }

    /// <summary>Stacks per-row tensors into one batch [rows, ...].</summary>
    public static Tensor Stack(IReadOnlyList<Tensor> rows, string input)
    {
        var first = rows[0];
        foreach (var r in rows)
            if (r.DType != first.DType || !r.Shape.AsSpan().SequenceEqual(first.Shape))
                throw Fail(input, $"pipeline rows give values of different shapes ({first} and {r}); every row must give the same shape");
        var shape = new[] { rows.Count }.Concat(first.Shape).ToArray();
        Array data = Array.CreateInstance(first.Data.GetType().GetElementType()!, rows.Count * first.Data.Length);
        for (int i = 0; i < rows.Count; i++) Array.Copy(rows[i].Data, 0, data, (long)i * first.Data.Length, first.Data.Length);
        return new Tensor(first.DType, shape, data);
    }

    public static object? Unwrap(object? v) => v is PSObject p ? p.BaseObject : v;

    private static void Flatten(object? value, int depth, List<int> dims, List<object?> flat, string input)
    {
        value = Unwrap(value);
        if (value is string || value is not IEnumerable e)
        {
            if (depth != dims.Count) throw Fail(input, "the nested arrays are ragged (some elements are arrays, some are not)");
            flat.Add(value);
            return;
        }
        var items = e.Cast<object?>().ToList();
        if (depth == dims.Count) dims.Add(items.Count);
        else if (depth > dims.Count || dims[depth] != items.Count)
            throw Fail(input, $"the nested arrays are ragged (dimension {depth} has lengths {dims[depth]} and {items.Count})");
        foreach (var item in items) Flatten(item, depth + 1, dims, flat, input);
    }

    private static object Element(object? v, DataType dtype)
    {
        v = Unwrap(v);
        var inv = CultureInfo.InvariantCulture;
        if (dtype == DataType.DtString) return System.Text.Encoding.UTF8.GetBytes(System.Convert.ToString(v, inv) ?? "");
        if (dtype == DataType.DtBool)
            return v is string s ? (bool.TryParse(s, out bool b) ? b : double.Parse(s, inv) != 0) : System.Convert.ToDouble(v, inv) != 0;
        if (v is bool bv) v = bv ? 1 : 0;
        if (v is string str) v = str.Trim();
        return dtype switch
        {
            DataType.DtFloat => System.Convert.ToSingle(v, inv),
            DataType.DtDouble => System.Convert.ToDouble(v, inv),
            DataType.DtHalf => (Half)System.Convert.ToSingle(v, inv),
            DataType.DtInt8 => System.Convert.ToSByte(v, inv),
            DataType.DtUint8 => System.Convert.ToByte(v, inv),
            DataType.DtInt16 => System.Convert.ToInt16(v, inv),
            DataType.DtUint16 => System.Convert.ToUInt16(v, inv),
            DataType.DtInt32 => System.Convert.ToInt32(v, inv),
            DataType.DtUint32 => System.Convert.ToUInt32(v, inv),
            DataType.DtInt64 => System.Convert.ToInt64(v, inv),
            DataType.DtUint64 => System.Convert.ToUInt64(v, inv),
            _ => throw new InvalidCastException($"{dtype.Name()} inputs cannot be given from PowerShell values."),
        };
    }

    private static object? FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToArray(),
        JsonValueKind.Number => e.GetDouble(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };

    private static ModelOpsException Fail(string input, string why, Exception? inner = null) =>
        new(ValueCannotConvert, ErrorKind.InvalidArgument, $"The value for input '{input}' cannot be converted: {why}.", input, inner);
}
