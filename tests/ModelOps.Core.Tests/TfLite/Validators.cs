using System.Diagnostics;
using System.Text.Json;

namespace ModelOps.Core.Tests.TfLite;

/// <summary>
/// Real TFLite runtimes from ../shared/validators: the WASM build of TFLite 2.13 (node) and TFLite 2.2's C library
/// (python ctypes). Tests skip with <see cref="Missing"/> where they are not installed.
/// </summary>
public static class Validators
{
    public static readonly string? Dir = Locate();
    private static readonly string Cache = Environment.GetEnvironmentVariable("VALIDATORS_DIR")
        ?? System.IO.Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "modelops-validators");

    public static bool WasmAvailable => Dir is not null && Directory.Exists(System.IO.Path.Combine(Cache, "tfjs-tflite", "node_modules")) && Which("node") is not null;
    public static bool CAvailable => Dir is not null && File.Exists(System.IO.Path.Combine(Cache, "tflite-c", "libtensorflowlite_c.so")) && Which("python3") is not null;

    public const string Missing = "The TFLite validators are not installed (bash ../shared/validators/setup_validators.sh tflite-wasm tflite-c).";

    /// <summary>Runs the model with TFLite-WASM; returns output name → flat data as doubles.</summary>
    public static IReadOnlyList<(string Name, double[] Data)> RunWasm(string model, IReadOnlyDictionary<string, (double[] Data, int[] Shape)> inputs) =>
        Run("node", System.IO.Path.Combine(Dir!, "tfjs_tflite_run.js"), model, inputs);

    public static IReadOnlyList<(string Name, double[] Data)> RunC(string model, IReadOnlyDictionary<string, (double[] Data, int[] Shape)> inputs) =>
        Run("python3", System.IO.Path.Combine(Dir!, "tflite_c_run.py"), model, inputs);

    /// <summary>Wall time of one WASM run of the model as the script reports it, or of the whole process.</summary>
    private static IReadOnlyList<(string Name, double[] Data)> Run(string exe, string script, string model, IReadOnlyDictionary<string, (double[] Data, int[] Shape)> inputs)
    {
        string json = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"tflrun-{Guid.NewGuid():N}.json");
        File.WriteAllText(json, JsonSerializer.Serialize(inputs.ToDictionary(kv => kv.Key, kv => new { data = kv.Value.Data, shape = kv.Value.Shape })));
        try
        {
            var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            psi.ArgumentList.Add(script);
            psi.ArgumentList.Add(model);
            psi.ArgumentList.Add(json);
            using var p = Process.Start(psi)!;
            var stderr = p.StandardError.ReadToEndAsync();
            string stdout = p.StandardOutput.ReadToEnd();
            p.WaitForExit();
            if (p.ExitCode != 0) throw new InvalidOperationException($"{exe} {script} failed ({p.ExitCode}): {stderr.Result}");
            string line = stdout.Split('\n').Last(l => l.TrimStart().StartsWith('{'));
            using var doc = JsonDocument.Parse(line);
            return doc.RootElement.GetProperty("outputs").EnumerateArray()
                .Select(o => (o.GetProperty("name").GetString()!, o.GetProperty("data").EnumerateArray().Select(Flatten).SelectMany(x => x).ToArray()))
                .ToList();
        }
        finally { File.Delete(json); }
    }

    private static IEnumerable<double> Flatten(JsonElement e) =>
        e.ValueKind == JsonValueKind.Array ? e.EnumerateArray().SelectMany(Flatten) : new[] { e.GetDouble() };

    private static string? Locate()
    {
        string? env = Environment.GetEnvironmentVariable("MODELOPS_VALIDATORS");
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? env : null;
        if (Corpus.Root is null) return null;
        string d = System.IO.Path.GetFullPath(System.IO.Path.Combine(Corpus.Root, "..", "validators"));
        return File.Exists(System.IO.Path.Combine(d, "tfjs_tflite_run.js")) ? d : null;
    }

    private static string? Which(string exe) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator)
            .Select(p => System.IO.Path.Combine(p, exe)).FirstOrDefault(File.Exists);
}
