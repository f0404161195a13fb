using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Tests.Interop;

/// <summary>One output of a real TFLite runtime, as its validator script printed it.</summary>
public sealed record RuntimeOutput(string Name, string DType, int[] Shape, double[] Data, double[]? Dequantized);

/// <summary>
/// The real TFLite runtimes of ../shared/validators (used in place, never copied): the WASM build of
/// TFLite 2.13, TFLite 2.2's C library, and Arm NN 20.08's TfLite parser. Each is "available" only when
/// its script and its installed package are present (VALIDATORS_DIR, default ~/.cache/modelops-validators).
/// The one helper every test uses to run a model in them: inputs by position or by input name.
/// </summary>
public static class TfLiteRuntimes
{
    public const string Wasm = "tflite-wasm";
    public const string C22 = "tflite-c";
    public const string ArmNN = "armnn";

    /// <summary>The op set of Arm NN 20.08's TfLite parser (from the validators' README).</summary>
    public static readonly HashSet<string> ArmNNOps = new(StringComparer.Ordinal)
    {
        "ADD", "AVERAGE_POOL_2D", "BATCH_TO_SPACE_ND", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "DEQUANTIZE", "DIV", "EXP",
        "FULLY_CONNECTED", "HARD_SWISH", "L2_NORMALIZATION", "LEAKY_RELU", "LOGISTIC", "MAX_POOL_2D", "MAXIMUM", "MEAN", "MINIMUM", "MUL",
        "NEG", "PACK", "PAD", "QUANTIZE", "RELU", "RELU6", "RESHAPE", "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "SLICE", "SOFTMAX",
        "SPACE_TO_BATCH_ND", "SPLIT", "SPLIT_V", "SQUEEZE", "STRIDED_SLICE", "SUB", "TANH", "TRANSPOSE", "TRANSPOSE_CONV", "UNPACK",
    };

    public static readonly string? ScriptsDir = Locate();

