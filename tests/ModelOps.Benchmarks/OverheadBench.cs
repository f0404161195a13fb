using System.Diagnostics;
using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime;
using ModelOps.Core.Runtime.Kernels;
using ModelOps.Core.Tensors;

namespace ModelOps.Benchmarks;

/// <summary>
/// The engine's cost per node apart from the kernels: a chain of 200 AddV2 nodes on a one-element tensor (kernel
/// work next to nothing), run by a <see cref="GraphSession"/> at 1 thread. Prints µs per node for the whole run
/// (executor + kernel), the kernels' share from a profiled session, and the session's per-run fixed cost from a
/// 1-node graph. Small models such as age (137 nodes, 0.3 ms in ONNX Runtime) feel this directly. Then one _FusedConv2D
/// in a session (its time per call when a scalar is fetched, so its output comes from the buffer pool), the run time when
/// the conv's output itself is fetched (a fresh array per run: one of 85 KB or more is a large-object-heap allocation, and
/// those trigger gen2 collections — counted), and the kernel called directly.
/// </summary>
internal static class OverheadBench
{
    public static int Run()
    {
        const int Nodes = 200;
        var (chain, chainIn, chainOut) = Chain(Nodes);
        var (single, singleIn, singleOut) = Chain(1);
        var feed = Tensor.Create(new[] { 1f }, 1);
        double perRunChain = Time(chain, chainIn, chainOut, feed, null);
        double perRunSingle = Time(single, singleIn, singleOut, feed, null);
        var profile = new OpProfile();
        Time(chain, chainIn, chainOut, feed, profile);
        double kernelUs = profile.Entries.Where(e => e.Op == "AddV2").Sum(e => e.TotalMs) * 1000 / profile.Entries.Where(e => e.Op == "AddV2").Sum(e => e.Calls);
        Console.WriteLine($"Engine overhead, 1 thread, chain of {Nodes} AddV2 on a [1] float tensor:");
        Console.WriteLine($"  run of {Nodes} nodes {perRunChain:F1} µs = {(perRunChain - perRunSingle) / (Nodes - 1):F2} µs per node beyond a 1-node run ({perRunSingle:F1} µs: feeds, fetches, run set-up)");
        Console.WriteLine($"  of which the AddV2 kernel (profiled session, timer included) {kernelUs:F2} µs per call");
        ConvInSession();
        return 0;
    }

    /// <summary>One _FusedConv2D node (bias + Relu) in a session against the same convolution called directly.</summary>
    private static void ConvInSession()
    {
        foreach (var (n, h, c, cout) in new[] { (2, 16, 3, 8), (1, 64, 3, 16), (1, 31, 32, 32) })
        {
            var g = new GraphBuilder();
            g.Placeholder("x", DataType.DtFloat, n, h, h, c);
            var rnd = new Random(1);
            float[] R(int len) => Enumerable.Range(0, len).Select(_ => (float)rnd.NextDouble() - 0.5f).ToArray();
            g.Const("f", Tensor.Create(R(9 * c * cout), 3, 3, c, cout));
            g.Const("b", Tensor.Create(R(cout), cout));
            g.Add("conv", "_FusedConv2D", ["x", "f", "b"], new Dictionary<string, AttrValue>
            {
                ["T"] = Attr.Type(DataType.DtFloat), ["strides"] = Attr.Ints(1, 1, 1, 1), ["padding"] = Attr.String("SAME"),
                ["data_format"] = Attr.String("NHWC"), ["dilations"] = Attr.Ints(1, 1, 1, 1),
                ["fused_ops"] = Attr.Strings("BiasAdd", "Relu"), ["num_args"] = Attr.Int(1),
            });
            // The fetch is a scalar max of the conv, so the conv's output comes from the buffer pool as inside a model.
            g.Const("all", Tensor.Create(new[] { 0, 1, 2, 3 }, 4));
            g.Add("max", "Max", ["conv", "all"], new Dictionary<string, AttrValue> { ["T"] = Attr.Type(DataType.DtFloat), ["Tidx"] = Attr.Type(DataType.DtInt32) });
            var feed = Tensor.Create(R(n * h * h * c), n, h, h, c);
            var profile = new OpProfile();
            double session = Time(g.Graph, "x", "max", feed, profile);
            double convUs = profile.Entries.Where(e => e.Op == "_FusedConv2D").Sum(e => e.TotalMs) * 1000 / profile.Entries.Where(e => e.Op == "_FusedConv2D").Sum(e => e.Calls);
            int gen2 = GC.CollectionCount(2);
            double fetchAll = Time(g.Graph, "x", "conv", feed, null);
            gen2 = GC.CollectionCount(2) - gen2;
            double fetchReuse = Time(g.Graph, "x", "conv", feed, null, reuse: true);
            var geo = new ConvGeometry { N = n, H = h, W = h, C = c, KH = 3, KW = 3, SH = 1, SW = 1, DH = 1, DW = 1, OH = h, OW = h, PadTop = 1, PadLeft = 1 };
            var packed = Gemm.PackB(false, 9 * c, cout, R(9 * c * cout), 0, cout);
            var y = new float[n * h * h * cout];
            var epi = new Epilogue { Shift = R(cout), Activation = FusedActivation.Relu };
            var x = feed.As<float>();
            for (int i = 0; i < 200; i++) ConvolutionOps.Conv2DNhwc(x, packed, y, geo, cout, epi, 1);
            var blocks = new double[15];
            for (int b = 0; b < blocks.Length; b++)
            {
                var sw = Stopwatch.StartNew();
                for (int i = 0; i < 200; i++) ConvolutionOps.Conv2DNhwc(x, packed, y, geo, cout, epi, 1);
                blocks[b] = sw.Elapsed.TotalMilliseconds * 1000 / 200;
            }
            Array.Sort(blocks);
            Console.WriteLine($"  _FusedConv2D [{n},{h},{h},{c}] 3x3 -> {cout}: in a session {convUs:F1} µs (run with a scalar fetch {session:F1} µs; fetching the conv's output itself {fetchAll:F1} µs, {gen2} gen2 GCs in 3200 runs; with ReuseOutputBuffers {fetchReuse:F1} µs), the kernel called directly {blocks[7]:F1} µs");
        }
    }

    private static (GraphDef, string, string) Chain(int nodes)
    {
        var g = new GraphBuilder();
        g.Placeholder("x", DataType.DtFloat, 1);
        g.Const("one", Tensor.Create(new[] { 1f }, 1));
        string prev = "x";
        var attrs = new Dictionary<string, AttrValue> { ["T"] = Attr.Type(DataType.DtFloat) };
        for (int i = 0; i < nodes; i++) prev = g.Add($"add{i}", "AddV2", [prev, "one"], attrs).Name;
        return (g.Graph, "x", prev);
    }

    /// <summary>Median µs per run over 15 blocks of 200 runs, after warm-up.</summary>
    private static double Time(GraphDef graph, string input, string output, Tensor feed, OpProfile? profile, bool reuse = false)
    {
        using var s = new GraphSession(graph, [output], new EngineOptions { IntraOpThreads = 1, Profile = profile, ReuseOutputBuffers = reuse });
        var feeds = new Dictionary<string, Tensor> { [input] = feed };
        for (int i = 0; i < 200; i++) s.Run(feeds, [output]);
        profile?.Reset();
        var blocks = new double[15];
        for (int b = 0; b < blocks.Length; b++)
        {
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < 200; i++) s.Run(feeds, [output]);
            blocks[b] = sw.Elapsed.TotalMilliseconds * 1000 / 200;
        }
        Array.Sort(blocks);
        return blocks[blocks.Length / 2];
    }
}
