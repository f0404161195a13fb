using System.Diagnostics;
using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;

namespace ModelOps.Benchmarks;

/// <summary>
/// The engine's cost per node apart from the kernels: a chain of 200 AddV2 nodes on a one-element tensor (kernel
/// work next to nothing), run by a <see cref="GraphSession"/> at 1 thread. Prints µs per node for the whole run
/// (executor + kernel), the kernels' share from a profiled session, and the session's per-run fixed cost from a
/// 1-node graph. Small models such as age (137 nodes, 0.3 ms in ONNX Runtime) feel this directly.
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
        return 0;
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
    private static double Time(GraphDef graph, string input, string output, Tensor feed, OpProfile? profile)
    {
        using var s = new GraphSession(graph, [output], new EngineOptions { IntraOpThreads = 1, Profile = profile });
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
