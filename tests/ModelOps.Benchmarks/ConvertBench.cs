using System.Diagnostics;
using System.Text.Json;
using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Npy;
using ModelOps.Core.Tensors;

namespace ModelOps.Benchmarks;

/// <summary>
/// ConvertTo-TfLite cost on the largest corpus model (tfjs-human/nanodet, or `convert MODEL` for another tfjs-human
/// folder), per quantization mode: wall time, managed bytes allocated, and the peak managed heap and peak working
/// set seen by a 2 ms sampler during the conversion, each memory figure also as a multiple of the model's weight
/// bytes (the constants of the frozen graph). Each mode runs `--runs N` times (default 3): the median time, the
/// largest memory figures. None is the reference the other modes' times are given against. Int8 calibrates on the
/// model's corpus input (one sample; `--samples N` adds perturbed copies).
/// </summary>
public static class ConvertBench
{
    public static int Run(string[] args)
    {
        string? corpus = Environment.GetEnvironmentVariable("MODELOPS_CORPUS");
        if (corpus is null || !Directory.Exists(corpus)) { Console.WriteLine("convert: corpus absent (set MODELOPS_CORPUS)"); return 1; }
        string model = args.SkipWhile(a => a != "convert").Skip(1).FirstOrDefault(a => !a.StartsWith("--", StringComparison.Ordinal)) ?? "nanodet";
        int samples = int.TryParse(args.SkipWhile(a => a != "--samples").Skip(1).FirstOrDefault(), out int n) && n > 0 ? n : 1;
        int runs = int.TryParse(args.SkipWhile(a => a != "--runs").Skip(1).FirstOrDefault(), out int r) && r > 0 ? r : 3;
        string dir = Path.Combine(corpus, "tfjs-human", model);
        var graph = ModelReader.ReadGraphDef(Path.Combine(dir, "model.pb"));
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "meta.json")));
        var outputs = meta.RootElement.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()!).ToList();
        var input = NpyFile.Read(Path.Combine(dir, meta.RootElement.GetProperty("inputs")[0].GetProperty("file").GetString()!));
        var calibration = Samples(input, samples);

        long weights = 0;
        foreach (var node in graph.Node)
            if (node.Op == "Const" && node.Attr.TryGetValue("value", out var v) && v.Tensor is { } tp)
            {
                var t = TensorProtoCodec.Decode(tp);
                weights += (long)t.Length * Math.Max(t.DType.ByteSize(), 0);
            }
        long fileBytes = new FileInfo(Path.Combine(dir, "model.pb")).Length;
        Console.WriteLine($"ConvertTo-TfLite  {model}: {graph.Node.Count} nodes, weights {weights / 1048576.0:F1} MiB (GraphDef {fileBytes / 1048576.0:F1} MiB), Int8 calibration samples {samples}, {runs} runs per mode, {Environment.ProcessorCount} cores");

        TfLiteConverterOptions Options(TfLiteQuantization q) => new()
        {
            Quantization = q, Outputs = outputs, CalibrationData = q == TfLiteQuantization.Int8 ? calibration : null,
        };
        TfLiteConverter.Convert(graph, Options(TfLiteQuantization.None)); // warm-up: JIT
        double? reference = null;
        foreach (var mode in new[] { TfLiteQuantization.None, TfLiteQuantization.Float16, TfLiteQuantization.Dynamic, TfLiteQuantization.Int8 })
        {
            var times = new double[runs];
            long alloc = 0, heap = 0, ws = 0, wsAbs = 0, file = 0;
            for (int k = 0; k < runs; k++)
            {
                var m = Measure(() => file = TfLiteConverter.Convert(graph, Options(mode)).Model.Length);
                times[k] = m.Ms;
                alloc = Math.Max(alloc, m.Allocated);
                heap = Math.Max(heap, m.PeakHeap);
                ws = Math.Max(ws, m.PeakWorkingSet);
                wsAbs = Math.Max(wsAbs, m.PeakWorkingSetAbsolute);
            }
            Array.Sort(times);
            double ms = times[runs / 2];
            reference ??= ms;
            double X(long b) => (double)b / weights;
            Console.WriteLine($"  {mode,-8} {ms,9:F0} ms ({ms / reference.Value,5:F2}x None)  file {file / 1048576.0,5:F1} MiB  " +
                $"allocated {alloc / 1048576.0,6:F0} MiB ({X(alloc),5:F1}x weights)  peak heap +{heap / 1048576.0,5:F0} MiB ({X(heap),4:F1}x)  " +
                $"peak working set +{ws / 1048576.0,5:F0} MiB ({X(ws),4:F1}x; {wsAbs / 1048576.0:F0} MiB in all)");
        }
        return 0;
    }

    /// <summary>
    /// Runs <paramref name="body"/> once after a full collection: its time, the bytes it allocated, and the peaks of
    /// the managed heap and the working set above their level before it (sampled every 2 ms), plus the absolute
    /// working-set peak.
    /// </summary>
    private static (double Ms, long Allocated, long PeakHeap, long PeakWorkingSet, long PeakWorkingSetAbsolute) Measure(Action body)
    {
        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var proc = Process.GetCurrentProcess();
        proc.Refresh();
        long heap0 = GC.GetTotalMemory(false), ws0 = proc.WorkingSet64, alloc0 = GC.GetTotalAllocatedBytes(precise: true);
        long peakHeap = heap0, peakWs = ws0;
        using var stop = new CancellationTokenSource();
        var sampler = Task.Run(() =>
        {
            using var p = Process.GetCurrentProcess();
            while (!stop.IsCancellationRequested)
            {
                long h = GC.GetTotalMemory(false);
                p.Refresh();
                long w = p.WorkingSet64;
                if (h > Interlocked.Read(ref peakHeap)) Interlocked.Exchange(ref peakHeap, h);
                if (w > Interlocked.Read(ref peakWs)) Interlocked.Exchange(ref peakWs, w);
                Thread.Sleep(2);
            }
        });
        var sw = Stopwatch.StartNew();
        body();
        double ms = sw.Elapsed.TotalMilliseconds;
        long alloc = GC.GetTotalAllocatedBytes(precise: true) - alloc0;
        stop.Cancel();
        sampler.Wait();
        proc.Refresh();
        peakHeap = Math.Max(peakHeap, GC.GetTotalMemory(false));
        peakWs = Math.Max(peakWs, proc.WorkingSet64);
        return (ms, alloc, peakHeap - heap0, peakWs - ws0, peakWs);
    }

    /// <summary>The input, then perturbed copies (scaled ±10 %, with a little offset noise) up to <paramref name="count"/>.</summary>
    private static List<IReadOnlyDictionary<string, Tensor>> Samples(Tensor input, int count)
    {
        var list = new List<IReadOnlyDictionary<string, Tensor>> { new Dictionary<string, Tensor> { [""] = input } };
        var rng = new Random(5);
        double range = 0;
        for (int i = 0; i < input.Length; i++) range = Math.Max(range, Math.Abs(input.GetDouble(i)));
        while (list.Count < count)
        {
            var d = new float[input.Length];
            for (int i = 0; i < d.Length; i++) d[i] = (float)(input.GetDouble(i) * (0.9 + 0.2 * rng.NextDouble()) + 0.05 * range * (rng.NextDouble() - 0.5));
            list.Add(new Dictionary<string, Tensor> { [""] = Tensor.Create(d, input.Shape) });
        }
        return list;
    }
}
