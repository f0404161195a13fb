using ModelOps.Core.Graph;
using ModelOps.Core.Optimization.Passes;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using static ModelOps.Core.Tests.Optimization.OptTestGraphs;

using Xunit;

namespace ModelOps.Core.Tests.Optimization;

public class StripUnusedNodesTests
{
    private static GraphDef TwoInputs()
    {
        var b = new GraphBuilder();
        b.Placeholder("image", DataType.DtFloat, -1, 4);
        b.Placeholder("ids", DataType.DtInt32, -1);
        b.Placeholder("unused_in", DataType.DtFloat, 1);
        b.Op("cast", "Cast", DataType.DtFloat, "ids").Attr["DstT"] = Attr.Type(DataType.DtFloat);
        b.Const("k", Tensor.Scalar(2f));
        b.Op("scaled", "Mul", DataType.DtFloat, "image", "k");
        b.Op("dead", "Neg", DataType.DtFloat, "unused_in");
        b.Op("out", "AddV2", DataType.DtFloat, "scaled", "cast");
        b.Add("train_step", "NoOp", new[] { "^dead" });
        return b.Graph;
    }

    [Fact]
    public void KeepsOnlyWhatOutputsNeedAndEachInputsOwnDtype()
    {
        var g = Run(new StripUnusedNodesPass(), TwoInputs(), new[] { "image", "ids" }, new[] { "out" });
        Assert.False(Has(g, "dead"));
        Assert.False(Has(g, "train_step"));
        Assert.False(Has(g, "unused_in"));
        Assert.Equal(DataType.DtFloat, Node(g, "image").Attr["dtype"].Type);
        Assert.Equal(DataType.DtInt32, Node(g, "ids").Attr["dtype"].Type); // TF's tool forces one dtype on all (TF #5913)
        Assert.Equal(6, g.Node.Count);
    }

    [Fact]
    public void RetypesAndReshapesPerInputWithACastBack()
    {
        var g = Run(new StripUnusedNodesPass(), TwoInputs(), new[] { "image", "ids" }, new[] { "out" },
            "name=image, type_for_name=uint8, shape_for_name=\"2,4\", name=ids, type_for_name=int64");
        Assert.Equal(DataType.DtUint8, Node(g, "image").Attr["dtype"].Type);
        Assert.Equal(new long[] { 2, 4 }, Node(g, "image").Attr["shape"].Shape.Dim.Select(d => d.Size));
        Assert.Equal(DataType.DtInt64, Node(g, "ids").Attr["dtype"].Type);
        var castImage = g.Node.Single(n => n.Op == "Cast" && n.Input[0] == "image");
        Assert.Equal(DataType.DtFloat, castImage.Attr["DstT"].Type);
        Assert.Contains(castImage.Name, Node(g, "scaled").Input);
        Assert.Contains(g.Node, n => n.Op == "Cast" && n.Input[0] == "ids" && n.Attr["DstT"].Type == DataType.DtInt32);
    }

    [Fact]
    public void AnInteriorNodeBecomesAPlaceholderAndItsAncestorsGo()
    {
        var g = Run(new StripUnusedNodesPass(), TwoInputs(), new[] { "scaled", "ids" }, new[] { "out" });
        Assert.Equal("Placeholder", Node(g, "scaled").Op);
        Assert.Empty(Node(g, "scaled").Input);
        Assert.False(Has(g, "image"));
        Assert.False(Has(g, "k"));
        Assert.Equal(DataType.DtFloat, Node(g, "scaled").Attr["dtype"].Type);
    }

    [Fact]
    public void KeepsControlDependenciesOfOutputs()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat);
        b.Const("c", Tensor.Scalar(1f));
        b.Add("init", "NoOp");
        b.Add("out", "Identity", new[] { "x", "^init" }).Attr["T"] = Attr.Type(DataType.DtFloat);
        var g = Run(new StripUnusedNodesPass(), b.Graph, new[] { "x" }, new[] { "out" });
        Assert.True(Has(g, "init"));
        Assert.False(Has(g, "c"));
    }
}
