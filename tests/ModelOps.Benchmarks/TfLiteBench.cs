using System.Diagnostics;
using ModelOps.Core.Runtime.TfLite;
using ModelOps.Core.Tensors;

namespace ModelOps.Benchmarks;

/// <summary>
/// Latency of the managed TFLite interpreter on the quantized MobileNet and person_detection, next to real TFLite
/// (the WASM build of TFLite 2.13 from ../shared/validators) in the same run. The WASM runner has no timer of its
/// own, so its figure is the wall time of a process running the model minus that of a process running a one-op
/// model: load + one inference, an upper bound on its inference latency.
/// </summary>
public static class TfLiteBench
{
    public static void Run(int runs)
    {
        string? corpus = Environment.GetEnvironmentVariable("MODELOPS_CORPUS") ?? FindUp("shared/corpus");
        if (corpus is null) { Console.WriteLine("TFLite: corpus absent (set MODELOPS_CORPUS), skipped"); return; }
        string tf = Path.Combine(corpus, "tf");
        var models = new (string Name, string Path, Tensor Input)[]
        {
            ("mobilenet_v1_0.25_224_quant (uint8)", Path.Combine(tf, "tflite--tflite-support-mobilenet_v1_0.25_224_quant", "mobilenet_v1_0.25_224_quant.tflite"),
                Tensor.Create(File.ReadAllBytes(Path.Combine(tf, "tflite--tflite-support-mobilenet_v1_0.25_224_quant", "burger-224.rgb")), 1, 224, 224, 3)),
            ("person_detect (int8)", Path.Combine(tf, "tflite--tflite-micro-person_detection", "person_detect.tflite"),
                Tensor.Create(File.ReadAllBytes(Path.Combine(tf, "tflite--tflite-micro-person_detection", "testdata", "person.tobytes.raw")).Select(b => unchecked((sbyte)b)).ToArray(), 1, 96, 96, 1)),
        };
        string? validators = Path.GetFullPath(Path.Combine(corpus, "..", "validators"));
        string baseline = Path.Combine(tf, "tflite--tfjs-tflite-add4", "add4.tflite");
        bool haveWasm = File.Exists(Path.Combine(validators, "tfjs_tflite_run.js"));
        if (haveWasm) Wasm(validators, baseline); // warm the file cache and node
        double? wasmBase = haveWasm ? Wasm(validators, baseline) : null;
        foreach (var (name, path, input) in models)
        {
            using var s = TfLiteSession.Open(path);
            var feeds = new Dictionary<string, Tensor> { [s.Inputs[0].Name] = input };
            s.Run(feeds);
            var times = new double[runs];
            for (int i = 0; i < runs; i++) { var sw = Stopwatch.StartNew(); s.Run(feeds); times[i] = sw.Elapsed.TotalMilliseconds; }
            Array.Sort(times);
            string wasm = "TFLite-WASM: n/a";
            if (wasmBase is { } b0 && Wasm(validators, path) is { } w)
                wasm = w - b0 > 0 ? $"TFLite-WASM 2.13 load+1 run ≈ {w - b0,8:F1} ms (process {w:F0} ms − one-op baseline {b0:F0} ms)" : $"TFLite-WASM 2.13: below process-timing noise (process {w:F0} ms, baseline {b0:F0} ms)";
            else if (wasmBase is not null) wasm = "TFLite-WASM: refuses the model";
            Console.WriteLine($"TFLite {name,-38} managed median {times[runs / 2],8:F1} ms   {wasm}");
        }
    }

    /// <summary>Median wall time (ms) of 3 runs of the WASM runner with zero inputs, or null when it fails.</summary>
    private static double? Wasm(string dir, string model)
    {
        var t = new List<double>();
        for (int i = 0; i < 3; i++)
        {
            var psi = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(Path.Combine(dir, "tfjs_tflite_run.js"));
            psi.ArgumentList.Add(model);
            psi.ArgumentList.Add("--zeros");
            var sw = Stopwatch.StartNew();
            try
            {
                using var p = Process.Start(psi)!;
                p.StandardError.ReadToEndAsync();
                p.StandardOutput.ReadToEnd();
                p.WaitForExit();
                if (p.ExitCode != 0) return null;
            }
            catch (System.ComponentModel.Win32Exception) { return null; }
            t.Add(sw.Elapsed.TotalMilliseconds);
        }
        t.Sort();
        return t[1];
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
