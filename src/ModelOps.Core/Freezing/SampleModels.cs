using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Checkpoint;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Freezing;

/// <summary>
/// Writes small unfrozen TF1 models the way TF1 training scripts leave them: a GraphDef with VariableV2
/// variables, their initializers and a V2 Saver (save/SaveV2, save/RestoreV2 → save/Assign), plus a V2
/// checkpoint and a `checkpoint` state file. Used by tests, the demo and the benchmark.
/// </summary>
public static class SampleModels
{
    /// <summary>
    /// A dense layer y = x·W + b with W [inputs, units] and b [units] filled deterministically from <paramref name="seed"/>.
    /// Writes &lt;dir&gt;/model.pb (graph), &lt;dir&gt;/model.ckpt.{index,data-00000-of-00001} and &lt;dir&gt;/checkpoint.
    /// Returns the graph path.
    /// </summary>
    public static string WriteDense(string dir, int inputs = 3, int units = 2, int seed = 1, bool overwrite = false)
    {
        Directory.CreateDirectory(dir);
        var g = new GraphBuilder();
        g.Placeholder("x", DataType.DtFloat, -1, inputs);
        AddVariable(g, "dense/kernel", new long[] { inputs, units });
        AddVariable(g, "dense/bias", new long[] { units });
        g.Add("dense/MatMul", "MatMul", new[] { "x", "dense/kernel/read" }, new Dictionary<string, AttrValue>
        {
            ["T"] = Attr.Type(DataType.DtFloat), ["transpose_a"] = Attr.Bool(false), ["transpose_b"] = Attr.Bool(false),
        });
        g.Op("dense/BiasAdd", "Add", DataType.DtFloat, "dense/MatMul", "dense/bias/read");
        g.Op("y", "Identity", DataType.DtFloat, "dense/BiasAdd");
        g.Add("init", "NoOp", new[] { "^dense/kernel/Assign", "^dense/bias/Assign" });
        AddSaver(g, new[] { ("dense/bias", new long[] { units }), ("dense/kernel", new long[] { inputs, units }) });
        string graphPath = Path.Combine(dir, "model.pb");
        AtomicFile.Write(graphPath, s => Google.Protobuf.MessageExtensions.WriteTo(g.Graph, s), overwrite);

        var rnd = new Random(seed);
        var w = new float[inputs * units];
        for (int i = 0; i < w.Length; i++) w[i] = (float)(rnd.NextDouble() * 2 - 1);
        var b = new float[units];
        for (int i = 0; i < b.Length; i++) b[i] = (float)(rnd.NextDouble() * 2 - 1);
        string prefix = Path.Combine(dir, "model.ckpt");
        using (var cw = new CheckpointWriter(prefix, overwrite: overwrite))
        {
            cw.Add("dense/kernel", Tensor.Create(w, inputs, units));
            cw.Add("dense/bias", Tensor.Create(b, units));
            cw.Add("global_step", Tensor.Scalar(100L));
            cw.Finish();
        }
        AtomicFile.Write(Path.Combine(dir, CheckpointLocator.StateFileName),
            System.Text.Encoding.UTF8.GetBytes("model_checkpoint_path: \"model.ckpt\"\nall_model_checkpoint_paths: \"model.ckpt\"\n"), overwrite);
        return graphPath;
    }

    private static void AddVariable(GraphBuilder g, string name, long[] shape)
    {
        g.Add(name, "VariableV2", null, new Dictionary<string, AttrValue>
        {
            ["dtype"] = Attr.Type(DataType.DtFloat), ["shape"] = Attr.Shape(shape),
            ["container"] = Attr.String(""), ["shared_name"] = Attr.String(""),
        });
        g.Const(name + "/Initializer/zeros", Tensor.Zeros(DataType.DtFloat, shape.Select(d => (int)d).ToArray()));
        g.Add(name + "/Assign", "Assign", new[] { name, name + "/Initializer/zeros" }, new Dictionary<string, AttrValue>
        {
            ["T"] = Attr.Type(DataType.DtFloat), ["use_locking"] = Attr.Bool(true), ["validate_shape"] = Attr.Bool(true),
            ["_class"] = Attr.Strings("loc:@" + name),
        });
        g.Add(name + "/read", "Identity", new[] { name }, new Dictionary<string, AttrValue>
        {
            ["T"] = Attr.Type(DataType.DtFloat), ["_class"] = Attr.Strings("loc:@" + name),
        });
    }

    /// <summary>The V2 Saver sub-graph tf.train.Saver() builds: SaveV2 of every variable and RestoreV2 → Assign per variable.</summary>
    private static void AddSaver(GraphBuilder g, IReadOnlyList<(string Name, long[] Shape)> vars)
    {
        var names = vars.Select(v => v.Name).ToArray();
        g.Add("save/filename", "PlaceholderWithDefault", new[] { "save/filename/input" }, new Dictionary<string, AttrValue>
        { ["dtype"] = Attr.Type(DataType.DtString), ["shape"] = Attr.Shape(Array.Empty<long>()) });
        g.Const("save/filename/input", Tensor.FromStrings(new[] { "model" }));
        g.Const("save/SaveV2/tensor_names", Tensor.FromStrings(names, names.Length));
        g.Const("save/SaveV2/shape_and_slices", Tensor.FromStrings(names.Select(_ => ""), names.Length));
        g.Add("save/SaveV2", "SaveV2", new[] { "save/filename", "save/SaveV2/tensor_names", "save/SaveV2/shape_and_slices" }.Concat(names),
            new Dictionary<string, AttrValue> { ["dtypes"] = Attr.Types(names.Select(_ => DataType.DtFloat).ToArray()) });
        g.Add("save/control_dependency", "Identity", new[] { "save/filename", "^save/SaveV2" }, new Dictionary<string, AttrValue> { ["T"] = Attr.Type(DataType.DtString) });
        g.Const("save/RestoreV2/tensor_names", Tensor.FromStrings(names, names.Length));
        g.Const("save/RestoreV2/shape_and_slices", Tensor.FromStrings(names.Select(_ => ""), names.Length));
        g.Add("save/RestoreV2", "RestoreV2", new[] { "save/filename", "save/RestoreV2/tensor_names", "save/RestoreV2/shape_and_slices" },
            new Dictionary<string, AttrValue> { ["dtypes"] = Attr.Types(names.Select(_ => DataType.DtFloat).ToArray()) });
        var assigns = new List<string>();
        for (int i = 0; i < names.Length; i++)
        {
            string a = g.Add($"save/Assign{(i == 0 ? "" : "_" + i)}", "Assign", new[] { names[i], i == 0 ? "save/RestoreV2" : $"save/RestoreV2:{i}" }, new Dictionary<string, AttrValue>
            {
                ["T"] = Attr.Type(DataType.DtFloat), ["use_locking"] = Attr.Bool(true), ["validate_shape"] = Attr.Bool(true),
                ["_class"] = Attr.Strings("loc:@" + names[i]),
            }).Name;
            assigns.Add("^" + a);
        }
        g.Add("save/restore_all", "NoOp", assigns);
    }
}
