using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace ModelOps.Core.Formats.Text;

/// <summary>
/// Prints messages in the protobuf text format, in the style of TensorFlow's <c>.pbtxt</c> files
/// (Python <c>text_format</c> / C++ <c>TextFormat</c>): one <c>name: value</c> per line, nested messages
/// as <c>name {</c> .. <c>}</c> with two-space indentation, fields in field-number order.
/// </summary>
/// <remarks>
/// Map entries are printed as <c>name { key: .. value: .. }</c> blocks ordered by key (as TensorFlow,
/// Python and C++ do). Strings and bytes are double-quoted with C escapes, non-printable and non-ASCII
/// bytes as three-digit octal. Floating-point values use the shortest text that round-trips exactly.
/// Proto3 fields without presence are omitted when they hold their default value.
/// A <c>google.protobuf.Any</c> whose type is in the given <see cref="TypeRegistry"/> is printed expanded
/// (<c>[type.googleapis.com/pkg.Msg] { .. }</c>) when its payload re-serializes to the same bytes.
/// </remarks>
public static class TextFormatPrinter
{
    /// <summary>Prints <paramref name="message"/> as text format; the result ends with a newline unless empty.</summary>
    public static string Print(IMessage message, TypeRegistry? registry = null)
    {
        ArgumentNullException.ThrowIfNull(message);
        var writer = new Writer(registry);
        writer.WriteMessage(message, 0);
        return writer.ToString();
    }

    private sealed class Writer
    {
        private const string AnyFullName = "google.protobuf.Any";
        private const string WrappersFile = "google/protobuf/wrappers.proto";

        private readonly StringBuilder _sb = new();
        private readonly TypeRegistry? _registry;

        public Writer(TypeRegistry? registry)
        {
            _registry = registry;
        }

        public override string ToString() => _sb.ToString();

        public void WriteMessage(IMessage message, int indent)
        {
            MessageDescriptor descriptor = message.Descriptor;
            if (_registry != null && descriptor.FullName == AnyFullName && TryWriteAny(message, descriptor, indent))
            {
                return;
            }

            foreach (FieldDescriptor field in descriptor.Fields.InFieldNumberOrder())
            {
                IFieldAccessor accessor = field.Accessor;
                if (field.IsMap)
                {
                    var dict = (IDictionary)accessor.GetValue(message);
                    if (dict.Count > 0)
                    {
                        WriteMap(field, dict, indent);
                    }

                    continue;
                }

                if (field.IsRepeated)
                {
                    var list = (IList)accessor.GetValue(message);
                    for (int i = 0; i < list.Count; i++)
                    {
                        WriteField(field, list[i]!, indent);
                    }

                    continue;
                }

                bool isMessage = field.FieldType == FieldType.Message || field.FieldType == FieldType.Group;
                if (isMessage)
                {
                    object? sub = accessor.GetValue(message);
                    if (sub != null)
                    {
                        WriteField(field, sub, indent);
                    }

                    continue;
                }

                if (field.HasPresence)
                {
                    if (accessor.HasValue(message))
                    {
                        WriteField(field, accessor.GetValue(message), indent);
                    }

                    continue;
                }

                object value = accessor.GetValue(message);
                if (!IsDefault(field, value))
                {
                    WriteField(field, value, indent);
                }
            }
        }

        private static bool IsDefault(FieldDescriptor field, object value) => field.FieldType switch
        {
            FieldType.Bool => !(bool)value,
            FieldType.String => ((string)value).Length == 0,
            FieldType.Bytes => ((ByteString)value).IsEmpty,
            FieldType.Float => BitConverter.SingleToInt32Bits((float)value) == 0,
            FieldType.Double => BitConverter.DoubleToInt64Bits((double)value) == 0,
            FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 or FieldType.Enum => (int)value == 0,
            FieldType.UInt32 or FieldType.Fixed32 => (uint)value == 0,
            FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 => (long)value == 0,
            FieldType.UInt64 or FieldType.Fixed64 => (ulong)value == 0,
            _ => false,
        };

        private void Indent(int indent) => _sb.Append(' ', indent);

        private void WriteField(FieldDescriptor field, object value, int indent)
        {
            Indent(indent);
            if (field.FieldType == FieldType.Message || field.FieldType == FieldType.Group)
            {
                _sb.Append(field.FieldType == FieldType.Group ? field.MessageType.Name : field.Name).Append(" {\n");
                WriteMessage(AsMessage(field.MessageType, value), indent + 2);
                Indent(indent);
                _sb.Append("}\n");
            }
            else
            {
                _sb.Append(field.Name).Append(": ");
                WriteScalar(field, value);
                _sb.Append('\n');
            }
        }

        private static IMessage AsMessage(MessageDescriptor type, object value)
        {
            if (value is IMessage m)
            {
                return m;
            }

            // Wrapper types (google.protobuf.Int32Value etc.) are exposed by reflection as their primitive value.
            if (type.File.Name == WrappersFile && type.ClrType != null)
            {
                var wrapper = (IMessage)Activator.CreateInstance(type.ClrType)!;
                type.Fields[1].Accessor.SetValue(wrapper, value);
                return wrapper;
            }

            throw new InvalidOperationException($"value of type {value.GetType()} is not a message of type '{type.FullName}'");
        }

