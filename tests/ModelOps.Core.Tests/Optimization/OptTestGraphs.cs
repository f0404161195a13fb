using ModelOps.Core.Graph;
using ModelOps.Core.Optimization;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

using Xunit;

namespace ModelOps.Core.Tests.Optimization;

/// <summary>Small graphs and helpers shared by the pass tests.</summary>
internal static class OptTestGraphs
{
    public static PassContext Ctx(string[] inputs, string[] outputs, string args = "", string pass = "") =>
        new(inputs, outputs, args.Length == 0 ? PassArgs.Empty : TransformRegistry.BuiltIn.Parse($"{pass}({args})")[0].Args);

    public static GraphDef Run(IGraphPass pass, GraphDef g, string[] inputs, string[] outputs, string args = "")
    {
        var ctx = args.Length == 0 ? new PassContext(inputs, outputs) : Ctx(inputs, outputs, args, pass.Name);
        var r = pass.Apply(g, ctx);
        var view = new TfGraph(r);
        Assert.Empty(view.DanglingInputs());
        return r;
    }

    /// <summary>Runs both graphs on the same generated (or given) inputs and asserts every output agrees within the verifier's default tolerance.</summary>
    public static VerificationResult AssertSameOutputs(GraphDef original, GraphDef optimized, string[] inputs, string[] outputs, IReadOnlyDictionary<string, Tensor>? feeds = null)
    {
        var v = GraphVerifier.Verify(original, optimized, inputs, outputs, feeds);
        Assert.True(v.Passed, v.Message);
        return v;
    }

    public static NodeDef Node(GraphDef g, string name) => g.Node.Single(n => n.Name == name);

    public static bool Has(GraphDef g, string name) => g.Node.Any(n => n.Name == name);

    public static int Count(GraphDef g, string op) => g.Node.Count(n => n.Op == op);

    public static float[] Rand(int n, int seed, float scale = 1f)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)((r.NextDouble() * 2 - 1) * scale)).ToArray();
    }

    public static float[] Positive(int n, int seed)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => (float)(0.5 + r.NextDouble())).ToArray();
    }

    /// <summary>A stride-1 Conv2D node with every attribute TensorFlow writes.</summary>
    public static NodeDef Conv(GraphBuilder b, string name, string input, string weights, string format = "NHWC", string padding = "SAME")
    {
        var c = b.Op(name, "Conv2D", DataType.DtFloat, input, weights);
        c.Attr["strides"] = Attr.Ints(1, 1, 1, 1);
        c.Attr["padding"] = Attr.String(padding);
        c.Attr["data_format"] = Attr.String(format);
        c.Attr["dilations"] = Attr.Ints(1, 1, 1, 1);
        c.Attr["use_cudnn_on_gpu"] = Attr.Bool(true);
        c.Attr["explicit_paddings"] = new AttrValue { List = new AttrValue.Types.ListValue() };
        return c;
    }

    public static NodeDef Depthwise(GraphBuilder b, string name, string input, string weights)
    {
        var c = b.Op(name, "DepthwiseConv2dNative", DataType.DtFloat, input, weights);
        c.Attr["strides"] = Attr.Ints(1, 1, 1, 1);
        c.Attr["padding"] = Attr.String("SAME");
        c.Attr["data_format"] = Attr.String("NHWC");
        c.Attr["dilations"] = Attr.Ints(1, 1, 1, 1);
        return c;
    }

    public static NodeDef MatMul(GraphBuilder b, string name, string a, string w, bool transposeB = false)
    {
        var m = b.Op(name, "MatMul", DataType.DtFloat, a, w);
        m.Attr["transpose_a"] = Attr.Bool(false);
        m.Attr["transpose_b"] = Attr.Bool(transposeB);
        return m;
    }

    /// <summary>input[?,6,6,3] → Conv2D 3x3x3x4 (no bias) → FusedBatchNormV3 → Relu "out".</summary>
    public static GraphDef ConvBnRelu(string bnOp = "FusedBatchNormV3")
    {
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, -1, 6, 6, 3);
        b.Const("w", Tensor.Create(Rand(3 * 3 * 3 * 4, 1, 0.5f), 3, 3, 3, 4));
        Conv(b, "conv", "input", "w");
        b.Const("gamma", Tensor.Create(Positive(4, 2), 4));
        b.Const("beta", Tensor.Create(Rand(4, 3), 4));
        b.Const("mean", Tensor.Create(Rand(4, 4), 4));
        b.Const("var", Tensor.Create(Positive(4, 5), 4));
        var bn = b.Op("bn", bnOp, DataType.DtFloat, "conv", "gamma", "beta", "mean", "var");
        bn.Attr["epsilon"] = Attr.Float(0.001f);
        bn.Attr["is_training"] = Attr.Bool(false);
        bn.Attr["data_format"] = Attr.String("NHWC");
        if (bnOp != "FusedBatchNorm") bn.Attr["U"] = Attr.Type(DataType.DtFloat);
        b.Op("out", "Relu", DataType.DtFloat, "bn");
        return b.Graph;
    }
}
