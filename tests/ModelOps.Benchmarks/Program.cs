using System.Diagnostics;
using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Runtime.Kernels;
using ModelOps.Core.Tensors;

namespace ModelOps.Benchmarks;

/// <summary>Kernel micro-benchmarks: warm-up, then the median of N timed runs (Stopwatch).</summary>
public static class Program
{
    public static int Main(string[] args)
    {
        // `build.ps1 Bench -BenchArgs freeze,--quick` arrives as one "freeze,--quick" argument when pwsh is started from another shell.
        args = args.SelectMany(a => a.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();
        if (args.Contains("optimize")) return OptimizeBench.Run(args);
        if (args.Contains("freeze")) return FreezeBench.Run(args);
        if (args.Contains("tflite")) return TfLiteBench.Run(args.Contains("--quick") ? 5 : 30, args.Contains("--profile"));
        if (args.Contains("convert")) return ConvertBench.Run(args);
        int all = Environment.ProcessorCount;
        bool quick = args.Contains("--quick");
        if (args.Contains("profile")) return EngineBench.Profile(args.SkipWhile(a => a != "profile").Skip(1).FirstOrDefault());
        if (args.Contains("engines")) return EngineBench.Run(quick);
        if (args.Contains("elementwise")) return ElementWiseBench.Run(args);
        Console.WriteLine($"ModelOps kernel benchmarks  ({all} logical cores, AVX-512: {System.Runtime.Intrinsics.X86.Avx512F.IsSupported}, GEMM tile {Gemm.MR}x{Gemm.NR})");
        Console.WriteLine();
        foreach (int size in quick ? new[] { 256 } : new[] { 512, 1024 })
            foreach (int threads in all > 1 ? new[] { 1, all } : new[] { 1 })
                GemmBench(size, threads, quick ? 3 : 7);
        foreach (int threads in all > 1 ? new[] { 1, all } : new[] { 1 })
            ConvBench(threads, quick ? 3 : 7);
        TfLiteBench.Run(quick ? 5 : 30);
        return EngineBench.Run(quick);
    }

    private static double Median(int runs, Action body)
    {
        body(); // warm-up (JIT, buffers)
        body();
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            var sw = Stopwatch.StartNew();
            body();
            times[i] = sw.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[runs / 2];
    }

    private static float[] Random(int n, int seed)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)r.NextDouble() - 0.5f;
        return a;
    }

    private static void GemmBench(int n, int threads, int runs)
    {
        var a = Random(n * n, 1);
        var b = Random(n * n, 2);
        var c = new float[n * n];
        double ms = Median(runs, () => Gemm.Sgemm(false, false, n, n, n, a, 0, n, b, 0, n, c, 0, n, false, threads));
        double gflops = 2.0 * n * n * n / (ms * 1e6);
        Console.WriteLine($"SGEMM {n}x{n}x{n}  threads={threads,-2}  {ms,9:F2} ms  {gflops,7:F1} GFLOP/s");
    }

    private static void ConvBench(int threads, int runs)
    {
        // 1x112x112x32 -> 64 channels, 3x3, stride 1, SAME
        var x = Tensor.Create(Random(112 * 112 * 32, 3), 1, 112, 112, 32);
        var f = Tensor.Create(Random(3 * 3 * 32 * 64, 4), 3, 3, 32, 64);
        var g = new GraphBuilder();
        var node = g.Add("conv", "Conv2D", ["x", "f"], new Dictionary<string, ModelOps.Core.Protos.AttrValue>
        {
            ["T"] = Attr.Type(ModelOps.Core.Protos.DataType.DtFloat),
            ["strides"] = Attr.Ints(1, 1, 1, 1),
            ["padding"] = Attr.String("SAME"),
        });
        if (!OpRegistry.Kernels.TryGet("Conv2D", out var kernel)) throw new InvalidOperationException("no Conv2D kernel");
        var options = new EngineOptions { IntraOpThreads = threads };
        double ms = Median(runs, () => kernel(new KernelContext(node, [x, f], 1, options)));
        double gflops = 2.0 * 112 * 112 * 64 * 3 * 3 * 32 / (ms * 1e6);
        Console.WriteLine($"Conv2D 1x112x112x32 -> 64 (3x3 SAME)  threads={threads,-2}  {ms,9:F2} ms  {gflops,7:F1} GFLOP/s");
    }
}
