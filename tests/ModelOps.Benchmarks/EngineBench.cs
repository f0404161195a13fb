using System.Diagnostics;
using System.Text.Json;
using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Npy;
using ModelOps.Core.Ops;
using ModelOps.Core.Runtime;
using ModelOps.Core.Runtime.Onnx;
using ModelOps.Core.Tensors;

namespace ModelOps.Benchmarks;

/// <summary>
/// The managed engine against ONNX Runtime on every corpus model that converts, in the same run and
/// with the same inputs and thread count: median inference time of each and the ratio managed/ORT.
/// </summary>
public static class EngineBench
{
    public static int Run(bool quick)
    {
        string? corpus = LocateCorpus();
        if (corpus is null)
        {
            Console.WriteLine("Engine comparison skipped: the corpus is absent (set MODELOPS_CORPUS).");
            return 0;
        }
        int all = Environment.ProcessorCount;
        int poolRuns = quick ? 3 : 9; // rounds of the pool on/off comparison beside the memory table
        // Latency: the two engines run in alternating blocks so both see the same machine (see Paired): at least pairedRuns
        // runs each and pairedSeconds in all, the median of each side.
        int pairedRuns = quick ? 15 : 41;
        double pairedSeconds = quick ? 0.5 : 2.0;
        int batchRuns = quick ? 1 : 3;
        const int Batch = 32;
        Console.WriteLine();
        Console.WriteLine($"Managed engine vs ONNX Runtime, same run, same inputs and thread count ({all} logical cores; load average {LoadAverage()}).");
        Console.WriteLine($"b1: median of >= {pairedRuns} runs (and >= {pairedSeconds} s) per engine after warm-up, the engines' runs alternating, wall ms and process CPU ms; b{Batch}: input_0 tiled along the batch axis, images/s (median of {batchRuns}).");
        Console.WriteLine("ratio = managed / ORT (> 1: ORT is faster); the issue's target is wall ratio <= 1.5. CPU time is less sensitive to other load on the machine.");
        Console.WriteLine($"{"model",-26} {"thr",3} {"b1 ms",8} {"ORT",7} {"ratio",6} {"cpu ms",8} {"ORT cpu",8} {"cpu ratio",9} {"b32 img/s",10} {"ORT",8} {"ratio",6}");
        var memory = new List<string>();
        var ratios = new Dictionary<int, List<(string Model, double Wall, double Cpu)>>();
        // BENCH_MODELS=age,selfie compares only the models whose names contain one of those words.
        var only = Environment.GetEnvironmentVariable("BENCH_MODELS")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var (name, graph, feeds, outputs) in Models(corpus))
        {
            if (only is { Length: > 0 } && !only.Any(o => name.Contains(o, StringComparison.OrdinalIgnoreCase))) continue;
            var batched = Batched(graph, feeds, Batch, out string? batchNote);
            foreach (int threads in all > 1 ? new[] { 1, all } : new[] { 1 })
            {
                try
                {
                    using var managed = new GraphSession(graph, outputs, new EngineOptions { IntraOpThreads = threads });
                    using var ort = OnnxSession.FromGraph(graph, new OnnxSessionOptions
                    {
                        IntraOpThreads = threads, Conversion = new OnnxConversionOptions { Outputs = outputs },
                    });
                    var ((m, mc), (o, oc)) = Paired(pairedRuns, pairedSeconds, () => managed.Run(feeds, outputs), () => ort.Run(feeds, outputs));
                    string b32 = batchNote ?? "";
                    if (batched is not null)
                    {
                        try
                        {
                            var ((mb, _), (ob, _)) = Paired(batchRuns, 0, () => managed.Run(batched, outputs), () => ort.Run(batched, outputs));
                            b32 = $"{Batch * 1000 / mb,10:F1} {Batch * 1000 / ob,8:F1} {mb / ob,6:F2}";
                        }
                        catch (Exception ex) when (ex is not OutOfMemoryException)
                        {
                            b32 = "b32 skipped: " + (ex is ModelOps.Core.Errors.ModelOpsException me ? me.ErrorId : ex.GetType().Name);
                            batched = null;
                        }
                    }
                    Console.WriteLine($"{name,-26} {threads,3} {m,8:F2} {o,7:F2} {m / o,6:F2} {mc,8:F2} {oc,8:F2} {mc / oc,9:F2} {b32}");
                    if (!name.StartsWith("benchtf/", StringComparison.Ordinal))
                        (ratios.TryGetValue(threads, out var list) ? list : ratios[threads] = new()).Add((name, m / o, mc / oc));
                    if (threads == 1) memory.Add(Memory(name, graph, feeds, outputs, poolRuns));
                }
                catch (ModelOps.Core.Errors.ModelOpsException ex)
                {
                    Console.WriteLine($"{name,-26} {threads,3}   not compared: {ex.ErrorId}");
                    break;
                }
            }
        }
        foreach (var (threads, list) in ratios.OrderBy(r => r.Key))
        {
            double geoWall = Math.Exp(list.Average(r => Math.Log(r.Wall))), geoCpu = Math.Exp(list.Average(r => Math.Log(r.Cpu)));
            Console.WriteLine($"{threads} thread(s), {list.Count} tfjs-human models: geometric mean ratio wall {geoWall:F2}, CPU {geoCpu:F2}; " +
                $"wall ratio <= 1.5 on {list.Count(r => r.Wall <= 1.5)}, CPU ratio <= 1.5 on {list.Count(r => r.Cpu <= 1.5)}; worst (CPU) {string.Join(", ", list.OrderByDescending(r => r.Cpu).Take(3).Select(r => $"{r.Model} {r.Cpu:F2}"))}");
        }
        Console.WriteLine();
        Console.WriteLine($"Memory at batch 1, 1 thread, fourth run of a session (pool hold factor {PoolHold}). Budget (issue #4): 2 x weights + the two largest activations.");
        Console.WriteLine("The session is set up as Invoke-TfInference sets it up: it owns its parsed GraphDef and releases the constant values its plan");
        Console.WriteLine("holds once planned. 'graphdef' is the heap the parsed GraphDef takes; 'held' the heap graph and session keep after three runs");
        Console.WriteLine("(graph, decoded constants, packed filters, plans, the pool's buffers, scratch), both measured after full collections; 'allocated'");
        Console.WriteLine("every byte the fourth run allocated with the GC; 'pool' the most bytes the plan's buffer pool held at once (part of 'held'); 'live'");
        Console.WriteLine("the most bytes of activations alive at once (lower bound of any plan); 'peak' = held + allocated, an upper bound of the heap while");
        Console.WriteLine("the cmdlet runs the model; 'ws growth' the working-set growth over the fourth run from a collected heap.");
        Console.WriteLine("cpu ms no pool / pool: median process CPU ms per run of a session without pooling (PoolHoldFactor 0) and with it, runs interleaved.");
        Console.WriteLine($"{"model",-26} {"weights MB",10} {"act1+2 MB",10} {"budget MB",10} {"graphdef MB",10} {"held MB",8} {"allocated MB",12} {"pool MB",8} {"live MB",8} {"peak MB",8} {"ws growth MB",12} {"peak/budget",11} {"cpu no pool",11} {"cpu pool",9} {"ratio",6}");
        foreach (var line in memory) Console.WriteLine(line);
        return 0;
    }

    /// <summary>Feeds with input_0 (the first feed) tiled <paramref name="batch"/> times along axis 0, when its leading dim is 1 and the model does not fix it.</summary>
    private static Dictionary<string, Tensor>? Batched(ModelOps.Core.Protos.GraphDef graph, Dictionary<string, Tensor> feeds, int batch, out string? note)
    {
        note = null;
        var (key, x) = feeds.First();
        string node = key.Split(':')[0];
        var ph = graph.Node.FirstOrDefault(n => n.Name == node);
        long declared = ph is not null && ph.Attr.TryGetValue("shape", out var sh) && sh.Shape is { UnknownRank: false } s && s.Dim.Count > 0 ? s.Dim[0].Size : -1;
        if (x.Rank == 0 || x.Shape[0] != 1 || declared > 0 || x.DType != ModelOps.Core.Protos.DataType.DtFloat)
        {
            note = $"b{batch} skipped: input {Tensor.FormatShape(x.Shape)} has a fixed batch dim";
            return null;
        }
        var src = x.As<float>();
        var data = new float[src.Length * batch];
        for (int i = 0; i < batch; i++) src.CopyTo(data, i * src.Length);
        var shape = (int[])x.Shape.Clone();
        shape[0] = batch;
        var result = new Dictionary<string, Tensor>(feeds) { [key] = new Tensor(x.DType, shape, data) };
        return result;
    }

    private static string Memory(string name, ModelOps.Core.Protos.GraphDef graph, Dictionary<string, Tensor> feeds, List<string> outputs, int runs)
    {
        long weights = graph.Node.Where(n => n.Op == "Const" && n.Attr.ContainsKey("value")).Sum(n => (long)n.Attr["value"].Tensor.CalculateSize());
        // The model as Invoke-TfInference holds it: a GraphDef parsed for the session alone, which releases the constant
        // values it holds once planned (EngineOptions.ReleaseGraphConstants).
        var bytes = Google.Protobuf.MessageExtensions.ToByteArray(graph);
        long b0 = HeapBytes();
        var own = ModelOps.Core.Protos.GraphDef.Parser.ParseFrom(bytes);
        long graphHeld = HeapBytes() - b0;
        bytes = null;
        long h0 = HeapBytes() - graphHeld; // the heap without the file's bytes and without the parsed graph
        var profile = new OpProfile();
        using var s = new GraphSession(own, outputs, new EngineOptions { IntraOpThreads = 1, Profile = profile, PoolHoldFactor = PoolHold, ReleaseGraphConstants = true });
        for (int i = 0; i < 3; i++)
        {
            profile.Reset(); // the two largest activations of one run
            s.Run(feeds, outputs); // the pool settles after the first runs
        }
        // Everything kept between runs: the graph, decoded constants, packed filters, plans, the pool's buffers, scratch.
        long held = HeapBytes() - h0;
        var (a1, a2) = profile.LargestOutputs;
        double budget = 2.0 * weights + a1 + a2;
        profile.Reset();
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        using var proc = Process.GetCurrentProcess();
        proc.Refresh();
        long ws0 = proc.WorkingSet64;
        long before = GC.GetTotalAllocatedBytes(true);
        s.Run(feeds, outputs);
        long allocated = GC.GetTotalAllocatedBytes(true) - before;
        proc.Refresh();
        long ws = Math.Max(0, proc.WorkingSet64 - ws0);
        long pool = profile.PeakPoolBytes, live = profile.PeakLiveBytes;
        double peak = held + allocated;
        GC.KeepAlive(own);
        var (off, on) = PoolAB(graph, feeds, outputs, runs);
        return $"{name,-26} {weights / 1e6,10:F2} {(a1 + a2) / 1e6,10:F2} {budget / 1e6,10:F2} {graphHeld / 1e6,10:F2} {held / 1e6,8:F2} {allocated / 1e6,12:F2} {pool / 1e6,8:F2} {live / 1e6,8:F2} {peak / 1e6,8:F2} {ws / 1e6,12:F2} {peak / budget,11:F2} {off,11:F2} {on,9:F2} {on / off,6:F2}";
    }

    /// <summary>Bytes on the GC heap after full collections.</summary>
    private static long HeapBytes()
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        return GC.GetTotalMemory(forceFullCollection: true);
    }

    /// <summary>
    /// Buffer-pool bounds compared (env MODELOPS_POOL_AB: comma-separated hold factors, default "0,2,4,inf"): one
    /// 1-thread session per factor, runs interleaved round-robin, median wall and process CPU ms per run,
    /// GC bytes allocated per run and the pool's peak bytes. Filter by model name like the profile.
    /// </summary>
    public static int PoolCompare(string? filter, int rounds)
    {
        string? corpus = LocateCorpus();
        if (corpus is null)
        {
            Console.WriteLine("Pool comparison skipped: the corpus is absent (set MODELOPS_CORPUS).");
            return 0;
        }
        var factors = (Environment.GetEnvironmentVariable("MODELOPS_POOL_AB") is { Length: > 0 } v ? v : "0,2,4,inf").Split(',')
            .Select(f => f == "inf" ? double.PositiveInfinity : double.Parse(f, System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Console.WriteLine($"Buffer pool hold factors {string.Join(", ", factors)}: {rounds} interleaved rounds, 1 thread; median wall ms / CPU ms, MB allocated per run, pool peak MB (load {LoadAverage()}).");
        foreach (var (name, graph, feeds, outputs) in Models(corpus))
        {
            if (filter is not null && !name.Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
            var profiles = factors.Select(_ => new OpProfile()).ToArray();
            var sessions = factors.Select((f, i) => new GraphSession(graph, outputs, new EngineOptions { IntraOpThreads = 1, PoolHoldFactor = f, Profile = profiles[i] })).ToArray();
            try
            {
                WarmUp(() => { foreach (var s in sessions) s.Run(feeds, outputs); });
                var wall = factors.Select(_ => new double[rounds]).ToArray();
                var cpu = factors.Select(_ => new double[rounds]).ToArray();
                var alloc = new long[factors.Length];
                for (int r = 0; r < rounds; r++)
                    for (int i = 0; i < sessions.Length; i++)
                    {
                        long a0 = GC.GetTotalAllocatedBytes(false);
                        double c0 = ProcessCpuMs();
                        var sw = Stopwatch.StartNew();
                        sessions[i].Run(feeds, outputs);
                        wall[i][r] = sw.Elapsed.TotalMilliseconds;
                        cpu[i][r] = ProcessCpuMs() - c0;
                        alloc[i] += GC.GetTotalAllocatedBytes(false) - a0;
                    }
                var cells = factors.Select((f, i) =>
                {
                    Array.Sort(wall[i]);
                    Array.Sort(cpu[i]);
                    return $"{f,4}: {wall[i][rounds / 2],7:F2} {cpu[i][rounds / 2],7:F2} {alloc[i] / rounds / 1e6,6:F2} {profiles[i].PeakPoolBytes / 1e6,6:F2}";
                });
                Console.WriteLine($"{name,-26} {string.Join(" | ", cells)}");
            }
            finally
            {
                foreach (var s in sessions) s.Dispose();
            }
        }
        return 0;
    }

    /// <summary>Median CPU ms per run at 1 thread without and with the buffer pool, the two sessions' runs interleaved.</summary>
    private static (double Off, double On) PoolAB(ModelOps.Core.Protos.GraphDef graph, Dictionary<string, Tensor> feeds, List<string> outputs, int runs)
    {
        using var off = new GraphSession(graph, outputs, new EngineOptions { IntraOpThreads = 1, PoolHoldFactor = 0 });
        using var on = new GraphSession(graph, outputs, new EngineOptions { IntraOpThreads = 1, PoolHoldFactor = PoolHold });
        WarmUp(() => { off.Run(feeds, outputs); on.Run(feeds, outputs); });
        int n = Math.Max(5, 2 * runs + 1);
        var a = new double[n];
        var b = new double[n];
        for (int i = 0; i < n; i++)
        {
            double c0 = ProcessCpuMs();
            off.Run(feeds, outputs);
            double c1 = ProcessCpuMs();
            on.Run(feeds, outputs);
            a[i] = c1 - c0;
            b[i] = ProcessCpuMs() - c1;
        }
        Array.Sort(a);
        Array.Sort(b);
        return (a[n / 2], b[n / 2]);
    }

    private static string LoadAverage()
    {
        try
        {
            return File.Exists("/proc/loadavg") ? string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    /// <summary>Per-op-type time of the managed engine at 1 thread (5 profiled runs after warm-up) for each model (or those whose name contains <paramref name="filter"/>).</summary>
    public static int Profile(string? filter)
    {
        string? corpus = LocateCorpus();
        if (corpus is null)
        {
            Console.WriteLine("Profile skipped: the corpus is absent (set MODELOPS_CORPUS).");
            return 0;
        }
        // PROFILE_WINDOWED=0 profiles with the windowed convolution off (im2col + GEMM everywhere), for A/B runs.
        ModelOps.Core.Ops.ConvolutionOps.WindowedOff = Environment.GetEnvironmentVariable("PROFILE_WINDOWED") == "0";
        foreach (var (name, graph, feeds, outputs) in Models(corpus))
        {
            if (filter is not null && !name.Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
            var profile = new OpProfile(Environment.GetEnvironmentVariable("PROFILE_SHAPES") == "1");
            using var managed = new GraphSession(graph, outputs, new EngineOptions { IntraOpThreads = 1, Profile = profile, PoolHoldFactor = PoolHold });
            WarmUp(() => managed.Run(feeds, outputs));
            profile.Reset();
            int runs = int.TryParse(Environment.GetEnvironmentVariable("PROFILE_RUNS"), out int pr) && pr > 0 ? pr : 5;
            int g0 = GC.CollectionCount(0), g2 = GC.CollectionCount(2);
            long alloc = GC.GetTotalAllocatedBytes(true);
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < runs; i++) managed.Run(feeds, outputs);
            double wall = sw.Elapsed.TotalMilliseconds / runs;
            Console.WriteLine($"{name}: {wall:F2} ms/run, kernels {profile.TotalMs / runs:F2} ms/run, allocated {(GC.GetTotalAllocatedBytes(true) - alloc) / runs / 1e6:F1} MB/run, " +
                $"GCs gen0 {GC.CollectionCount(0) - g0} gen2 {GC.CollectionCount(2) - g2}, buffer pool peak {profile.PeakPoolBytes / 1e6:F1} MB, live activations peak {profile.PeakLiveBytes / 1e6:F1} MB (totals over {runs} runs below)");
            Console.Write(profile.Format(profile.ByShape ? 25 : 12));
        }
        return 0;
    }

    /// <summary>The engine's buffer pool bound for the profile (env MODELOPS_POOL_HOLD: a factor, "inf", or 0 for no pooling).</summary>
    private static double PoolHold =>
        Environment.GetEnvironmentVariable("MODELOPS_POOL_HOLD") is { Length: > 0 } v
            ? (v == "inf" ? double.PositiveInfinity : double.Parse(v, System.Globalization.CultureInfo.InvariantCulture))
            : new EngineOptions().PoolHoldFactor;

    private static IEnumerable<(string, ModelOps.Core.Protos.GraphDef, Dictionary<string, Tensor>, List<string>)> Models(string corpus) =>
        ModelFiles(corpus).Select(m => (m.Name, ModelReader.ReadGraphDef(m.GraphPath), m.Feeds(), m.Outputs));

    /// <summary>A compared model: its frozen graph, outputs and how to make its inputs (read only when asked).</summary>
    internal sealed record ModelFile(string Name, string GraphPath, List<string> Outputs, Func<Dictionary<string, Tensor>> Feeds);

    /// <summary>The compared models of the corpus (none when it is absent): the tfjs-human ones without control flow, two tf2onnx graphs.</summary>
    internal static IEnumerable<ModelFile> ModelFiles(string? corpus = null)
    {
        corpus ??= LocateCorpus();
        if (corpus is null) yield break;
        string human = Path.Combine(corpus, "tfjs-human");
        if (Directory.Exists(human))
        {
            foreach (var dir in Directory.GetDirectories(human).OrderBy(d => d, StringComparer.Ordinal))
            {
                if (!File.Exists(Path.Combine(dir, "meta.json"))) continue;
                using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "meta.json")));
                if (meta.RootElement.GetProperty("graph").GetProperty("has_control_flow").GetBoolean()) continue;
                var inputs = meta.RootElement.GetProperty("inputs").EnumerateArray()
                    .Select(i => (Name: i.GetProperty("name").GetString()!, File: Path.Combine(dir, i.GetProperty("file").GetString()!))).ToList();
                var outputs = meta.RootElement.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()!).ToList();
                yield return new ModelFile(Path.GetFileName(dir), Path.Combine(dir, "model.pb"), outputs,
                    () => inputs.ToDictionary(i => i.Name, i => NpyFile.Read(i.File)));
            }
        }
        foreach (var m in new[] { "fc-layers", "ae0" })
        {
            string pb = Path.Combine(corpus, "tf", "frozen--tf2onnx-benchtf", m, "frozen.pb");
            if (!File.Exists(pb)) continue;
            yield return new ModelFile("benchtf/" + m, pb, new List<string> { "output:0" },
                () => new Dictionary<string, Tensor> { ["X:0"] = Tensor.Create(Enumerable.Range(1, 784).Select(i => (float)i).ToArray(), 1, 784) });
        }
    }

    /// <summary>Bytes of the two largest activations one run of the model makes (the second term of the memory budget).</summary>
    internal static long LargestTwoActivations(ModelOps.Core.Protos.GraphDef graph, ModelFile m)
    {
        var profile = new OpProfile();
        using var s = new GraphSession(graph, m.Outputs, new EngineOptions { IntraOpThreads = 1, Profile = profile });
        s.Run(m.Feeds(), m.Outputs);
        var (a1, a2) = profile.LargestOutputs;
        return a1 + a2;
    }

    /// <summary>
    /// Runs until the JIT has tiered the engine's code up (30 runs or 1.5 s, at least 2): the managed
    /// engine's first runs execute unoptimized tier-0 code, ORT is native from the start.
    /// </summary>
    private static void WarmUp(Action body)
    {
        var sw = Stopwatch.StartNew();
        for (int w = 0; w < 2 || (w < 30 && sw.ElapsedMilliseconds < 1500); w++) body();
    }

    /// <summary>Milliseconds between the blocks of <see cref="Paired"/> (env BENCH_GAP_MS).</summary>
    private static readonly int PairGapMs = int.TryParse(Environment.GetEnvironmentVariable("BENCH_GAP_MS"), out int g) ? g : 100;

    /// <summary>
    /// Median wall ms and median process CPU ms of <paramref name="a"/> and of <paramref name="b"/>, in alternating blocks
    /// after both warmed up: at least <paramref name="minRuns"/> runs each and until <paramref name="seconds"/> have passed
    /// (at most 2001), so a burst of load on the machine falls on both sides alike. A block lasts about 20 ms (2 to 50 runs)
    /// after one untimed run, and 100 ms pass between blocks (BENCH_GAP_MS): an engine's worker threads spin for a while
    /// after a run (ONNX Runtime's for more than 20 ms here) and must not take the other engine's cores.
    /// </summary>
    private static ((double Wall, double Cpu) A, (double Wall, double Cpu) B) Paired(int minRuns, double seconds, Action a, Action b)
    {
        var bodies = new[] { a, b };
        var block = new int[2];
        for (int side = 0; side < 2; side++)
        {
            WarmUp(bodies[side]);
            var w = Stopwatch.StartNew();
            bodies[side]();
            block[side] = (int)Math.Clamp(20 / Math.Max(0.001, w.Elapsed.TotalMilliseconds), 2, 50);
        }
        var t = new List<double>[] { new(), new() };
        var c = new List<double>[] { new(), new() };
        var total = Stopwatch.StartNew();
        while (t[1].Count < 2001 && (t[1].Count < minRuns || total.Elapsed.TotalSeconds < seconds))
            for (int side = 0; side < 2; side++)
            {
                Thread.Sleep(PairGapMs);
                bodies[side](); // wakes the engine's threads after the gap
                for (int i = 0; i < block[side]; i++)
                {
                    double c0 = ProcessCpuMs();
                    var sw = Stopwatch.StartNew();
                    bodies[side]();
                    t[side].Add(sw.Elapsed.TotalMilliseconds);
                    c[side].Add(ProcessCpuMs() - c0);
                }
            }
        static double Mid(List<double> v)
        {
            v.Sort();
            return v[v.Count / 2];
        }
        return ((Mid(t[0]), Mid(c[0])), (Mid(t[1]), Mid(c[1])));
    }

    [System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "clock_gettime")]
    private static extern int ClockGetTime(int clock, out Timespec ts);

    /// <summary>CPU time of the whole process (all threads), high resolution on Linux; coarse elsewhere.</summary>
    private static double ProcessCpuMs()
    {
        if (OperatingSystem.IsLinux() && ClockGetTime(2 /* CLOCK_PROCESS_CPUTIME_ID */, out var ts) == 0)
            return ts.Seconds * 1000.0 + ts.Nanoseconds / 1e6;
        return Process.GetCurrentProcess().TotalProcessorTime.TotalMilliseconds;
    }

    private static string? LocateCorpus()
    {
        string? env = Environment.GetEnvironmentVariable("MODELOPS_CORPUS");
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? env : null;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "ModelOps.sln")))
            {
                string c = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "corpus"));
                return Directory.Exists(c) ? c : null;
            }
        return null;
    }
}
