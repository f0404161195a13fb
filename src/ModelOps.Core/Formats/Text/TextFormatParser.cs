using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace ModelOps.Core.Formats.Text;

/// <summary>
/// Parses the protobuf text format (as written by TensorFlow's <c>.pbtxt</c> files, Python's
/// <c>text_format</c> and C++ <c>TextFormat</c>) into messages through Google.Protobuf reflection.
/// </summary>
/// <remarks>
/// Supported: <c>{ }</c> and <c>&lt; &gt;</c> delimiters, optional <c>:</c> before message values,
/// optional <c>,</c>/<c>;</c> separators, list syntax <c>f: [1, 2]</c> and <c>f [ {..}, {..} ]</c>,
/// map fields as repeated <c>{ key: .. value: .. }</c> entries, enums by name or number, C-style
/// string escapes, adjacent string concatenation, <c>#</c> comments, and <c>google.protobuf.Any</c>
/// expansion (<c>[type.googleapis.com/pkg.Msg] { .. }</c>) resolved through a <see cref="TypeRegistry"/>.
/// Extension syntax (<c>[pkg.ext]</c>) is rejected with a <see cref="TextFormatException"/>.
/// </remarks>
public static class TextFormatParser
{
    /// <summary>Parses <paramref name="text"/> into a new message of type <typeparamref name="T"/>.</summary>
    /// <exception cref="TextFormatException">The text is not valid text format for the message type.</exception>
    public static T Parse<T>(string text, TypeRegistry? registry = null) where T : IMessage<T>, new()
    {
        var message = new T();
        Merge(text, message, registry);
        return message;
    }

    /// <summary>
    /// Parses <paramref name="text"/> and merges the fields into <paramref name="target"/>: repeated fields
    /// are appended, singular fields overwritten, singular message fields merged.
    /// </summary>
    /// <exception cref="TextFormatException">The text is not valid text format for the message type.</exception>
    public static void Merge(string text, IMessage target, TypeRegistry? registry = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(target);
        var parser = new Parser(text, registry);
        parser.ParseTopLevel(target);
    }

    private enum TokenKind
    {
        End,
        Identifier,
        Number,
        String,
        Symbol,
    }

    private sealed class Parser
    {
        private const int MaxDepth = 200;
        private const string AnyFullName = "google.protobuf.Any";
        private const string WrappersFile = "google/protobuf/wrappers.proto";

        private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

        private readonly string _text;
        private readonly TypeRegistry? _registry;
        private readonly Dictionary<MessageDescriptor, Dictionary<string, FieldDescriptor>> _fieldCache = new();

        // Lexer state: _pos is the index just after the current token.
        private int _pos;
        private int _line = 1;
        private int _lineStart;

        // Current token.
        private TokenKind _kind;
        private int _tokStart;
        private int _tokLen;
        private int _tokLine;
        private int _tokCol;

        private int _depth;
        private byte[] _buf = new byte[256];
        private int _bufLen;

        public Parser(string text, TypeRegistry? registry)
        {
            _text = text;
            _registry = registry;
        }

        public void ParseTopLevel(IMessage target)
        {
            Next();
            ParseFields(target, target.Descriptor, '\0');
        }

        // ------------------------------------------------------------------ lexer

        private void Next()
        {
            string t = _text;
            int n = t.Length;
            int p = _pos;
            while (p < n)
            {
                char c = t[p];
                if (c == '\n')
                {
                    p++;
                    _line++;
                    _lineStart = p;
                }
                else if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' || c == '\uFEFF')
                {
                    p++;
                }
                else if (c == '#')
                {
                    while (p < n && t[p] != '\n')
                    {
                        p++;
                    }
                }
                else
                {
                    break;
                }
            }

            _tokStart = p;
            _tokLine = _line;
            _tokCol = p - _lineStart + 1;
            if (p >= n)
            {
                _kind = TokenKind.End;
                _tokLen = 0;
                _pos = p;
                return;
            }

            char ch = t[p];
            if (IsLetter(ch) || ch == '_')
            {
                p++;
                while (p < n && IsIdentChar(t[p]))
                {
                    p++;
                }

                _kind = TokenKind.Identifier;
            }
            else if (IsDigit(ch) || (ch == '.' && p + 1 < n && IsDigit(t[p + 1])))
            {
                p = ScanNumber(p);
                _kind = TokenKind.Number;
            }
            else if (ch == '"' || ch == '\'')
            {
                p = ScanString(p, ch);
                _kind = TokenKind.String;
            }
            else
            {
                p++;
                _kind = TokenKind.Symbol;
            }

            _tokLen = p - _tokStart;
            _pos = p;
        }