    public static string InstallDir =>
        Environment.GetEnvironmentVariable("VALIDATORS_DIR") is { Length: > 0 } d ? d
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "modelops-validators");

    /// <summary>Null when the runtime can run here, else why not (a skip reason).</summary>
    public static string? Unavailable(string runtime)
    {
        if (ScriptsDir is null) return "The validators folder is absent (set MODELOPS_VALIDATORS or place it at <repo>/../shared/validators).";
        return runtime switch
        {
            Wasm when !Directory.Exists(Path.Combine(InstallDir, "tfjs-tflite", "node_modules", "@tensorflow", "tfjs-tflite")) || !OnPath("node")
                => $"TFLite WASM is not installed ({InstallDir}/tfjs-tflite); run setup_validators.sh tflite-wasm.",
            C22 when !File.Exists(Path.Combine(InstallDir, "tflite-c", "libtensorflowlite_c.so")) || !OnPath("python3")
                => $"The TFLite 2.2 C library is not installed ({InstallDir}/tflite-c); run setup_validators.sh tflite-c.",
            ArmNN when !File.Exists("/usr/include/armnnTfLiteParser/ITfLiteParser.hpp") || !OnPath("g++")
                => "Arm NN's TfLite parser is not installed; run setup_validators.sh armnn.",
            _ => null,
        };
    }

    /// <summary>True when the runtime can run here (see <see cref="Unavailable"/> for why not).</summary>
    public static bool Available(string runtime) => Unavailable(runtime) is null;

    /// <summary>Runs a .tflite on the given inputs (by input index) and returns its outputs in order.</summary>
    public static IReadOnlyList<RuntimeOutput> Run(string runtime, string modelPath, IReadOnlyList<Tensor> inputs, int timeoutMs = 600_000) =>
        Run(runtime, modelPath, inputs.Select((t, i) => (Key: i.ToString(CultureInfo.InvariantCulture), Value: t)).ToList(), timeoutMs);

    /// <summary>Runs a .tflite on inputs keyed by input name or by position ("0", "1" ...); outputs in order.</summary>
    public static IReadOnlyList<RuntimeOutput> Run(string runtime, string modelPath, IReadOnlyDictionary<string, Tensor> inputs, int timeoutMs = 600_000) =>
        Run(runtime, modelPath, inputs.Select(kv => (kv.Key, kv.Value)).ToList(), timeoutMs);

    private static IReadOnlyList<RuntimeOutput> Run(string runtime, string modelPath, IReadOnlyList<(string Key, Tensor Value)> inputs, int timeoutMs)
    {
        string dir = ScriptsDir ?? throw new InvalidOperationException("validators absent");
        string json = Path.Combine(Path.GetTempPath(), $"modelops-in-{Guid.NewGuid():N}.json");
        File.WriteAllText(json, InputsJson(inputs));
        try
        {
            var (exe, args) = runtime switch
            {
                Wasm => ("node", new[] { Path.Combine(dir, "tfjs_tflite_run.js"), modelPath, json }),
                C22 => ("python3", new[] { Path.Combine(dir, "tflite_c_run.py"), modelPath, json }),
                ArmNN => ("bash", new[] { Path.Combine(dir, "armnn_tflite_run.sh"), modelPath, json }),
                _ => throw new ArgumentException(runtime),
            };
            var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var a in args) psi.ArgumentList.Add(a);
            psi.Environment["VALIDATORS_DIR"] = InstallDir;
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (!p.WaitForExit(timeoutMs)) { p.Kill(true); throw new TimeoutException($"{runtime} did not finish in {timeoutMs / 1000} s."); }
            string o = stdout.Result, e = stderr.Result;
            if (p.ExitCode != 0) throw new RuntimeFailedException(runtime, $"{runtime} failed (exit {p.ExitCode}) on {Path.GetFileName(modelPath)}: {Tail(e)}");
            return Parse(o.Trim().Split('\n').Last());
        }
        finally
        {
            File.Delete(json);
        }
    }

    private static string Tail(string s) => s.Length > 1500 ? s[^1500..] : s;

    private static string InputsJson(IReadOnlyList<(string Key, Tensor Value)> inputs)
    {
        var sb = new StringBuilder("{");
        for (int i = 0; i < inputs.Count; i++)
        {
            var t = inputs[i].Value;
            if (i > 0) sb.Append(',');
            sb.Append(JsonSerializer.Serialize(inputs[i].Key)).Append(":{\"shape\":[").Append(string.Join(",", t.Shape)).Append("],\"data\":[");
            for (int k = 0; k < t.Length; k++)
            {
                if (k > 0) sb.Append(',');
                sb.Append(t.DType.IsFloating() ? ((float)t.GetDouble(k)).ToString("R", CultureInfo.InvariantCulture) : t.GetInt64(k).ToString(CultureInfo.InvariantCulture));
            }
            sb.Append("]}");
        }
        return sb.Append('}').ToString();
    }

    private static IReadOnlyList<RuntimeOutput> Parse(string line)
    {
        using var doc = JsonDocument.Parse(line);
        var list = new List<RuntimeOutput>();
        foreach (var o in doc.RootElement.GetProperty("outputs").EnumerateArray())
        {
            double[] Nums(JsonElement a) => a.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.Number ? x.GetDouble()
                : x.ValueKind == JsonValueKind.True ? 1 : x.ValueKind == JsonValueKind.False ? 0 : double.NaN).ToArray();
            list.Add(new RuntimeOutput(
                o.GetProperty("name").GetString() ?? "",
                o.GetProperty("dtype").GetString() ?? "",
                o.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
                Nums(o.GetProperty("data")),
                o.TryGetProperty("dequantized", out var dq) ? Nums(dq) : null));
        }
        return list;
    }

    private static bool OnPath(string exe) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator).Any(d => File.Exists(Path.Combine(d, exe)));

    private static string? Locate()
    {
        string? env = Environment.GetEnvironmentVariable("MODELOPS_VALIDATORS");
        if (!string.IsNullOrEmpty(env)) return Directory.Exists(env) ? Path.GetFullPath(env) : null;
        if (Corpus.Root is not null)
        {
            string sibling = Path.GetFullPath(Path.Combine(Corpus.Root, "..", "validators"));
            if (Directory.Exists(sibling)) return sibling;
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "ModelOps.sln")) || Directory.Exists(Path.Combine(dir.FullName, ".git")) || File.Exists(Path.Combine(dir.FullName, ".git")))
            {
                string candidate = Path.GetFullPath(Path.Combine(dir.FullName, "..", "shared", "validators"));
                return Directory.Exists(candidate) ? candidate : null;
            }
        }
        return null;
    }
}

public sealed class RuntimeFailedException(string runtime, string message) : Exception(message)
{
    public string Runtime { get; } = runtime;
}
