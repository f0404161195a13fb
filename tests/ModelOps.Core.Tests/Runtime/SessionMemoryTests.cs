using System.Runtime.CompilerServices;
using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;
using ModelOps.Core.Tests.Ops;
using ModelOps.Core.Tests.Optimization;
using Xunit;

namespace ModelOps.Core.Tests.Runtime;

/// <summary>
/// What a session holds besides activations. A constant filter read only by kernels that pack it
/// (KernelTraits.PreparesWeights) is held once: as soon as its readers have packed it in the first run the plan keeps only
/// its shape and the decoded copy can be collected (results stay the same bits). The rewritten graph shares the nodes it left unchanged.
/// </summary>
public class SessionMemoryTests
{
    private const int H = 6, Cin = 8, Cout = 12;

    private static readonly float[] Filter = K.Random(3 * 3 * Cin * Cout, 1);

    /// <summary>
    /// x → Conv2D(w) → Relu "out", and a second Conv2D of w → "out2"; <paramref name="extraReader"/> adds a third reader
    /// of w ("neg": 0 − w); <paramref name="weightsFed"/> makes w a placeholder (the reference: nothing is prepared).
    /// </summary>
    private static GraphDef Graph(bool weightsFed = false, bool extraReader = false)
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 1, H, H, Cin);
        if (weightsFed) b.Placeholder("w", DataType.DtFloat, 3, 3, Cin, Cout);
        else b.Const("w", Tensor.Create(Filter, 3, 3, Cin, Cout));
        OptTestGraphs.Conv(b, "conv", "x", "w");
        OptTestGraphs.Conv(b, "conv2", "x", "w", padding: "VALID");
        b.Op("out", "Relu", DataType.DtFloat, "conv");
        b.Op("out2", "Relu", DataType.DtFloat, "conv2");
        if (extraReader)
        {
            // w as input 1 of a kernel that reads its elements
            b.Const("zero", Tensor.Create(new[] { 0f }, 1));
            b.Op("neg", "Sub", DataType.DtFloat, "zero", "w");
        }
        return b.Graph;
    }

    private static Dictionary<string, Tensor> Feeds(int run, bool weightsFed = false)
    {
        var feeds = new Dictionary<string, Tensor> { ["x"] = Tensor.Create(K.Random(H * H * Cin, 10 + run), 1, H, H, Cin) };
        if (weightsFed) feeds["w"] = Tensor.Create(Filter, 3, 3, Cin, Cout);
        return feeds;
    }

    /// <summary>A weak reference to the decoded filter the plan holds before its first run (no local keeps it alive).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference<Tensor> DecodedFilter(ExecutionPlan plan)
    {
        var w = plan.ConstantOf("w");
        Assert.NotNull(w);
        Assert.False(w!.IsShapeOnly);
        return new WeakReference<Tensor>(w);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_filter_read_only_by_convolutions_is_held_once_after_the_first_run(bool fuse)
    {
        string[] outputs = ["out", "out2"];
        using var session = new GraphSession(Graph(), outputs, new EngineOptions { IntraOpThreads = 1, FuseContractions = fuse });
        using var reference = new GraphSession(Graph(weightsFed: true), outputs, new EngineOptions { IntraOpThreads = 1, FuseContractions = fuse });
        var decoded = DecodedFilter(session.DefaultPlan);
        for (int run = 0; run < 3; run++)
        {
            var got = session.Run(Feeds(run));
            var expected = reference.Run(Feeds(run, weightsFed: true));
            foreach (var o in outputs) Assert.True(got[o].ContentEquals(expected[o]), $"run {run}, {o}: {got[o]} differs");
            var held = session.DefaultPlan.ConstantOf("w")!;
            Assert.True(held.IsShapeOnly);
            Assert.Equal(new[] { 3, 3, Cin, Cout }, held.Shape);
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.False(decoded.TryGetTarget(out _), "the decoded filter is still referenced after the release");
    }

    [Fact]
    public void The_first_run_lets_a_filter_go_once_its_last_reader_has_packed_it()
    {
        // x → conv(w) → Probe → conv2(w2) → out: the probe runs between the two convolutions of the first run and sees w
        // already shape-only (its one reader is done), w2 still decoded (its reader has not run yet).
        static GraphDef Build(string probe)
        {
            var b = new GraphBuilder();
            b.Placeholder("x", DataType.DtFloat, 1, H, H, Cin);
            b.Const("w", Tensor.Create(Filter[..(9 * Cin * Cin)], 3, 3, Cin, Cin));
            b.Const("w2", Tensor.Create(Filter, 3, 3, Cin, Cout));
            OptTestGraphs.Conv(b, "conv", "x", "w");
            b.Op("probe", probe, DataType.DtFloat, "conv");
            OptTestGraphs.Conv(b, "out", "probe", "w2");
            return b.Graph;
        }
        var kernels = new KernelRegistry();
        foreach (var f in OpRegistry.Families) f.RegisterKernels(kernels);
        GraphSession? session = null;
        var seen = new List<(bool W, bool W2)>();
        kernels.Add("Probe", ctx =>
        {
            var plan = session!.DefaultPlan;
            seen.Add((plan.ConstantOf("w")!.IsShapeOnly, plan.ConstantOf("w2")!.IsShapeOnly));
            ctx.SetOutput(0, ctx.Input(0));
        });
        using var reference = new GraphSession(Build("Identity"), ["out"], new EngineOptions { IntraOpThreads = 1 });
        using (session = new GraphSession(Build("Probe"), ["out"], new EngineOptions { IntraOpThreads = 1 }, kernels))
        {
            for (int run = 0; run < 2; run++) Assert.True(session.Run(Feeds(run))["out"].ContentEquals(reference.Run(Feeds(run))["out"]));
            Assert.True(session.DefaultPlan.ConstantOf("w2")!.IsShapeOnly); // released at the latest when the run is done
        }
        Assert.Equal(new[] { (true, false), (true, true) }, seen);
    }

    [Fact]
    public void A_weight_read_through_an_Identity_is_a_constant_to_its_kernel()
    {
        // Frozen Keras graphs read their weights through Identity nodes: the MatMul must still see a constant (packed once,
        // not on every run), while an Identity of a fed value or of another output is no constant.
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 8, 16);
        b.Const("w", Tensor.Create(K.Random(16 * 24, 3), 16, 24));
        b.Op("w/read", "Identity", DataType.DtFloat, "w");
        b.Op("w/read2", "Identity", DataType.DtFloat, "w/read");
        b.Op("mm", "MatMul", DataType.DtFloat, "x", "w/read2");
        b.Op("xi", "Identity", DataType.DtFloat, "x");
        b.Op("mm2", "MatMul", DataType.DtFloat, "x", "xi").Attr["transpose_b"] = Attr.Bool(true); // x·xᵀ
        var graph = b.Graph;
        var xs = Tensor.Create(K.Random(8 * 16, 4), 8, 16);
        var expected = MatMul(xs.As<float>(), 8, 16, K.Random(16 * 24, 3), 24);
        using var session = new GraphSession(graph, ["mm"], new EngineOptions { IntraOpThreads = 1 });
        for (int run = 0; run < 2; run++)
            K.Close(expected, session.Run(new Dictionary<string, Tensor> { ["x"] = xs })["mm"].As<float>(), 1e-5f);
        var ctx = session.DefaultPlan.ContextOf("mm")!;
        Assert.True(ctx.IsConstantInput(1));
        Assert.False(ctx.IsConstantInput(0));
        Assert.True(ctx.HoldsPrepared);
        Assert.False(session.PlanOf("mm2").ContextOf("mm2")!.IsConstantInput(1));
    }

    private static float[] MatMul(float[] a, int m, int k, float[] b, int n)
    {
        var c = new float[m * n];
        for (int i = 0; i < m; i++)
            for (int j = 0; j < n; j++)
            {
                double s = 0;
                for (int p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
                c[i * n + j] = (float)s;
            }
        return c;
    }

    [Fact]
    public void A_session_that_owns_its_graph_drops_the_values_before_its_first_run()
    {
        // Planning decodes the constants; the graph's copies go at once, so the first run never holds both.
        var graph = Graph(extraReader: true);
        var payloads = new[] { "w", "zero" }.Select(n => Payload(graph, n)).ToArray();
        using var session = new GraphSession(graph, ["out", "neg"], new EngineOptions { IntraOpThreads = 1, ReleaseGraphConstants = true });
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.All(payloads, p => Assert.False(p.TryGetTarget(out _), "a value the plan holds decoded is still in the graph"));
        using var reference = new GraphSession(Graph(extraReader: true), ["out", "neg"], new EngineOptions { IntraOpThreads = 1 });
        var got = session.Run(Feeds(0));
        var expected = reference.Run(Feeds(0));
        foreach (var o in new[] { "out", "neg" }) Assert.True(got[o].ContentEquals(expected[o]), $"{o} differs");
    }

    [Fact]
    public void A_filter_that_another_op_reads_or_a_fetch_returns_stays_whole()
    {
        foreach (var (graph, outputs) in new[] { (Graph(extraReader: true), new[] { "out", "neg" }), (Graph(), new[] { "out", "w" }) })
        {
            using var session = new GraphSession(graph, outputs, new EngineOptions { IntraOpThreads = 1 });
            for (int run = 0; run < 2; run++)
            {
                var got = session.Run(Feeds(run));
                Assert.False(session.DefaultPlan.ConstantOf("w")!.IsShapeOnly);
                var w = got[outputs[1]].As<float>();
                Assert.Equal(outputs[1] == "neg" ? Filter.Select(v => -v) : Filter, w);
            }
        }
    }

    [Fact]
    public void A_plan_made_after_the_release_decodes_the_filter_again()
    {
        using var session = new GraphSession(Graph(), ["out"], new EngineOptions { IntraOpThreads = 1 });
        using var reference = new GraphSession(Graph(weightsFed: true), ["out", "out2"], new EngineOptions { IntraOpThreads = 1 });
        session.Run(Feeds(0));
        Assert.True(session.DefaultPlan.ConstantOf("w")!.IsShapeOnly);
        // Another fetch set: a new plan on the same graph, whose constants come from the session's shared cache.
        var plan = session.PlanOf("out", "out2");
        Assert.False(plan.ConstantOf("w")!.IsShapeOnly);
        var expected = reference.Run(Feeds(1, weightsFed: true));
        var got = session.Run(Feeds(1), ["out", "out2"]);
        Assert.True(got["out"].ContentEquals(expected["out"]));
        Assert.True(got["out2"].ContentEquals(expected["out2"]));
        Assert.True(session.Run(Feeds(1))["out"].ContentEquals(expected["out"]));
    }

    [Fact]
    public void The_rewritten_plan_shares_the_nodes_the_rewrite_left_alone()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 1, H, H, Cin);
        b.Const("w", Tensor.Create(Filter, 3, 3, Cin, Cout));
        OptTestGraphs.Conv(b, "conv", "x", "w");
        b.Const("bias", Tensor.Create(K.Random(Cout, 2), Cout));
        b.Op("biased", "BiasAdd", DataType.DtFloat, "conv", "bias");
        b.Op("out", "Relu", DataType.DtFloat, "biased");
        b.Op("neg", "Neg", DataType.DtFloat, "out");
        var graph = b.Graph;
        using var session = new GraphSession(graph, ["neg"], new EngineOptions { IntraOpThreads = 1 });
        var planned = session.DefaultPlan.Graph;
        Assert.Equal("_FusedConv2D", planned.Find("out")!.Op); // conv + bias + Relu fused: a new node
        foreach (var name in new[] { "x", "w", "bias", "neg" })
            Assert.Same(graph.Node.Single(n => n.Name == name), planned.Find(name));
        Assert.NotSame(graph.Node.Single(n => n.Name == "out"), planned.Find("out"));
    }

    /// <summary>A weak reference to the TensorProto holding node <paramref name="name"/>'s value (no local keeps it alive).</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static WeakReference<TensorProto> Payload(GraphDef graph, string name) =>
        new(graph.Node.Single(n => n.Name == name).Attr["value"].Tensor);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void A_session_that_owns_its_graph_releases_the_constants_it_holds(bool fuse)
    {
        var graph = Graph(extraReader: true);
        var payloads = new[] { "w", "zero" }.Select(n => Payload(graph, n)).ToArray();
        using var reference = new GraphSession(Graph(extraReader: true), ["out", "neg"], new EngineOptions { IntraOpThreads = 1, FuseContractions = fuse });
        using var session = new GraphSession(graph, ["out", "neg"], new EngineOptions { IntraOpThreads = 1, FuseContractions = fuse, ReleaseGraphConstants = true });
        for (int run = 0; run < 3; run++)
        {
            var got = session.Run(Feeds(run));
            var expected = reference.Run(Feeds(run));
            foreach (var o in new[] { "out", "neg" }) Assert.True(got[o].ContentEquals(expected[o]), $"run {run}, {o} differs");
            // The graph keeps the constants' dtype and shape, not their elements.
            foreach (var name in new[] { "w", "zero" })
            {
                var t = session.Graph.Node.Single(n => n.Name == name).Attr["value"].Tensor;
                Assert.Equal(DataType.DtFloat, t.Dtype);
                Assert.True(t.TensorContent.IsEmpty && t.FloatVal.Count == 0, $"{name} still has its elements");
            }
            Assert.Equal(new long[] { 3, 3, Cin, Cout }, session.Graph.Node.Single(n => n.Name == "w").Attr["value"].Tensor.TensorShape.Dim.Select(d => d.Size));
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        Assert.All(payloads, p => Assert.False(p.TryGetTarget(out _), "a released value is still referenced"));
        // Other outputs: w is still held decoded (Sub reads it), so a plan of out2 takes it from the session.
        var again = session.Run(Feeds(0), ["out2"]);
        Assert.True(again["out2"].ContentEquals(reference.Run(Feeds(0), ["out2"])["out2"]));
    }

    [Fact]
    public void A_plan_that_needs_a_released_constant_says_so()
    {
        // w is read only by the convolution: after the first run only its packed copy exists, nowhere to decode it from.
        using var session = new GraphSession(Graph(), ["out"], new EngineOptions { IntraOpThreads = 1, ReleaseGraphConstants = true });
        session.Run(Feeds(0));
        var e = Assert.Throws<ModelOps.Core.Errors.ModelOpsException>(() => session.Run(Feeds(0), ["out2"]));
        Assert.Equal(EngineErrorIds.ConstantReleased, e.ErrorId);
        Assert.Contains("'w'", e.Message);
        Assert.True(session.Run(Feeds(0), ["x"])["x"].ContentEquals(Feeds(0)["x"])); // needs no constant
        Assert.True(session.Run(Feeds(1), ["out"])["out"].Length > 0); // the default outputs still run
    }

    [Fact]
    public void Without_the_option_the_given_graph_is_left_alone()
    {
        var graph = Graph();
        var before = graph.Clone();
        using var session = new GraphSession(graph, ["out", "out2"], new EngineOptions { IntraOpThreads = 1 });
        for (int run = 0; run < 2; run++) session.Run(Feeds(run));
        Assert.Equal(before, graph);
        Assert.True(session.Run(Feeds(0), ["out"])["out"].Length > 0);
    }

    [Fact]
    public void A_transposed_convolution_packs_its_filter_once_and_lets_it_go()
    {
        var b = new GraphBuilder();
        b.Placeholder("dy", DataType.DtFloat, 1, H, H, Cout);
        b.Const("sizes", Tensor.Create(new[] { 1, H, H, Cin }, 4));
        b.Const("w", Tensor.Create(Filter, 3, 3, Cin, Cout));
        var t = b.Op("up", "Conv2DBackpropInput", DataType.DtFloat, "sizes", "w", "dy");
        t.Attr["strides"] = Attr.Ints(1, 1, 1, 1);
        t.Attr["padding"] = Attr.String("SAME");
        using var session = new GraphSession(b.Graph, ["up"], new EngineOptions { IntraOpThreads = 1 });
        var dy = Tensor.Create(K.Random(H * H * Cout, 3), 1, H, H, Cout);
        var first = session.Run(new Dictionary<string, Tensor> { ["dy"] = dy })["up"];
        Assert.True(session.DefaultPlan.ConstantOf("w")!.IsShapeOnly);
        Assert.False(session.DefaultPlan.ConstantOf("sizes")!.IsShapeOnly); // read as input 0: the kernel reads its elements
        Assert.True(session.Run(new Dictionary<string, Tensor> { ["dy"] = dy })["up"].ContentEquals(first));
    }
}