        private int ScanNumber(int p)
        {
            string t = _text;
            int n = t.Length;
            if (t[p] == '0' && p + 1 < n && (t[p + 1] == 'x' || t[p + 1] == 'X'))
            {
                p += 2;
            }
            else
            {
                while (p < n && IsDigit(t[p]))
                {
                    p++;
                }

                if (p < n && t[p] == '.')
                {
                    p++;
                    while (p < n && IsDigit(t[p]))
                    {
                        p++;
                    }
                }

                if (p < n && (t[p] == 'e' || t[p] == 'E'))
                {
                    int q = p + 1;
                    if (q < n && (t[q] == '+' || t[q] == '-'))
                    {
                        q++;
                    }

                    if (q < n && IsDigit(t[q]))
                    {
                        p = q;
                        while (p < n && IsDigit(t[p]))
                        {
                            p++;
                        }
                    }
                }
            }

            // Hex digits, an f/F suffix, or trailing garbage that makes the token invalid.
            while (p < n && IsIdentChar(t[p]))
            {
                p++;
            }

            return p;
        }

        private int ScanString(int p, char quote)
        {
            string t = _text;
            int n = t.Length;
            int start = p;
            p++;
            while (true)
            {
                if (p >= n)
                {
                    throw Error(_tokLine, start - _lineStart + 1, "unterminated string literal");
                }

                char c = t[p];
                if (c == quote)
                {
                    return p + 1;
                }

                if (c == '\n')
                {
                    throw Error(_tokLine, start - _lineStart + 1, "unterminated string literal (line break inside string)");
                }

                if (c == '\\')
                {
                    if (p + 1 < n && t[p + 1] == '\n')
                    {
                        throw Error(_tokLine, start - _lineStart + 1, "unterminated string literal (line break inside string)");
                    }

                    p += 2;
                    continue;
                }

                p++;
            }
        }

        private static bool IsDigit(char c) => (uint)(c - '0') <= 9;

        private static bool IsLetter(char c) => (uint)((c | 0x20) - 'a') <= 'z' - 'a';

        private static bool IsIdentChar(char c) => IsLetter(c) || IsDigit(c) || c == '_';

        private static int HexValue(char c)
        {
            if (IsDigit(c))
            {
                return c - '0';
            }

            int l = c | 0x20;
            return l >= 'a' && l <= 'f' ? l - 'a' + 10 : -1;
        }

        private bool IsSymbol(char c) => _kind == TokenKind.Symbol && _text[_tokStart] == c;

        private bool TryConsume(char c)
        {
            if (IsSymbol(c))
            {
                Next();
                return true;
            }

            return false;
        }

        private void Expect(char c)
        {
            if (!TryConsume(c))
            {
                throw ErrorAtToken($"expected '{c}' but found {Describe()}");
            }
        }

        private string TokenText() => _text.Substring(_tokStart, _tokLen);

        private string Describe()
        {
            if (_kind == TokenKind.End)
            {
                return "end of input";
            }

            string s = _tokLen > 40 ? _text.Substring(_tokStart, 37) + "..." : TokenText();
            return "'" + s + "'";
        }

        private static TextFormatException Error(int line, int column, string detail) => new(line, column, detail);

        private TextFormatException ErrorAtToken(string detail) => new(_tokLine, _tokCol, detail);

        // ------------------------------------------------------------------ messages

        private void ParseFields(IMessage message, MessageDescriptor descriptor, char close)
        {
            HashSet<int>? seen = null;
            while (true)
            {
                if (_kind == TokenKind.End)
                {
                    if (close == '\0')
                    {
                        return;
                    }

                    throw ErrorAtToken($"expected '{close}' but found end of input");
                }

                if (close != '\0' && IsSymbol(close))
                {
                    Next();
                    return;
                }

                if (IsSymbol('['))
                {
                    int line = _tokLine;
                    int col = _tokCol;
                    string name = ReadBracketName();
                    if (descriptor.FullName == AnyFullName && name.IndexOf('/') >= 0)
                    {
                        ParseAnyExpansion(message, descriptor, name, line, col, ref seen);
                    }
                    else
                    {
                        throw Error(line, col, $"extension fields are not supported: '[{name}]' in message type '{descriptor.FullName}'");
                    }
                }
                else
                {
                    if (_kind != TokenKind.Identifier)
                    {
                        throw ErrorAtToken(close == '\0'
                            ? $"expected field name but found {Describe()}"
                            : $"expected field name or '{close}' but found {Describe()}");
                    }

                    FieldDescriptor field = LookupField(descriptor);
                    ParseField(message, field, ref seen);
                }

                if (IsSymbol(',') || IsSymbol(';'))
                {
                    Next();
                }
            }
        }

