using System.Diagnostics;
using System.Text.Json;
using Google.FlatBuffers;
using ModelOps.Core.Runtime;
using ModelOps.Core.Runtime.TfLite;
using ModelOps.Core.Tensors;

namespace ModelOps.Benchmarks;

/// <summary>
/// Latency of the managed TFLite interpreter on the quantized MobileNet (uint8) and person_detection (int8), next to real
/// TFLite in the same run: the WASM build of TFLite 2.13 (@tensorflow/tfjs-tflite, single thread, SIMD, XNNPACK) that
/// ../shared/validators/setup_validators.sh installs. tflite_wasm_time.js loads the model once and times each invocation
/// inside node, so node start-up and model load are not in its figures. Both sides: warm-up (ours: at least 2 s, so that
/// tiered JIT has finished), then N timed runs on the
/// same input; reported are the median and the minimum wall time per inference and the median process CPU time per
/// inference (on a shared machine the wall time includes waits for a core), and ours ÷ TFLite for each.
/// </summary>
public static class TfLiteBench
{
    public static int Run(int runs, bool profile = false)
    {
        string? corpus = Environment.GetEnvironmentVariable("MODELOPS_CORPUS") ?? FindUp("shared/corpus");
        if (corpus is null) { Console.WriteLine("TFLite: corpus absent (set MODELOPS_CORPUS), skipped"); return 0; }
        string tf = Path.Combine(corpus, "tf");
        string mobilenetDir = Path.Combine(tf, "tflite--tflite-support-mobilenet_v1_0.25_224_quant");
        string personDir = Path.Combine(tf, "tflite--tflite-micro-person_detection");
        var models = new (string Name, string Path, string InputFile, Func<byte[], Tensor> Input)[]
        {
            ("mobilenet_v1_0.25_224_quant (uint8)", Path.Combine(mobilenetDir, "mobilenet_v1_0.25_224_quant.tflite"), Path.Combine(mobilenetDir, "burger-224.rgb"),
                b => Tensor.Create(b, 1, 224, 224, 3)),
            ("person_detect (int8)", Path.Combine(personDir, "person_detect.tflite"), Path.Combine(personDir, "testdata", "person.tobytes.raw"),
                b => Tensor.Create(b.Select(v => unchecked((sbyte)v)).ToArray(), 1, 96, 96, 1)),
        };
        string? why = WasmUnavailable();
        Console.WriteLine($"TFLite latency, {runs} timed runs after warm-up; ours = managed interpreter, TFLite = TFLite 2.13 WASM (1 thread){(why is null ? "" : $" — TFLite side skipped: {why}")}");
        string tmp = Path.Combine(Path.GetTempPath(), "modelops-tflbench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(tmp);
        try
        {
            foreach (var (name, path, inputFile, makeInput) in models)
            {
                if (!File.Exists(path)) { Console.WriteLine($"  {name}: {path} absent, skipped"); continue; }
                var ours = Managed(path, makeInput(File.ReadAllBytes(inputFile)), runs);
                Console.WriteLine($"  {name,-38} ours   wall median {ours.Median,8:F2} ms  min {ours.Min,8:F2} ms  CPU median {ours.Cpu,8:F2} ms");
                if (profile) Profile(path, makeInput(File.ReadAllBytes(inputFile)), runs);
                if (why is not null) continue;
                string wasmModel = WasmLoadableCopy(path, tmp, out string? patched);
                var (real, error) = Wasm(wasmModel, inputFile, runs);
                if (real is null) { Console.WriteLine($"  {"",-38} TFLite refuses the model: {error}"); continue; }
                Console.WriteLine($"  {"",-38} TFLite wall median {real.Median,8:F2} ms  min {real.Min,8:F2} ms  CPU median {real.Cpu,8:F2} ms  (load {real.Load:F0} ms, not counted){(patched is null ? "" : $"  [{patched}]")}");
                Console.WriteLine($"  {"",-38} ours ÷ TFLite: wall median ×{ours.Median / real.Median:F1}  min ×{ours.Min / real.Min:F1}  CPU ×{ours.Cpu / real.Cpu:F1}");
            }
        }
        finally { Directory.Delete(tmp, true); }
        return 0;
    }

    /// <summary>Wall time per op type (kernel calls timed by the session), as a share of the run: where the time goes.</summary>
    private static void Profile(string path, Tensor input, int runs)
    {
        var profile = new OpProfile();
        using var s = TfLiteSession.Open(path, new TfLiteSessionOptions { Profile = profile });
        var feeds = new Dictionary<string, Tensor> { [s.Inputs[0].Name] = input };
        var warm = Stopwatch.StartNew();
        while (warm.ElapsedMilliseconds < 2000) s.Run(feeds);
        profile.Reset(); // only the timed runs
        for (int i = 0; i < runs; i++) s.Run(feeds);
        double all = profile.TotalMs;
        foreach (var e in profile.Entries)
            Console.WriteLine($"  {"",-38}   {e.Op,-22} {e.TotalMs / runs,8:F2} ms/run  {100 * e.TotalMs / all,5:F1}%  ({e.Calls / runs} calls/run)");
    }

    private sealed record Timing(double Median, double Min, double Cpu, double Load);

    private static Timing Managed(string path, Tensor input, int runs)
    {
        using var s = TfLiteSession.Open(path);
        var feeds = new Dictionary<string, Tensor> { [s.Inputs[0].Name] = input };
        // Warm-up long enough for tiered JIT to reach its optimized code (call counting starts after a 100 ms quiet
        // period; three MobileNet runs finish before that and would time tier-0 kernels).
        var warm = Stopwatch.StartNew();
        for (int i = 0; i < 3 || warm.ElapsedMilliseconds < 2000; i++) s.Run(feeds);
        var wall = new double[runs];
        var cpu = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            var c0 = Environment.CpuUsage.TotalTime;
            var sw = Stopwatch.StartNew();
            s.Run(feeds);
            wall[i] = sw.Elapsed.TotalMilliseconds;
            cpu[i] = (Environment.CpuUsage.TotalTime - c0).TotalMilliseconds;
        }
        return new Timing(Median(wall), wall.Min(), Median(cpu), 0);
    }

