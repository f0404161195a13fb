using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Optimization;
using ModelOps.Core.Protos;
using ModelOps.Core.Samples;
using ModelOps.Core.Tensors;
using Xunit;
using static ModelOps.Core.Tests.Optimization.OptTestGraphs;

namespace ModelOps.Core.Tests.Optimization;

public class GraphOptimizerTests
{
    private static IReadOnlyList<TransformStep> Default => TransformRegistry.BuiltIn.Parse(TransformRegistry.DefaultTransforms);

    [Fact]
    public void Conv2DFusedBatchNormV3ReluFoldsIntoOneFusedConv2D()
    {
        var src = ConvBnRelu();
        var r = GraphOptimizer.Optimize(src, Default);
        var g = r.Graph;
        Assert.Equal(0, Count(g, "FusedBatchNormV3"));
        Assert.Equal(0, Count(g, "Conv2D"));
        Assert.Equal(0, Count(g, "Relu"));
        var f = Node(g, "out");
        Assert.Equal("_FusedConv2D", f.Op);
        Assert.Equal(new[] { "BiasAdd", "Relu" }, f.Attr["fused_ops"].List.S.Select(s => s.ToStringUtf8()));
        Assert.Equal(4, g.Node.Count); // input, folded weights, folded bias, the fused conv
        Assert.True(g.Node.Count < src.Node.Count);
        var fold = r.Passes.Single(p => p.Name == "fold_batch_norms");
        Assert.True(fold.NodesRemoved >= 5 && fold.NodesAdded >= 2, fold.ToString());
        Assert.Equal(new[] { "input" }, r.Inputs);
        Assert.Equal(new[] { "out" }, r.Outputs);
        var v = AssertSameOutputs(src, g, new[] { "input" }, new[] { "out" });
        Assert.True(v.MaxAbsDiff < 1e-4);
    }

    [Fact]
    public void SampleCnnFusesAndKeepsItsOutputs()
    {
        var src = SampleModels.FrozenCnn();
        var r = GraphOptimizer.Optimize(src, Default);
        Assert.Equal(1, Count(r.Graph, "_FusedConv2D"));
        Assert.Equal(1, Count(r.Graph, "_FusedMatMul"));
        Assert.True(r.Graph.Node.Count < src.Node.Count);
        var feeds = new Dictionary<string, Tensor> { ["input"] = SampleModels.CnnInput(2) };
        AssertSameOutputs(src, r.Graph, new[] { "input" }, new[] { "probabilities" }, feeds);
    }

    [Fact]
    public void VariablesMeanNotFrozenAndPointToExportFrozenGraph()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 2);
        var v = b.Add("w", "VariableV2");
        v.Attr["dtype"] = Attr.Type(DataType.DtFloat);
        v.Attr["shape"] = Attr.Shape(new long[] { 2 });
        b.Op("w/read", "Identity", DataType.DtFloat, "w");
        b.Op("y", "Mul", DataType.DtFloat, "x", "w/read");
        var ex = Assert.Throws<ModelOpsException>(() => GraphOptimizer.Optimize(b.Graph, Default));
        Assert.Equal(OptimizationErrorIds.GraphNotFrozen, ex.ErrorId);
        Assert.Contains("Export-FrozenGraph", ex.Message);
        Assert.Contains("'w'", ex.Message.Replace("(w)", "'w'"));
    }

    [Fact]
    public void UnknownInputAndOutputNamesSuggestNearOnes()
    {
        var src = ConvBnRelu();
        var e1 = Assert.Throws<ModelOpsException>(() => GraphOptimizer.Optimize(src, Default, inputs: new[] { "inpt" }));
        Assert.Equal(OptimizationErrorIds.InputNotFound, e1.ErrorId);
        Assert.Contains("input", e1.Message);
        var e2 = Assert.Throws<ModelOpsException>(() => GraphOptimizer.Optimize(src, Default, outputs: new[] { "outt:0" }));
        Assert.Equal(OptimizationErrorIds.OutputNotFound, e2.ErrorId);
        Assert.Contains("Did you mean", e2.Message);
        // A tensor name for an output is accepted (TF's tools want node names: TF issue 3986).
        var ok = GraphOptimizer.Optimize(src, Default, outputs: new[] { "out:0" });
        Assert.Equal(new[] { "out" }, ok.Outputs);
    }

    [Fact]
    public void EveryPassKeepsTheSampleCnnComputingTheSame()
    {
        var src = SampleModels.FrozenCnn();
        var feeds = new Dictionary<string, Tensor> { ["input"] = SampleModels.CnnInput(1) };
        foreach (var name in TransformRegistry.BuiltIn.Names)
        {
            var r = GraphOptimizer.Optimize(src, TransformRegistry.BuiltIn.Parse(name));
            AssertSameOutputs(src, r.Graph, new[] { "input" }, new[] { "probabilities" }, feeds);
        }
    }
}
