using ModelOps.Core.Graph;
using ModelOps.Core.Optimization.Passes;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Xunit;
using static ModelOps.Core.Tests.Optimization.OptTestGraphs;

namespace ModelOps.Core.Tests.Optimization;

public class FoldConstantsTests
{
    private static Tensor Value(GraphDef g, string name) => TensorProtoCodec.Decode(Node(g, name).Attr["value"].Tensor);

    private static GraphDef G()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, -1, 3);
        b.Const("a", Tensor.Create(new[] { 1f, 2f, 3f }, 3));
        b.Const("b", Tensor.Create(new[] { 0.5f, 0.25f, 2f }, 3));
        b.Op("ab", "Mul", DataType.DtFloat, "a", "b");
        b.Op("sq", "Sqrt", DataType.DtFloat, "ab");
        b.Op("y", "AddV2", DataType.DtFloat, "x", "sq");
        // Split of a constant: two outputs read.
        b.Const("axis", Tensor.Scalar(0));
        b.Const("six", Tensor.Create(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, 6));
        var split = b.Add("split", "Split", new[] { "axis", "six" });
        split.Attr["T"] = Attr.Type(DataType.DtFloat);
        split.Attr["num_split"] = Attr.Int(2);
        b.Op("z", "Mul", DataType.DtFloat, "split:1", "split");
        b.Op("out", "AddV2", DataType.DtFloat, "y", "z");
        // Random: must stay.
        b.Const("shape", Tensor.Create(new[] { 3 }, 1));
        b.Add("noise", "RandomUniform", new[] { "shape" }).Attr["dtype"] = Attr.Type(DataType.DtFloat);
        b.Op("noisy", "AddV2", DataType.DtFloat, "out", "noise");
        return b.Graph;
    }

    [Fact]
    public void FoldsAllConstantSubgraphsWithTheEngineKeepingNames()
    {
        var src = G();
        var g = Run(new FoldConstantsPass(), src, new[] { "x" }, new[] { "out" });
        Assert.Equal("Const", Node(g, "sq").Op);
        Assert.False(Has(g, "ab") || Has(g, "a") || Has(g, "b"));
        Assert.Equal(new[] { (float)Math.Sqrt(0.5), (float)Math.Sqrt(0.5), (float)Math.Sqrt(6) }, Value(g, "sq").As<float>());
        Assert.Equal("Const", Node(g, "z").Op);
        Assert.Equal(new[] { 4f, 10f, 18f }, Value(g, "z").As<float>());
        Assert.False(Has(g, "split") || Has(g, "six") || Has(g, "axis"));
        Assert.Equal("RandomUniform", Node(g, "noise").Op); // folding does not prune; strip_unused_nodes does
        AssertSameOutputs(src, g, new[] { "x" }, new[] { "out" });
    }

    [Fact]
    public void MultiOutputNodesReadByNonConstantsGetOneConstPerOutput()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 3);
        b.Const("axis", Tensor.Scalar(0));
        b.Const("six", Tensor.Create(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, 6));
        var split = b.Add("split", "Split", new[] { "axis", "six" });
        split.Attr["T"] = Attr.Type(DataType.DtFloat);
        split.Attr["num_split"] = Attr.Int(2);
        b.Op("p", "Mul", DataType.DtFloat, "x", "split:1");
        b.Op("q", "AddV2", DataType.DtFloat, "p", "split");
        var g = Run(new FoldConstantsPass(), b.Graph, new[] { "x" }, new[] { "q" });
        Assert.Equal(new[] { 1f, 2f, 3f }, Value(g, "split").As<float>());
        Assert.Equal(new[] { 4f, 5f, 6f }, Value(g, Node(g, "p").Input[1]).As<float>());
        AssertSameOutputs(b.Graph, g, new[] { "x" }, new[] { "q" });
    }

    [Fact]
    public void RandomOpsAndTheSizeCapAreRespected()
    {
        var src = G();
        var g = Run(new FoldConstantsPass(), src, new[] { "x" }, new[] { "noisy" });
        Assert.Equal("RandomUniform", Node(g, "noise").Op);
        var capped = Run(new FoldConstantsPass(), src, new[] { "x" }, new[] { "out" }, "max_bytes=8");
        Assert.Equal("Sqrt", Node(capped, "sq").Op);       // 12 bytes > 8: computed at run time
        Assert.Equal("Mul", Node(capped, "ab").Op);        // also 12 bytes: its inputs stay the constants they are
        Assert.Equal("Split", Node(capped, "split").Op);   // 24 bytes of outputs
        Assert.Equal("Mul", Node(capped, "z").Op);
        AssertSameOutputs(src, capped, new[] { "x" }, new[] { "out" });
    }

    [Fact]
    public void ControlFlowRegionsAreNotFolded()
    {
        var g = RemoveTrainingNodesTests.CondGraph();
        var r = Run(new FoldConstantsPass(), g, new[] { "x", "pred" }, new[] { "out" });
        Assert.True(Has(r, "cond/two"));
        Assert.Equal(2, Count(r, "Switch"));
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.Create(new[] { 1f, -2f }, 2), ["pred"] = Tensor.Scalar(true) };
        AssertSameOutputs(g, r, new[] { "x", "pred" }, new[] { "out" }, feeds);
    }
}
