using System.Diagnostics;
using System.Globalization;
using ModelOps.Core.Formats.Checkpoint;
using ModelOps.Core.Freezing;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using ModelOps.Core.Samples;

namespace ModelOps.Benchmarks;

/// <summary>
/// Freeze benchmark (<c>build.ps1 Bench -BenchArgs freeze</c>, issue #3): generates a TF1 graph with VariableV2
/// variables + Saver and a V2 checkpoint holding ~100 MB of float weights (6 kernels of 2048x2048 plus 262 small
/// variables), then times GraphFreezer.FreezeGraph + Write to a file end to end (median of N runs after a warm-up),
/// reported as MB/s of weights and as a ratio to an I/O ceiling timed in the same rounds (reading the checkpoint data
/// file and writing its bytes with File.ReadAllBytes/WriteAllBytes), plus the same freeze with an fsync before the rename. Peak memory is measured in a fresh child process that freezes once
/// (peak working set, as a multiple of the weight bytes). Options: <c>--quick</c> (3 runs), <c>--dir=PATH</c>
/// (where the model is generated and kept; default a temp folder that is deleted afterwards).
/// </summary>
public static class FreezeBench
{
    private static readonly FreezeOptions Options = new() { OutputNodes = new[] { "y", "aux" } };

    public static int Run(string[] args)
    {
        int ci = Array.IndexOf(args, "--child");
        if (ci >= 0) return Child(args[ci + 1], args[ci + 2]);
        bool quick = args.Contains("--quick");
        int runs = quick ? 3 : 9;
        string? keep = args.FirstOrDefault(a => a.StartsWith("--dir=", StringComparison.Ordinal))?[6..];
        string dir = keep ?? Path.Combine(Path.GetTempPath(), "modelops-freezebench-" + Environment.ProcessId.ToString(CultureInfo.InvariantCulture));
        try
        {
            var sw = Stopwatch.StartNew();
            var (graph, weightBytes) = SampleModels.WriteLargeMlp(Path.Combine(dir, "model"), overwrite: true);
            long ckptBytes = new FileInfo(Path.Combine(dir, "model", "model.ckpt.data-00000-of-00001")).Length;
            Console.WriteLine($"freeze: generated {weightBytes / 1e6:F1} MB of float weights (data file {ckptBytes:N0} bytes) in {sw.Elapsed.TotalSeconds:F1} s; load average {LoadAverage()}");
            string output = Path.Combine(dir, "frozen.pb");

            // Throughput: freeze + write to a file, in-process, warm-up then the median of N runs. Each round also times
            // the I/O ceiling — File.ReadAllBytes of the checkpoint data file + File.WriteAllBytes of those bytes, what any
            // freezer must at least do — and freezing with the fsync before the rename (durable: true, not the default);
            // the three rotate their order. Every timed write goes to a new file, deleted after the round outside the timing:
            // overwriting the previous round's 100 MB file would make each write wait until the kernel has finished
            // writing that file back (truncating or unlinking pages under writeback blocks), timing the disk, not the freeze.
            // On a shared machine wall times swing with load, so the per-round ratio freeze / ceiling is the figure to compare.
            string dataFile = Path.Combine(dir, "model", "model.ckpt.data-00000-of-00001");
            string copyOut = Path.Combine(dir, "copy.bin");
            string outputSync = Path.Combine(dir, "frozen-fsync.pb");
            var freezeMs = new double[runs];
            var writeMs = new double[runs];
            var totalMs = new double[runs];
            var cpuMs = new double[runs];
            var ceilingMs = new double[runs];
            var syncMs = new double[runs];
            double firstMs = 0;
            long frozenBytes = 0;
            using var self = Process.GetCurrentProcess();
            for (int i = -1; i < runs; i++)
            {
                for (int step = 0; step < 3; step++)
                {
                    switch ((step + Math.Max(i, 0)) % 3)
                    {
                        case 0:
                        {
                            var t = Stopwatch.StartNew();
                            File.WriteAllBytes(Fresh(copyOut, i), File.ReadAllBytes(dataFile));
                            if (i >= 0) ceilingMs[i] = t.Elapsed.TotalMilliseconds;
                            break;
                        }
                        case 1:
                        {
                            self.Refresh();
                            var cpu0 = self.TotalProcessorTime;
                            var t = Stopwatch.StartNew();
                            using var result = GraphFreezer.FreezeGraph(graph, Path.Combine(dir, "model"), Options);
                            double f = t.Elapsed.TotalMilliseconds;
                            GraphFreezer.Write(result, Fresh(output, i), asText: false, overwrite: false);
                            double all = t.Elapsed.TotalMilliseconds;
                            self.Refresh();
                            double cpu = (self.TotalProcessorTime - cpu0).TotalMilliseconds;
                            if (result.WeightBytes != weightBytes) throw new InvalidOperationException($"froze {result.WeightBytes} weight bytes, expected {weightBytes}");
                            frozenBytes = new FileInfo(Fresh(output, i)).Length;
                            if (i < 0) { firstMs = all; break; }
                            freezeMs[i] = f;
                            writeMs[i] = all - f;
                            totalMs[i] = all;
                            cpuMs[i] = cpu;
                            break;
                        }
                        default:
                        {
                            var t = Stopwatch.StartNew();
                            using var result = GraphFreezer.FreezeGraph(graph, Path.Combine(dir, "model"), Options);
                            GraphFreezer.Write(result, Fresh(outputSync, i), asText: false, overwrite: false, durable: true);
                            if (i >= 0) syncMs[i] = t.Elapsed.TotalMilliseconds;
                            break;
                        }
                    }
                    // Untimed: collect each step's garbage (the ceiling's 100 MB array above all) so that the next step
                    // does not pay for it — the background GC's CPU time would otherwise land in the next measurement.
                    GC.Collect();
                    GC.WaitForPendingFinalizers();
                }
                foreach (var f in new[] { copyOut, output, outputSync }) File.Delete(Fresh(f, i));
            }
            double mb = weightBytes / 1e6;
            double median = Median(totalMs);
            Console.WriteLine($"freeze: {mb / (median / 1000):F0} MB/s of weights, best run {mb / (totalMs.Min() / 1000):F0} MB/s  (end to end {median:F0} ms, median of {runs}; min {totalMs.Min():F0} max {totalMs.Max():F0};"
                + $" FreezeGraph {Median(freezeMs):F0} ms + Write {Median(writeMs):F0} ms; output {frozenBytes:N0} bytes)");
            Console.WriteLine($"freeze: I/O ceiling (ReadAllBytes + WriteAllBytes of the {ckptBytes / 1e6:F1} MB data file, no fsync) {ckptBytes / 1e6 / (Median(ceilingMs) / 1000):F0} MB/s median, best {ckptBytes / 1e6 / (ceilingMs.Min() / 1000):F0};"
                + $" freeze time / ceiling time per round: median {Median(Ratios(totalMs, ceilingMs)):F2}, best {Ratios(totalMs, ceilingMs).Min():F2}");
            Console.WriteLine($"freeze: with an fsync before the rename (durable: true) {mb / (Median(syncMs) / 1000):F0} MB/s median, best {mb / (syncMs.Min() / 1000):F0};"
                + $" / ceiling per round: median {Median(Ratios(syncMs, ceilingMs)):F2}, best {Ratios(syncMs, ceilingMs).Min():F2}; the fsync costs {Median(syncMs) - Median(totalMs):F0} ms (difference of medians)");
            Console.WriteLine($"freeze: first in-process run (JIT, cold caches) {firstMs:F0} ms = {mb / (firstMs / 1000):F0} MB/s (not in the median)");

            // The floor under FreezeGraph: reading every tensor of the checkpoint (CRC-checked) and nothing else.
            var readMs = new double[runs];
            for (int i = -1; i < runs; i++)
            {
                var t = Stopwatch.StartNew();
                using var reader = CheckpointReader.Open(Path.Combine(dir, "model"));
                long n = 0;
                foreach (var e in reader.Entries) if (e.DType.ByteSize() > 0) n += reader.ReadRaw(e.Key).Length;
                if (i >= 0) readMs[i] = t.Elapsed.TotalMilliseconds;
            }
            Console.WriteLine($"freeze: checkpoint read + CRC alone {Median(readMs):F0} ms (median; min {readMs.Min():F0}) = {mb / (Median(readMs) / 1000):F0} MB/s (best {mb / (readMs.Min() / 1000):F0})");

            // CRC-32C alone over a 16 MiB buffer in memory.
            var buf = new byte[16 << 20];
            new Random(1).NextBytes(buf);
            var crcMs = new double[runs];
            uint sink = 0;
            for (int i = -1; i < runs; i++)
            {
                var t = Stopwatch.StartNew();
                sink += Crc32C.Compute(buf);
                if (i >= 0) crcMs[i] = t.Elapsed.TotalMilliseconds;
            }
            Console.WriteLine($"freeze: CRC-32C over 16 MiB in memory {buf.Length / 1e6 / (crcMs.Min() / 1000):F0} MB/s (best of {runs}; median {buf.Length / 1e6 / (Median(crcMs) / 1000):F0}) [{sink:x8}]");

            // Peak memory: one freeze in a fresh process.
            File.Delete(Path.Combine(dir, "frozen-child.pb"));
            var (peak, baseline, allocated, coldMs) = RunChild(graph, Path.Combine(dir, "model"), Path.Combine(dir, "frozen-child.pb"));
            // Wall time swings with machine load (other processes); CPU time (user + system, all threads) much less.
            Console.WriteLine($"freeze: CPU time {Median(cpuMs):F0} ms per freeze (median; min {cpuMs.Min():F0}) = {mb / (Median(cpuMs) / 1000):F0} MB/s of weights per CPU-second (best {mb / (cpuMs.Min() / 1000):F0})");
            Console.WriteLine($"freeze: peak working set {peak / 1e6:F0} MB = {(double)peak / weightBytes:F2}x weight bytes"
                + $" (process before freezing {baseline / 1e6:F0} MB, so +{(double)(peak - baseline) / weightBytes:F2}x; managed allocations {allocated / 1e6:F0} MB = {(double)allocated / weightBytes:F2}x)");
            Console.WriteLine($"freeze: one-shot freeze in that fresh process (cold JIT, like one Export-FrozenGraph call): {coldMs:F0} ms = {mb / (coldMs / 1000):F0} MB/s");
            Console.WriteLine($"freeze: load average after {LoadAverage()}");
        }
        finally
        {
            if (keep is null && Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
        return 0;
    }

    private static (long Peak, long Baseline, long Allocated, double Ms) RunChild(string graph, string checkpoint, string output)
    {
        string exe = Environment.ProcessPath ?? "dotnet";
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(exe).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
            psi.ArgumentList.Add(typeof(FreezeBench).Assembly.Location);
        foreach (var a in new[] { "freeze", "--child", graph + "|" + checkpoint, output }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start the child process");
        string text = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        var line = text.Split('\n').FirstOrDefault(l => l.StartsWith("PEAK ", StringComparison.Ordinal))
            ?? throw new InvalidOperationException($"child process failed (exit {p.ExitCode}): {text}");
        var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return (long.Parse(f[1], CultureInfo.InvariantCulture), long.Parse(f[2], CultureInfo.InvariantCulture), long.Parse(f[3], CultureInfo.InvariantCulture),
            double.Parse(f[4], CultureInfo.InvariantCulture));
    }

    private static int Child(string graphAndCheckpoint, string output)
    {
        var parts = graphAndCheckpoint.Split('|');
        using var self = Process.GetCurrentProcess();
        self.Refresh();
        long baseline = self.WorkingSet64;
        long before = GC.GetTotalAllocatedBytes(precise: true);
        var sw = Stopwatch.StartNew();
        using var result = GraphFreezer.FreezeGraph(parts[0], parts[1], Options);
        GraphFreezer.Write(result, output, asText: false, overwrite: true);
        double ms = sw.Elapsed.TotalMilliseconds;
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        self.Refresh();
        Console.WriteLine(FormattableString.Invariant($"PEAK {self.PeakWorkingSet64} {baseline} {allocated} {ms:F0}"));
        GC.KeepAlive(result);
        return 0;
    }

    /// <summary>This round's own output file: "frozen.pb" → "frozen.3.pb".</summary>
    private static string Fresh(string path, int round) => Path.ChangeExtension(path, (round + 1).ToString(CultureInfo.InvariantCulture) + Path.GetExtension(path));

    private static double[] Ratios(double[] a, double[] b) => a.Zip(b, (x, y) => x / y).ToArray();

    private static double Median(double[] a)
    {
        var s = (double[])a.Clone();
        Array.Sort(s);
        return s[s.Length / 2];
    }

    private static string LoadAverage()
    {
        try { return string.Join(" ", File.ReadAllText("/proc/loadavg").Split(' ').Take(3)); }
        catch (IOException) { return "n/a"; }
        catch (UnauthorizedAccessException) { return "n/a"; }
    }
}