        private FieldDescriptor LookupField(MessageDescriptor descriptor)
        {
            if (!_fieldCache.TryGetValue(descriptor, out var map))
            {
                map = new Dictionary<string, FieldDescriptor>(StringComparer.Ordinal);
                foreach (FieldDescriptor f in descriptor.Fields.InDeclarationOrder())
                {
                    map[f.Name] = f;
                }

                foreach (FieldDescriptor f in descriptor.Fields.InDeclarationOrder())
                {
                    // Groups are written with the group's type name (e.g. "MyGroup { .. }").
                    if (f.FieldType == FieldType.Group)
                    {
                        map.TryAdd(f.MessageType.Name, f);
                    }
                }

                _fieldCache[descriptor] = map;
            }

            string name = TokenText();
            if (!map.TryGetValue(name, out FieldDescriptor? field))
            {
                throw ErrorAtToken($"message type '{descriptor.FullName}' has no field named '{name}'");
            }

            return field;
        }

        private void MarkSingular(FieldDescriptor field, int line, int col, ref HashSet<int>? seen)
        {
            seen ??= new HashSet<int>();
            if (!seen.Add(field.FieldNumber))
            {
                throw Error(line, col, $"non-repeated field '{field.Name}' of message type '{field.ContainingType.FullName}' is specified more than once");
            }

            OneofDescriptor? oneof = field.RealContainingOneof;
            if (oneof != null && !seen.Add(-1 - oneof.Index))
            {
                throw Error(line, col, $"field '{field.Name}' is in oneof '{oneof.Name}' of message type '{field.ContainingType.FullName}', which already has a field set");
            }
        }

        private void ParseField(IMessage message, FieldDescriptor field, ref HashSet<int>? seen)
        {
            int line = _tokLine;
            int col = _tokCol;
            Next(); // field name

            if (field.FieldType == FieldType.Message || field.FieldType == FieldType.Group)
            {
                TryConsume(':');
                if (field.IsRepeated && IsSymbol('['))
                {
                    Next();
                    if (TryConsume(']'))
                    {
                        return;
                    }

                    while (true)
                    {
                        ParseMessageElement(message, field);
                        if (TryConsume(','))
                        {
                            continue;
                        }

                        Expect(']');
                        return;
                    }
                }

                if (!field.IsRepeated)
                {
                    MarkSingular(field, line, col, ref seen);
                }

                ParseMessageElement(message, field);
                return;
            }

            if (!IsSymbol(':'))
            {
                throw ErrorAtToken($"expected ':' after field name '{field.Name}' but found {Describe()}");
            }

            Next();
            if (field.IsRepeated)
            {
                var list = (IList)field.Accessor.GetValue(message);
                if (IsSymbol('['))
                {
                    Next();
                    if (TryConsume(']'))
                    {
                        return;
                    }

                    while (true)
                    {
                        list.Add(ParseScalar(field));
                        if (TryConsume(','))
                        {
                            continue;
                        }

                        Expect(']');
                        return;
                    }
                }

                list.Add(ParseScalar(field));
                return;
            }

            MarkSingular(field, line, col, ref seen);
            field.Accessor.SetValue(message, ParseScalar(field));
        }

        private char ExpectOpen()
        {
            if (IsSymbol('{'))
            {
                Next();
                return '}';
            }

            if (IsSymbol('<'))
            {
                Next();
                return '>';
            }

            throw ErrorAtToken($"expected '{{' or '<' but found {Describe()}");
        }

        private void Enter()
        {
            if (++_depth > MaxDepth)
            {
                throw ErrorAtToken($"message nesting is deeper than {MaxDepth} levels");
            }
        }

