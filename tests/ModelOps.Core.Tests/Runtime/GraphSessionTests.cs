using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Runtime;

public class GraphSessionTests
{
    private static Dictionary<string, Tensor> Feed(params (string, Tensor)[] f) => f.ToDictionary(p => p.Item1, p => p.Item2);

    [Fact]
    public void Runs_a_plain_graph_and_echoes_fetch_names()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 2);
        b.Op("neg", "TestNegF", "x");
        b.Op("out", "Identity", "neg");
        using var s = TestGraphs.Session(b);
        Assert.Equal("x", Assert.Single(s.Inputs).Name);
        Assert.Equal("out", Assert.Single(s.Outputs).Name);
        var r = s.Run(Feed(("x:0", Tensor.Create(new[] { 1f, -2f }, 2))), new[] { "out", "neg:0" });
        Assert.Equal(new[] { -1f, 2f }, r["out"].As<float>());
        Assert.Equal(new[] { -1f, 2f }, r["neg:0"].As<float>());
        // Planned once, run many times.
        var r2 = s.Run(Feed(("x", Tensor.Create(new[] { 3f, 4f }, 2))));
        Assert.Equal(new[] { -3f, -4f }, r2["out"].As<float>());
    }

    [Fact]
    public void Lists_every_unsupported_op_with_counts_before_running()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat);
        b.Op("a", "FancyOp", "x");
        b.Op("b", "FancyOp", "a");
        b.Op("c", "OtherOp", "b");
        var ex = Assert.Throws<ModelOpsException>(() => TestGraphs.Session(b));
        Assert.Equal(EngineErrorIds.UnsupportedOps, ex.ErrorId);
        Assert.Contains("FancyOp (2)", ex.Message);
        Assert.Contains("OtherOp (1)", ex.Message);
    }

    [Fact]
    public void Prunes_nodes_the_outputs_do_not_need()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat);
        b.Op("y", "Identity", "x");
        b.Op("unused", "FancyOp", "x");
        using var s = TestGraphs.Session(b, "y");
        Assert.Equal(new[] { 5f }, s.Run(Feed(("x", Tensor.Scalar(5f))))["y"].As<float>());
    }

    [Fact]
    public void Feed_errors_name_the_problem()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, -1, 3);
        b.Placeholder("y", DataType.DtFloat);
        b.Op("n", "IdentityN", "x", "y");
        b.Op("ox", "Identity", "n:0");
        b.Op("oy", "Identity", "n:1");
        using var s = TestGraphs.Session(b, "ox", "oy");
        var good = Tensor.Create(new float[6], 2, 3);

        var e1 = Assert.Throws<ModelOpsException>(() => s.Run(Feed(("nope", good))));
        Assert.Equal(EngineErrorIds.UnknownInput, e1.ErrorId);
        Assert.Contains("x float32[?,3]", e1.Message);

        var e2 = Assert.Throws<ModelOpsException>(() => s.Run(Feed(("x", Tensor.Create(new int[6], 2, 3)), ("y", good))));
        Assert.Equal(EngineErrorIds.InputDTypeMismatch, e2.ErrorId);
        Assert.Contains("expects float32 but got int32", e2.Message);

        var e3 = Assert.Throws<ModelOpsException>(() => s.Run(Feed(("x", Tensor.Create(new float[4], 2, 2)), ("y", good))));
        Assert.Equal(EngineErrorIds.InputShapeMismatch, e3.ErrorId);
        Assert.Contains("[?,3]", e3.Message);
        Assert.Contains("[2,2]", e3.Message);

        var e4 = Assert.Throws<ModelOpsException>(() => s.Run(Feed(("x", good))));
        Assert.Equal(EngineErrorIds.MissingInput, e4.ErrorId);
        Assert.Contains("y", e4.Message);

        var e5 = Assert.Throws<ModelOpsException>(() => s.Run(Feed(("ox", good))));
        Assert.Equal(EngineErrorIds.UnknownInput, e5.ErrorId);
    }

    [Fact]
    public void PlaceholderWithDefault_uses_its_default_unless_fed()
    {
        var b = new GraphBuilder();
        b.Const("d", Tensor.Create(new[] { 7 }, 1));
        b.Add("p", "PlaceholderWithDefault", new[] { "d" }, new Dictionary<string, AttrValue> { ["dtype"] = Attr.Type(DataType.DtInt32), ["shape"] = Attr.Shape(new long[] { 1 }) });
        b.Op("o", "Identity", "p");
        using var s = TestGraphs.Session(b, "o");
        Assert.Equal(new[] { 7 }, s.Run(Feed())["o"].As<int>());
        Assert.Equal(new[] { 9 }, s.Run(Feed(("p", Tensor.Create(new[] { 9 }, 1))))["o"].As<int>());
    }

    [Fact]
    public void Unknown_fetch_suggests_names()
    {
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat);
        b.Op("output", "Identity", "input");
        var ex = Assert.Throws<ModelOpsException>(() => TestGraphs.Session(b, "outptu"));
        Assert.Equal(ErrorIds.NodeNotFound, ex.ErrorId);
        Assert.Contains("output", ex.Message);
    }

    private static GraphBuilder Cond()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 1);
        b.Placeholder("p", DataType.DtBool);
        b.Op("sw", "Switch", "x", "p");
        b.Op("f", "TestNegF", "sw");        // false branch: -x
        b.Op("t", "Identity", "sw:1");      // true branch: x
        b.Op("m", "Merge", "f", "t");
        b.Op("out", "Identity", "m");
        b.Op("which", "Identity", "m:1");
        return b;
    }

    [Theory]
    [InlineData(true, 3f, 1)]
    [InlineData(false, -3f, 0)]
    public void Cond_takes_one_branch(bool pred, float expected, int index)
    {
        using var s = TestGraphs.Session(Cond(), "out", "which");
        var r = s.Run(Feed(("x", Tensor.Create(new[] { 3f }, 1)), ("p", Tensor.Scalar(pred))));
        Assert.Equal(expected, r["out"].As<float>()[0]);
        Assert.Equal(index, r["which"].As<int>()[0]);
    }

    [Fact]
    public void Fetching_the_untaken_branch_is_a_clear_error()
    {
        using var s = TestGraphs.Session(Cond(), "f");
        var ex = Assert.Throws<ModelOpsException>(() => s.Run(Feed(("x", Tensor.Create(new[] { 3f }, 1)), ("p", Tensor.Scalar(true)))));
        Assert.Equal(EngineErrorIds.OutputNotComputed, ex.ErrorId);
    }

    private static (GraphBuilder B, string[] Exits) Counter()
    {
        // i = 0; acc = 1; while (i < n) { i += 1; acc += acc; }  → i = n, acc = 2^n
        var b = new GraphBuilder();
        b.Placeholder("n", DataType.DtInt32);
        b.Const("zero", Tensor.Scalar(0));
        b.Const("one", Tensor.Scalar(1));
        var exits = b.While("loop", new[] { "zero", "one" },
            m =>
            {
                b.Enter("loop/n", "n", "loop", isConstant: true);
                return b.Op("loop/less", "TestLessI", m[0], "loop/n").Name;
            },
            v =>
            {
                b.Enter("loop/one", "one", "loop", isConstant: true);
                var i1 = b.Op("loop/add", "TestAddI", v[0], "loop/one").Name;
                var a1 = b.Op("loop/double", "TestAddI", v[1], v[1]).Name;
                return new[] { i1, a1 };
            });
        b.Op("i", "Identity", exits[0]);
        b.Op("acc", "Identity", exits[1]);
        return (b, exits);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(10)]
    public void While_loop_counts(int n)
    {
        var (b, exits) = Counter();
        using var s = TestGraphs.Session(b, "i", "acc", exits[0]);
        var r = s.Run(Feed(("n", Tensor.Scalar(n))));
        Assert.Equal(n, r["i"].As<int>()[0]);
        Assert.Equal(1 << n, r["acc"].As<int>()[0]);
        Assert.Equal(n, r[exits[0]].As<int>()[0]);
        // Runs are independent.
        Assert.Equal(3, s.Run(Feed(("n", Tensor.Scalar(3))))["i"].As<int>()[0]);
    }

    [Fact]
    public void Nested_loops_count_every_inner_iteration()
    {
        // total = 0; for i < 3: for j < 4: total += 1  → 12
        var b = new GraphBuilder();
        b.Const("zero", Tensor.Scalar(0));
        b.Const("one", Tensor.Scalar(1));
        b.Const("three", Tensor.Scalar(3));
        b.Const("four", Tensor.Scalar(4));
        var outer = b.While("outer", new[] { "zero", "zero" },
            m =>
            {
                b.Enter("outer/three", "three", "outer", true);
                return b.Op("outer/less", "TestLessI", m[0], "outer/three").Name;
            },
            v =>
            {
                b.Enter("outer/one", "one", "outer", true);
                b.Enter("outer/zero", "zero", "outer", true);
                b.Enter("outer/four", "four", "outer", true);
                var inner = b.While("inner", new[] { "outer/zero", v[1] },
                    m =>
                    {
                        b.Enter("inner/four", "outer/four", "inner", true);
                        return b.Op("inner/less", "TestLessI", m[0], "inner/four").Name;
                    },
                    w =>
                    {
                        b.Enter("inner/one", "outer/one", "inner", true);
                        return new[] { b.Op("inner/j1", "TestAddI", w[0], "inner/one").Name, b.Op("inner/t1", "TestAddI", w[1], "inner/one").Name };
                    });
                return new[] { b.Op("outer/i1", "TestAddI", v[0], "outer/one").Name, inner[1] };
            });
        b.Op("total", "Identity", outer[1]);
        using var s = TestGraphs.Session(b, "total");
        Assert.Equal(12, s.Run(Feed())["total"].As<int>()[0]);
    }

    [Fact]
    public void Cond_inside_a_loop_body_works_in_every_iteration()
    {
        // i = 0; x = 0; while i < 5: x = (i < 2) ? x + 1 : x + 10; i += 1  → 2 + 30 = 32
        var b = new GraphBuilder();
        b.Const("zero", Tensor.Scalar(0));
        b.Const("one", Tensor.Scalar(1));
        b.Const("two", Tensor.Scalar(2));
        b.Const("ten", Tensor.Scalar(10));
        b.Const("five", Tensor.Scalar(5));
        var exits = b.While("w", new[] { "zero", "zero" },
            m => { b.Enter("w/five", "five", "w", true); return b.Op("w/less", "TestLessI", m[0], "w/five").Name; },
            v =>
            {
                b.Enter("w/one", "one", "w", true);
                b.Enter("w/two", "two", "w", true);
                b.Enter("w/ten", "ten", "w", true);
                b.Op("w/p", "TestLessI", v[0], "w/two");
                b.Op("w/sw", "Switch", v[1], "w/p");
                b.Op("w/plus10", "TestAddI", "w/sw", "w/ten");
                b.Op("w/plus1", "TestAddI", "w/sw:1", "w/one");
                b.Op("w/m", "Merge", "w/plus10", "w/plus1");
                return new[] { b.Op("w/i1", "TestAddI", v[0], "w/one").Name, "w/m" };
            });
        b.Op("x", "Identity", exits[1]);
        using var s = TestGraphs.Session(b, "x");
        Assert.Equal(32, s.Run(Feed())["x"].As<int>()[0]);
    }

    [Theory]
    [InlineData(true, 4)]
    [InlineData(false, -1)]
    public void Loop_on_an_untaken_cond_branch_is_dead_and_the_merge_takes_the_other(bool takeLoop, int expected)
    {
        var b = new GraphBuilder();
        b.Placeholder("p", DataType.DtBool);
        b.Const("zero", Tensor.Scalar(0));
        b.Const("one", Tensor.Scalar(1));
        b.Const("four", Tensor.Scalar(4));
        b.Const("minus", Tensor.Scalar(-1));
        b.Op("sw", "Switch", "zero", "p");
        var exits = b.While("L", new[] { "sw:1" },
            m => { b.Enter("L/four", "four", "L", true); return b.Op("L/less", "TestLessI", m[0], "L/four").Name; },
            v => { b.Enter("L/one", "one", "L", true); return new[] { b.Op("L/add", "TestAddI", v[0], "L/one").Name }; });
        b.Op("sw2", "Switch", "minus", "p");
        b.Op("m", "Merge", "sw2", exits[0]);
        b.Op("out", "Identity", "m");
        using var s = TestGraphs.Session(b, "out");
        Assert.Equal(expected, s.Run(Feed(("p", Tensor.Scalar(takeLoop))))["out"].As<int>()[0]);
    }

    [Fact]
    public void TensorArray_written_in_a_loop_and_gathered_after()
    {
        // ta = TensorArray(n); for i < n: ta[i] = i; gather(range) → [0,1,2,3]
        var b = new GraphBuilder();
        b.Placeholder("n", DataType.DtInt32);
        b.Const("zero", Tensor.Scalar(0));
        b.Const("one", Tensor.Scalar(1));
        b.Add("ta", "TensorArrayV3", new[] { "n" }, new Dictionary<string, AttrValue>
        {
            ["dtype"] = Attr.Type(DataType.DtInt32),
            ["element_shape"] = Attr.Shape(Array.Empty<long>()),
        });
        var exits = b.While("w", new[] { "zero", "ta:1" },
            m => { b.Enter("w/n", "n", "w", true); return b.Op("w/less", "TestLessI", m[0], "w/n").Name; },
            v =>
            {
                b.Enter("w/ta", "ta", "w", true);
                b.Enter("w/one", "one", "w", true);
                b.Op("w/write", "TensorArrayWriteV3", "w/ta", v[0], v[0], v[1]);
                return new[] { b.Op("w/i1", "TestAddI", v[0], "w/one").Name, "w/write" };
            });
        b.Op("size", "TensorArraySizeV3", "ta", exits[1]);
        b.Const("idx", Tensor.Create(new[] { 3, 1, 0 }, 3));
        b.Add("gather", "TensorArrayGatherV3", new[] { "ta", "idx", exits[1] }, new Dictionary<string, AttrValue> { ["dtype"] = Attr.Type(DataType.DtInt32) });
        b.Const("two", Tensor.Scalar(2));
        b.Add("read", "TensorArrayReadV3", new[] { "ta", "two", exits[1] }, new Dictionary<string, AttrValue> { ["dtype"] = Attr.Type(DataType.DtInt32) });
        using var s = TestGraphs.Session(b, "gather", "size", "read");
        var r = s.Run(Feed(("n", Tensor.Scalar(4))));
        Assert.Equal(new[] { 3, 1, 0 }, r["gather"].As<int>());
        Assert.Equal(new[] { 3 }, r["gather"].Shape);
        Assert.Equal(4, r["size"].As<int>()[0]);
        Assert.Equal(2, r["read"].As<int>()[0]);
    }

    [Fact]
    public void TensorArray_scatter_and_concat_without_loops()
    {
        var b = new GraphBuilder();
        b.Const("n", Tensor.Scalar(3));
        b.Add("ta", "TensorArrayV3", new[] { "n" }, new Dictionary<string, AttrValue> { ["dtype"] = Attr.Type(DataType.DtFloat) });
        b.Const("idx", Tensor.Create(new[] { 2, 0, 1 }, 3));
        b.Const("val", Tensor.Create(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, 3, 2));
        b.Op("sc", "TensorArrayScatterV3", "ta", "idx", "val", "ta:1");
        b.Add("cat", "TensorArrayConcatV3", new[] { "ta", "sc" }, new Dictionary<string, AttrValue> { ["dtype"] = Attr.Type(DataType.DtFloat) });
        using var s = TestGraphs.Session(b, "cat", "cat:1");
        var r = s.Run(Feed());
        Assert.Equal(new[] { 3f, 4f, 5f, 6f, 1f, 2f }, r["cat"].As<float>());
        Assert.Equal(new[] { 6 }, r["cat"].Shape);
        Assert.Equal(new long[] { 2, 2, 2 }, r["cat:1"].As<long>());
    }

    [Fact]
    public void Kernel_failures_name_the_node()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat);
        b.Op("bad", "TestAddI", "x", "x");
        using var s = TestGraphs.Session(b, "bad");
        var ex = Assert.Throws<ModelOpsException>(() => s.Run(Feed(("x", Tensor.Scalar(1f)))));
        Assert.Equal(EngineErrorIds.KernelFailed, ex.ErrorId);
        Assert.Contains("'bad'", ex.Message);
    }
}

