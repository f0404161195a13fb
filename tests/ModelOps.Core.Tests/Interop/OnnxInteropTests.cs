using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Google.Protobuf;
using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Npy;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.Onnx;
using ModelOps.Core.Samples;
using ModelOps.Core.Tensors;
using Xunit;
using Xunit.Abstractions;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Tests.Interop;

/// <summary>
/// ONNX export proven against independent consumers: every tfjs-human corpus model converts, passes
/// the ONNX checker (python3-onnx: full check + strict shape inference) and reproduces its golden
/// outputs on ONNX Runtime within 1e-4·max(1, max|golden|).
/// </summary>
public sealed class OnnxInteropTests
{
    private readonly ITestOutputHelper _out;

    public OnnxInteropTests(ITestOutputHelper output) { _out = output; }

    public static IEnumerable<object[]> HumanModels()
    {
        string? dir = Corpus.Root is null ? null : Path.Combine(Corpus.Root, "tfjs-human");
        if (dir is null || !Directory.Exists(dir)) { yield return new object[] { "" }; yield break; }
        foreach (var d in Directory.GetDirectories(dir).OrderBy(d => d, StringComparer.Ordinal))
            if (File.Exists(Path.Combine(d, "model.pb"))) yield return new object[] { Path.GetFileName(d) };
    }

