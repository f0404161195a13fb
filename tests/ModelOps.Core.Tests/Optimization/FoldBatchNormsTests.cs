using ModelOps.Core.Graph;
using ModelOps.Core.Optimization.Passes;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using static ModelOps.Core.Tests.Optimization.OptTestGraphs;

using Xunit;

namespace ModelOps.Core.Tests.Optimization;

public class FoldBatchNormsTests
{
    private static Tensor Value(GraphDef g, string name) => TensorProtoCodec.Decode(Node(g, name).Attr["value"].Tensor);

    [Theory]
    [InlineData("FusedBatchNormV3")]
    [InlineData("FusedBatchNorm")]
    public void FoldsFusedBatchNormIntoConvWeights(string op)
    {
        var src = ConvBnRelu(op);
        var g = Run(new FoldBatchNormsPass(), src, new[] { "input" }, new[] { "out" });
        Assert.Equal(0, Count(g, op));
        var bn = Node(g, "bn");
        Assert.Equal("BiasAdd", bn.Op);
        Assert.Equal("conv", bn.Input[0]);
        Assert.False(Has(g, "gamma") || Has(g, "mean") || Has(g, "w"));

        // Weights scaled per output channel by gamma / sqrt(var + eps); bias = beta - mean * scale.
        var w = TensorProtoCodec.Decode(Node(src, "w").Attr["value"].Tensor).As<float>();
        float[] gamma = Value(src, "gamma").As<float>(), beta = Value(src, "beta").As<float>(), mean = Value(src, "mean").As<float>(), var = Value(src, "var").As<float>();
        var folded = Value(g, Node(g, "conv").Input[1]).As<float>();
        var bias = Value(g, bn.Input[1]).As<float>();
        for (int i = 0; i < w.Length; i++)
        {
            int c = i % 4;
            double scale = gamma[c] / Math.Sqrt(var[c] + 0.001);
            Assert.Equal(w[i] * scale, folded[i], 5);
        }
        for (int c = 0; c < 4; c++)
            Assert.Equal(beta[c] - mean[c] * gamma[c] / Math.Sqrt(var[c] + 0.001), bias[c], 5);
        AssertSameOutputs(src, g, new[] { "input" }, new[] { "out" });
    }

