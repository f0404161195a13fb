using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Optimization;
using ModelOps.Core.Optimization.Passes;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;
using static ModelOps.Core.Tests.Optimization.OptTestGraphs;

using Xunit;

namespace ModelOps.Core.Tests.Optimization;

public class FoldPadIntoConvTests
{
    private static readonly EngineOptions AsGiven = new() { IntraOpThreads = 1, FuseContractions = false, CancelTransposes = false, FoldPadIntoConv = false };

    private static GraphDef Apply(GraphDef g, string[] inputs, string[] outputs)
    {
        var r = new FoldPadIntoConvPass().Apply(g, new PassContext(inputs, outputs));
        Assert.Empty(new TfGraph(r).DanglingInputs());
        return r;
    }

    private static void AssertClose(GraphDef original, GraphDef rewritten, string[] outputs)
    {
        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        int seed = 11;
        foreach (var p in original.Node.Where(n => n.Op == "Placeholder"))
        {
            var shape = p.Attr["shape"].Shape.Dim.Select(d => (int)d.Size).ToArray();
            feeds[p.Name] = Tensor.Create(Rand((int)Tensor.ElementCount(shape), seed++), shape);
        }
        using var a = new GraphSession(original, outputs, AsGiven);
        using var b = new GraphSession(rewritten, outputs, AsGiven);
        var ra = a.Run(feeds);
        var rb = b.Run(feeds);
        foreach (var o in outputs)
        {
            Assert.Equal(ra[o].Shape, rb[o].Shape);
            var x = ra[o].As<float>();
            var y = rb[o].As<float>();
            for (int i = 0; i < x.Length; i++) Assert.True(Math.Abs(x[i] - y[i]) <= 1e-5f * (1 + Math.Abs(x[i])), $"{o}[{i}]: {x[i]} vs {y[i]}");
        }
    }

