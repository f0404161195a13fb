using System.Text.Json;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Npy;
using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Runtime;

/// <summary>The plan's buffer pool: reuse, aliasing (Reshape/Identity share arrays), in-place ops, and what must never be recycled.</summary>
public class BufferPoolTests
{
    private const int N = 512; // 2 KB of floats: above the pooling threshold

    private static Dictionary<string, Tensor> Feed(string name, Tensor t) => new() { [name] = t };

    private static float[] Ramp(int n, float scale = 1f, float offset = 0f) =>
        Enumerable.Range(0, n).Select(i => (i - n / 2) * scale + offset).ToArray();

    private static float Sq(float v) => v * v;

    private static NodeDef ShapeConst(GraphBuilder b, string name, params int[] shape) => b.Const(name, Tensor.Create(shape, shape.Length));

    [Fact]
    public void Pool_recycles_an_array_once_no_slot_holds_it()
    {
        var pool = new BufferPool();
        var a = pool.Rent<float>(N, clear: true);
        Assert.True(pool.IsRented(a));
        pool.AddRef(a); // a slot
        pool.AddRef(a); // a Reshape of it in another slot
        pool.Release(a);
        Assert.Equal(1, pool.RefCount(a));
        Assert.NotSame(a, pool.Rent<float>(N, clear: false)); // still held: never handed out again
        pool.Release(a);
        Assert.Equal(0, pool.RefCount(a));
        Assert.Same(a, pool.Rent<float>(N, clear: false));
        // Other lengths and element types do not share arrays.
        Assert.NotSame(a, pool.Rent<float>(N + 1, clear: false));
        Assert.IsType<int[]>(pool.Rent<int>(N, clear: false));
    }

    [Fact]
    public void Pool_clears_reused_arrays_on_request_and_ignores_foreign_arrays()
    {
        var pool = new BufferPool();
        var a = pool.Rent<float>(N, clear: false);
        Array.Fill(a, 7f);
        pool.AddRef(a);
        pool.Release(a);
        var b = pool.Rent<float>(N, clear: true);
        Assert.Same(a, b);
        Assert.All(b, v => Assert.Equal(0f, v));

        var foreign = new float[N];
        pool.AddRef(foreign);
        pool.Release(foreign);
        Assert.NotSame(foreign, pool.Rent<float>(N, clear: false));
        Assert.False(pool.IsRented(foreign));

        // Small arrays are plain allocations, not tracked.
        var small = pool.Rent<float>(4, clear: false);
        Assert.False(pool.IsRented(small));
    }

    [Fact]
    public void Arrays_still_rented_when_a_run_ends_leave_the_pool()
    {
        var pool = new BufferPool();
        var result = pool.Rent<float>(N, clear: false);
        pool.AddRef(result); // a fetched output's slot, never released
        var scratch = pool.Rent<float>(N, clear: false);
        pool.ReturnScratch(scratch);
        pool.EndRun();
        Assert.False(pool.IsRented(result));
        Assert.Equal(0, pool.RefCount(result));
        // The next run rents as the first did: the result's rent gets a new array, the scratch rent its old one.
        var next = pool.Rent<float>(N, clear: false);
        var nextScratch = pool.Rent<float>(N, clear: false);
        Assert.NotSame(result, next);
        Assert.NotSame(result, nextScratch);
        Assert.Same(scratch, nextScratch);
    }

    [Fact]
    public void Pool_drops_free_arrays_beyond_its_retain_limit()
    {
        var pool = new BufferPool { RetainLimitBytes = 3000 };
        var a = pool.Rent<float>(N, clear: false);
        var b = pool.Rent<float>(N, clear: false);
        pool.AddRef(a); pool.AddRef(b);
        pool.Release(a); pool.Release(b);
        Assert.Equal(2L * N * 4, pool.FreeBytes);
        pool.EndRun(completed: false); // a failed run: nothing planned from it, its free arrays kept up to the limit
        Assert.Equal(N * 4L, pool.FreeBytes);
    }