    private static double Median(double[] a)
    {
        var s = (double[])a.Clone();
        Array.Sort(s);
        return s[s.Length / 2];
    }

    private static (Timing? Timing, string? Error) Wasm(string model, string inputFile, int runs)
    {
        var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "tflite_wasm_time.js"));
        psi.ArgumentList.Add(model);
        psi.ArgumentList.Add(runs.ToString(System.Globalization.CultureInfo.InvariantCulture));
        psi.ArgumentList.Add(inputFile);
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
        {
            var lines = err.Result.Split('\n').Where(l => l.StartsWith("ERROR", StringComparison.Ordinal) || l.StartsWith("error", StringComparison.Ordinal)).Take(2);
            return (null, string.Join(" / ", lines));
        }
        using var doc = JsonDocument.Parse(stdout.Split('\n').Last(l => l.TrimStart().StartsWith('{')));
        var r = doc.RootElement;
        return (new Timing(r.GetProperty("median_ms").GetDouble(), r.GetProperty("min_ms").GetDouble(), r.GetProperty("median_cpu_ms").GetDouble(), r.GetProperty("load_ms").GetDouble()), null);
    }

    /// <summary>
    /// TFLite 2.13 refuses person_detect.tflite: its rank-1 conv biases say quantized_dimension 3 (TFLite Micro, which the
    /// model was made for, ignores that). The WASM side times a copy with those dimensions set to 0, which changes nothing
    /// else (each of these tensors has one scale per element of its only dimension, so axis 0 is what 3 meant).
    /// </summary>
    private static string WasmLoadableCopy(string path, string dir, out string? note)
    {
        note = null;
        var bytes = File.ReadAllBytes(path);
        var bb = new ByteBuffer(bytes);
        // Walk Model → subgraphs → tensors → quantization with the flatbuffer's own offsets, and overwrite the
        // quantized_dimension field in place where it points past the tensor's rank (field ids from schema.fbs).
        static Table Field(Table t, int vtableOffset) => new(t.__indirect(t.__offset(vtableOffset) + t.bb_pos), t.bb);
        var root = new Table(bb.GetInt(bb.Position) + bb.Position, bb);
        int fixedCount = 0;
        int sgo = root.__offset(8); // Model.subgraphs
        for (int g = 0, ng = sgo == 0 ? 0 : root.__vector_len(sgo); g < ng; g++)
        {
            var sg = new Table(root.__indirect(root.__vector(sgo) + g * 4), bb);
            int to = sg.__offset(4); // SubGraph.tensors
            for (int i = 0, nt = to == 0 ? 0 : sg.__vector_len(to); i < nt; i++)
            {
                var t = new Table(sg.__indirect(sg.__vector(to) + i * 4), bb);
                int shapeO = t.__offset(4), quantO = t.__offset(12); // Tensor.shape, Tensor.quantization
                if (quantO == 0) continue;
                int rank = shapeO == 0 ? 0 : t.__vector_len(shapeO);
                var q = Field(t, 12);
                int qd = q.__offset(16); // QuantizationParameters.quantized_dimension
                if (qd != 0 && rank > 0 && bb.GetInt(q.bb_pos + qd) >= rank)
                {
                    bb.PutInt(q.bb_pos + qd, 0);
                    fixedCount++;
                }
            }
        }
        if (fixedCount == 0) return path;
        string copy = Path.Combine(dir, Path.GetFileName(path));
        File.WriteAllBytes(copy, bytes);
        note = $"copy with quantized_dimension 0 on {fixedCount} rank-1 tensors";
        return copy;
    }

    private static string? WasmUnavailable()
    {
        string install = Environment.GetEnvironmentVariable("TFJS_TFLITE_DIR")
            ?? Path.Combine(Environment.GetEnvironmentVariable("VALIDATORS_DIR") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "modelops-validators"), "tfjs-tflite");
        if (!Directory.Exists(Path.Combine(install, "node_modules", "@tensorflow", "tfjs-tflite"))) return $"@tensorflow/tfjs-tflite is not installed in {install} (bash ../shared/validators/setup_validators.sh tflite-wasm)";
        bool node = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(d => File.Exists(Path.Combine(d, "node")));
        return node ? null : "node is not on PATH";
    }

    private static string? FindUp(string rel)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string c = Path.Combine(d.FullName, rel);
            if (Directory.Exists(c)) return c;
            string c2 = Path.Combine(d.FullName, "..", rel);
            if (Directory.Exists(c2)) return Path.GetFullPath(c2);
        }
        return null;
    }
}
