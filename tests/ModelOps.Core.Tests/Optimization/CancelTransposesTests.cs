using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Optimization;
using ModelOps.Core.Optimization.Passes;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;
using static ModelOps.Core.Tests.Optimization.OptTestGraphs;

using Xunit;

namespace ModelOps.Core.Tests.Optimization;

public class CancelTransposesTests
{
    private static readonly EngineOptions AsGiven = new() { IntraOpThreads = 1, FuseContractions = false, CancelTransposes = false, FoldPadIntoConv = false };

    private static NodeDef Transpose(GraphBuilder b, string name, string input, params int[] perm)
    {
        b.Const(name + "/perm", Tensor.Create(perm, perm.Length));
        var t = b.Op(name, "Transpose", DataType.DtFloat, input, name + "/perm");
        t.Attr["Tperm"] = Attr.Type(DataType.DtInt32);
        return t;
    }

    private static NodeDef Pad(GraphBuilder b, string name, string input, int[] pads, string op = "Pad", float? value = null)
    {
        b.Const(name + "/paddings", Tensor.Create(pads, pads.Length / 2, 2));
        if (value is { } v) b.Const(name + "/value", Tensor.Scalar(v));
        var p = value is null ? b.Op(name, op, DataType.DtFloat, input, name + "/paddings") : b.Op(name, op, DataType.DtFloat, input, name + "/paddings", name + "/value");
        if (op == "MirrorPad") p.Attr["mode"] = Attr.String("REFLECT");
        return p;
    }

    private static NodeDef Concat(GraphBuilder b, string name, int axis, params string[] inputs)
    {
        b.Const(name + "/axis", Tensor.Scalar(axis));
        var c = b.Op(name, "ConcatV2", DataType.DtFloat, inputs.Append(name + "/axis").ToArray());
        c.Attr["N"] = Attr.Int(inputs.Length);
        c.Attr["Tidx"] = Attr.Type(DataType.DtInt32);
        return c;
    }

