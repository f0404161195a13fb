using System.Runtime.InteropServices;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Checkpoint;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Samples;

public static partial class SampleModels
{
    /// <summary>
    /// A large unfrozen TF1 model for the freeze benchmark: x float32[?,width] → <paramref name="layers"/> dense layers
    /// (kernel [width,width] + bias [width], Relu between) → "y", plus <paramref name="smallVariables"/> small [256]
    /// vectors summed by AddN into "aux" — a handful of big variables and many small ones, all with a V2 Saver.
    /// Initializers use Fill, so the graph stays small. Weights are deterministic from <paramref name="seed"/>.
    /// Writes &lt;dir&gt;/model.pb, &lt;dir&gt;/model.ckpt.* and &lt;dir&gt;/checkpoint; returns (graph path, float weight bytes).
    /// </summary>
    public static (string GraphPath, long WeightBytes) WriteLargeMlp(string dir, int width = 2048, int layers = 6, int smallVariables = 256,
        int seed = 7, bool overwrite = false)
    {
        if (width <= 0 || layers <= 0 || smallVariables < 0) throw new ArgumentOutOfRangeException(nameof(width));
        Directory.CreateDirectory(dir);
        var g = new GraphBuilder();
        g.Placeholder("x", DataType.DtFloat, -1, width);
        var vars = new List<(string Name, long[] Shape)>();
        string h = "x";
        for (int l = 0; l < layers; l++)
        {
            string k = $"layer{l}/kernel", b = $"layer{l}/bias";
            AddVariable(g, k, new long[] { width, width }, fillInitializer: true);
            AddVariable(g, b, new long[] { width }, fillInitializer: true);
            vars.Add((k, new long[] { width, width }));
            vars.Add((b, new long[] { width }));
            g.Add($"layer{l}/MatMul", "MatMul", new[] { h, k + "/read" }, new Dictionary<string, AttrValue>
            {
                ["T"] = Attr.Type(DataType.DtFloat), ["transpose_a"] = Attr.Bool(false), ["transpose_b"] = Attr.Bool(false),
            });
            g.Op($"layer{l}/BiasAdd", "BiasAdd", DataType.DtFloat, $"layer{l}/MatMul", b + "/read").Attr["data_format"] = Attr.String("NHWC");
            h = l == layers - 1 ? $"layer{l}/BiasAdd" : g.Op($"layer{l}/Relu", "Relu", DataType.DtFloat, $"layer{l}/BiasAdd").Name;
        }
        g.Op("y", "Identity", DataType.DtFloat, h);
        if (smallVariables > 0)
        {
            var reads = new List<string>();
            for (int i = 0; i < smallVariables; i++)
            {
                string n = $"aux/v{i}";
                AddVariable(g, n, new long[] { 256 }, fillInitializer: true);
                vars.Add((n, new long[] { 256 }));
                reads.Add(n + "/read");
            }
            var addn = g.Add("aux/AddN", "AddN", reads, new Dictionary<string, AttrValue> { ["T"] = Attr.Type(DataType.DtFloat), ["N"] = Attr.Int(reads.Count) });
            g.Op("aux", "Identity", DataType.DtFloat, addn.Name);
        }
        g.Add("init", "NoOp", vars.Select(v => "^" + v.Name + "/Assign"));
        var sorted = vars.OrderBy(v => v.Name, StringComparer.Ordinal).ToList();
        AddSaver(g, sorted);
        string graphPath = Path.Combine(dir, "model.pb");
        AtomicFile.Write(graphPath, s => Google.Protobuf.MessageExtensions.WriteTo(g.Graph, s), overwrite);

        long weightBytes = 0;
        var rnd = new Random(seed);
        string prefix = Path.Combine(dir, "model.ckpt");
        using (var cw = new CheckpointWriter(prefix, overwrite: overwrite))
        {
            foreach (var (name, shape) in sorted)
            {
                var data = new float[shape.Aggregate(1L, (a, d) => a * d)];
                for (int i = 0; i < data.Length; i++) data[i] = rnd.NextSingle() - 0.5f;
                cw.AddRaw(name, DataType.DtFloat, shape, MemoryMarshal.AsBytes(data.AsSpan()));
                weightBytes += data.LongLength * sizeof(float);
            }
            cw.Add("global_step", Tensor.Scalar(1000L));
            cw.Finish();
        }
        AtomicFile.Write(Path.Combine(dir, CheckpointLocator.StateFileName),
            System.Text.Encoding.UTF8.GetBytes("model_checkpoint_path: \"model.ckpt\"\nall_model_checkpoint_paths: \"model.ckpt\"\n"), overwrite);
        return (graphPath, weightBytes);
    }
}
