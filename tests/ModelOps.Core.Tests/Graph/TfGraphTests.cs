using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using Xunit;

namespace ModelOps.Core.Tests.Graph;

public class TfGraphTests
{
    private static GraphDef Sample()
    {
        var b = new GraphBuilder();
        b.Op("add", "AddV2", DataType.DtFloat, "x", "split:1");       // listed before its inputs on purpose
        b.Placeholder("x", DataType.DtFloat, 4);
        b.Add("split", "Split", new[] { "axis", "x" });
        b.Const("axis", ModelOps.Core.Tensors.Tensor.Scalar(0));
        b.Add("init", "NoOp", new[] { "^add" });
        return b.Graph;
    }

    [Theory]
    [InlineData("a", "a", 0, false)]
    [InlineData("a:2", "a", 2, false)]
    [InlineData("^a", "a", -1, true)]
    [InlineData("scope/a:10", "scope/a", 10, false)]
    [InlineData("f:output:0", "f:output", 0, false)]
    public void ParsesInputNames(string text, string node, int index, bool control)
    {
        var tn = TensorName.Parse(text);
        Assert.Equal((node, index, control), (tn.Node, tn.Index, tn.IsControl));
    }

    [Fact]
    public void InputNamePrintsLikeTensorFlow()
    {
        Assert.Equal("a", TensorName.Parse("a:0").ToString());
        Assert.Equal("a:0", TensorName.Parse("a").Tensor);
        Assert.Equal("^a", TensorName.Parse("^a").ToString());
    }

    [Fact]
    public void TopologicalOrderPutsInputsFirst()
    {
        var g = new TfGraph(Sample());
        var order = g.TopologicalOrder().Select(i => g.Nodes[i].Name).ToList();
        Assert.True(order.IndexOf("x") < order.IndexOf("split"));
        Assert.True(order.IndexOf("axis") < order.IndexOf("split"));
        Assert.True(order.IndexOf("split") < order.IndexOf("add"));
        Assert.True(order.IndexOf("add") < order.IndexOf("init"));
    }

    [Fact]
    public void ConsumersIncludeControlEdges()
    {
        var g = new TfGraph(Sample());
        Assert.Equal(new[] { "add", "split" }, g.Consumers("x").Select(n => n.Name).OrderBy(n => n));
        Assert.Equal(new[] { "init" }, g.Consumers("add").Select(n => n.Name));
        Assert.Equal(new[] { "init" }, g.Sinks().Select(n => n.Name));
    }

    [Fact]
    public void CycleIsReported()
    {
        var b = new GraphBuilder();
        b.Op("a", "Identity", DataType.DtFloat, "b");
        b.Op("b", "Identity", DataType.DtFloat, "a");
        var ex = Assert.Throws<ModelOpsException>(() => new TfGraph(b.Graph).TopologicalOrder());
        Assert.Equal(ErrorIds.GraphCycle, ex.ErrorId);
        Assert.Contains("a", ex.Message);
    }

    [Fact]
    public void LoopBackEdgeIsNotACycle()
    {
        var b = new GraphBuilder();
        b.Const("zero", ModelOps.Core.Tensors.Tensor.Scalar(0));
        b.Add("enter", "Enter", new[] { "zero" });
        b.Add("merge", "Merge", new[] { "enter", "next" });
        b.Add("next", "NextIteration", new[] { "merge" });
        var g = new TfGraph(b.Graph);
        Assert.Equal(4, g.TopologicalOrder().Length);
    }

    [Fact]
    public void DanglingInputIsReported()
    {
        var b = new GraphBuilder();
        b.Op("a", "Identity", DataType.DtFloat, "missing");
        var g = new TfGraph(b.Graph);
        Assert.Single(g.DanglingInputs());
        Assert.Equal(ErrorIds.InvalidGraph, Assert.Throws<ModelOpsException>(() => g.TopologicalOrder()).ErrorId);
    }

    [Fact]
    public void DuplicateNamesAreRejected()
    {
        var gd = new GraphDef();
        gd.Node.Add(new NodeDef { Name = "a", Op = "NoOp" });
        gd.Node.Add(new NodeDef { Name = "a", Op = "NoOp" });
        Assert.Equal(ErrorIds.InvalidGraph, Assert.Throws<ModelOpsException>(() => new TfGraph(gd)).ErrorId);
    }

    [Fact]
    public void UnknownNodeSuggestsNearNames()
    {
        var g = new TfGraph(Sample());
        var ex = Assert.Throws<ModelOpsException>(() => g.Get("ad"));
        Assert.Equal(ErrorIds.NodeNotFound, ex.ErrorId);
        Assert.Contains("add", ex.Message);
        Assert.Same(g.Get("add"), g.Get("add:0"));
    }
}