        private void WriteMap(FieldDescriptor field, IDictionary dict, int indent)
        {
            FieldDescriptor keyField = field.MessageType.FindFieldByNumber(1);
            FieldDescriptor valueField = field.MessageType.FindFieldByNumber(2);
            var keys = new object[dict.Count];
            dict.Keys.CopyTo(keys, 0);
            if (keyField.FieldType == FieldType.String)
            {
                Array.Sort(keys, (a, b) => string.CompareOrdinal((string)a, (string)b));
            }
            else
            {
                Array.Sort(keys, Comparer<object>.Default);
            }

            foreach (object key in keys)
            {
                object value = dict[key]!;
                Indent(indent);
                _sb.Append(field.Name).Append(" {\n");
                Indent(indent + 2);
                _sb.Append("key: ");
                WriteScalar(keyField, key);
                _sb.Append('\n');
                WriteField(valueField, value, indent + 2);
                Indent(indent);
                _sb.Append("}\n");
            }
        }

        private bool TryWriteAny(IMessage message, MessageDescriptor descriptor, int indent)
        {
            var url = (string)descriptor.FindFieldByNumber(1).Accessor.GetValue(message);
            var payload = (ByteString)descriptor.FindFieldByNumber(2).Accessor.GetValue(message);
            int slash = url.LastIndexOf('/');
            if (slash < 0)
            {
                return false;
            }

            MessageDescriptor? type = _registry!.Find(url.Substring(slash + 1));
            if (type?.Parser == null)
            {
                return false;
            }

            IMessage inner;
            try
            {
                inner = type.Parser.ParseFrom(payload);
            }
            catch (InvalidProtocolBufferException)
            {
                return false;
            }

            // Only expand when parsing the expansion back reproduces the payload exactly.
            if (!inner.ToByteString().Equals(payload))
            {
                return false;
            }

            Indent(indent);
            _sb.Append('[').Append(url).Append("] {\n");
            WriteMessage(inner, indent + 2);
            Indent(indent);
            _sb.Append("}\n");
            return true;
        }

        private void WriteScalar(FieldDescriptor field, object value)
        {
            switch (field.FieldType)
            {
                case FieldType.Bool:
                    _sb.Append((bool)value ? "true" : "false");
                    break;
                case FieldType.String:
                    WriteQuoted((string)value);
                    break;
                case FieldType.Bytes:
                    WriteQuoted(((ByteString)value).Span);
                    break;
                case FieldType.Enum:
                {
                    int number = (int)value;
                    EnumValueDescriptor? ev = field.EnumType.FindValueByNumber(number);
                    if (ev != null)
                    {
                        _sb.Append(ev.Name);
                    }
                    else
                    {
                        _sb.Append(number.ToString(CultureInfo.InvariantCulture));
                    }

                    break;
                }

                case FieldType.Float:
                    AppendFloat((float)value);
                    break;
                case FieldType.Double:
                    AppendDouble((double)value);
                    break;
                default:
                    _sb.Append(((IFormattable)value).ToString(null, CultureInfo.InvariantCulture));
                    break;
            }
        }

        private void AppendDouble(double v)
        {
            if (double.IsNaN(v))
            {
                _sb.Append("nan");
            }
            else if (double.IsPositiveInfinity(v))
            {
                _sb.Append("inf");
            }
            else if (double.IsNegativeInfinity(v))
            {
                _sb.Append("-inf");
            }
            else
            {
                AppendNumber(v.ToString("R", CultureInfo.InvariantCulture));
            }
        }

        private void AppendFloat(float v)
        {
            if (float.IsNaN(v))
            {
                _sb.Append("nan");
            }
            else if (float.IsPositiveInfinity(v))
            {
                _sb.Append("inf");
            }
            else if (float.IsNegativeInfinity(v))
            {
                _sb.Append("-inf");
            }
            else
            {
                AppendNumber(v.ToString("R", CultureInfo.InvariantCulture));
            }
        }

        private void AppendNumber(string s)
        {
            // .NET writes "1E-05"; text format conventionally uses a lower-case exponent ("1e-05").
            int e = s.IndexOf('E');
            if (e < 0)
            {
                _sb.Append(s);
            }
            else
            {
                _sb.Append(s, 0, e).Append('e').Append(s, e + 1, s.Length - e - 1);
            }
        }

        private void WriteQuoted(string s)
        {
            _sb.Append('"');
            Span<byte> utf8 = stackalloc byte[4];
            for (int i = 0; i < s.Length; i++)
            {
                char c = s[i];
                if (c < 0x80)
                {
                    AppendEscapedByte(c);
                    continue;
                }

                int cp;
                if (char.IsHighSurrogate(c) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1]))
                {
                    cp = char.ConvertToUtf32(c, s[i + 1]);
                    i++;
                }
                else if (char.IsSurrogate(c))
                {
                    cp = 0xFFFD; // an unpaired surrogate cannot be encoded; UTF-8 encoders substitute U+FFFD
                }
                else
                {
                    cp = c;
                }

                int n = new Rune(cp).EncodeToUtf8(utf8);
                for (int k = 0; k < n; k++)
                {
                    AppendEscapedByte(utf8[k]);
                }
            }

            _sb.Append('"');
        }

        private void WriteQuoted(ReadOnlySpan<byte> bytes)
        {
            _sb.Append('"');
            foreach (byte b in bytes)
            {
                AppendEscapedByte(b);
            }

            _sb.Append('"');
        }

        private void AppendEscapedByte(int b)
        {
            switch (b)
            {
                case '\n': _sb.Append("\\n"); return;
                case '\r': _sb.Append("\\r"); return;
                case '\t': _sb.Append("\\t"); return;
                case '"': _sb.Append("\\\""); return;
                case '\'': _sb.Append("\\'"); return;
                case '\\': _sb.Append("\\\\"); return;
            }

            if (b < 0x20 || b >= 0x7F)
            {
                _sb.Append('\\')
                    .Append((char)('0' + ((b >> 6) & 3)))
                    .Append((char)('0' + ((b >> 3) & 7)))
                    .Append((char)('0' + (b & 7)));
            }
            else
            {
                _sb.Append((char)b);
            }
        }
    }
}