        private void ParseMessageElement(IMessage message, FieldDescriptor field)
        {
            char close = ExpectOpen();
            Enter();
            if (field.IsMap)
            {
                ParseMapEntry(message, field, close);
            }
            else
            {
                MessageDescriptor type = field.MessageType;
                bool wrapper = IsWrapper(type);
                if (field.IsRepeated)
                {
                    IMessage sub = NewMessage(type);
                    ParseFields(sub, type, close);
                    ((IList)field.Accessor.GetValue(message)).Add(wrapper ? Unwrap(sub) : sub);
                }
                else if (wrapper)
                {
                    IMessage sub = NewMessage(type);
                    object? existing = field.Accessor.GetValue(message);
                    if (existing != null)
                    {
                        type.Fields[1].Accessor.SetValue(sub, existing);
                    }

                    ParseFields(sub, type, close);
                    field.Accessor.SetValue(message, Unwrap(sub));
                }
                else
                {
                    var sub = (IMessage?)field.Accessor.GetValue(message);
                    if (sub == null)
                    {
                        sub = NewMessage(type);
                        field.Accessor.SetValue(message, sub);
                    }

                    ParseFields(sub, type, close);
                }
            }

            _depth--;
        }

        private void ParseMapEntry(IMessage message, FieldDescriptor field, char close)
        {
            MessageDescriptor entry = field.MessageType;
            FieldDescriptor keyField = entry.FindFieldByNumber(1);
            FieldDescriptor valueField = entry.FindFieldByNumber(2);
            object? key = null;
            object? value = null;
            while (true)
            {
                if (_kind == TokenKind.End)
                {
                    throw ErrorAtToken($"expected '{close}' but found end of input");
                }

                if (IsSymbol(close))
                {
                    Next();
                    break;
                }

                if (_kind != TokenKind.Identifier)
                {
                    throw ErrorAtToken($"expected 'key', 'value' or '{close}' in map entry of field '{field.Name}' but found {Describe()}");
                }

                string name = TokenText();
                FieldDescriptor f;
                if (name == "key")
                {
                    f = keyField;
                }
                else if (name == "value")
                {
                    f = valueField;
                }
                else
                {
                    throw ErrorAtToken($"map entry of field '{field.Name}' in message type '{field.ContainingType.FullName}' has no field named '{name}'");
                }

                if ((f == keyField ? key : value) != null)
                {
                    throw ErrorAtToken($"'{name}' is specified more than once in a map entry of field '{field.Name}'");
                }

                Next();
                object v;
                if (f.FieldType == FieldType.Message)
                {
                    TryConsume(':');
                    char c = ExpectOpen();
                    Enter();
                    MessageDescriptor type = f.MessageType;
                    IMessage sub = NewMessage(type);
                    ParseFields(sub, type, c);
                    _depth--;
                    v = IsWrapper(type) ? Unwrap(sub) ?? DefaultScalar(type.Fields[1]) : sub;
                }
                else
                {
                    if (!IsSymbol(':'))
                    {
                        throw ErrorAtToken($"expected ':' after '{name}' but found {Describe()}");
                    }

                    Next();
                    v = ParseScalar(f);
                }

                if (f == keyField)
                {
                    key = v;
                }
                else
                {
                    value = v;
                }

                if (IsSymbol(',') || IsSymbol(';'))
                {
                    Next();
                }
            }

            key ??= DefaultScalar(keyField);
            if (value == null)
            {
                value = valueField.FieldType == FieldType.Message
                    ? (IsWrapper(valueField.MessageType) ? DefaultScalar(valueField.MessageType.Fields[1]) : NewMessage(valueField.MessageType))
                    : DefaultScalar(valueField);
            }

            var dict = (IDictionary)field.Accessor.GetValue(message);
            dict[key] = value;
        }

        private string ReadBracketName()
        {
            // The current token is '['; read raw characters up to ']' so that type URLs such as
            // "type.googleapis.com/tensorflow.GraphDef" need no tokenizing.
            string t = _text;
            int p = _pos;
            var sb = new StringBuilder();
            while (true)
            {
                if (p >= t.Length || t[p] == '\n')
                {
                    throw ErrorAtToken("expected ']' to close the '[' type URL or extension name");
                }

                char c = t[p];
                if (c == ']')
                {
                    break;
                }

                if (c == ' ' || c == '\t' || c == '\r')
                {
                    p++;
                    continue;
                }

                if (!(IsIdentChar(c) || c == '.' || c == '/' || c == '-' || c == '~' || c == '%' || c == ':' || c == '+'))
                {
                    throw Error(_tokLine, p - _lineStart + 1, $"unexpected character '{c}' in '[...]' name");
                }

                sb.Append(c);
                p++;
            }

            if (sb.Length == 0)
            {
                throw ErrorAtToken("empty '[]' name");
            }

            _pos = p + 1;
            Next();
            return sb.ToString();
        }