    [Fact]
    public void FoldsThroughABiasAddAndIntoDepthwise()
    {
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, 1, 5, 5, 2);
        b.Const("w", Tensor.Create(Rand(3 * 3 * 2 * 3, 7), 3, 3, 2, 3)); // multiplier 3 → 6 channels
        Depthwise(b, "dw", "input", "w");
        b.Const("b", Tensor.Create(Rand(6, 8), 6));
        b.Op("dw/bias", "BiasAdd", DataType.DtFloat, "dw", "b").Attr["data_format"] = Attr.String("NHWC");
        foreach (var (n, seed) in new[] { ("gamma", 9), ("beta", 10), ("mean", 11) }) b.Const(n, Tensor.Create(Rand(6, seed), 6));
        b.Const("var", Tensor.Create(Positive(6, 12), 6));
        var bn = b.Op("bn", "FusedBatchNormV3", DataType.DtFloat, "dw/bias", "gamma", "beta", "mean", "var");
        bn.Attr["is_training"] = Attr.Bool(false);
        bn.Attr["epsilon"] = Attr.Float(1e-3f);
        var g = Run(new FoldBatchNormsPass(), b.Graph, new[] { "input" }, new[] { "bn" });
        Assert.Equal(new[] { "input", "dw/folded_weights", "dw", "bn/folded_bias", "bn" }, g.Node.Select(n => n.Name));
        var gamma = Value(b.Graph, "gamma").As<float>(); var varv = Value(b.Graph, "var").As<float>();
        var w0 = Value(b.Graph, "w").As<float>(); var w1 = Value(g, "dw/folded_weights").As<float>();
        for (int i = 0; i < w0.Length; i++) Assert.Equal(w0[i] * gamma[i % 6] / Math.Sqrt(varv[i % 6] + 1e-3), w1[i], 5);
        var bias0 = Value(b.Graph, "b").As<float>(); var beta = Value(b.Graph, "beta").As<float>(); var mean = Value(b.Graph, "mean").As<float>();
        var bias1 = Value(g, "bn/folded_bias").As<float>();
        for (int c = 0; c < 6; c++) Assert.Equal((bias0[c] - mean[c]) * gamma[c] / Math.Sqrt(varv[c] + 1e-3) + beta[c], bias1[c], 5);
        AssertSameOutputs(b.Graph, g, new[] { "input" }, new[] { "bn" });
    }

    [Fact]
    public void FoldsTheDecomposedRsqrtPatternAfterMatMul()
    {
        // Keras BatchNormalization after Dense, as frozen: x*(rsqrt(var+eps)*gamma) + (beta - mean*that).
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, -1, 3);
        b.Const("w", Tensor.Create(Rand(3 * 4, 20), 4, 3));
        MatMul(b, "dense", "x", "w", transposeB: true);
        b.Const("var", Tensor.Create(Positive(4, 21), 4));
        b.Const("eps", Tensor.Scalar(0.001f));
        b.Op("bn/add", "AddV2", DataType.DtFloat, "var", "eps");
        b.Op("bn/Rsqrt", "Rsqrt", DataType.DtFloat, "bn/add");
        b.Const("gamma", Tensor.Create(Rand(4, 22), 4));
        b.Op("bn/mul", "Mul", DataType.DtFloat, "bn/Rsqrt", "gamma");
        b.Op("bn/mul_1", "Mul", DataType.DtFloat, "dense", "bn/mul");
        b.Const("mean", Tensor.Create(Rand(4, 23), 4));
        b.Op("bn/mul_2", "Mul", DataType.DtFloat, "mean", "bn/mul");
        b.Const("beta", Tensor.Create(Rand(4, 24), 4));
        b.Op("bn/sub", "Sub", DataType.DtFloat, "beta", "bn/mul_2");
        b.Op("bn/add_1", "AddV2", DataType.DtFloat, "bn/mul_1", "bn/sub");
        b.Op("out", "Relu", DataType.DtFloat, "bn/add_1");
        var g = Run(new FoldBatchNormsPass(), b.Graph, new[] { "x" }, new[] { "out" });
        Assert.Equal(new[] { "x", "dense/folded_weights", "dense", "bn/add_1/folded_bias", "bn/add_1", "out" }, g.Node.Select(n => n.Name));
        Assert.Equal("BiasAdd", Node(g, "bn/add_1").Op);
        // transpose_b: weights are [N=4, K=3]; row n scales by the channel's factor.
        var w0 = Value(b.Graph, "w").As<float>(); var w1 = Value(g, "dense/folded_weights").As<float>();
        var gamma = Value(b.Graph, "gamma").As<float>(); var v = Value(b.Graph, "var").As<float>();
        for (int i = 0; i < w0.Length; i++) Assert.Equal(w0[i] * gamma[i / 3] / Math.Sqrt(v[i / 3] + 0.001f), w1[i], 5);
        AssertSameOutputs(b.Graph, g, new[] { "x" }, new[] { "out" });
    }

    [Fact]
    public void SkipsTrainingModeSharedConvsAndNonConstantParameters()
    {
        var training = ConvBnRelu();
        Node(training, "bn").Attr["is_training"] = Attr.Bool(true);
        Assert.Equal(1, Count(Run(new FoldBatchNormsPass(), training, new[] { "input" }, new[] { "out" }), "FusedBatchNormV3"));

        var shared = ConvBnRelu();
        shared.Node.Add(new NodeDef { Name = "peek", Op = "Neg", Input = { "conv" }, Attr = { ["T"] = Attr.Type(DataType.DtFloat) } });
        Assert.Equal(1, Count(Run(new FoldBatchNormsPass(), shared, new[] { "input" }, new[] { "out", "peek" }), "FusedBatchNormV3"));

        var fed = ConvBnRelu();
        var mean = Node(fed, "mean");
        fed.Node[fed.Node.IndexOf(mean)] = new NodeDef { Name = "mean", Op = "Placeholder", Attr = { ["dtype"] = Attr.Type(DataType.DtFloat) } };
        Assert.Equal(1, Count(Run(new FoldBatchNormsPass(), fed, new[] { "input", "mean" }, new[] { "out" }), "FusedBatchNormV3"));

        var convIsOutput = ConvBnRelu();
        Assert.Equal(1, Count(Run(new FoldBatchNormsPass(), convIsOutput, new[] { "input" }, new[] { "out", "conv" }), "FusedBatchNormV3"));
    }
}
