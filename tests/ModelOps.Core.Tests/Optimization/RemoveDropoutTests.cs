using ModelOps.Core.Graph;
using ModelOps.Core.Optimization.Passes;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using static ModelOps.Core.Tests.Optimization.OptTestGraphs;

using Xunit;

namespace ModelOps.Core.Tests.Optimization;

public class RemoveDropoutTests
{
    [Fact]
    public void RateMultiplyFormV1BecomesIdentityOfTheInput()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 1, 8);
        b.Op("relu", "Relu", DataType.DtFloat, "x");
        b.Const("dropout/keep_prob", Tensor.Scalar(0.8f));
        b.Add("dropout/Shape", "Shape", new[] { "relu" }).Attr["out_type"] = Attr.Type(DataType.DtInt32);
        var ru = b.Add("dropout/random_uniform/RandomUniform", "RandomUniform", new[] { "dropout/Shape" });
        ru.Attr["dtype"] = Attr.Type(DataType.DtFloat);
        ru.Attr["T"] = Attr.Type(DataType.DtInt32);
        b.Op("dropout/add", "AddV2", DataType.DtFloat, "dropout/keep_prob", "dropout/random_uniform/RandomUniform");
        b.Op("dropout/Floor", "Floor", DataType.DtFloat, "dropout/add");
        b.Op("dropout/div", "RealDiv", DataType.DtFloat, "relu", "dropout/keep_prob");
        b.Op("dropout/mul", "Mul", DataType.DtFloat, "dropout/div", "dropout/Floor");
        b.Op("out", "Tanh", DataType.DtFloat, "dropout/mul");
        var g = Run(new RemoveDropoutPass(), b.Graph, new[] { "x" }, new[] { "out" });
        Assert.Equal("Identity", Node(g, "dropout/mul").Op);
        Assert.Equal(new[] { "relu" }, Node(g, "dropout/mul").Input);
        Assert.Equal(0, Count(g, "RandomUniform"));
        Assert.False(Has(g, "dropout/div"));
        Assert.False(Has(g, "dropout/keep_prob"));
        // At inference dropout is the identity: the result equals the graph without the dropout block.
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.Create(Rand(8, 3), 1, 8) };
        var got = new ModelOps.Core.Runtime.GraphSession(g, new[] { "out" }).Run(feeds)["out"].As<float>();
        var x = feeds["x"].As<float>();
        for (int i = 0; i < 8; i++) Assert.Equal(MathF.Tanh(MathF.Max(0, x[i])), got[i], 6);
    }

    [Fact]
    public void RateMultiplyFormV2BecomesIdentityOfTheInput()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 1, 8);
        b.Const("dropout/Const", Tensor.Scalar(1.25f));
        b.Op("dropout/Mul", "Mul", DataType.DtFloat, "x", "dropout/Const");
        b.Const("dropout/shape", Tensor.Create(new[] { 1, 8 }, 2));
        var ru = b.Add("dropout/random_uniform/RandomUniform", "RandomUniform", new[] { "dropout/shape" });
        ru.Attr["dtype"] = Attr.Type(DataType.DtFloat);
        b.Const("dropout/rate", Tensor.Scalar(0.2f));
        b.Op("dropout/GreaterEqual", "GreaterEqual", DataType.DtFloat, "dropout/random_uniform/RandomUniform", "dropout/rate");
        var cast = b.Add("dropout/Cast", "Cast", new[] { "dropout/GreaterEqual" });
        cast.Attr["SrcT"] = Attr.Type(DataType.DtBool);
        cast.Attr["DstT"] = Attr.Type(DataType.DtFloat);
        b.Op("dropout/Mul_1", "Mul", DataType.DtFloat, "dropout/Mul", "dropout/Cast");
        b.Op("out", "Relu", DataType.DtFloat, "dropout/Mul_1");
        var g = Run(new RemoveDropoutPass(), b.Graph, new[] { "x" }, new[] { "out" });
        Assert.Equal(new[] { "x" }, Node(g, "dropout/Mul_1").Input);
        Assert.Equal(new[] { "x", "dropout/Mul_1", "out" }, g.Node.Select(n => n.Name));
    }

    [Fact]
    public void LearningPhaseCondTakesTheInferenceBranch()
    {
        var g = RemoveTrainingNodesTests.CondGraph(predName: "keras_learning_phase");
        var r = Run(new RemoveDropoutPass(), g, new[] { "x" }, new[] { "out" });
        Assert.Equal(0, Count(r, "Switch"));
        Assert.Equal(0, Count(r, "Merge"));
        Assert.False(Has(r, "cond/then"));
        Assert.False(Has(r, "keras_learning_phase"));
        Assert.Equal("cond/else", Node(r, "out").Input[0]);
        Assert.Equal("x", Node(r, "cond/else_id").Input[0]);
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.Create(new[] { 1.5f, -2f }, 2), ["keras_learning_phase"] = Tensor.Scalar(false) };
        var want = new ModelOps.Core.Runtime.GraphSession(g, new[] { "out" }).Run(feeds)["out"];
        var got = new ModelOps.Core.Runtime.GraphSession(r, new[] { "out" }).Run(new Dictionary<string, Tensor> { ["x"] = feeds["x"] })["out"];
        Assert.True(want.ContentEquals(got));
    }

    [Fact]
    public void ConstantTruePredicateTakesTheOtherBranch()
    {
        var g = RemoveTrainingNodesTests.CondGraph(constPred: true);
        Node(g, "pred").Attr["value"] = new AttrValue { Tensor = TensorProtoCodec.Encode(Tensor.Scalar(true)) };
        var r = Run(new RemoveDropoutPass(), g, new[] { "x" }, new[] { "out" });
        Assert.Equal("cond/then", Node(r, "out").Input[0]);
        Assert.False(Has(r, "cond/else"));
        Assert.Equal(0, Count(r, "Switch") + Count(r, "Merge"));
        // The branch constant's control edge now hangs on the predicate's Identity chain root, which is live.
        Assert.Empty(new TfGraph(r).DanglingInputs());
    }

    [Fact]
    public void AFedPredicateIsLeftAlone()
    {
        var g = RemoveTrainingNodesTests.CondGraph();
        var r = Run(new RemoveDropoutPass(), g, new[] { "x", "pred" }, new[] { "out" });
        Assert.Equal(g.Node.Count, r.Node.Count);
        Assert.Equal(2, Count(r, "Switch"));
    }
}