        private void ParseAnyExpansion(IMessage message, MessageDescriptor descriptor, string url, int line, int col, ref HashSet<int>? seen)
        {
            FieldDescriptor urlField = descriptor.FindFieldByNumber(1);
            FieldDescriptor valueField = descriptor.FindFieldByNumber(2);
            MarkSingular(urlField, line, col, ref seen);
            MarkSingular(valueField, line, col, ref seen);

            string typeName = url.Substring(url.LastIndexOf('/') + 1);
            MessageDescriptor? inner = _registry?.Find(typeName);
            if (inner == null)
            {
                throw Error(line, col, _registry == null
                    ? $"cannot expand google.protobuf.Any with type URL '{url}': no TypeRegistry was given"
                    : $"cannot expand google.protobuf.Any: type '{typeName}' (from type URL '{url}') is not in the TypeRegistry");
            }

            TryConsume(':');
            char close = ExpectOpen();
            Enter();
            IMessage sub = NewMessage(inner);
            ParseFields(sub, inner, close);
            _depth--;
            urlField.Accessor.SetValue(message, url);
            valueField.Accessor.SetValue(message, sub.ToByteString());
        }

        private static bool IsWrapper(MessageDescriptor type) => type.File.Name == WrappersFile;

        private static object? Unwrap(IMessage wrapper) => wrapper.Descriptor.Fields[1].Accessor.GetValue(wrapper);

        private static IMessage NewMessage(MessageDescriptor type)
        {
            Type clrType = type.ClrType ?? throw new InvalidOperationException($"message type '{type.FullName}' has no generated class");
            return (IMessage)Activator.CreateInstance(clrType)!;
        }

        private static object DefaultScalar(FieldDescriptor field) => field.FieldType switch
        {
            FieldType.Bool => false,
            FieldType.String => string.Empty,
            FieldType.Bytes => ByteString.Empty,
            FieldType.Float => 0f,
            FieldType.Double => 0d,
            FieldType.Int32 or FieldType.SInt32 or FieldType.SFixed32 or FieldType.Enum => 0,
            FieldType.UInt32 or FieldType.Fixed32 => 0u,
            FieldType.Int64 or FieldType.SInt64 or FieldType.SFixed64 => 0L,
            FieldType.UInt64 or FieldType.Fixed64 => 0UL,
            _ => throw new InvalidOperationException($"no scalar default for field '{field.FullName}'"),
        };

        // ------------------------------------------------------------------ scalar values

        private object ParseScalar(FieldDescriptor field)
        {
            switch (field.FieldType)
            {
                case FieldType.Bool:
                    return ParseBool(field);
                case FieldType.String:
                    return ParseString(field);
                case FieldType.Bytes:
                    return ParseBytes(field);
                case FieldType.Enum:
                    return ParseEnum(field);
                case FieldType.Float:
                    return (float)ParseDouble(field);
                case FieldType.Double:
                    return ParseDouble(field);
                case FieldType.Int32:
                case FieldType.SInt32:
                case FieldType.SFixed32:
                {
                    int line = _tokLine, col = _tokCol;
                    ulong mag = ParseIntegerMagnitude(field, out bool neg);
                    if (mag > (neg ? 0x80000000UL : int.MaxValue))
                    {
                        throw OutOfRange(field, line, col, neg, mag, "int32");
                    }

                    return neg ? (int)unchecked(-(long)mag) : (int)mag;
                }

                case FieldType.UInt32:
                case FieldType.Fixed32:
                {
                    int line = _tokLine, col = _tokCol;
                    ulong mag = ParseIntegerMagnitude(field, out bool neg);
                    if ((neg && mag != 0) || mag > uint.MaxValue)
                    {
                        throw OutOfRange(field, line, col, neg, mag, "uint32");
                    }

                    return (uint)mag;
                }

                case FieldType.Int64:
                case FieldType.SInt64:
                case FieldType.SFixed64:
                {
                    int line = _tokLine, col = _tokCol;
                    ulong mag = ParseIntegerMagnitude(field, out bool neg);
                    if (mag > (neg ? 0x8000000000000000UL : long.MaxValue))
                    {
                        throw OutOfRange(field, line, col, neg, mag, "int64");
                    }

                    return neg ? unchecked(-(long)mag) : (long)mag;
                }

                case FieldType.UInt64:
                case FieldType.Fixed64:
                {
                    int line = _tokLine, col = _tokCol;
                    ulong mag = ParseIntegerMagnitude(field, out bool neg);
                    if (neg && mag != 0)
                    {
                        throw OutOfRange(field, line, col, neg, mag, "uint64");
                    }

                    return mag;
                }

                default:
                    throw ErrorAtToken($"field '{field.Name}' of type {field.FieldType} cannot have a scalar value");
            }
        }

