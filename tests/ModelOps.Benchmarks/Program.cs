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
        if (args.Length == 4 && args[0] == "rss-child") return RssBench.ChildMain(args[1], args[2], args[3]);
        if (args.Contains("rss")) return RssBench.Run();
        if (args.Contains("pool")) return EngineBench.PoolCompare(args.SkipWhile(a => a != "pool").Skip(1).FirstOrDefault(a => !a.StartsWith("--")), quick ? 9 : 31);
        if (args.Contains("conv")) return ConvShapes(quick ? 5 : 21);
        if (args.Contains("depthwise")) return DepthwiseShapes(quick ? 5 : 21);
        if (args.Contains("pooling")) return PoolingShapes(quick ? 5 : 21);
        if (args.Contains("overhead")) return OverheadBench.Run();
        if (args.Contains("gemm")) return ModelGemmShapes(quick ? 5 : 21);
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

    /// <summary>
    /// GEMM shapes the corpus models' convolutions produce (rows = output pixels, k = KH·KW·Cin, n = Cout),
    /// B packed once as for a constant filter, 1 thread: GFLOP/s of each.
    /// </summary>
    private static int ModelGemmShapes(int runs)
    {
        Console.WriteLine($"GEMM on model shapes, B packed, 1 thread (AVX-512: {System.Runtime.Intrinsics.X86.Avx512F.IsSupported}, tile {Gemm.MR}x{Gemm.NR})");
        foreach (var (m, k, n, what) in new[]
        {
            (4096, 24, 24, "blazeface 1x1 64x64x24->24"), (4096, 24, 28, "blazeface 1x1 ->28"), (4096, 75, 24, "blazeface 5x5x3 im2col"),
            (1024, 32, 36, "1x1 32x32x32->36"), (256, 88, 96, "1x1 16x16x88->96"), (64, 96, 96, "1x1 8x8x96->96"),
            (961, 288, 32, "age 3x3x32->32"), (3136, 144, 24, "3x3x16->24"), (12544, 16, 96, "1x1 112x112x16->96"),
            (784, 576, 64, "3x3x64->64"), (49, 672, 112, "handlandmark 1x1 7x7x672->112"), (196, 384, 64, "handlandmark 1x1 14x14x384->64"),
            (512, 512, 512, "square 512"),
        })
        {
            var a = Random(m * k, 1);
            var packed = Gemm.PackB(false, k, n, Random(k * n, 2), 0, n);
            var c = new float[m * n];
            int reps = Math.Max(1, (int)(2e7 / (2.0 * m * n * k)));
            double ms = Median(runs, () => { for (int r = 0; r < reps; r++) Gemm.SgemmPacked(false, m, a, 0, k, packed, c, 0, n); }) / reps;
            Console.WriteLine($"  {what,-28} [{m}x{k}]x[{k}x{n}]  {ms * 1000,9:F1} us  {2.0 * m * n * k / (ms * 1e6),7:F1} GFLOP/s");
        }
        return 0;
    }

    /// <summary>MaxPool / AvgPool of the corpus models' shapes (VALID 2×2/2, SAME 3×3/2), kernel only (output preallocated), 1 thread: µs per call.</summary>
    private static int PoolingShapes(int runs)
    {
        Console.WriteLine("Pooling on model shapes, 1 thread");
        foreach (var (h, c, k, s, max) in new[] { (62, 32, 2, 2, false), (62, 16, 2, 2, true), (60, 16, 2, 2, true), (126, 64, 2, 2, true), (29, 128, 3, 2, true), (31, 10, 2, 2, false), (15, 256, 3, 2, true) })
        {
            bool same = k == 3;
            int oh = same ? (h + s - 1) / s : (h - k) / s + 1;
            int pad = same ? Math.Max(0, (oh - 1) * s + k - h) / 2 : 0;
            var g = new ModelOps.Core.Runtime.Kernels.ConvGeometry
            {
                N = 1, H = h, W = h, C = c, KH = k, KW = k, SH = s, SW = s, DH = 1, DW = 1, OH = oh, OW = oh, PadTop = pad, PadLeft = pad,
            };
            var x = Random(h * h * c, 5);
            var y = new float[oh * oh * c];
            int reps = Math.Max(1, 20_000_000 / (oh * oh * c * k * k));
            double ms = Median(runs, () => { for (int r = 0; r < reps; r++) PoolingOps.PoolNhwc(x, y, g, max, 1); }) / reps;
            Console.WriteLine($"  {(max ? "MaxPool" : "AvgPool")} [1,{h},{h},{c}] {k}x{k}/{s}  {ms * 1000,8:F1} us");
        }
        return 0;
    }

    /// <summary>Depthwise 3×3 convolutions of the corpus models' shapes (SAME, multiplier 1), kernel only (output preallocated), 1 thread: µs per call.</summary>
    private static int DepthwiseShapes(int runs)
    {
        Console.WriteLine("Depthwise on model shapes, 1 thread");
        foreach (var (h, c, s, k) in new[] { (64, 24, 1, 3), (64, 28, 1, 3), (32, 36, 1, 3), (16, 88, 1, 3), (60, 8, 1, 3), (112, 32, 1, 3), (56, 144, 2, 3), (8, 96, 1, 3), (14, 384, 1, 5), (28, 144, 1, 5), (7, 672, 1, 5), (56, 96, 2, 5) })
        {
            int oh = (h + s - 1) / s;
            int padTotal = Math.Max(0, (oh - 1) * s + k - h);
            var g = new ModelOps.Core.Runtime.Kernels.ConvGeometry
            {
                N = 1, H = h, W = h, C = c, KH = k, KW = k, SH = s, SW = s, DH = 1, DW = 1, OH = oh, OW = oh, PadTop = padTotal / 2, PadLeft = padTotal / 2,
            };
            var x = Random(h * h * c, 5);
            var f = Random(k * k * c, 6);
            var y = new float[oh * oh * c];
            int reps = Math.Max(1, 20_000_000 / (h * h * c * 9));
            // As shipped, and with the border columns of 16-channel blocks in 8-lane registers, alternately.
            var times = new List<double>[] { new(), new() };
            for (int round = 0; round < runs; round++)
                for (int path = 0; path < 2; path++)
                {
                    ConvolutionOps.DepthwiseWideBorders = path == 0;
                    times[path].Add(Median(3, () => { for (int r = 0; r < reps; r++) ConvolutionOps.DepthwiseNhwc(x, f, y, g, 1, new Epilogue(), 1); }) / reps);
                }
            ConvolutionOps.DepthwiseWideBorders = true;
            double ms = times[0].Order().ElementAt(runs / 2), narrow = times[1].Order().ElementAt(runs / 2);
            Console.WriteLine($"  [1,{h},{h},{c}] {k}x{k}/{s}  {ms * 1000,8:F1} us  {2.0 * oh * oh * c * k * k / (ms * 1e6),6:F1} GFLOP/s  (8-lane border columns {narrow * 1000,6:F1} us)");
        }
        return 0;
    }

    /// <summary>Conv2D on the corpus models' shapes (SAME, filter packed once, output preallocated), 1 thread: µs per call.</summary>
    private static int ConvShapes(int runs)
    {
        Console.WriteLine("Conv2D on model shapes, 1 thread: the engine's choice (windowed where it applies, else im2col + GEMM) and im2col + GEMM alone, interleaved");
        foreach (var (h, c, k, s, cout) in new[] { (64, 1, 3, 1, 8), (62, 8, 3, 1, 8), (32, 3, 3, 1, 16), (32, 16, 3, 1, 16), (128, 3, 3, 1, 64), (63, 64, 3, 1, 32), (128, 3, 5, 2, 24), (60, 8, 1, 1, 16), (224, 3, 3, 2, 24), (112, 16, 1, 1, 64), (64, 3, 3, 1, 16), (64, 3, 3, 1, 32), (31, 16, 3, 1, 16), (31, 32, 3, 1, 32), (30, 32, 3, 1, 16), (14, 128, 3, 1, 16), (31, 32, 1, 1, 10), (31, 16, 1, 1, 10), (14, 32, 1, 1, 10), (7, 672, 1, 1, 112), (14, 384, 1, 1, 64), (31, 32, 3, 1, 64), (8, 256, 3, 1, 7), (52, 128, 3, 1, 128), (26, 128, 3, 1, 64), (13, 256, 3, 1, 256), (104, 64, 3, 1, 64) })
        {
            int oh = (h + s - 1) / s;
            int padTotal = Math.Max(0, (oh - 1) * s + k - h);
            var g = new ModelOps.Core.Runtime.Kernels.ConvGeometry
            {
                N = 1, H = h, W = h, C = c, KH = k, KW = k, SH = s, SW = s, DH = 1, DW = 1, OH = oh, OW = oh, PadTop = padTotal / 2, PadLeft = padTotal / 2,
            };
            var x = Random(h * h * c, 5);
            var packed = Gemm.PackB(false, k * k * c, cout, Random(k * k * c * cout, 6), 0, cout);
            var y = new float[oh * oh * cout];
            double flops = 2.0 * oh * oh * cout * k * k * c;
            int reps = Math.Max(1, (int)(2e7 / flops));
            var times = new List<(double, double)>();
            for (int round = 0; round < runs; round++)
            {
                ConvolutionOps.WindowedOff = false;
                double a = Median(1, () => { for (int r = 0; r < reps; r++) ConvolutionOps.Conv2DNhwc(x, packed, y, g, cout, new Epilogue(), 1); }) / reps;
                ConvolutionOps.WindowedOff = true;
                double b = Median(1, () => { for (int r = 0; r < reps; r++) ConvolutionOps.Conv2DNhwc(x, packed, y, g, cout, new Epilogue(), 1); }) / reps;
                times.Add((a, b));
            }
            ConvolutionOps.WindowedOff = false;
            double ms = times.Select(t => t.Item1).Order().ElementAt(runs / 2);
            double msIm2col = times.Select(t => t.Item2).Order().ElementAt(runs / 2);
            string path = k == 1 && s == 1 ? "gemm" : ConvolutionOps.WindowedApplies(g, packed) ? "windowed" : "im2col";
            Console.WriteLine($"  [1,{h},{h},{c}] {k}x{k}/{s} -> {cout,-3} {ms * 1000,8:F1} us  {flops / (ms * 1e6),6:F1} GFLOP/s ({path,-8})  im2col + GEMM {msIm2col * 1000,8:F1} us  ratio {ms / msIm2col,5:F2}");
        }
        return 0;
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