    private static GraphDef PadConv(int[] pads, string padOp = "Pad", float value = 0f, string convOp = "Conv2D", string padding = "VALID",
        bool extraReader = false, long[]? explicitPads = null, int stride = 1)
    {
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, 1, 7, 6, 3);
        b.Const("paddings", Tensor.Create(pads, 4, 2));
        if (padOp == "PadV2") b.Const("value", Tensor.Scalar(value));
        if (padOp == "PadV2") b.Op("pad", "PadV2", DataType.DtFloat, "input", "paddings", "value");
        else b.Op("pad", "Pad", DataType.DtFloat, "input", "paddings");
        NodeDef c;
        if (convOp == "Conv2D")
        {
            b.Const("w", Tensor.Create(Rand(3 * 3 * 3 * 4, 1), 3, 3, 3, 4));
            c = Conv(b, "conv", "pad", "w");
        }
        else
        {
            b.Const("w", Tensor.Create(Rand(3 * 3 * 3 * 2, 1), 3, 3, 3, 2));
            c = Depthwise(b, "conv", "pad", "w");
        }
        c.Attr["padding"] = Attr.String(padding);
        c.Attr["strides"] = Attr.Ints(1, stride, stride, 1);
        if (explicitPads is not null) c.Attr["explicit_paddings"] = Attr.Ints(explicitPads);
        b.Op("out", "Relu", DataType.DtFloat, "conv");
        if (extraReader) b.Op("out2", "Neg", DataType.DtFloat, "pad");
        return b.Graph;
    }

    [Theory]
    [InlineData("Conv2D", 1)]
    [InlineData("Conv2D", 2)]
    [InlineData("DepthwiseConv2dNative", 1)]
    [InlineData("DepthwiseConv2dNative", 2)]
    public void ZeroPadOfTheSpatialDimsBecomesExplicitPadding(string convOp, int stride)
    {
        var g = PadConv(new[] { 0, 0, 1, 2, 2, 1, 0, 0 }, convOp: convOp, stride: stride);
        var r = Apply(g, new[] { "input" }, new[] { "out" });
        Assert.False(Has(r, "pad"));
        var conv = Node(r, "conv");
        Assert.Equal("input", conv.Input[0]);
        Assert.Equal("EXPLICIT", conv.Attr["padding"].S.ToStringUtf8());
        Assert.Equal(new long[] { 0, 0, 1, 2, 2, 1, 0, 0 }, conv.Attr["explicit_paddings"].List.I);
        AssertClose(g, r, new[] { "out" });
    }

    [Fact]
    public void ExistingExplicitPaddingAddsUpAndPadV2OfZeroFolds()
    {
        var g = PadConv(new[] { 0, 0, 1, 0, 0, 1, 0, 0 }, padOp: "PadV2", padding: "EXPLICIT", explicitPads: new long[] { 0, 0, 1, 1, 2, 0, 0, 0 });
        var r = Apply(g, new[] { "input" }, new[] { "out" });
        Assert.Equal(new long[] { 0, 0, 2, 1, 2, 1, 0, 0 }, Node(r, "conv").Attr["explicit_paddings"].List.I);
        AssertClose(g, r, new[] { "out" });
    }

    [Theory]
    [InlineData(new[] { 0, 0, 1, 1, 1, 1, 1, 0 }, "Pad", 0f, "VALID", false)] // pads the channels
    [InlineData(new[] { 0, 0, 1, 1, 1, 1, 0, 0 }, "PadV2", -1f, "VALID", false)] // not zero
    [InlineData(new[] { 0, 0, 1, 1, 1, 1, 0, 0 }, "Pad", 0f, "SAME", false)] // SAME's padding depends on the padded size
    [InlineData(new[] { 0, 0, 1, 1, 1, 1, 0, 0 }, "Pad", 0f, "VALID", true)] // another reader needs the padded tensor
    public void PadsThatCannotFoldStay(int[] pads, string padOp, float value, string padding, bool extraReader)
    {
        var g = PadConv(pads, padOp, value, padding: padding, extraReader: extraReader);
        var outputs = extraReader ? new[] { "out", "out2" } : new[] { "out" };
        var r = Apply(g, new[] { "input" }, outputs);
        Assert.True(Has(r, "pad"));
        Assert.Equal("pad", Node(r, "conv").Input[0]);
        Assert.Equal(padding, Node(r, "conv").Attr["padding"].S.ToStringUtf8());
    }

    [Fact]
    public void FetchedPadStays()
    {
        var g = PadConv(new[] { 0, 0, 1, 1, 1, 1, 0, 0 });
        var r = Apply(g, new[] { "input" }, new[] { "out", "pad" });
        Assert.Equal("pad", Node(r, "conv").Input[0]);
    }

    [Fact]
    public void PadBeforeALayoutTransposeMovesAfterItAndFolds()
    {
        // An ONNX-style NCHW input: Pad (NCHW pads) → Transpose to NHWC → Conv2D VALID.
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, 1, 3, 5, 6);
        b.Const("paddings", Tensor.Create(new[] { 0, 0, 0, 0, 1, 2, 2, 0 }, 4, 2));
        b.Op("pad", "Pad", DataType.DtFloat, "input", "paddings");
        b.Const("perm", Tensor.Create(new[] { 0, 2, 3, 1 }, 4));
        b.Op("t", "Transpose", DataType.DtFloat, "pad", "perm");
        b.Const("w", Tensor.Create(Rand(3 * 3 * 3 * 4, 1), 3, 3, 3, 4));
        Conv(b, "conv", "t", "w").Attr["padding"] = Attr.String("VALID");
        b.Op("out", "Relu", DataType.DtFloat, "conv");
        var g = b.Graph;
        var r = Apply(g, new[] { "input" }, new[] { "out" });
        Assert.Equal(0, Count(r, "Pad"));
        var conv = Node(r, "conv");
        Assert.Equal("Transpose", Node(r, conv.Input[0]).Op);
        Assert.Equal("input", Node(r, conv.Input[0]).Input[0]);
        Assert.Equal(new long[] { 0, 0, 1, 2, 2, 0, 0, 0 }, conv.Attr["explicit_paddings"].List.I);
        AssertClose(g, r, new[] { "out" });
    }

    private static GraphDef PadMaxPool(string padOp, float value)
    {
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, 1, 8, 7, 3);
        b.Const("paddings", Tensor.Create(new[] { 0, 0, 1, 1, 1, 2, 0, 0 }, 4, 2));
        if (padOp == "PadV2")
        {
            b.Const("value", Tensor.Scalar(value));
            b.Op("pad", "PadV2", DataType.DtFloat, "input", "paddings", "value");
        }
        else b.Op("pad", "Pad", DataType.DtFloat, "input", "paddings");
        var mp = b.Op("pool", "MaxPool", DataType.DtFloat, "pad");
        mp.Attr["ksize"] = Attr.Ints(1, 3, 3, 1);
        mp.Attr["strides"] = Attr.Ints(1, 2, 2, 1);
        mp.Attr["padding"] = Attr.String("VALID");
        mp.Attr["data_format"] = Attr.String("NHWC");
        b.Op("out", "Identity", DataType.DtFloat, "pool");
        return b.Graph;
    }

    [Fact]
    public void MinusInfinityPadBeforeMaxPoolBecomesItsExplicitPadding()
    {
        var g = PadMaxPool("PadV2", float.NegativeInfinity);
        var r = Apply(g, new[] { "input" }, new[] { "out" });
        Assert.False(Has(r, "pad"));
        var pool = Node(r, "pool");
        Assert.Equal("input", pool.Input[0]);
        Assert.Equal("EXPLICIT", pool.Attr["padding"].S.ToStringUtf8());
        Assert.Equal(new long[] { 0, 0, 1, 1, 1, 2, 0, 0 }, pool.Attr["explicit_paddings"].List.I);
        AssertClose(g, r, new[] { "out" });
    }

    [Theory]
    [InlineData("Pad", 0f)]      // zeros can win the max over negative values
    [InlineData("PadV2", -1f)]
    public void OtherPadsBeforeMaxPoolStay(string padOp, float value)
    {
        var r = Apply(PadMaxPool(padOp, value), new[] { "input" }, new[] { "out" });
        Assert.Equal("pad", Node(r, "pool").Input[0]);
        Assert.Equal("VALID", Node(r, "pool").Attr["padding"].S.ToStringUtf8());
    }

    [Fact]
    public void IsRegisteredAsATransform() =>
        Assert.IsType<FoldPadIntoConvPass>(TransformRegistry.BuiltIn.Parse("fold_pad_into_conv")[0].Pass);
}