        private static TextFormatException OutOfRange(FieldDescriptor field, int line, int col, bool neg, ulong mag, string type)
        {
            string value = (neg ? "-" : string.Empty) + mag.ToString(CultureInfo.InvariantCulture);
            return Error(line, col, $"integer {value} is out of range for {type} field '{field.Name}'");
        }

        private ulong ParseIntegerMagnitude(FieldDescriptor field, out bool negative)
        {
            negative = false;
            if (IsSymbol('-'))
            {
                negative = true;
                Next();
            }

            if (_kind != TokenKind.Number)
            {
                throw ErrorAtToken($"expected integer value for field '{field.Name}' but found {Describe()}");
            }

            switch (TryParseUnsigned(_tokStart, _tokLen, out ulong value))
            {
                case 0:
                    Next();
                    return value;
                case 1:
                    throw ErrorAtToken($"integer {Describe()} is out of range for field '{field.Name}'");
                default:
                    throw ErrorAtToken($"expected integer value for field '{field.Name}' but found {Describe()}");
            }
        }

        /// <returns>0 on success, 1 on overflow, 2 when the text is not an integer.</returns>
        private int TryParseUnsigned(int start, int length, out ulong value)
        {
            string t = _text;
            int end = start + length;
            value = 0;
            if (length > 2 && t[start] == '0' && (t[start + 1] == 'x' || t[start + 1] == 'X'))
            {
                for (int i = start + 2; i < end; i++)
                {
                    int d = HexValue(t[i]);
                    if (d < 0)
                    {
                        return 2;
                    }

                    if (value > ulong.MaxValue >> 4)
                    {
                        return 1;
                    }

                    value = (value << 4) | (uint)d;
                }

                return 0;
            }

            if (length > 1 && t[start] == '0')
            {
                for (int i = start + 1; i < end; i++)
                {
                    int d = t[i] - '0';
                    if ((uint)d > 7)
                    {
                        return 2;
                    }

                    if (value > ulong.MaxValue >> 3)
                    {
                        return 1;
                    }

                    value = (value << 3) | (uint)d;
                }

                return 0;
            }

            for (int i = start; i < end; i++)
            {
                int d = t[i] - '0';
                if ((uint)d > 9)
                {
                    return 2;
                }

                if (value > (ulong.MaxValue - (uint)d) / 10)
                {
                    return 1;
                }

                value = (value * 10) + (uint)d;
            }

            return 0;
        }

        private double ParseDouble(FieldDescriptor field)
        {
            bool negative = false;
            if (IsSymbol('-'))
            {
                negative = true;
                Next();
            }

            double v;
            if (_kind == TokenKind.Identifier)
            {
                string s = TokenText().ToLowerInvariant();
                switch (s)
                {
                    case "inf":
                    case "inff":
                    case "infinity":
                    case "infinityf":
                        v = double.PositiveInfinity;
                        break;
                    case "nan":
                    case "nanf":
                        v = double.NaN;
                        break;
                    default:
                        throw ErrorAtToken($"expected number for field '{field.Name}' but found {Describe()}");
                }
            }
            else if (_kind == TokenKind.Number)
            {
                if (!TryParseFloatToken(out v))
                {
                    throw ErrorAtToken($"invalid number {Describe()} for field '{field.Name}'");
                }
            }
            else
            {
                throw ErrorAtToken($"expected number for field '{field.Name}' but found {Describe()}");
            }

            Next();
            return negative ? -v : v;
        }

