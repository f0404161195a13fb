using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using Google.Protobuf.WellKnownTypes;
using ModelOps.Core.Formats.Text;
using ModelOps.Core.Protos;
using Xunit;
using Xunit.Abstractions;

namespace ModelOps.Core.Tests.Formats;

public sealed class TextFormatTests
{
    private static readonly TypeRegistry Registry = TypeRegistry.FromMessages(
        GraphDef.Descriptor, NodeDef.Descriptor, MetaGraphDef.Descriptor, SavedModel.Descriptor,
        TensorProto.Descriptor, AttrValue.Descriptor, OpList.Descriptor);

    private readonly ITestOutputHelper _output;

    public TextFormatTests(ITestOutputHelper output)
    {
        _output = output;
    }

    // ------------------------------------------------------------------ grammar

    [Fact]
    public void ParsesBasicGraph()
    {
        const string text = """
            node {
              name: "a"
              op: "Const"
              input: "x"
              input: "^y"
              attr {
                key: "dtype"
                value { type: DT_FLOAT }
              }
            }
            versions { producer: 27 }
            """;
        GraphDef g = TextFormatParser.Parse<GraphDef>(text);
        Assert.Single(g.Node);
        NodeDef n = g.Node[0];
        Assert.Equal("a", n.Name);
        Assert.Equal("Const", n.Op);
        Assert.Equal(new[] { "x", "^y" }, n.Input.ToArray());
        Assert.Equal(DataType.DtFloat, n.Attr["dtype"].Type);
        Assert.Equal(27, g.Versions.Producer);
    }

    [Fact]
    public void AcceptsAngleBracketsColonsSeparatorsAndComments()
    {
        const string text = "# leading comment\n"
            + "node: < name: 'a'; op: \"Add\", input: \"x\" ; > # trailing\n"
            + "node <name:\"b\"> ,\n"
            + "versions: { producer: 1 min_consumer: 0 }";
        GraphDef g = TextFormatParser.Parse<GraphDef>(text);
        Assert.Equal(2, g.Node.Count);
        Assert.Equal("Add", g.Node[0].Op);
        Assert.Equal("b", g.Node[1].Name);
        Assert.Equal(1, g.Versions.Producer);
    }

    [Fact]
    public void ParsesListSyntaxForScalarsAndMessages()
    {
        const string text = """
            node [ { name: "a" input: ["p", "q"] }, { name: "b" } ]
            node: []
            node { name: "c" input: [] input: "r" }
            """;
        GraphDef g = TextFormatParser.Parse<GraphDef>(text);
        Assert.Equal(new[] { "a", "b", "c" }, g.Node.Select(n => n.Name).ToArray());
        Assert.Equal(new[] { "p", "q" }, g.Node[0].Input.ToArray());
        Assert.Equal(new[] { "r" }, g.Node[2].Input.ToArray());
    }

