using ModelOps.Core.Graph;
using ModelOps.Core.Optimization.Passes;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using static ModelOps.Core.Tests.Optimization.OptTestGraphs;

using Xunit;

namespace ModelOps.Core.Tests.Optimization;

public class FuseContractionsTests
{
    private static GraphDef ConvBiasAct(string act, string bias = "BiasAdd")
    {
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, 1, 5, 5, 3);
        b.Const("w", Tensor.Create(Rand(3 * 3 * 3 * 4, 1), 3, 3, 3, 4));
        Conv(b, "conv", "input", "w");
        b.Const("b", Tensor.Create(Rand(4, 2), bias == "BiasAdd" ? new[] { 4 } : new[] { 1, 1, 1, 4 }));
        var ba = b.Op("bias", bias, DataType.DtFloat, "conv", "b");
        if (bias == "BiasAdd") ba.Attr["data_format"] = Attr.String("NHWC");
        var a = b.Op("act", act, DataType.DtFloat, "bias");
        if (act == "LeakyRelu") a.Attr["alpha"] = Attr.Float(0.1f);
        b.Op("out", "Neg", DataType.DtFloat, "act");
        return b.Graph;
    }

    private static string[] FusedOps(NodeDef n) => n.Attr["fused_ops"].List.S.Select(s => s.ToStringUtf8()).ToArray();

    [Fact]
    public void Conv2DBiasAddReluBecomesFusedConv2DWithRemapperAttributes()
    {
        var g = Run(new FuseContractionsPass(), ConvBiasAct("Relu"), new[] { "input" }, new[] { "out" });
        Assert.Equal(new[] { "input", "w", "b", "act", "out" }, g.Node.Select(n => n.Name));
        var f = Node(g, "act");
        Assert.Equal("_FusedConv2D", f.Op);
        Assert.Equal(new[] { "input", "w", "b" }, f.Input);
        Assert.Equal(new[] { "BiasAdd", "Relu" }, FusedOps(f));
        Assert.Equal(1, f.Attr["num_args"].I);
        Assert.Equal(0f, f.Attr["epsilon"].F);
        Assert.Equal(new[] { DataType.DtFloat }, f.Attr["TArgs"].List.Type);
        Assert.Equal(0, f.Attr["num_host_args"].I);
        foreach (var k in new[] { "T", "strides", "padding", "explicit_paddings", "dilations", "data_format", "use_cudnn_on_gpu" })
            Assert.True(f.Attr.ContainsKey(k), k);
        Assert.False(f.Attr.ContainsKey("leakyrelu_alpha"));
        AssertSameOutputs(ConvBiasAct("Relu"), g, new[] { "input" }, new[] { "out" });
    }

    [Fact]
    public void TheFilterIsReadForItsShapeAlone()
    {
        // The pass needs a filter's channel count and kernel size, not its elements (a session's rewrite of a 15 MB model
        // decoded every filter for them): a filter whose bytes do not even decode still has its shape read from its
        // TensorProto, so an Add of a per-channel constant still becomes the bias, and a 1×1 convolution still takes the
        // residual Add.
        static GraphDef Undecodable(GraphDef g)
        {
            g.Node.Single(n => n.Name == "w").Attr["value"].Tensor.TensorContent = Google.Protobuf.ByteString.CopyFrom(new byte[7]);
            return g;
        }
        var biased = Run(new FuseContractionsPass(), Undecodable(ConvBiasAct("Relu", bias: "AddV2")), new[] { "input" }, new[] { "out" });
        Assert.Equal("_FusedConv2D", Node(biased, "act").Op);
        var residual = Run(new FuseContractionsPass(), Undecodable(ConvAddResidual()), ["input", "input2"], ["out"], "residual=true");
        Assert.Equal(new[] { "BiasAdd", "Add", "Relu" }, FusedOps(Node(residual, "act")));
    }

    /// <summary>input → 1×1 conv + bias; side = Neg(input2); out = Relu(conv + side) (the residual pattern).</summary>
    private static GraphDef ConvAddResidual(int k = 1)
    {
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, 1, 5, 5, 3);
        b.Placeholder("input2", DataType.DtFloat, 1, 5, 5, 4);
        b.Const("w", Tensor.Create(Rand(k * k * 3 * 4, 1), k, k, 3, 4));
        Conv(b, "conv", "input", "w");
        b.Const("b", Tensor.Create(Rand(4, 2), 4));
        b.Op("bias", "BiasAdd", DataType.DtFloat, "conv", "b").Attr["data_format"] = Attr.String("NHWC");
        b.Op("side", "Neg", DataType.DtFloat, "input2");
        b.Op("add", "AddV2", DataType.DtFloat, "side", "bias");
        b.Op("act", "Relu", DataType.DtFloat, "add");
        b.Op("out", "Neg", DataType.DtFloat, "act");
        return b.Graph;
    }

    [Fact]
    public void WithResidualTheAddOfAnotherTensorAndTheActivationFuseIntoTheConvolution()
    {
        string[] ins = ["input", "input2"], outs = ["out"];
        var plain = Run(new FuseContractionsPass(), ConvAddResidual(), ins, outs);
        Assert.Equal(new[] { "BiasAdd" }, FusedOps(Node(plain, "bias"))); // off by default: TF's CPU kernels have no such fusion
        Assert.Equal("AddV2", Node(plain, "add").Op);

        var g = Run(new FuseContractionsPass(), ConvAddResidual(), ins, outs, "residual=true");
        var f = Node(g, "act");
        Assert.Equal("_FusedConv2D", f.Op);
        Assert.Equal(new[] { "input", "w", "b", "side" }, f.Input);
        Assert.Equal(new[] { "BiasAdd", "Add", "Relu" }, FusedOps(f));
        Assert.Equal(2, f.Attr["num_args"].I);
        Assert.False(Has(g, "add") || Has(g, "bias") || Has(g, "conv"));
        AssertSameOutputs(ConvAddResidual(), g, ins, outs);

        // A fetched Add stays, and keeps its name: only the activation after it is left out.
        var fetched = Run(new FuseContractionsPass(), ConvAddResidual(), ins, ["out", "add"], "residual=true");
        Assert.Equal(new[] { "BiasAdd", "Add" }, FusedOps(Node(fetched, "add")));
        Assert.Equal("Relu", Node(fetched, "act").Op);
    }

    [Fact]
    public void LeakyReluCarriesItsAlpha()
    {
        var g = Run(new FuseContractionsPass(), ConvBiasAct("LeakyRelu"), new[] { "input" }, new[] { "out" });
        var f = Node(g, "act");
        Assert.Equal(new[] { "BiasAdd", "LeakyRelu" }, FusedOps(f));
        Assert.Equal(0.1f, f.Attr["leakyrelu_alpha"].F);
        AssertSameOutputs(ConvBiasAct("LeakyRelu"), g, new[] { "input" }, new[] { "out" });
    }

    [Fact]
    public void UnlistedActivationFusesOnlyTheBias()
    {
        var g = Run(new FuseContractionsPass(), ConvBiasAct("Sigmoid"), new[] { "input" }, new[] { "out" });
        Assert.Equal(new[] { "BiasAdd" }, FusedOps(Node(g, "bias")));
        Assert.Equal("Sigmoid", Node(g, "act").Op);
        var g2 = Run(new FuseContractionsPass(), ConvBiasAct("Sigmoid"), new[] { "input" }, new[] { "out" }, "activations=\"Relu,Sigmoid\"");
        Assert.Equal(new[] { "BiasAdd", "Sigmoid" }, FusedOps(Node(g2, "act")));
    }

    [Fact]
    public void AddOfAPerChannelConstantIsReadAsBiasAdd()
    {
        var g = Run(new FuseContractionsPass(), ConvBiasAct("Relu6", bias: "AddV2"), new[] { "input" }, new[] { "out" });
        var f = Node(g, "act");
        Assert.Equal("_FusedConv2D", f.Op);
        Assert.Equal(new[] { "BiasAdd", "Relu6" }, FusedOps(f));
        var bias = TensorProtoCodec.Decode(Node(g, f.Input[2]).Attr["value"].Tensor);
        Assert.Equal(new[] { 4 }, bias.Shape);
        AssertSameOutputs(ConvBiasAct("Relu6", bias: "AddV2"), g, new[] { "input" }, new[] { "out" });
    }

    [Fact]
    public void MatMulAndDepthwiseFuse()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 1, 4, 4, 2);
        b.Const("dw_w", Tensor.Create(Rand(3 * 3 * 2, 3), 3, 3, 2, 1));
        Depthwise(b, "dw", "x", "dw_w");
        b.Const("dw_b", Tensor.Create(Rand(2, 4), 2));
        b.Op("dw_bias", "BiasAdd", DataType.DtFloat, "dw", "dw_b");
        b.Const("shape", Tensor.Create(new[] { 1, 32 }, 2));
        b.Op("flat", "Reshape", DataType.DtFloat, "dw_bias", "shape");
        b.Const("mm_w", Tensor.Create(Rand(32 * 3, 5), 32, 3));
        MatMul(b, "mm", "flat", "mm_w");
        b.Const("mm_b", Tensor.Create(Rand(3, 6), 3));
        b.Op("mm_bias", "BiasAdd", DataType.DtFloat, "mm", "mm_b");
        b.Op("out", "Elu", DataType.DtFloat, "mm_bias");
        var g = Run(new FuseContractionsPass(), b.Graph, new[] { "x" }, new[] { "out" });
        Assert.Equal("_FusedDepthwiseConv2dNative", Node(g, "dw_bias").Op);
        Assert.Equal(new[] { "BiasAdd" }, FusedOps(Node(g, "dw_bias")));
        Assert.False(Node(g, "dw_bias").Attr.ContainsKey("TArgs"));
        var mm = Node(g, "out");
        Assert.Equal("_FusedMatMul", mm.Op);
        Assert.Equal(new[] { "BiasAdd", "Elu" }, FusedOps(mm));
        Assert.False(mm.Attr["transpose_b"].B);
        AssertSameOutputs(b.Graph, g, new[] { "x" }, new[] { "out" });
        var g2 = Run(new FuseContractionsPass(), b.Graph, new[] { "x" }, new[] { "out" }, "depthwise=false");
        Assert.Equal("BiasAdd", Node(g2, "dw_bias").Op);
    }

    [Fact]
    public void DoesNotFuseSharedOrProtectedOrControlledNodes()
    {
        Assert.Equal("Conv2D", Node(Run(new FuseContractionsPass(), ConvBiasAct("Relu"), new[] { "input" }, new[] { "out", "conv" }), "conv").Op);
        var bOut = Run(new FuseContractionsPass(), ConvBiasAct("Relu"), new[] { "input" }, new[] { "out", "bias" });
        Assert.Equal("_FusedConv2D", Node(bOut, "bias").Op); // fused without the activation: 'bias' stays an output
        Assert.Equal("Relu", Node(bOut, "act").Op);
        var ctl = ConvBiasAct("Relu");
        Node(ctl, "bias").Input.Add("^input");
        Assert.Equal("Conv2D", Node(Run(new FuseContractionsPass(), ctl, new[] { "input" }, new[] { "out" }), "conv").Op);
    }

    [Fact]
    public void ExtendsAFusedBiasAddWithAnActivation()
    {
        var g = Run(new FuseContractionsPass(), ConvBiasAct("Relu"), new[] { "input" }, new[] { "out", "bias" });
        var g2 = Run(new FuseContractionsPass(), g, new[] { "input" }, new[] { "out" });
        Assert.Equal(new[] { "BiasAdd", "Relu" }, FusedOps(Node(g2, "act")));
        Assert.False(Has(g2, "bias"));
    }
}
