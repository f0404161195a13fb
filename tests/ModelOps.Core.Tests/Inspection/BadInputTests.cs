using ModelOps.Core.Errors;
using ModelOps.Core.Formats;
using ModelOps.Core.Graph;
using ModelOps.Core.Inspection;
using ModelOps.Core.Protos;
using Google.Protobuf;
using Xunit;

namespace ModelOps.Core.Tests.Inspection;

public sealed class BadInputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("modelops-bad-").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    private string Write(string name, byte[] bytes)
    {
        string p = System.IO.Path.Combine(_dir, name);
        File.WriteAllBytes(p, bytes);
        return p;
    }

    private static ModelOpsException Fails(string path) => Assert.Throws<ModelOpsException>(() => ModelInspector.Inspect(path));

    [Fact]
    public void MissingFile() => Assert.Equal(ErrorIds.FileNotFound, Fails(System.IO.Path.Combine(_dir, "nope.pb")).ErrorId);

    [Fact]
    public void EmptyFile() => Assert.Equal(ErrorIds.InvalidProtobuf, Fails(Write("empty.pb", Array.Empty<byte>())).ErrorId);

    [Fact]
    public void RandomBytes()
    {
        var rng = new Random(42);
        var bytes = new byte[4096];
        rng.NextBytes(bytes);
        bytes[0] = 0xFF; // an invalid tag start for good measure
        var ex = Fails(Write("random.pb", bytes));
        Assert.Contains(ex.ErrorId, new[] { ErrorIds.InvalidProtobuf, ErrorIds.UnrecognizedModelFormat });
        Assert.Contains("random.pb", ex.Message);
    }

    [Fact]
    public void TruncatedGraph()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 1, 4);
        b.Const("w", ModelOps.Core.Tensors.Tensor.Create(new float[16], 4, 4));
        b.Op("y", "MatMul", DataType.DtFloat, "x", "w");
        var bytes = b.Graph.ToByteArray();
        var ex = Fails(Write("trunc.pb", bytes[..(bytes.Length - 7)]));
        Assert.Equal(ErrorIds.InvalidProtobuf, ex.ErrorId);
    }

    [Fact]
    public void TextSyntaxErrorHasLineAndColumn()
    {
        string text = "node {\n  name: \"x\"\n  op: \"Placeholder\"\n}\nnode {\n  name: \"y\"\n  op: \"Identity\"\n  input \"x\"\n}\n";
        var ex = Fails(Write("bad.pbtxt", System.Text.Encoding.UTF8.GetBytes(text)));
        Assert.Equal(ErrorIds.TextFormatSyntax, ex.ErrorId);
        Assert.Contains("line 8", ex.Message);
        Assert.Contains("column", ex.Message);
    }

    [Fact]
    public void SavedModelFolderWithoutProto()
    {
        string dir = System.IO.Path.Combine(_dir, "sm");
        Directory.CreateDirectory(System.IO.Path.Combine(dir, "variables"));
        var ex = Fails(dir);
        Assert.Equal(ErrorIds.SavedModelProtoMissing, ex.ErrorId);
        Assert.Contains("saved_model.pb", ex.Message);
    }

    [Fact]
    public void BinaryAndTextOfTheSameGraphInspectAlike()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, -1, 3);
        b.Const("two", ModelOps.Core.Tensors.Tensor.Scalar(2f));
        b.Op("y", "Mul", DataType.DtFloat, "x", "two");
        var bin = ModelInspector.Inspect(Write("g.pb", b.Graph.ToByteArray()));
        var txt = ModelInspector.Inspect(Write("g.pbtxt", System.Text.Encoding.UTF8.GetBytes(ModelOps.Core.Formats.Text.TextFormatPrinter.Print(b.Graph))));
        Assert.Equal("Binary", bin.Encoding);
        Assert.Equal("Text", txt.Encoding);
        Assert.Equal(bin.NodeCount, txt.NodeCount);
        Assert.Equal(new[] { "x float32[?,3]" }, bin.Inputs.Select(i => i.ToString()));
        Assert.Equal(new[] { "y" }, bin.Outputs.Select(o => o.Name));
        Assert.Equal(bin.Inputs, txt.Inputs);
    }
}
