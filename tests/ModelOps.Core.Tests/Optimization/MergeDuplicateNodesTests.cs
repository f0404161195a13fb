using ModelOps.Core.Graph;
using ModelOps.Core.Optimization.Passes;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using static ModelOps.Core.Tests.Optimization.OptTestGraphs;

using Xunit;

namespace ModelOps.Core.Tests.Optimization;

public class MergeDuplicateNodesTests
{
    [Fact]
    public void MergesDuplicateConstantsAndTheSubgraphsOnThem()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 3);
        b.Const("c1", Tensor.Create(new[] { 1f, 2f, 3f }, 3));
        b.Const("c2", Tensor.Create(new[] { 1f, 2f, 3f }, 3));
        b.Const("c3", Tensor.Create(new[] { 1f, 2f, 4f }, 3));
        b.Op("m1", "Mul", DataType.DtFloat, "x", "c1");
        b.Op("m2", "Mul", DataType.DtFloat, "x", "c2");
        b.Op("m3", "Mul", DataType.DtFloat, "x", "c3");
        b.Op("s", "AddN", DataType.DtFloat, "m1", "m2", "m3").Attr["N"] = Attr.Int(3);
        var g = Run(new MergeDuplicateNodesPass(), b.Graph, new[] { "x" }, new[] { "s" });
        Assert.Equal(new[] { "x", "c1", "c3", "m1", "m3", "s" }, g.Node.Select(n => n.Name));
        Assert.Equal(new[] { "m1", "m1", "m3" }, Node(g, "s").Input);
        AssertSameOutputs(b.Graph, g, new[] { "x" }, new[] { "s" });
    }

    [Fact]
    public void KeepsProtectedTwinsAndNeverMergesRandomOps()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 3);
        b.Op("a", "Neg", DataType.DtFloat, "x");
        b.Op("b", "Neg", DataType.DtFloat, "x");
        b.Const("shape", Tensor.Create(new[] { 3 }, 1));
        foreach (var r in new[] { "r1", "r2" }) b.Add(r, "RandomUniform", new[] { "shape" }).Attr["dtype"] = Attr.Type(DataType.DtFloat);
        b.Op("sum", "AddN", DataType.DtFloat, "r1", "r2").Attr["N"] = Attr.Int(2);
        var g = Run(new MergeDuplicateNodesPass(), b.Graph, new[] { "x" }, new[] { "a", "b", "sum" });
        Assert.True(Has(g, "a") && Has(g, "b") && Has(g, "r1") && Has(g, "r2"));

        var g2 = Run(new MergeDuplicateNodesPass(), b.Graph, new[] { "x" }, new[] { "b", "sum" });
        Assert.False(Has(g2, "a")); // the unprotected twin goes, the output stays
        Assert.True(Has(g2, "b"));
    }

    [Fact]
    public void ControlInputsMustMatchAsASet()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 3);
        b.Placeholder("y", DataType.DtFloat, 3);
        b.Add("a", "Neg", new[] { "x", "^y" }).Attr["T"] = Attr.Type(DataType.DtFloat);
        b.Add("b", "Neg", new[] { "x" }).Attr["T"] = Attr.Type(DataType.DtFloat);
        b.Op("s", "AddV2", DataType.DtFloat, "a", "b");
        var g = Run(new MergeDuplicateNodesPass(), b.Graph, new[] { "x", "y" }, new[] { "s" });
        Assert.Equal(5, g.Node.Count);
    }
}
