using System.Diagnostics;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Formats;
using ModelOps.Core.Runtime;

namespace ModelOps.Benchmarks;

/// <summary>
/// The memory a model costs a process, both engines measured alike (Linux): a fresh child process per engine and model
/// loads the inputs, sets its peak resident set back to the current one (/proc/self/clear_refs), then loads the model
/// (the managed engine: opens the frozen graph's session as Invoke-TfInference does; ONNX Runtime: opens an
/// InferenceSession on the .onnx file converted beforehand, one thread) and runs it four times. The figure is the peak
/// resident set (VmHWM) above the level before the model: everything the model brought, data and the code pages each
/// engine touched for it, as an operating system sees it. The heap figures of the `engines` task count the managed
/// engine's data alone.
/// </summary>
internal static class RssBench
{
    private const int Runs = 4;

    public static int Run()
    {
        if (!OperatingSystem.IsLinux())
        {
            Console.WriteLine("Resident-set comparison skipped: it reads /proc (Linux only).");
            return 0;
        }
        var models = EngineBench.ModelFiles().ToList();
        if (models.Count == 0)
        {
            Console.WriteLine("Resident-set comparison skipped: the corpus is absent (set MODELOPS_CORPUS).");
            return 0;
        }
        Console.WriteLine($"Peak resident set a model adds to a fresh process: load + {Runs} runs at batch 1, 1 thread (VmHWM above the level before the model).");
        Console.WriteLine($"{"model",-26} {"weights MB",10} {"budget MB",10} {"managed MB",10} {"ORT MB",8} {"ratio",6} {"managed/budget",14} {"ORT/budget",10}");
        string tmp = Path.Combine(Path.GetTempPath(), "modelops-rss-" + Environment.ProcessId);
        Directory.CreateDirectory(tmp);
        try
        {
            foreach (var m in models)
            {
                var graph = ModelReader.ReadGraphDef(m.GraphPath);
                long weights = graph.Node.Where(n => n.Op == "Const" && n.Attr.ContainsKey("value")).Sum(n => (long)n.Attr["value"].Tensor.CalculateSize());
                double budget = 2.0 * weights + EngineBench.LargestTwoActivations(graph, m);
                string onnx = Path.Combine(tmp, m.Name.Replace('/', '_') + ".onnx");
                File.WriteAllBytes(onnx, OnnxConverter.Convert(graph, new OnnxConversionOptions { Outputs = m.Outputs }).Model.ToByteArray());
                double managed = Child("managed", m.Name, onnx), ort = Child("ort", m.Name, onnx);
                Console.WriteLine($"{m.Name,-26} {weights / 1e6,10:F2} {budget / 1e6,10:F2} {managed / 1e6,10:F2} {ort / 1e6,8:F2} {managed / ort,6:F2} {managed / budget,14:F2} {ort / budget,10:F2}");
            }
        }
        finally
        {
            Directory.Delete(tmp, recursive: true);
        }
        return 0;
    }

    /// <summary>Runs this program as a child measuring one engine on one model; its bytes of peak resident-set growth.</summary>
    private static double Child(string engine, string model, string onnx)
    {
        var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        if (!Environment.ProcessPath!.EndsWith("ModelOps.Benchmarks", StringComparison.Ordinal)) psi.ArgumentList.Add(typeof(RssBench).Assembly.Location);
        foreach (var a in new[] { "rss-child", engine, model, onnx }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        string output = p.StandardOutput.ReadToEnd();
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("rss ", StringComparison.Ordinal));
        if (p.ExitCode != 0 || line is null) throw new InvalidOperationException($"The {engine} child for {model} failed ({p.ExitCode}): {error}{output}");
        return double.Parse(line[4..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>The child: load the inputs, reset the peak, load and run the model, print the growth of the peak.</summary>
    public static int ChildMain(string engine, string model, string onnx)
    {
        var m = EngineBench.ModelFiles().Single(f => f.Name == model);
        var feeds = m.Feeds();
        // ONNX Runtime's inputs, keyed as the converter names them: by TensorFlow tensor ("x:0"), where the corpus may name a node.
        var ortInputs = new Dictionary<string, OrtValue>(StringComparer.Ordinal);
        if (engine == "ort")
        {
            _ = OrtEnv.Instance(); // the library and its environment belong to the process, not to the model
            foreach (var (name, t) in feeds)
                ortInputs[name.Contains(':') ? name : name + ":0"] = OrtValue.CreateTensorValueFromMemory(t.As<float>(), t.Shape.Select(d => (long)d).ToArray());
        }
        GC.Collect();
        GC.WaitForPendingFinalizers();
        GC.Collect();
        long before = Status("VmRSS");
        File.WriteAllText("/proc/self/clear_refs", "5"); // VmHWM := VmRSS
        if (engine == "managed")
        {
            using var s = InferenceSessions.Open(m.GraphPath, m.Outputs, intraOpThreads: 1, releaseGraphConstants: true); // as the cmdlet opens it
            for (int i = 0; i < Runs; i++) s.Run(feeds, m.Outputs);
        }
        else
        {
            using var so = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1 };
            using var s = new InferenceSession(onnx, so);
            var names = s.InputMetadata.Keys.ToArray();
            var values = names.Select(n => ortInputs.TryGetValue(n, out var v) ? v
                : throw new InvalidOperationException($"The converted model's input '{n}' has no feed (fed: {string.Join(", ", ortInputs.Keys)}).")).ToArray();
            var outs = s.OutputMetadata.Keys.ToArray();
            using var ro = new RunOptions();
            for (int i = 0; i < Runs; i++)
            {
                using var r = s.Run(ro, names, values, outs);
            }
        }
        long peak = Status("VmHWM");
        Console.WriteLine(FormattableString.Invariant($"rss {(peak - before) * 1024}"));
        foreach (var v in ortInputs.Values) v.Dispose();
        return 0;
    }

    /// <summary>A field of /proc/self/status in kB.</summary>
    private static long Status(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
        throw new InvalidOperationException($"/proc/self/status has no {field}.");
    }
}