public class GraphSessionFusionTests
{
    private static Dictionary<string, Tensor> Input(int batch) => new() { ["input"] = ModelOps.Core.Samples.SampleModels.CnnInput(batch) };

    [Fact]
    public void Fuses_contractions_at_plan_time_with_identical_results()
    {
        var graph = ModelOps.Core.Samples.SampleModels.FrozenCnn();
        var fusedProfile = new OpProfile();
        var plainProfile = new OpProfile();
        using var fused = new GraphSession(graph, null, new ModelOps.Core.Ops.EngineOptions { IntraOpThreads = 1, Profile = fusedProfile });
        using var plain = new GraphSession(graph, null, new ModelOps.Core.Ops.EngineOptions { IntraOpThreads = 1, Profile = plainProfile, FuseContractions = false });
        var a = fused.Run(Input(3))["probabilities"].As<float>();
        var b = plain.Run(Input(3))["probabilities"].As<float>();
        Assert.Equal(b, a); // bit for bit: the fused kernel does the same arithmetic
        var fusedOps = fusedProfile.Entries.Select(e => e.Op).ToHashSet();
        Assert.Contains("_FusedConv2D", fusedOps);
        Assert.Contains("_FusedMatMul", fusedOps);
        Assert.DoesNotContain("BiasAdd", fusedOps);
        Assert.DoesNotContain("Relu", fusedOps);
        Assert.Contains("BiasAdd", plainProfile.Entries.Select(e => e.Op));
        // The session still shows the graph as given, and its inputs and outputs by their names.
        Assert.Contains(fused.Graph.Node, n => n.Op == "BiasAdd");
        Assert.Equal("input", Assert.Single(fused.Inputs).Name);
    }

    [Fact]
    public void A_fetch_of_a_node_folded_away_runs_the_graph_as_given()
    {
        var graph = ModelOps.Core.Samples.SampleModels.FrozenCnn();
        using var fused = new GraphSession(graph, null, new ModelOps.Core.Ops.EngineOptions { IntraOpThreads = 1 });
        using var plain = new GraphSession(graph, null, new ModelOps.Core.Ops.EngineOptions { IntraOpThreads = 1, FuseContractions = false });
        string[] fetches = ["conv/BiasAdd", "conv/Relu:0", "probabilities"];
        var a = fused.Run(Input(2), fetches);
        var b = plain.Run(Input(2), fetches);
        foreach (var f in fetches) Assert.Equal(b[f].As<float>(), a[f].As<float>());
        // The fused node keeps the name of the pattern's last node: fetching it alone stays on the fused plan.
        Assert.Equal(plain.Run(Input(2), ["conv/Relu"])["conv/Relu"].As<float>(), fused.Run(Input(2), ["conv/Relu"])["conv/Relu"].As<float>());
    }
}