    [Fact]
    public void ParsesEnumsByNameAndNumber()
    {
        var t = TextFormatParser.Parse<AttrValue.Types.ListValue>("type: DT_FLOAT type: 3 type: [DT_STRING, 1]");
        Assert.Equal(new[] { DataType.DtFloat, DataType.DtInt32, DataType.DtString, DataType.DtFloat }, t.Type.ToArray());
        var e = Assert.Throws<TextFormatException>(() => TextFormatParser.Parse<AttrValue>("type: DT_NOPE"));
        Assert.Contains("DT_NOPE", e.Message, StringComparison.Ordinal);
        Assert.Contains("tensorflow.DataType", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("true", true)]
    [InlineData("True", true)]
    [InlineData("t", true)]
    [InlineData("1", true)]
    [InlineData("false", false)]
    [InlineData("False", false)]
    [InlineData("f", false)]
    [InlineData("0", false)]
    public void ParsesBoolSpellings(string literal, bool expected)
    {
        AttrValue v = TextFormatParser.Parse<AttrValue>("b: " + literal);
        Assert.Equal(AttrValue.ValueOneofCase.B, v.ValueCase);
        Assert.Equal(expected, v.B);
    }

    [Theory]
    [InlineData("i: 42", 42L)]
    [InlineData("i: -42", -42L)]
    [InlineData("i: 0x7fffffffffffffff", long.MaxValue)]
    [InlineData("i: -0x8000000000000000", long.MinValue)]
    [InlineData("i: -9223372036854775808", long.MinValue)]
    [InlineData("i: 017", 15L)]
    [InlineData("i: 0", 0L)]
    [InlineData("i: - 5", -5L)]
    public void ParsesInt64Forms(string text, long expected)
    {
        Assert.Equal(expected, TextFormatParser.Parse<AttrValue>(text).I);
    }

    [Theory]
    [InlineData("i: 9223372036854775808")]
    [InlineData("i: -9223372036854775809")]
    [InlineData("i: 18446744073709551616")]
    [InlineData("i: 1.5")]
    [InlineData("i: 12abc")]
    [InlineData("i: \"1\"")]
    public void RejectsBadInt64(string text)
    {
        var e = Assert.Throws<TextFormatException>(() => TextFormatParser.Parse<AttrValue>(text));
        Assert.Equal(1, e.Line);
        Assert.True(e.Column >= 4, e.Message);
    }

    [Fact]
    public void ChecksInt32AndUInt64Ranges()
    {
        Assert.Equal(int.MinValue, TextFormatParser.Parse<VersionDef>("producer: -2147483648").Producer);
        Assert.Throws<TextFormatException>(() => TextFormatParser.Parse<VersionDef>("producer: 2147483648"));
        Assert.Throws<TextFormatException>(() => TextFormatParser.Parse<VersionDef>("producer: -2147483649"));

        TensorProto t = TextFormatParser.Parse<TensorProto>("uint64_val: 18446744073709551615 uint64_val: 0xFFFFFFFFFFFFFFFF uint32_val: 4294967295");
        Assert.Equal(new[] { ulong.MaxValue, ulong.MaxValue }, t.Uint64Val.ToArray());
        Assert.Equal(uint.MaxValue, t.Uint32Val[0]);
        Assert.Throws<TextFormatException>(() => TextFormatParser.Parse<TensorProto>("uint64_val: -1"));
        Assert.Throws<TextFormatException>(() => TextFormatParser.Parse<TensorProto>("uint32_val: 4294967296"));
    }

    [Fact]
    public void ParsesFloatForms()
    {
        TensorProto t = TextFormatParser.Parse<TensorProto>(
            "float_val: [1.5, -2, 1e3, 1.001e-05, 2.5f, 3F, .25, 5., inf, -inf, Infinity, -INF, nan, NaN, 0x10]");
        float[] f = t.FloatVal.ToArray();
        Assert.Equal(new[] { 1.5f, -2f, 1000f, 1.001e-05f, 2.5f, 3f, 0.25f, 5f }, f.Take(8).ToArray());
        Assert.True(float.IsPositiveInfinity(f[8]));
        Assert.True(float.IsNegativeInfinity(f[9]));
        Assert.True(float.IsPositiveInfinity(f[10]));
        Assert.True(float.IsNegativeInfinity(f[11]));
        Assert.True(float.IsNaN(f[12]) && float.IsNaN(f[13]));
        Assert.Equal(16f, f[14]);

        TensorProto d = TextFormatParser.Parse<TensorProto>("double_val: 0.1 double_val: -1.7976931348623157e308 double_val: 5e-324");
        Assert.Equal(new[] { 0.1, double.MinValue, double.Epsilon }, d.DoubleVal.ToArray());
    }

    [Fact]
    public void ParsesStringEscapesAsRawBytes()
    {
        const string text = "s: \"a\\n\\t\\r\\\\\\'\\\"\\?\\a\\b\\f\\v\\101\\0\\x41\\xff\\377\" 'tail'";
        AttrValue v = TextFormatParser.Parse<AttrValue>(text);
        byte[] expected = Encoding.ASCII.GetBytes("a\n\t\r\\'\"?\a\b\f\vA\0A")
            .Concat(new byte[] { 0xFF, 0xFF })
            .Concat(Encoding.ASCII.GetBytes("tail"))
            .ToArray();
        Assert.Equal(expected, v.S.ToByteArray());
    }

    [Fact]
    public void DecodesUnicodeEscapesAsUtf8()
    {
        // bytes field: \u and \U give UTF-8 bytes, literal non-ASCII text too.
        AttrValue v = TextFormatParser.Parse<AttrValue>("s: \"\\u00e9\\U0001F600\\ud83d\\ude00é\"");
        Assert.Equal(Encoding.UTF8.GetBytes("é😀😀é"), v.S.ToByteArray());

        // string field: octal escapes of UTF-8 bytes decode to the character.
        NodeDef n = TextFormatParser.Parse<NodeDef>("name: \"caf\\303\\251\" device: \"\\u00e9\" \"x\"");
        Assert.Equal("café", n.Name);
        Assert.Equal("éx", n.Device);

        var e = Assert.Throws<TextFormatException>(() => TextFormatParser.Parse<NodeDef>("name: \"\\377\""));
        Assert.Contains("UTF-8", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ParsesMapEntriesInAnyOrderAndWithDefaults()
    {
        const string text = """
            attr { value { i: 3 } key: "b" }
            attr { key: "a" }
            attr < key: 'c' value < s: "x" > >
            attr { key: "b" value { i: 4 } }
            """;
        NodeDef n = TextFormatParser.Parse<NodeDef>(text);
        Assert.Equal(3, n.Attr.Count);
        Assert.Equal(4, n.Attr["b"].I); // last entry with a key wins
        Assert.Equal(new AttrValue(), n.Attr["a"]);
        Assert.Equal("x", n.Attr["c"].S.ToStringUtf8());
    }

    [Fact]
    public void ParsesMetaGraphSignatureDefMap()
    {
        const string text = """
            signature_def {
              key: "serving_default"
              value {
                inputs { key: "x" value { name: "x:0" dtype: DT_FLOAT tensor_shape { dim { size: -1 } } } }
                outputs { key: "y" value { name: "y:0" dtype: 1 } }
                method_name: "tensorflow/serving/predict"
              }
            }
            """;
        MetaGraphDef m = TextFormatParser.Parse<MetaGraphDef>(text);
        SignatureDef sig = m.SignatureDef["serving_default"];
        Assert.Equal("x:0", sig.Inputs["x"].Name);
        Assert.Equal(-1, sig.Inputs["x"].TensorShape.Dim[0].Size);
        Assert.Equal(DataType.DtFloat, sig.Outputs["y"].Dtype);
        Assert.Equal("tensorflow/serving/predict", sig.MethodName);
        AssertRoundTrip(m);
    }

    [Fact]
    public void ExpandsAnyThroughRegistry()
    {
        const string text = """
            meta_info_def {
              any_info {
                [type.googleapis.com/tensorflow.NodeDef] {
                  name: "inside"
                  op: "NoOp"
                }
              }
            }
            """;
        MetaGraphDef m = TextFormatParser.Parse<MetaGraphDef>(text, Registry);
        Any any = m.MetaInfoDef.AnyInfo;
        Assert.Equal("type.googleapis.com/tensorflow.NodeDef", any.TypeUrl);
        Assert.Equal("inside", any.Unpack<NodeDef>().Name);

        string printed = TextFormatPrinter.Print(m, Registry);
        Assert.Contains("[type.googleapis.com/tensorflow.NodeDef] {", printed, StringComparison.Ordinal);
        Assert.Equal(m, TextFormatParser.Parse<MetaGraphDef>(printed, Registry));

        // Without a registry the Any is printed as plain fields, which also round-trips.
        string plain = TextFormatPrinter.Print(m);
        Assert.Contains("type_url: \"type.googleapis.com/tensorflow.NodeDef\"", plain, StringComparison.Ordinal);
        Assert.Equal(m, TextFormatParser.Parse<MetaGraphDef>(plain));

        var e = Assert.Throws<TextFormatException>(() => TextFormatParser.Parse<MetaGraphDef>(text));
        Assert.Equal(3, e.Line);
        Assert.Contains("TypeRegistry", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RejectsExtensionSyntax()
    {
        var e = Assert.Throws<TextFormatException>(() => TextFormatParser.Parse<NodeDef>("name: \"a\"\n  [my.ext]: 3"));
        Assert.Equal(2, e.Line);
        Assert.Equal(3, e.Column);
        Assert.Contains("[my.ext]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReportsUnknownFieldWithPositionAndType()
    {
        var e = Assert.Throws<TextFormatException>(() => TextFormatParser.Parse<GraphDef>("node {\n  name: \"a\"\n  nmae: \"b\"\n}"));
        Assert.Equal(3, e.Line);
        Assert.Equal(3, e.Column);
        Assert.Contains("'nmae'", e.Message, StringComparison.Ordinal);
        Assert.Contains("tensorflow.NodeDef", e.Message, StringComparison.Ordinal);
        Assert.StartsWith("line 3, column 3: ", e.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("node { name: \"a\"", 1, 17)]               // missing '}'
    [InlineData("node { name: \"a\" >", 1, 18)]             // wrong close
    [InlineData("node {\n name \"a\" }", 2, 7)]             // missing ':' before scalar
    [InlineData("node { name: \"a }", 1, 14)]               // unterminated string
    [InlineData("node { name: \"a\nb\" }", 1, 14)]          // newline in string
    [InlineData("node { name: \"\\q\" }", 1, 15)]           // bad escape
    [InlineData("node { name: 5 }", 1, 14)]                 // not a string
    [InlineData("}", 1, 1)]                                 // stray close
    [InlineData("versions { producer: 1 producer: 2 }", 1, 24)] // duplicate singular field
    [InlineData("node { attr { key: \"a\" nope: 1 } }", 1, 24)] // bad map entry field
    public void ReportsSyntaxErrorsWithPosition(string text, int line, int column)
    {
        var e = Assert.Throws<TextFormatException>(() => TextFormatParser.Parse<GraphDef>(text));
        Assert.Equal(line, e.Line);
        Assert.Equal(column, e.Column);
        Assert.StartsWith($"line {line}, column {column}: ", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void RejectsTwoMembersOfOneOneof()
    {
        var e = Assert.Throws<TextFormatException>(() => TextFormatParser.Parse<AttrValue>("i: 1 f: 2"));
        Assert.Contains("oneof", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MergeAppendsRepeatedAndOverwritesSingular()
    {
        var g = new GraphDef { Versions = new VersionDef { Producer = 1, MinConsumer = 5 } };
        g.Node.Add(new NodeDef { Name = "first" });
        TextFormatParser.Merge("node { name: \"second\" } versions { producer: 2 }", g);
        Assert.Equal(new[] { "first", "second" }, g.Node.Select(n => n.Name).ToArray());
        Assert.Equal(2, g.Versions.Producer);
        Assert.Equal(5, g.Versions.MinConsumer);
    }

    // ------------------------------------------------------------------ printer

    [Fact]
    public void PrintsTensorFlowStyle()
    {
        var node = new NodeDef { Name = "c", Op = "Const", Device = string.Empty };
        node.Input.Add("x");
        node.Attr["value"] = new AttrValue
        {
            Tensor = new TensorProto
            {
                Dtype = DataType.DtFloat,
                TensorShape = new TensorShapeProto(),
                FloatVal = { 1f, 0.1f, 1.001e-05f, float.PositiveInfinity, float.NegativeInfinity, float.NaN },
            },
        };
        node.Attr["dtype"] = new AttrValue { Type = DataType.DtFloat };
        node.Attr["s"] = new AttrValue { S = ByteString.CopyFrom(new byte[] { (byte)'a', (byte)'"', (byte)'\\', (byte)'\'', 10, 13, 9, 0, 0xFF, 0x7F }) };
        var g = new GraphDef();
        g.Node.Add(node);

        const string expected = """
            node {
              name: "c"
              op: "Const"
              input: "x"
              attr {
                key: "dtype"
                value {
                  type: DT_FLOAT
                }
              }
              attr {
                key: "s"
                value {
                  s: "a\"\\\'\n\r\t\000\377\177"
                }
              }
              attr {
                key: "value"
                value {
                  tensor {
                    dtype: DT_FLOAT
                    tensor_shape {
                    }
                    float_val: 1
                    float_val: 0.1
                    float_val: 1.001e-05
                    float_val: inf
                    float_val: -inf
                    float_val: nan
                  }
                }
              }
            }

            """;
        Assert.Equal(expected.Replace("\r\n", "\n", StringComparison.Ordinal), TextFormatPrinter.Print(g));
        AssertRoundTrip(g);
    }

    [Fact]
    public void PrintsOneofDefaultsButOmitsProto3Defaults()
    {
        Assert.Equal(string.Empty, TextFormatPrinter.Print(new NodeDef { Name = string.Empty }));
        Assert.Equal("i: 0\n", TextFormatPrinter.Print(new AttrValue { I = 0 }));
        Assert.Equal("b: false\n", TextFormatPrinter.Print(new AttrValue { B = false }));
        Assert.Equal("type: DT_INVALID\n", TextFormatPrinter.Print(new AttrValue { Type = DataType.DtInvalid }));
        Assert.Equal("s: \"\"\n", TextFormatPrinter.Print(new AttrValue { S = ByteString.Empty }));
        Assert.Equal("list {\n}\n", TextFormatPrinter.Print(new AttrValue { List = new AttrValue.Types.ListValue() }));
        AssertRoundTrip(new AttrValue { I = 0 });
        AssertRoundTrip(new AttrValue { F = -0f });
    }

    [Fact]
    public void PrintsUtf8StringsAsOctalBytesAndRoundTrips()
    {
        var n = new NodeDef { Name = "café 😀" };
        Assert.Equal("name: \"caf\\303\\251 \\360\\237\\230\\200\"\n", TextFormatPrinter.Print(n));
        AssertRoundTrip(n);
    }

    [Fact]
    public void PrintsFloatsAndDoublesExactly()
    {
        var t = new TensorProto
        {
            FloatVal = { float.Epsilon, float.MaxValue, -float.MinValue, 1.0000001f, 3.14159274f, 1e20f, -0f },
            DoubleVal = { double.Epsilon, double.MaxValue, 0.1 + 0.2, 1e-7, 123456789012345680, -0.0 },
            Int64Val = { long.MinValue, long.MaxValue },
            Uint64Val = { ulong.MaxValue },
            IntVal = { int.MinValue },
        };
        string printed = TextFormatPrinter.Print(t);
        Assert.Contains("double_val: 0.30000000000000004\n", printed, StringComparison.Ordinal);
        Assert.Contains("float_val: 1e+20\n", printed, StringComparison.Ordinal);
        Assert.Contains("int64_val: -9223372036854775808\n", printed, StringComparison.Ordinal);
        Assert.Contains("uint64_val: 18446744073709551615\n", printed, StringComparison.Ordinal);
        Assert.Contains("float_val: -0\n", printed, StringComparison.Ordinal);
        AssertRoundTrip(t);
    }

    [Fact]
    public void PrintsMapsSortedByKey()
    {
        var n = new NodeDef { Name = "n" };
        n.Attr["zeta"] = new AttrValue { I = 1 };
        n.Attr["alpha"] = new AttrValue { I = 2 };
        n.Attr["Beta"] = new AttrValue();
        string printed = TextFormatPrinter.Print(n);
        int b = printed.IndexOf("\"Beta\"", StringComparison.Ordinal);
        int a = printed.IndexOf("\"alpha\"", StringComparison.Ordinal);
        int z = printed.IndexOf("\"zeta\"", StringComparison.Ordinal);
        Assert.True(b < a && a < z, printed);
        Assert.Contains("  key: \"Beta\"\n  value {\n  }\n", printed, StringComparison.Ordinal);
        AssertRoundTrip(n);
    }

    private static void AssertRoundTrip<T>(T message) where T : IMessage<T>, new()
    {
        string printed = TextFormatPrinter.Print(message, Registry);
        T parsed = TextFormatParser.Parse<T>(printed, Registry);
        Assert.Equal(message, parsed);
        Assert.Equal(printed, TextFormatPrinter.Print(parsed, Registry));
    }

    // ------------------------------------------------------------------ corpus round trips

    private static string RequireCorpus(string sub)
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string dir = Corpus.Path(sub);
        Skip.IfNot(Directory.Exists(dir), $"corpus folder '{dir}' is absent");
        return dir;
    }

    private static bool IsSavedModel(string path) => Path.GetFileName(path) == "saved_model.pbtxt";

    private static bool IsOpList(string path) => path.Contains("op-registry", StringComparison.Ordinal);

    private static bool IsTf2XlaConfig(string path) => path.EndsWith(".config.pbtxt", StringComparison.Ordinal);

    private void RoundTripFile<T>(string path, List<string> failures) where T : IMessage<T>, new()
    {
        try
        {
            string text = File.ReadAllText(path);
            var sw = Stopwatch.StartNew();
            T first = TextFormatParser.Parse<T>(text, Registry);
            sw.Stop();
            string printed = TextFormatPrinter.Print(first, Registry);
            T second = TextFormatParser.Parse<T>(printed, Registry);
            string reprinted = TextFormatPrinter.Print(second, Registry);
            if (!first.Equals(second))
            {
                failures.Add($"{path}: parse(print(parse(text))) differs from parse(text)");
            }
            else if (printed != reprinted)
            {
                failures.Add($"{path}: printing is not stable");
            }
            else if (first.CalculateSize() == 0 && text.Trim().Length > 0)
            {
                failures.Add($"{path}: parsed to an empty message");
            }

            _output.WriteLine($"{Path.GetFileName(path)}: {text.Length} chars, parsed in {sw.Elapsed.TotalMilliseconds:F1} ms, identical to source: {printed == text.Replace("\r\n", "\n", StringComparison.Ordinal)}");
        }
        catch (TextFormatException ex)
        {
            failures.Add($"{path}: {ex.Message}");
        }
    }

    [SkippableFact]
    public void CorpusGraphDefTextFilesRoundTrip()
    {
        string dir = RequireCorpus("tf");
        var files = Directory.EnumerateFiles(dir, "*.pbtxt", SearchOption.AllDirectories)
            .Where(p => !IsSavedModel(p) && !IsOpList(p) && !IsTf2XlaConfig(p))
            .OrderBy(p => p, StringComparer.Ordinal)
            .ToList();
        Skip.If(files.Count == 0, "no GraphDef .pbtxt files in the corpus");
        var failures = new List<string>();
        foreach (string file in files)
        {
            RoundTripFile<GraphDef>(file, failures);
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [SkippableFact]
    public void CorpusSavedModelTextFilesRoundTrip()
    {
        string dir = RequireCorpus("tf");
        var files = Directory.EnumerateFiles(dir, "saved_model.pbtxt", SearchOption.AllDirectories).ToList();
        Skip.If(files.Count == 0, "no saved_model.pbtxt in the corpus");
        var failures = new List<string>();
        foreach (string file in files)
        {
            RoundTripFile<SavedModel>(file, failures);
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [SkippableFact]
    public void CorpusTextMetaGraphRoundTrips()
    {
        string dir = RequireCorpus(Path.Combine("tf", "pbtxt--tf-framework-metrics_export_metagraph"));
        var files = Directory.EnumerateFiles(dir, "*.pb").ToList();
        Skip.If(files.Count == 0, "no text MetaGraphDef in the corpus");
        var failures = new List<string>();
        foreach (string file in files)
        {
            RoundTripFile<MetaGraphDef>(file, failures);
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [SkippableFact]
    public void CorpusOpRegistryRoundTrips()
    {
        string dir = RequireCorpus(Path.Combine("tf", "pbtxt--tfjava-op-registry"));
        string file = Path.Combine(dir, "ops.pbtxt");
        Skip.IfNot(File.Exists(file), "ops.pbtxt is absent");
        var failures = new List<string>();
        RoundTripFile<OpList>(file, failures);
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [SkippableFact]
    public void LargeKerasGraphParsesQuickly()
    {
        string dir = RequireCorpus(Path.Combine("tf", "pbtxt--tf-jit-keras_imagenet_main"));
        string file = Path.Combine(dir, "keras_imagenet_main.pbtxt");
        Skip.IfNot(File.Exists(file), "keras_imagenet_main.pbtxt is absent");
        string text = File.ReadAllText(file);
        TextFormatParser.Parse<GraphDef>(text); // warm up

        var sw = Stopwatch.StartNew();
        GraphDef g = TextFormatParser.Parse<GraphDef>(text);
        sw.Stop();
        var pw = Stopwatch.StartNew();
        string printed = TextFormatPrinter.Print(g);
        pw.Stop();
        _output.WriteLine($"parse {text.Length} chars: {sw.Elapsed.TotalMilliseconds:F1} ms; print: {pw.Elapsed.TotalMilliseconds:F1} ms; nodes: {g.Node.Count}");
        Assert.True(g.Node.Count > 0);
        Assert.Equal(printed, TextFormatPrinter.Print(TextFormatParser.Parse<GraphDef>(printed)));

        // Generous bound so shared CI machines do not flake; typical is far below.
        Assert.True(sw.Elapsed < TimeSpan.FromSeconds(3), $"parse took {sw.Elapsed.TotalMilliseconds} ms");
    }
}