    [SkippableTheory]
    [MemberData(nameof(HumanModels))]
    public void TfjsHumanModel_ConvertsChecksAndReproducesGoldenOutputs(string model)
    {
        Skip.If(model.Length == 0, Corpus.Missing);
        string dir = Corpus.Path("tfjs-human", model);
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "meta.json")));
        var graph = ModelReader.ReadGraphDef(Path.Combine(dir, "model.pb"));
        var outputs = meta.RootElement.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()!).ToList();
        bool controlFlow = meta.RootElement.GetProperty("graph").GetProperty("has_control_flow").GetBoolean();
        var options = new OnnxConversionOptions { Outputs = outputs };

        if (controlFlow)
        {
            // TF1 while loops (Enter/Exit/Merge/Switch/NextIteration) and TensorArrays have no lowering: listed, with counts.
            var ex = Assert.Throws<ModelOpsException>(() => OnnxConverter.Convert(graph, options));
            Assert.Equal(OnnxErrorIds.UnsupportedOps, ex.ErrorId);
            Assert.Contains("Enter x", ex.Message);
            _out.WriteLine(ex.Message);
            return;
        }

        var sw = Stopwatch.StartNew();
        var result = OnnxConverter.Convert(graph, options);
        _out.WriteLine($"{model}: {result.TfNodeCount} TF nodes -> {result.OnnxNodeCount} ONNX nodes in {sw.ElapsedMilliseconds} ms; " +
            $"transposes inserted {result.TransposesInserted}, left {result.TransposesLeft}; ops {string.Join(", ", result.OpHistogram.Select(kv => $"{kv.Key}:{kv.Value}"))}");
        byte[] bytes = result.ToByteArray();

        OnnxChecker.AssertValid(bytes, model, _out);

        var feeds = new Dictionary<string, Tensor>();
        foreach (var input in meta.RootElement.GetProperty("inputs").EnumerateArray())
            feeds[input.GetProperty("name").GetString()!] = NpyFile.Read(Path.Combine(dir, input.GetProperty("file").GetString()!));
        using var session = new OnnxSession(bytes);
        var got = session.Run(feeds, outputs);
        foreach (var output in meta.RootElement.GetProperty("outputs").EnumerateArray())
        {
            string name = output.GetProperty("name").GetString()!;
            var golden = NpyFile.Read(Path.Combine(dir, output.GetProperty("file").GetString()!));
            double err = AssertClose(golden, got[name], $"{model} {name}");
            _out.WriteLine($"  {name} {golden}: max |error| {err:G3}");
        }
    }

    /// <summary>tf2onnx's own benchmark graphs (TF 1.x, 2018), with the ramp input of its manifest.</summary>
    [SkippableTheory]
    [InlineData("fc-layers")]
    [InlineData("ae0")]
    public void Tf2OnnxBenchGraph_MatchesReference(string model)
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string dir = Corpus.Path("tf", "frozen--tf2onnx-benchtf", model);
        Skip.IfNot(File.Exists(Path.Combine(dir, "frozen.pb")), $"{dir} is absent.");
        var result = OnnxConverter.ConvertFile(Path.Combine(dir, "frozen.pb"), new OnnxConversionOptions { Outputs = new[] { "output:0" } });
        OnnxChecker.AssertValid(result.ToByteArray(), model, _out);
        using var reference = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "DERIVED-reference-output.json")));
        var expected = reference.RootElement.GetProperty("values").EnumerateArray().Select(v => (float)v.GetDouble()).ToArray();
        var shape = reference.RootElement.GetProperty("shape").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        var ramp = Enumerable.Range(1, 784).Select(i => (float)i).ToArray();
        using var session = new OnnxSession(result.ToByteArray());
        Assert.Equal("batch", session.Inputs[0].Shape![0] < 0 ? "batch" : "fixed");
        var got = session.Run(new Dictionary<string, Tensor> { ["X"] = Tensor.Create(ramp, 1, 784) });
        double err = AssertClose(Tensor.Create(expected, shape), got["output:0"], model);
        _out.WriteLine($"{model}: max |error| {err:G3}");
    }

    [SkippableFact]
    public void SampleCnn_RunsWithSymbolicBatch_AndTransposesCancel()
    {
        var result = OnnxConverter.Convert(SampleModels.FrozenCnn());
        var input = result.Model.Graph.Input.Single();
        Assert.Equal("input:0", input.Name);
        Assert.Equal("batch", input.Type.TensorType.Shape.Dim[0].DimParam);
        // Conv and MaxPool run NCHW: one Transpose in, one before the NHWC flatten; the pair between them cancels.
        Assert.Equal(2, result.TransposesInserted / 2);
        Assert.Equal(2, result.TransposesLeft);
        Assert.Contains("Gemm", result.OpHistogram.Keys);
        using var session = new OnnxSession(result.ToByteArray());
        var x = SampleModels.CnnInput(batch: 3);
        var y = session.Run(new Dictionary<string, Tensor> { ["input"] = x })["probabilities:0"];
        Assert.Equal(new[] { 3, 5 }, y.Shape);
        var p = y.As<float>();
        for (int b = 0; b < 3; b++) Assert.Equal(1.0, p.Skip(b * 5).Take(5).Sum(), 5);
        OnnxChecker.AssertValid(result.ToByteArray(), "sample-cnn", _out);
    }

    [Fact]
    public void InputsAsNchw_TakesChannelsFirst_AndGivesTheSameResult()
    {
        var nhwc = OnnxConverter.Convert(SampleModels.FrozenCnn());
        var nchw = OnnxConverter.Convert(SampleModels.FrozenCnn(), new OnnxConversionOptions { InputsAsNchw = new[] { "input" } });
        var dims = nchw.Model.Graph.Input.Single().Type.TensorType.Shape.Dim;
        Assert.Equal(new long[] { 3, 8, 8 }, dims.Skip(1).Select(d => d.DimValue));
        Assert.Equal(nhwc.TransposesLeft - 1, nchw.TransposesLeft);
        var x = SampleModels.CnnInput(batch: 2);
        var xt = OnnxTensors.Transpose(x, new[] { 0, 3, 1, 2 });
        using var a = new OnnxSession(nhwc.ToByteArray());
        using var b = new OnnxSession(nchw.ToByteArray());
        var ya = a.Run(new Dictionary<string, Tensor> { ["input"] = x })["probabilities:0"].As<float>();
        var yb = b.Run(new Dictionary<string, Tensor> { [nchw.Inputs[0].Name] = xt })["probabilities:0"].As<float>();
        Assert.Equal(ya, yb);
    }

    [Theory]
    [InlineData(12)]
    [InlineData(22)]
    public void OpsetOutsideTheRange_IsRejected(int opset)
    {
        var ex = Assert.Throws<ModelOpsException>(() => OnnxConverter.Convert(SampleModels.FrozenCnn(), new OnnxConversionOptions { Opset = opset }));
        Assert.Equal(OnnxErrorIds.InvalidOpset, ex.ErrorId);
        Assert.Contains("13", ex.Message);
    }

    [Fact]
    public void UnsupportedOps_AreListedTogetherWithCounts()
    {
        var g = SampleModels.FrozenCnn();
        foreach (var n in g.Node.Where(n => n.Op is "Relu" or "Softmax")) n.Op = n.Op == "Relu" ? "MadeUpOp" : "OtherMadeUpOp";
        var extra = g.Node.First(n => n.Op == "MaxPool").Clone();
        var ex = Assert.Throws<ModelOpsException>(() => OnnxConverter.Convert(g));
        Assert.Equal(OnnxErrorIds.UnsupportedOps, ex.ErrorId);
        Assert.Contains("MadeUpOp x1 (e.g. 'conv/Relu')", ex.Message);
        Assert.Contains("OtherMadeUpOp x1 (e.g. 'probabilities')", ex.Message);
        _ = extra;
    }

    [Fact]
    public void LoweringFailure_NamesTheNode()
    {
        var g = SampleModels.FrozenCnn();
        g.Node.First(n => n.Op == "Conv2D").Attr["padding"] = Core.Graph.Attr.String("FANCY");
        var ex = Assert.Throws<ModelOpsException>(() => OnnxConverter.Convert(g));
        Assert.Equal(OnnxErrorIds.LoweringFailed, ex.ErrorId);
        Assert.Contains("'conv/Conv2D'", ex.Message);
        Assert.Contains("FANCY", ex.Message);
    }

    [Fact]
    public void ModelOnnxRuntimeRejects_GivesAStableError()
    {
        var result = OnnxConverter.Convert(SampleModels.FrozenCnn());
        result.Model.Graph.Node[0].OpType = "NoSuchOnnxOp";
        var ex = Assert.Throws<ModelOpsException>(() => new OnnxSession(result.ToByteArray()));
        Assert.Equal(OnnxErrorIds.ModelRejected, ex.ErrorId);
        Assert.Contains("NoSuchOnnxOp", ex.Message);
    }

    [Theory]
    [InlineData(13)]
    [InlineData(17)]
    [InlineData(18)]
    [InlineData(21)]
    public void EveryOpsetInRange_ProducesARunnableModel(int opset)
    {
        // Mean switches from an axes attribute to an axes input at opset 18.
        var b = new Core.Graph.GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, -1, 4, 4, 2);
        b.Const("axes", Tensor.Create(new[] { 1, 2 }, 2));
        b.Op("mean", "Mean", DataType.DtFloat, "x", "axes").Attr["keep_dims"] = Core.Graph.Attr.Bool(false);
        var result = OnnxConverter.Convert(b.Graph, new OnnxConversionOptions { Opset = opset });
        Assert.Equal(opset, result.Model.OpsetImport.Single().Version);
        var mean = result.Model.Graph.Node.Single(n => n.OpType == "ReduceMean");
        Assert.Equal(opset >= 18 ? 2 : 1, mean.Input.Count);
        using var s = new OnnxSession(result.ToByteArray());
        var x = Tensor.Create(Enumerable.Range(0, 64).Select(i => (float)i).ToArray(), 2, 4, 4, 2);
        var y = s.Run(new Dictionary<string, Tensor> { ["x"] = x })["mean:0"].As<float>();
        Assert.Equal(new[] { 15f, 16f, 47f, 48f }, y);
    }

    internal static double AssertClose(Tensor expected, Tensor actual, string what)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        double maxAbs = 0, maxErr = 0;
        for (int i = 0; i < expected.Length; i++) maxAbs = Math.Max(maxAbs, Math.Abs(expected.GetDouble(i)));
        double tol = 1e-4 * Math.Max(1, maxAbs);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = Math.Abs(expected.GetDouble(i) - actual.GetDouble(i));
            if (double.IsNaN(e)) e = double.PositiveInfinity;
            maxErr = Math.Max(maxErr, e);
        }
        Assert.True(maxErr <= tol, $"{what}: max |error| {maxErr:G4} exceeds {tol:G4} (1e-4 x max(1, {maxAbs:G4})).");
        return maxErr;
    }
}

