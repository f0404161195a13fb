using ModelOps.Core.Graph;
using ModelOps.Core.Optimization.Passes;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using static ModelOps.Core.Tests.Optimization.OptTestGraphs;

using Xunit;

namespace ModelOps.Core.Tests.Optimization;

public class RemoveTrainingNodesTests
{
    private static NodeDef Id(GraphBuilder b, string name, string op, params string[] inputs)
    {
        var n = b.Add(name, op, inputs);
        n.Attr["T"] = Attr.Type(DataType.DtFloat);
        return n;
    }

    [Fact]
    public void SplicesPassThroughChainsButKeepsOutputIdentities()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 2);
        Id(b, "a", "Identity", "x");
        Id(b, "b", "CheckNumerics", "a").Attr["message"] = Attr.String("bad");
        Id(b, "c", "StopGradient", "b");
        Id(b, "d", "PreventGradient", "c");
        b.Op("neg", "Neg", DataType.DtFloat, "d");
        Id(b, "Identity", "Identity", "neg"); // the output: must stay (TF issue 8181)
        var g = Run(new RemoveTrainingNodesPass(), b.Graph, new[] { "x" }, new[] { "Identity" });
        Assert.Equal(new[] { "x", "neg", "Identity" }, g.Node.Select(n => n.Name));
        Assert.Equal("x", Node(g, "neg").Input[0]);
        Assert.Equal("neg", Node(g, "Identity").Input[0]);
    }

    [Fact]
    public void RemovesAssertsWithTheirControlEdgesAndNoOps()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 2);
        b.Const("zero", Tensor.Scalar(0f));
        b.Op("ge", "GreaterEqual", DataType.DtFloat, "x", "zero");
        b.Const("axes", Tensor.Create(new[] { 0 }, 1));
        b.Add("all", "All", new[] { "ge", "axes" });
        b.Add("check", "Assert", new[] { "all", "x" });
        b.Add("deps", "NoOp", new[] { "^check" });
        Id(b, "guarded", "Identity", "x", "^deps");
        b.Op("out", "Sqrt", DataType.DtFloat, "guarded");
        var g = Run(new RemoveTrainingNodesPass(), b.Graph, new[] { "x" }, new[] { "out" });
        Assert.Equal(new[] { "x", "out" }, g.Node.Select(n => n.Name));
        Assert.Equal(new[] { "x" }, Node(g, "out").Input);
        // The engine has no Assert kernel, so only the optimized graph runs: out = sqrt(x).
        var got = new ModelOps.Core.Runtime.GraphSession(g, new[] { "out" }).Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(new[] { 4f, 9f }, 2) })["out"];
        Assert.Equal(new[] { 2f, 3f }, got.As<float>());
    }

    [Fact]
    public void KeepsIdentitiesThatCarryControlEdges()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 2);
        b.Placeholder("y", DataType.DtFloat, 2);
        Id(b, "gate", "Identity", "y");
        Id(b, "ordered", "Identity", "x", "^gate");   // has a control input
        Id(b, "trigger", "Identity", "x");
        b.Op("out", "Neg", DataType.DtFloat, "ordered");
        b.Add("out2", "Neg", new[] { "y", "^trigger" }).Attr["T"] = Attr.Type(DataType.DtFloat); // trigger is a control source
        var g = Run(new RemoveTrainingNodesPass(), b.Graph, new[] { "x", "y" }, new[] { "out", "out2" });
        Assert.True(Has(g, "ordered"));
        Assert.True(Has(g, "trigger"));
        Assert.True(Has(g, "gate")); // read through a control edge: removing it would drop the ordering
    }

    [Fact]
    public void LeavesControlFlowRegionsAlone()
    {
        var g = CondGraph();
        var r = Run(new RemoveTrainingNodesPass(), g, new[] { "x", "pred" }, new[] { "out" });
        Assert.True(Has(r, "cond/switch_t"));
        Assert.True(Has(r, "cond/then_id"));
        Assert.True(Has(r, "cond/else_id"));
    }

    /// <summary>out = cond(pred, x*2, -x) as TF1 builds it (Switch, pivot Identities, Merge).</summary>
    internal static GraphDef CondGraph(bool constPred = false, string predName = "pred")
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 2);
        if (constPred) b.Const(predName, Tensor.Scalar(false));
        else b.Placeholder(predName, DataType.DtBool);
        b.Op("cond/Switch", "Switch", DataType.DtBool, predName, predName);
        Id(b, "cond/switch_t", "Identity", "cond/Switch:1").Attr["T"] = Attr.Type(DataType.DtBool);
        Id(b, "cond/switch_f", "Identity", "cond/Switch").Attr["T"] = Attr.Type(DataType.DtBool);
        b.Op("cond/Switch_1", "Switch", DataType.DtFloat, "x", predName);
        Id(b, "cond/then_id", "Identity", "cond/Switch_1:1");
        b.Add("cond/two", "Const", new[] { "^cond/switch_t" }, new Dictionary<string, AttrValue>
        {
            ["dtype"] = Attr.Type(DataType.DtFloat),
            ["value"] = new AttrValue { Tensor = TensorProtoCodec.Encode(Tensor.Scalar(2f)) },
        });
        b.Op("cond/then", "Mul", DataType.DtFloat, "cond/then_id", "cond/two");
        Id(b, "cond/else_id", "Identity", "cond/Switch_1");
        b.Op("cond/else", "Neg", DataType.DtFloat, "cond/else_id");
        var m = b.Op("cond/Merge", "Merge", DataType.DtFloat, "cond/else", "cond/then");
        m.Attr["N"] = Attr.Int(2);
        b.Op("out", "Identity", DataType.DtFloat, "cond/Merge");
        return b.Graph;
    }
}
