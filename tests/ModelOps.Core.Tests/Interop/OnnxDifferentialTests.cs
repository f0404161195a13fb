using System.Text.Json;
using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Npy;
using ModelOps.Core.Runtime;
using ModelOps.Core.Runtime.Onnx;
using ModelOps.Core.Samples;
using ModelOps.Core.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace ModelOps.Core.Tests.Interop;

/// <summary>
/// The managed engine and ONNX Runtime (on the converted graph) agree on the same inputs for every
/// corpus frozen graph that converts: max |managed − ORT| ≤ 1e-4·max(1, max |managed|), same shapes.
/// </summary>
public sealed class OnnxDifferentialTests
{
    private readonly ITestOutputHelper _out;

    public OnnxDifferentialTests(ITestOutputHelper output) { _out = output; }

    public static IEnumerable<object[]> Models()
    {
        var list = new List<object[]>();
        if (Corpus.Root is not null)
        {
            string human = Path.Combine(Corpus.Root, "tfjs-human");
            if (Directory.Exists(human))
                foreach (var d in Directory.GetDirectories(human).OrderBy(d => d, StringComparer.Ordinal))
                    if (File.Exists(Path.Combine(d, "model.pb"))) list.Add(new object[] { "tfjs-human/" + Path.GetFileName(d) });
            foreach (var m in new[] { "fc-layers", "ae0" })
                if (File.Exists(Path.Combine(Corpus.Root, "tf", "frozen--tf2onnx-benchtf", m, "frozen.pb"))) list.Add(new object[] { "benchtf/" + m });
        }
        if (list.Count == 0) list.Add(new object[] { "" });
        return list;
    }

    /// <summary>Graph, feeds and outputs of a corpus model (the golden inputs, or tf2onnx's ramp for benchtf).</summary>
    internal static (Protos.GraphDef Graph, Dictionary<string, Tensor> Feeds, List<string> Outputs, bool ControlFlow) Load(string id)
    {
        if (id.StartsWith("benchtf/", StringComparison.Ordinal))
        {
            string file = Corpus.Path("tf", "frozen--tf2onnx-benchtf", id["benchtf/".Length..], "frozen.pb");
            var ramp = Tensor.Create(Enumerable.Range(1, 784).Select(i => (float)i).ToArray(), 1, 784);
            return (ModelReader.ReadGraphDef(file), new Dictionary<string, Tensor> { ["X:0"] = ramp }, new List<string> { "output:0" }, false);
        }
        string dir = Corpus.Path("tfjs-human", id["tfjs-human/".Length..]);
        using var meta = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "meta.json")));
        var feeds = meta.RootElement.GetProperty("inputs").EnumerateArray()
            .ToDictionary(i => i.GetProperty("name").GetString()!, i => NpyFile.Read(Path.Combine(dir, i.GetProperty("file").GetString()!)));
        var outputs = meta.RootElement.GetProperty("outputs").EnumerateArray().Select(o => o.GetProperty("name").GetString()!).ToList();
        bool cf = meta.RootElement.GetProperty("graph").GetProperty("has_control_flow").GetBoolean();
        return (ModelReader.ReadGraphDef(Path.Combine(dir, "model.pb")), feeds, outputs, cf);
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void ManagedEngineAndOnnxRuntime_Agree(string id)
    {
        Skip.If(id.Length == 0, Corpus.Missing);
        var (graph, feeds, outputs, controlFlow) = Load(id);
        Skip.If(controlFlow, $"{id} has TF1 control flow (while loops, TensorArrays), which the ONNX converter does not lower (UnsupportedOps; see OnnxInteropTests).");
        using var managed = new GraphSession(graph, outputs);
        using var ort = OnnxSession.FromGraph(graph, new OnnxSessionOptions { Conversion = new OnnxConversionOptions { Outputs = outputs } });
        var a = managed.Run(feeds, outputs);
        var b = ort.Run(feeds, outputs);
        foreach (var name in outputs)
        {
            double err = OnnxInteropTests.AssertClose(a[name], b[name], $"{id} {name} (managed vs ONNX Runtime)");
            _out.WriteLine($"{id} {name} {a[name]}: max |managed - ORT| {err:G3}");
        }
    }

    [Fact]
    public void SampleCnn_Agrees_OnABatch()
    {
        var graph = SampleModels.FrozenCnn();
        using var managed = new GraphSession(graph);
        using var ort = OnnxSession.FromGraph(graph, new OnnxSessionOptions { IntraOpThreads = 1 });
        var feeds = new Dictionary<string, Tensor> { ["input"] = SampleModels.CnnInput(batch: 4) };
        var fetch = new[] { "probabilities" };
        var a = managed.Run(feeds, fetch)["probabilities"];
        var b = ort.Run(feeds, fetch)["probabilities"];
        OnnxInteropTests.AssertClose(a, b, "sample CNN");
    }
}