        private bool TryParseFloatToken(out double value)
        {
            string t = _text;
            int start = _tokStart;
            int length = _tokLen;

            // Integer tokens (decimal, octal, hex) are read as integers, like C++ TextFormat does.
            int r = TryParseUnsigned(start, length, out ulong integer);
            if (r == 0)
            {
                value = integer;
                return true;
            }

            if (length > 1 && t[start] == '0' && (t[start + 1] == 'x' || t[start + 1] == 'X'))
            {
                value = 0;
                return false;
            }

            char last = t[start + length - 1];
            if (last == 'f' || last == 'F')
            {
                length--;
            }

            ReadOnlySpan<char> span = t.AsSpan(start, length);
            for (int i = 0; i < span.Length; i++)
            {
                char c = span[i];
                if (!(IsDigit(c) || c == '.' || c == 'e' || c == 'E' || ((c == '+' || c == '-') && i > 0 && (span[i - 1] | 0x20) == 'e')))
                {
                    value = 0;
                    return false;
                }
            }

            return double.TryParse(span, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out value);
        }

        private bool ParseBool(FieldDescriptor field)
        {
            if (_kind == TokenKind.Identifier || _kind == TokenKind.Number)
            {
                ReadOnlySpan<char> s = _text.AsSpan(_tokStart, _tokLen);
                bool? result = null;
                if (s.SequenceEqual("true") || s.SequenceEqual("True") || s.SequenceEqual("t") || s.SequenceEqual("1"))
                {
                    result = true;
                }
                else if (s.SequenceEqual("false") || s.SequenceEqual("False") || s.SequenceEqual("f") || s.SequenceEqual("0"))
                {
                    result = false;
                }

                if (result.HasValue)
                {
                    Next();
                    return result.Value;
                }
            }

            throw ErrorAtToken($"expected boolean value (true/false) for field '{field.Name}' but found {Describe()}");
        }

        private int ParseEnum(FieldDescriptor field)
        {
            EnumDescriptor type = field.EnumType;
            if (_kind == TokenKind.Identifier)
            {
                string name = TokenText();
                EnumValueDescriptor? value = type.FindValueByName(name);
                if (value == null)
                {
                    throw ErrorAtToken($"unknown value '{name}' for enum '{type.FullName}' of field '{field.Name}'");
                }

                Next();
                return value.Number;
            }

            if (_kind == TokenKind.Number || IsSymbol('-'))
            {
                int line = _tokLine, col = _tokCol;
                ulong mag = ParseIntegerMagnitude(field, out bool neg);
                if (mag > (neg ? 0x80000000UL : int.MaxValue))
                {
                    throw OutOfRange(field, line, col, neg, mag, "enum");
                }

                return neg ? (int)unchecked(-(long)mag) : (int)mag;
            }

            throw ErrorAtToken($"expected enum value name or number for field '{field.Name}' but found {Describe()}");
        }

        private string ParseString(FieldDescriptor field)
        {
            if (_kind != TokenKind.String)
            {
                throw ErrorAtToken($"expected string for field '{field.Name}' but found {Describe()}");
            }

            int start = _tokStart;
            int length = _tokLen;
            int line = _tokLine;
            int col = _tokCol;
            Next();
            bool simple = _text.AsSpan(start + 1, length - 2).IndexOf('\\') < 0;
            if (simple && _kind != TokenKind.String)
            {
                return _text.Substring(start + 1, length - 2);
            }

            _bufLen = 0;
            AppendUnescaped(start, length, line, col);
            while (_kind == TokenKind.String)
            {
                AppendUnescaped(_tokStart, _tokLen, _tokLine, _tokCol);
                Next();
            }

            try
            {
                return StrictUtf8.GetString(_buf, 0, _bufLen);
            }
            catch (DecoderFallbackException ex)
            {
                throw new TextFormatException(line, col, $"string field '{field.Name}' is not valid UTF-8 after unescaping (use a bytes field for binary data)", ex);
            }
        }

        private ByteString ParseBytes(FieldDescriptor field)
        {
            if (_kind != TokenKind.String)
            {
                throw ErrorAtToken($"expected string for bytes field '{field.Name}' but found {Describe()}");
            }

            _bufLen = 0;
            while (_kind == TokenKind.String)
            {
                AppendUnescaped(_tokStart, _tokLen, _tokLine, _tokCol);
                Next();
            }

            return ByteString.CopyFrom(_buf, 0, _bufLen);
        }

        private void AppendByte(int b)
        {
            if (_bufLen == _buf.Length)
            {
                Array.Resize(ref _buf, _buf.Length * 2);
            }

            _buf[_bufLen++] = (byte)b;
        }