/// <summary>Runs the shared validators' onnx_check.py (Debian python3-onnx) when it is installed; skips otherwise.</summary>
internal static class OnnxChecker
{
    private static readonly Lazy<string?> Script = new(Locate);
    private static string _python = "python3";

    public static string? Unavailable =>
        Script.Value is null ? "onnx_check.py or python3 with the onnx module is absent (apt-get install python3-onnx)." : null;

    private static string? Locate()
    {
        string? dir = Environment.GetEnvironmentVariable("MODELOPS_VALIDATORS");
        if (string.IsNullOrEmpty(dir) && Corpus.Root is not null) dir = Path.Combine(Corpus.Root, "..", "validators");
        if (dir is null) return null;
        string script = Path.Combine(dir, "onnx_check.py");
        if (!File.Exists(script)) return null;
        // Debian's python3-onnx lives with /usr/bin/python3 (the script's shebang), which a pyenv/venv python3 on PATH may hide.
        foreach (var python in new[] { "/usr/bin/python3", "python3" })
        {
            _python = python;
            if (RunPython("-c \"import onnx\"").Code == 0) return script;
        }
        return null;
    }

    private static (int Code, string Out, string Err) RunPython(string args)
    {
        try
        {
            var psi = new ProcessStartInfo(_python, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            using var p = Process.Start(psi)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            p.WaitForExit();
            return (p.ExitCode, stdout.Result, stderr.Result);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return (-1, "", "python3 not found");
        }
    }

    /// <summary>Checks the model when the checker exists (the ORT comparison still runs when it does not).</summary>
    public static void AssertValid(byte[] model, string name, ITestOutputHelper output)
    {
        if (Script.Value is null) { output.WriteLine($"{name}: ONNX checker skipped: {Unavailable}"); return; }
        string file = Path.Combine(Path.GetTempPath(), $"modelops-{name}-{Guid.NewGuid():N}.onnx");
        File.WriteAllBytes(file, model);
        try
        {
            var (code, stdout, stderr) = RunPython($"\"{Script.Value}\" \"{file}\"");
            using var doc = JsonDocument.Parse(stdout.Trim().Split('\n').Last());
            bool valid = doc.RootElement.GetProperty("valid").GetBoolean();
            string? error = doc.RootElement.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;
            Assert.True(valid && code == 0, $"{name}: the ONNX checker rejected the model: {error} {stderr}");
            output.WriteLine($"{name}: ONNX checker (onnx {doc.RootElement.GetProperty("onnx_version").GetString()}, full check + strict shape inference): valid");
        }
        finally
        {
            File.Delete(file);
        }
    }
}