    private static Dictionary<string, Tensor> Feeds(GraphDef g, int seed)
    {
        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var p in g.Node.Where(n => n.Op == "Placeholder"))
        {
            var shape = p.Attr["shape"].Shape.Dim.Select(d => (int)d.Size).ToArray();
            feeds[p.Name] = Tensor.Create(Rand((int)Tensor.ElementCount(shape), seed++), shape);
        }
        return feeds;
    }

    /// <summary>Runs both graphs as given (no session rewrites) and asserts every output is identical in shape and value.</summary>
    private static void AssertIdentical(GraphDef original, GraphDef rewritten, string[] outputs, int seed = 7)
    {
        var feeds = Feeds(original, seed);
        using var a = new GraphSession(original, outputs, AsGiven);
        using var b = new GraphSession(rewritten, outputs, AsGiven);
        var ra = a.Run(feeds);
        var rb = b.Run(feeds);
        foreach (var o in outputs)
        {
            Assert.Equal(ra[o].Shape, rb[o].Shape);
            Assert.Equal(ra[o].As<float>(), rb[o].As<float>());
        }
    }

    private static GraphDef Apply(GraphDef g, string[] inputs, string[] outputs, List<string>? notes = null)
    {
        var r = new CancelTransposesPass().Apply(g, new PassContext(inputs, outputs, notes: notes));
        Assert.Empty(new TfGraph(r).DanglingInputs());
        return r;
    }

    /// <summary>input NHWC → Transpose to NCHW → LeakyRelu → Pad (NCHW paddings) → Transpose back → Neg "out".</summary>
    private static GraphDef PadChain(string padOp = "Pad", float? value = null)
    {
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, 1, 5, 6, 3);
        Transpose(b, "to_nchw", "input", 0, 3, 1, 2);
        b.Op("act", "LeakyRelu", DataType.DtFloat, "to_nchw").Attr["alpha"] = Attr.Float(0.1f);
        Pad(b, "pad", "act", new[] { 0, 0, 0, 1, 1, 2, 2, 0 }, padOp, value);
        Transpose(b, "to_nhwc", "pad", 0, 2, 3, 1);
        b.Op("out", "Neg", DataType.DtFloat, "to_nhwc");
        return b.Graph;
    }

    [Theory]
    [InlineData("Pad", null)]
    [InlineData("PadV2", -3.5f)]
    [InlineData("MirrorPad", null)]
    public void TransposePairAroundActivationAndPadCancels(string padOp, float? value)
    {
        var g = PadChain(padOp, value);
        var notes = new List<string>();
        var r = Apply(g, new[] { "input" }, new[] { "out" }, notes);
        Assert.Equal(0, Count(r, "Transpose"));
        Assert.Single(notes);
        var pad = r.Node.Single(n => n.Op == padOp);
        Assert.Equal("pad" + CancelTransposesPass.RenameSuffix, pad.Name);
        Assert.Equal("input", r.Node.Single(n => n.Op == "LeakyRelu").Input[0]);
        // NCHW paddings [[0,0],[0,1],[1,2],[2,0]] are NHWC [[0,0],[1,2],[2,0],[0,1]].
        var paddings = TensorProtoCodec.Decode(Node(r, pad.Input[1]).Attr["value"].Tensor).ToInt64Array();
        Assert.Equal(new long[] { 0, 0, 1, 2, 2, 0, 0, 1 }, paddings);
        Assert.Equal(new[] { "input", "out" }, r.Node.Where(n => n.Op is "Placeholder" or "Neg").Select(n => n.Name));
        AssertIdentical(g, r, new[] { "out" });
    }

    [Fact]
    public void ConcatOfTwoTransposedBranchesWithASharedActivationCancels()
    {
        // nanodet's pattern: an activation read by a Pad → conv branch and by a later ConcatV2 on the channel axis.
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 2, 4, 5, 3);
        b.Placeholder("y", DataType.DtFloat, 2, 4, 5, 2);
        Transpose(b, "tx", "x", 0, 3, 1, 2);
        Transpose(b, "ty", "y", 0, 3, 1, 2);
        b.Op("a", "Relu", DataType.DtFloat, "tx");
        Pad(b, "pad", "a", new[] { 0, 0, 0, 0, 1, 1, 1, 1 });
        Transpose(b, "back1", "pad", 0, 2, 3, 1);
        b.Op("out1", "Neg", DataType.DtFloat, "back1");
        b.Op("s", "Sigmoid", DataType.DtFloat, "ty");
        Concat(b, "cat", -3, "s", "a");
        Transpose(b, "back2", "cat", 0, 2, 3, 1);
        b.Op("out2", "Neg", DataType.DtFloat, "back2");
        var g = b.Graph;
        var r = Apply(g, new[] { "x", "y" }, new[] { "out1", "out2" });
        Assert.Equal(0, Count(r, "Transpose"));
        var cat = r.Node.Single(n => n.Op == "ConcatV2");
        Assert.Equal(3, TensorProtoCodec.Decode(Node(r, cat.Input[2]).Attr["value"].Tensor).GetInt64(0));
        AssertIdentical(g, r, new[] { "out1", "out2" });
    }

    [Fact]
    public void BinaryOpsWithBroadcastConstantsScalarsAndTwoTransposedOperandsCancel()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 1, 3, 4, 2);
        b.Placeholder("y", DataType.DtFloat, 1, 3, 4, 2);
        Transpose(b, "tx", "x", 0, 3, 1, 2);
        Transpose(b, "ty", "y", 0, 3, 1, 2);
        b.Const("scale", Tensor.Create(new[] { 2f, -3f }, 2, 1, 1));   // NCHW per-channel, rank 3
        b.Const("rows", Tensor.Create(Rand(3, 5), 3, 1));               // broadcast along H, rank 2
        b.Const("half", Tensor.Scalar(0.5f));
        b.Op("mul", "Mul", DataType.DtFloat, "tx", "scale");
        b.Op("sub", "Sub", DataType.DtFloat, "rows", "mul");
        b.Op("add", "AddV2", DataType.DtFloat, "sub", "ty");
        b.Op("max", "Maximum", DataType.DtFloat, "add", "half");
        Transpose(b, "back", "max", 0, 2, 3, 1);
        b.Op("out", "Identity", DataType.DtFloat, "back");
        var g = b.Graph;
        var r = Apply(g, new[] { "x", "y" }, new[] { "out" });
        Assert.Equal(0, Count(r, "Transpose"));
        var mul = r.Node.Single(n => n.Op == "Mul");
        Assert.Equal(new[] { 1, 1, 1, 2 }, TensorProtoCodec.Decode(Node(r, mul.Input[1]).Attr["value"].Tensor).Shape);
        Assert.True(Has(r, "half")); // a scalar is used as it is
        Assert.False(Has(r, "scale")); // the NCHW constant nobody reads any more is gone
        AssertIdentical(g, r, new[] { "out" });
    }

    [Fact]
    public void FetchedIntermediateIsLeftAlone()
    {
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, 1, 4, 4, 3);
        Transpose(b, "t", "input", 0, 3, 1, 2);
        b.Op("r", "Relu", DataType.DtFloat, "t");
        Transpose(b, "back", "r", 0, 2, 3, 1);
        b.Op("out", "Neg", DataType.DtFloat, "back");
        var g = b.Graph;
        var r = Apply(g, new[] { "input" }, new[] { "out", "r" });
        Assert.Equal(g.Node.Select(n => n.Name + n.Op + string.Join(",", n.Input)), r.Node.Select(n => n.Name + n.Op + string.Join(",", n.Input)));
    }

    [Fact]
    public void FetchedClosingTransposeKeepsItsNameAsIdentity()
    {
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, 1, 4, 4, 3);
        Transpose(b, "t", "input", 0, 3, 1, 2);
        b.Op("r", "Relu6", DataType.DtFloat, "t");
        Transpose(b, "out", "r", 0, 2, 3, 1);
        var g = b.Graph;
        var r = Apply(g, new[] { "input" }, new[] { "out" });
        Assert.Equal("Identity", Node(r, "out").Op);
        Assert.Equal(0, Count(r, "Transpose"));
        AssertIdentical(g, r, new[] { "out" });
    }

    [Fact]
    public void OutsideReaderGetsTheLayoutRestoredWhenThatStillSavesTransposes()
    {
        // t is also read by 'side' (kept), r by 'other' (needs NCHW: one Transpose inserted), back cancels: 1 removed, 1 inserted → no gain.
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, 1, 4, 4, 3);
        Transpose(b, "t", "input", 0, 3, 1, 2);
        b.Op("side", "Neg", DataType.DtFloat, "t");
        b.Op("r", "Relu", DataType.DtFloat, "t");
        b.Op("other", "Neg", DataType.DtFloat, "r");
        Transpose(b, "back", "r", 0, 2, 3, 1);
        b.Op("out", "Neg", DataType.DtFloat, "back");
        var g = b.Graph;
        var outputs = new[] { "out", "side", "other" };
        var r = Apply(g, new[] { "input" }, outputs);
        Assert.Equal(2, Count(r, "Transpose"));
        Assert.Equal("Relu", Node(r, "r").Op); // unchanged

        // Without the side reader the input transpose goes too: 2 removed, 1 inserted.
        var b2 = new GraphBuilder();
        b2.Placeholder("input", DataType.DtFloat, 1, 4, 4, 3);
        Transpose(b2, "t", "input", 0, 3, 1, 2);
        b2.Op("r", "Relu", DataType.DtFloat, "t");
        b2.Op("other", "Neg", DataType.DtFloat, "r");
        Transpose(b2, "back", "r", 0, 2, 3, 1);
        b2.Op("out", "Neg", DataType.DtFloat, "back");
        var g2 = b2.Graph;
        var r2 = Apply(g2, new[] { "input" }, new[] { "out", "other" });
        Assert.Equal(1, Count(r2, "Transpose"));
        Assert.Equal("Transpose", r2.Node.Single(n => n.Name == Node(r2, "other").Input[0]).Op);
        AssertIdentical(g2, r2, new[] { "out", "other" });
    }

    [Fact]
    public void SharedInputTransposeStaysForItsOtherReader()
    {
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, 1, 4, 4, 3);
        Transpose(b, "t", "input", 0, 3, 1, 2);
        b.Op("side", "Neg", DataType.DtFloat, "t");
        b.Op("r", "Tanh", DataType.DtFloat, "t");
        Transpose(b, "back", "r", 0, 2, 3, 1);
        b.Op("out", "Neg", DataType.DtFloat, "back");
        var g = b.Graph;
        var r = Apply(g, new[] { "input" }, new[] { "out", "side" });
        Assert.Equal(1, Count(r, "Transpose"));
        Assert.Equal("t", Node(r, "side").Input[0]);
        AssertIdentical(g, r, new[] { "out", "side" });
    }

    [Fact]
    public void AnotherPermutationAfterTheRegionIsComposed()
    {
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, 2, 3, 4, 5);
        Transpose(b, "t", "input", 0, 3, 1, 2);
        b.Op("r", "Sigmoid", DataType.DtFloat, "t");
        Transpose(b, "t2", "r", 1, 0, 3, 2);
        b.Op("out", "Neg", DataType.DtFloat, "t2");
        Transpose(b, "back", "r", 0, 2, 3, 1);
        b.Op("out2", "Neg", DataType.DtFloat, "back");
        var g = b.Graph;
        var r = Apply(g, new[] { "input" }, new[] { "out", "out2" });
        Assert.Equal(1, Count(r, "Transpose"));
        var perm = TensorProtoCodec.Decode(Node(r, Node(r, "t2").Input[1]).Attr["value"].Tensor).ToInt32Array();
        Assert.Equal(new[] { 3, 0, 2, 1 }, perm);
        AssertIdentical(g, r, new[] { "out", "out2" });
    }

    [Fact]
    public void NonAgnosticOpsAndMismatchedPermutationsAreNotTouched()
    {
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, 1, 4, 4, 3);
        Transpose(b, "t", "input", 0, 3, 1, 2);
        b.Const("shape", Tensor.Create(new[] { 1, 48 }, 2));
        b.Op("flat", "Reshape", DataType.DtFloat, "t", "shape");
        b.Op("out", "Neg", DataType.DtFloat, "flat");
        var g = b.Graph;
        var r = Apply(g, new[] { "input" }, new[] { "out" });
        Assert.Equal(1, Count(r, "Transpose"));
        Assert.Equal(g.Node.Count, r.Node.Count);
    }

    [Fact]
    public void SessionFetchOfARewrittenNodeStillGivesItsOriginalLayout()
    {
        var g = PadChain();
        using var session = new GraphSession(g, new[] { "out" }, new EngineOptions { IntraOpThreads = 1 });
        using var plain = new GraphSession(g, new[] { "out" }, AsGiven);
        var feeds = Feeds(g, 3);
        Assert.Equal(plain.Run(feeds)["out"].As<float>(), session.Run(feeds)["out"].As<float>());
        var pad = session.Run(feeds, new[] { "pad" })["pad"];
        var plainPad = plain.Run(feeds, new[] { "pad" })["pad"];
        Assert.Equal(new[] { 1, 4, 8, 8 }, pad.Shape);
        Assert.Equal(plainPad.As<float>(), pad.As<float>());
    }

    [Fact]
    public void AdjacentTransposesMergeOrCancel()
    {
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, 2, 3, 4, 5);
        Transpose(b, "t1", "input", 0, 2, 3, 1);
        Transpose(b, "t2", "t1", 0, 3, 1, 2);      // cancels t1
        b.Op("out", "Neg", DataType.DtFloat, "t2");
        Transpose(b, "u1", "input", 1, 0, 2, 3);
        Transpose(b, "u2", "u1", 0, 1, 3, 2);      // merges with u1 into one
        b.Op("out2", "Neg", DataType.DtFloat, "u2");
        Transpose(b, "v1", "input", 3, 2, 1, 0);
        Transpose(b, "out3", "v1", 3, 2, 1, 0);    // a fetched pair that cancels keeps its name as Identity
        var g = b.Graph;
        var outputs = new[] { "out", "out2", "out3" };
        var r = Apply(g, new[] { "input" }, outputs);
        Assert.Equal("input", Node(r, "out").Input[0]);
        Assert.Equal(1, Count(r, "Transpose"));
        Assert.Equal("input", Node(r, "u2").Input[0]);
        Assert.Equal(new[] { 1, 0, 3, 2 }, TensorProtoCodec.Decode(Node(r, Node(r, "u2").Input[1]).Attr["value"].Tensor).ToInt32Array());
        Assert.Equal("Identity", Node(r, "out3").Op);
        AssertIdentical(g, r, outputs);
    }

    [Fact]
    public void IsRegisteredAsATransform()
    {
        var steps = TransformRegistry.BuiltIn.Parse("cancel_transposes");
        Assert.IsType<CancelTransposesPass>(steps[0].Pass);
    }
}