        private void AppendCodePoint(int cp)
        {
            if (cp < 0x80)
            {
                AppendByte(cp);
            }
            else if (cp < 0x800)
            {
                AppendByte(0xC0 | (cp >> 6));
                AppendByte(0x80 | (cp & 0x3F));
            }
            else if (cp < 0x10000)
            {
                AppendByte(0xE0 | (cp >> 12));
                AppendByte(0x80 | ((cp >> 6) & 0x3F));
                AppendByte(0x80 | (cp & 0x3F));
            }
            else
            {
                AppendByte(0xF0 | (cp >> 18));
                AppendByte(0x80 | ((cp >> 12) & 0x3F));
                AppendByte(0x80 | ((cp >> 6) & 0x3F));
                AppendByte(0x80 | (cp & 0x3F));
            }
        }

        /// <summary>Appends the bytes of the quoted literal at [start, start+length) to the buffer.</summary>
        private void AppendUnescaped(int start, int length, int line, int col)
        {
            string t = _text;
            int i = start + 1;
            int end = start + length - 1; // closing quote
            while (i < end)
            {
                char c = t[i];
                if (c != '\\')
                {
                    if (c < 0x80)
                    {
                        AppendByte(c);
                        i++;
                    }
                    else if (char.IsHighSurrogate(c) && i + 1 < end && char.IsLowSurrogate(t[i + 1]))
                    {
                        AppendCodePoint(char.ConvertToUtf32(c, t[i + 1]));
                        i += 2;
                    }
                    else if (char.IsSurrogate(c))
                    {
                        throw Error(line, col + (i - start), "unpaired UTF-16 surrogate in string literal");
                    }
                    else
                    {
                        AppendCodePoint(c);
                        i++;
                    }

                    continue;
                }

                int escCol = col + (i - start);
                i++;
                char e = t[i++];
                switch (e)
                {
                    case 'n': AppendByte('\n'); break;
                    case 't': AppendByte('\t'); break;
                    case 'r': AppendByte('\r'); break;
                    case 'a': AppendByte(7); break;
                    case 'b': AppendByte(8); break;
                    case 'f': AppendByte(12); break;
                    case 'v': AppendByte(11); break;
                    case '\\': AppendByte('\\'); break;
                    case '\'': AppendByte('\''); break;
                    case '"': AppendByte('"'); break;
                    case '?': AppendByte('?'); break;
                    case >= '0' and <= '7':
                    {
                        int v = e - '0';
                        for (int k = 0; k < 2 && i < end && t[i] >= '0' && t[i] <= '7'; k++)
                        {
                            v = (v * 8) + (t[i++] - '0');
                        }

                        if (v > 0xFF)
                        {
                            throw Error(line, escCol, "octal escape is greater than \\377");
                        }

                        AppendByte(v);
                        break;
                    }

                    case 'x':
                    case 'X':
                    {
                        int v = 0;
                        int digits = 0;
                        while (digits < 2 && i < end && HexValue(t[i]) >= 0)
                        {
                            v = (v * 16) + HexValue(t[i++]);
                            digits++;
                        }

                        if (digits == 0)
                        {
                            throw Error(line, escCol, "'\\x' escape needs at least one hex digit");
                        }

                        AppendByte(v);
                        break;
                    }

                    case 'u':
                    case 'U':
                    {
                        int count = e == 'u' ? 4 : 8;
                        int cp = ReadHex(ref i, end, count, line, escCol, e);
                        if (cp >= 0xD800 && cp <= 0xDBFF && e == 'u'
                            && i + 6 <= end && t[i] == '\\' && t[i + 1] == 'u')
                        {
                            int j = i + 2;
                            int low = ReadHex(ref j, end, 4, line, col + (i - start), 'u');
                            if (low >= 0xDC00 && low <= 0xDFFF)
                            {
                                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                                i = j;
                            }
                        }

                        if (cp < 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
                        {
                            throw Error(line, escCol, $"'\\{e}' escape is not a valid Unicode scalar value");
                        }

                        AppendCodePoint(cp);
                        break;
                    }

                    default:
                        throw Error(line, escCol, $"invalid escape sequence '\\{e}' in string literal");
                }
            }
        }

        private int ReadHex(ref int i, int end, int count, int line, int escCol, char kind)
        {
            int v = 0;
            for (int k = 0; k < count; k++)
            {
                int d = i < end ? HexValue(_text[i]) : -1;
                if (d < 0)
                {
                    throw Error(line, escCol, $"'\\{kind}' escape needs exactly {count} hex digits");
                }

                v = (v << 4) | d;
                i++;
            }

            return v;
        }
    }
}