    /// <summary>
    /// a = Relu(x); r = Reshape(a) shares a's array and is read last. After a's own last reader ran,
    /// its array must stay untouched until r is done, though later nodes allocate arrays of that size.
    /// </summary>
    [Fact]
    public void A_reshape_keeps_its_source_array_alive_until_its_own_last_use()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, N);
        b.Op("a", "Relu", DataType.DtFloat, "a_in");
        b.Op("a_in", "Neg", DataType.DtFloat, "x");
        ShapeConst(b, "s2", 16, 32);
        ShapeConst(b, "s1", N);
        b.Op("r", "Reshape", DataType.DtFloat, "a", "s2");
        b.Op("n", "Neg", DataType.DtFloat, "a");        // a's last direct reader
        b.Op("c", "Add", DataType.DtFloat, "n", "n");   // same array twice: never in place, allocates
        b.Op("d", "Mul", DataType.DtFloat, "c", "c");   // allocates again
        b.Op("rf", "Reshape", DataType.DtFloat, "r", "s1");
        b.Op("out", "AddV2", DataType.DtFloat, "rf", "d");
        using var s = TestGraphs.Session(b, "out");
        var xs = Ramp(N, 0.01f);
        var x = Tensor.Create((float[])xs.Clone(), N);
        var expected = xs.Select(v => { float a = Math.Max(-v, 0); float c = -a + -a; return a + c * c; }).ToArray();
        for (int run = 0; run < 3; run++)
        {
            var got = s.Run(Feed("x", x))["out"];
            Assert.Equal(expected, got.As<float>());
        }
        Assert.Equal(xs, x.As<float>()); // the feed is never written
    }

    [Fact]
    public void Element_wise_chains_run_in_place_and_results_stay_valid_across_runs()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, N);
        b.Op("a", "Neg", DataType.DtFloat, "x");     // the feed is not written: allocates
        b.Op("r", "Relu", DataType.DtFloat, "a");    // in place over a
        b.Op("e", "Square", DataType.DtFloat, "r");  // in place
        b.Const("k", Tensor.Scalar(2f));
        b.Op("out", "Mul", DataType.DtFloat, "e", "k"); // in place, the constant untouched
        using var s = TestGraphs.Session(b, "out");
        var pool = s.DefaultPool;

        var x1 = Ramp(N, 0.01f);
        var first = s.Run(Feed("x", Tensor.Create((float[])x1.Clone(), N)))["out"];
        var expected1 = x1.Select(v => Sq(Math.Max(-v, 0)) * 2f).ToArray();
        Assert.Equal(expected1, first.As<float>());
        Assert.Equal(1, pool.Allocated); // one array for the whole chain

        var x2 = Ramp(N, 0.02f, 1f);
        var second = s.Run(Feed("x", Tensor.Create(x2, N)))["out"];
        Assert.Equal(x2.Select(v => Sq(Math.Max(-v, 0)) * 2f).ToArray(), second.As<float>());
        Assert.NotSame(first.Data, second.Data);
        Assert.Equal(expected1, first.As<float>()); // the first result was not overwritten
        var third = s.Run(Feed("x", Tensor.Create(x1, N)))["out"];
        Assert.True(third.ContentEquals(first));
    }

    [Fact]
    public void With_ReuseOutputBuffers_a_result_is_recycled_by_the_next_run_but_not_when_fed_back()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, N);
        b.Const("k", Tensor.Create(Ramp(N, 0.5f), N));
        b.Op("out", "AddV2", DataType.DtFloat, "x", "k");
        var k = Ramp(N, 0.5f);
        using var s = new GraphSession(b.Graph, new[] { "out" }, new EngineOptions { ReuseOutputBuffers = true, IntraOpThreads = 1 }, TestGraphs.Registry);
        var x1 = Ramp(N, 0.01f);
        var first = s.Run(Feed("x", Tensor.Create(x1, N)))["out"];
        Assert.Equal(x1.Select((v, i) => v + k[i]).ToArray(), first.As<float>());
        var x2 = Ramp(N, 0.02f, 1f);
        var second = s.Run(Feed("x", Tensor.Create(x2, N)))["out"];
        Assert.Same(first.Data, second.Data); // the first result's array was recycled
        Assert.Equal(x2.Select((v, i) => v + k[i]).ToArray(), second.As<float>());
        // A result fed back (a carried state) is read by the next run, so it is not recycled under it.
        var expected3 = second.As<float>().Select((v, i) => v + k[i]).ToArray();
        var third = s.Run(Feed("x", second))["out"];
        Assert.NotSame(second.Data, third.Data);
        Assert.Equal(expected3, third.As<float>());
        // Off (the default): every run returns a new array.
        using var plain = TestGraphs.Session(b, "out");
        var p1 = plain.Run(Feed("x", Tensor.Create(x1, N)))["out"];
        var p2 = plain.Run(Feed("x", Tensor.Create(x2, N)))["out"];
        Assert.NotSame(p1.Data, p2.Data);
        Assert.Equal(x1.Select((v, i) => v + k[i]).ToArray(), p1.As<float>());
    }

    [Fact]
    public void Fetched_intermediates_and_their_aliases_are_never_recycled()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, N);
        ShapeConst(b, "s2", 2, N / 2);
        b.Op("a", "Neg", DataType.DtFloat, "x");
        b.Op("view", "Reshape", DataType.DtFloat, "a", "s2"); // fetched alias of a
        b.Op("ident", "Identity", DataType.DtFloat, "a");
        b.Op("sq", "Square", DataType.DtFloat, "ident");      // ident's last use, but a is fetched too
        b.Op("out", "Relu", DataType.DtFloat, "sq");
        using var s = TestGraphs.Session(b, "out", "view");
        var xs = Ramp(N, 0.5f);
        var r1 = s.Run(Feed("x", Tensor.Create((float[])xs.Clone(), N)));
        var view1 = r1["view"].As<float>().ToArray();
        Assert.Equal(xs.Select(v => -v).ToArray(), view1);
        Assert.Equal(xs.Select(v => v * v).ToArray(), r1["out"].As<float>());
        var r2 = s.Run(Feed("x", Tensor.Create(xs.Select(v => v + 3).ToArray(), N)));
        Assert.Equal(view1, r1["view"].As<float>());
        Assert.Equal(xs.Select(v => -(v + 3)).ToArray(), r2["view"].As<float>());
    }

    [Fact]
    public void Constants_are_never_written_by_in_place_ops()
    {
        var b = new GraphBuilder();
        var c = Ramp(N, 1f);
        b.Const("c", Tensor.Create((float[])c.Clone(), N));
        b.Op("r", "Relu", DataType.DtFloat, "c");
        b.Op("out", "Neg", DataType.DtFloat, "r");
        using var s = TestGraphs.Session(b, "out");
        var expected = c.Select(v => -Math.Max(v, 0)).ToArray();
        for (int run = 0; run < 3; run++) Assert.Equal(expected, s.Run(new Dictionary<string, Tensor>())["out"].As<float>());
    }

    [Fact]
    public void A_bounded_pool_gives_the_same_results_as_no_pool()
    {
        // Ten same-sized intermediates, each read once: with a tight bound most arrays are dropped and reallocated.
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, N);
        string prev = "x";
        for (int i = 0; i < 10; i++)
        {
            b.Op($"n{i}", "Neg", DataType.DtFloat, prev);
            b.Op($"s{i}", "AddV2", DataType.DtFloat, $"n{i}", prev); // prev stays alive until here
            prev = $"s{i}";
        }
        var x = Tensor.Create(Ramp(N, 0.25f), N);
        Tensor RunWith(double hold)
        {
            using var s = new GraphSession(b.Graph, new[] { prev }, new EngineOptions { PoolHoldFactor = hold, IntraOpThreads = 1 }, TestGraphs.Registry);
            Tensor last = null!;
            for (int run = 0; run < 3; run++) last = s.Run(Feed("x", x))[prev];
            return last;
        }
        var reference = RunWith(0);
        Assert.True(RunWith(1.0).ContentEquals(reference));
        Assert.True(RunWith(2.0).ContentEquals(reference));
        Assert.True(RunWith(double.PositiveInfinity).ContentEquals(reference));
    }

    [Fact]
    public void Later_runs_get_planned_buffers_shared_by_rents_of_several_sizes()
    {
        var pool = new BufferPool();
        float[] a, b, c;
        void Run(out float[] ra, out float[] rb, out float[] rc)
        {
            // a (1000) and b (500) overlap; c (800) comes after a is back and overlaps b.
            ra = pool.Rent<float>(1000, clear: false, spare: true);
            pool.AddRef(ra);
            rb = pool.Rent<float>(500, clear: false, spare: true);
            pool.AddRef(rb);
            pool.Release(ra);
            rc = pool.Rent<float>(800, clear: true, spare: true);
            pool.AddRef(rc);
            pool.Release(rb);
            pool.Release(rc);
            pool.EndRun();
        }
        Run(out a, out b, out c);
        Assert.Equal(1000, a.Length); // the first run: exact arrays, recorded
        Assert.Equal(800, c.Length);
        Assert.Equal(2, pool.PlannedBuffers); // a and c share one buffer, b has its own
        Run(out var a2, out var b2, out var c2);
        Assert.Same(a2, c2);
        Assert.Equal(1000, c2.Length);
        Assert.All(c2.AsSpan(0, 800).ToArray(), v => Assert.Equal(0f, v)); // cleared as asked, up to its length
        Assert.NotSame(a2, b2);
        Assert.True(b2.Length >= 500);
        Assert.Equal(1500L * 4, pool.PlannedBytes);
        Run(out var a3, out _, out var c3);
        Assert.Same(a2, a3); // the plan holds from run to run
        Assert.Same(c2, c3);
    }

    [Fact]
    public void Rents_that_need_exact_arrays_share_only_buffers_of_their_length_and_new_shapes_replan()
    {
        var pool = new BufferPool();
        float[] Cycle(int first, int second, bool spare)
        {
            var x = pool.Rent<float>(first, clear: false, spare);
            pool.AddRef(x);
            pool.Release(x);
            var y = pool.Rent<float>(second, clear: false, spare);
            pool.AddRef(y);
            pool.Release(y);
            pool.EndRun();
            return y;
        }
        Cycle(1000, 800, spare: false);
        Assert.Equal(2, pool.PlannedBuffers); // not spare: the 800 rent cannot take the 1000 buffer
        Assert.Equal(800, Cycle(1000, 800, spare: false).Length);
        // Other sizes (new input shapes): rents off the plan get exact arrays, and the run is planned anew.
        var y = Cycle(3000, 2000, spare: true);
        Assert.Equal(2000, y.Length);
        Assert.Equal(1, pool.PlannedBuffers);
        Assert.Equal(3000, Cycle(3000, 2000, spare: true).Length);
    }

    [Fact]
    public void A_planned_session_gives_the_same_results_as_no_pool_through_changing_input_shapes()
    {
        // Pad and Slice make intermediates of several sizes; Neg/AddV2 may run in place.
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, -1, 4);
        b.Const("pads", Tensor.Create(new[] { 2, 3, 0, 4 }, 2, 2));
        b.Add("p", "Pad", new[] { "x", "pads" }, new Dictionary<string, AttrValue> { ["T"] = Attr.Type(DataType.DtFloat), ["Tpaddings"] = Attr.Type(DataType.DtInt32) });
        b.Op("n", "Neg", DataType.DtFloat, "p");
        b.Const("begin", Tensor.Create(new[] { 1, 2 }, 2));
        b.Const("size", Tensor.Create(new[] { -1, 5 }, 2));
        b.Add("s", "Slice", new[] { "n", "begin", "size" }, new Dictionary<string, AttrValue> { ["T"] = Attr.Type(DataType.DtFloat), ["Index"] = Attr.Type(DataType.DtInt32) });
        b.Op("q", "Square", DataType.DtFloat, "s");
        b.Op("out", "AddV2", DataType.DtFloat, "q", "s");
        using var plain = new GraphSession(b.Graph, new[] { "out" }, new EngineOptions { PoolHoldFactor = 0, IntraOpThreads = 1 }, TestGraphs.Registry);
        using var planned = new GraphSession(b.Graph, new[] { "out" }, new EngineOptions { IntraOpThreads = 1 }, TestGraphs.Registry);
        foreach (int rows in new[] { 300, 300, 300, 500, 120, 120, 500 })
        {
            var x = Tensor.Create(Ramp(rows * 4, 0.01f, rows), rows, 4);
            var expected = plain.Run(Feed("x", x))["out"];
            var got = planned.Run(Feed("x", x))["out"];
            Assert.False(got.HasSpareCapacity);
            Assert.True(got.ContentEquals(expected), $"{rows} rows");
        }
        Assert.True(planned.DefaultPool.PlannedBuffers > 0);
    }

    [SkippableTheory]
    [InlineData("selfie")]
    [InlineData("blazeface-front")]
    [InlineData("meet")]
    [InlineData("age")]
    public void Pooled_and_unpooled_sessions_agree_bit_for_bit_on_a_corpus_model(string model)
    {
        string? dir = Corpus.Path("tfjs-human", model);
        Skip.If(dir is null || !Directory.Exists(dir), "The corpus is not available: set MODELOPS_CORPUS or put it at ../shared/corpus.");
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir!, "meta.json")));
        var inputs = meta.RootElement.GetProperty("inputs").EnumerateArray()
            .ToDictionary(i => i.GetProperty("name").GetString()!, i => NpyFile.Read(Path.Combine(dir!, i.GetProperty("file").GetString()!)));
        var outputs = meta.RootElement.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()!).ToList();
        var graph = ModelReader.ReadGraphDef(Path.Combine(dir!, "model.pb"));
        using var plain = new GraphSession(graph, outputs, new EngineOptions { PoolHoldFactor = 0 });
        using var pooled = new GraphSession(graph, outputs, new EngineOptions { PoolHoldFactor = 1.0 });
        var expected = plain.Run(inputs);
        for (int run = 0; run < 3; run++)
        {
            var got = pooled.Run(inputs);
            foreach (var name in outputs) Assert.True(got[name].ContentEquals(expected[name]), $"run {run}: {name} differs");
        }
        Assert.True(pooled.DefaultPool.Reused > 0);
        Assert.True(pooled.DefaultPool.PlannedBuffers > 0); // runs after the first ran on planned buffers
    }
}
