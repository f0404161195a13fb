using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Checkpoint;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Samples;

/// <summary>
/// Writes small unfrozen TF1 models the way TF1 training scripts leave them: a GraphDef with VariableV2
/// variables, their initializers and a V2 Saver (save/SaveV2, save/RestoreV2 → save/Assign), plus a V2
/// checkpoint and a `checkpoint` state file. Used by tests, the demo and the benchmark.
/// </summary>
public static partial class SampleModels
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
        WriteCheckpoint(dir, new[]
        {
            ("dense/kernel", Tensor.Create(w, inputs, units)),
            ("dense/bias", Tensor.Create(b, units)),
            ("global_step", (Tensor)Tensor.Scalar(100L)),
        }, overwrite);
        return graphPath;
    }

    /// <summary>
    /// A small unfrozen TF1 image classifier, as a Keras/TF1 training script leaves it: input float32[?,16,16,3] →
    /// conv1 3x3x3x8 SAME → FusedBatchNormV3 (inference) → Relu → MaxPool 2x2 → conv2 3x3x8x8 + BiasAdd → Relu6 →
    /// Mean over H,W → dense 8x10 + BiasAdd → Softmax "probabilities". Nine variables with a Saver, plus a V2
    /// checkpoint (&lt;dir&gt;/model.ckpt) and a `checkpoint` state file. Returns the graph path (&lt;dir&gt;/model.pb).
    /// </summary>
    public static string WriteCnn(string dir, int seed = 3, bool overwrite = false)
    {
        Directory.CreateDirectory(dir);
        var rnd = new Random(seed);
        var values = new List<(string Name, Tensor Value)>();
        var g = new GraphBuilder();
        g.Placeholder("input", DataType.DtFloat, -1, 16, 16, 3);

        string Var(string name, float scale, float offset, params int[] shape)
        {
            var data = new float[(int)Tensor.ElementCount(shape)];
            for (int i = 0; i < data.Length; i++) data[i] = offset + (float)((rnd.NextDouble() * 2 - 1) * scale);
            values.Add((name, Tensor.Create(data, shape)));
            AddVariable(g, name, shape.Select(d => (long)d).ToArray());
            return name + "/read";
        }

        NodeDef Conv(string name, string input, string kernel)
        {
            var c = g.Op(name, "Conv2D", DataType.DtFloat, input, kernel);
            c.Attr["strides"] = Attr.Ints(1, 1, 1, 1);
            c.Attr["padding"] = Attr.String("SAME");
            c.Attr["data_format"] = Attr.String("NHWC");
            c.Attr["dilations"] = Attr.Ints(1, 1, 1, 1);
            c.Attr["use_cudnn_on_gpu"] = Attr.Bool(true);
            return c;
        }

        Conv("conv1/Conv2D", "input", Var("conv1/kernel", 0.4f, 0f, 3, 3, 3, 8));
        var bn = g.Add("bn/FusedBatchNormV3", "FusedBatchNormV3", new[]
        {
            "conv1/Conv2D", Var("bn/gamma", 0.2f, 1f, 8), Var("bn/beta", 0.1f, 0f, 8),
            Var("bn/moving_mean", 0.1f, 0f, 8), Var("bn/moving_variance", 0.2f, 1f, 8),
        }, new Dictionary<string, AttrValue>
        {
            ["T"] = Attr.Type(DataType.DtFloat), ["U"] = Attr.Type(DataType.DtFloat), ["epsilon"] = Attr.Float(0.001f),
            ["data_format"] = Attr.String("NHWC"), ["is_training"] = Attr.Bool(false), ["exponential_avg_factor"] = Attr.Float(1f),
        });
        g.Op("bn/Relu", "Relu", DataType.DtFloat, bn.Name);
        var pool = g.Op("pool/MaxPool", "MaxPool", DataType.DtFloat, "bn/Relu");
        pool.Attr["ksize"] = Attr.Ints(1, 2, 2, 1);
        pool.Attr["strides"] = Attr.Ints(1, 2, 2, 1);
        pool.Attr["padding"] = Attr.String("VALID");
        pool.Attr["data_format"] = Attr.String("NHWC");
        Conv("conv2/Conv2D", "pool/MaxPool", Var("conv2/kernel", 0.3f, 0f, 3, 3, 8, 8));
        g.Op("conv2/BiasAdd", "BiasAdd", DataType.DtFloat, "conv2/Conv2D", Var("conv2/bias", 0.1f, 0f, 8)).Attr["data_format"] = Attr.String("NHWC");
        g.Op("conv2/Relu6", "Relu6", DataType.DtFloat, "conv2/BiasAdd");
        g.Const("gap/axes", Tensor.Create(new[] { 1, 2 }, 2));
        var mean = g.Op("gap/Mean", "Mean", DataType.DtFloat, "conv2/Relu6", "gap/axes");
        mean.Attr["keep_dims"] = Attr.Bool(false);
        mean.Attr["Tidx"] = Attr.Type(DataType.DtInt32);
        g.Add("dense/MatMul", "MatMul", new[] { "gap/Mean", Var("dense/kernel", 0.5f, 0f, 8, 10) }, new Dictionary<string, AttrValue>
        {
            ["T"] = Attr.Type(DataType.DtFloat), ["transpose_a"] = Attr.Bool(false), ["transpose_b"] = Attr.Bool(false),
        });
        g.Op("dense/BiasAdd", "BiasAdd", DataType.DtFloat, "dense/MatMul", Var("dense/bias", 0.1f, 0f, 10)).Attr["data_format"] = Attr.String("NHWC");
        g.Op("probabilities", "Softmax", DataType.DtFloat, "dense/BiasAdd");
        g.Add("init", "NoOp", values.Select(v => "^" + v.Name + "/Assign"));
        AddSaver(g, values.Select(v => (v.Name, v.Value.Shape.Select(d => (long)d).ToArray())).OrderBy(v => v.Name, StringComparer.Ordinal).ToList());

        string graphPath = Path.Combine(dir, "model.pb");
        AtomicFile.Write(graphPath, s => Google.Protobuf.MessageExtensions.WriteTo(g.Graph, s), overwrite);
        WriteCheckpoint(dir, values.Append(("global_step", (Tensor)Tensor.Scalar(1000L))), overwrite);
        return graphPath;
    }

    /// <summary>A deterministic input for <see cref="WriteCnn"/>: float32[batch,16,16,3] in [0,1).</summary>
    public static Tensor CnnImage(int batch = 1, int seed = 5)
    {
        var rng = new Random(seed);
        var data = new float[batch * 16 * 16 * 3];
        for (int i = 0; i < data.Length; i++) data[i] = (float)rng.NextDouble();
        return Tensor.Create(data, batch, 16, 16, 3);
    }

    private static void WriteCheckpoint(string dir, IEnumerable<(string Name, Tensor Value)> tensors, bool overwrite)
    {
        string prefix = Path.Combine(dir, "model.ckpt");
        using (var cw = new CheckpointWriter(prefix, overwrite: overwrite))
        {
            foreach (var (name, value) in tensors) cw.Add(name, value);
            cw.Finish();
        }
        AtomicFile.Write(Path.Combine(dir, CheckpointLocator.StateFileName),
            System.Text.Encoding.UTF8.GetBytes("model_checkpoint_path: \"model.ckpt\"\nall_model_checkpoint_paths: \"model.ckpt\"\n"), overwrite);
    }

    private static void AddVariable(GraphBuilder g, string name, long[] shape, bool fillInitializer = false)
    {
        g.Add(name, "VariableV2", null, new Dictionary<string, AttrValue>
        {
            ["dtype"] = Attr.Type(DataType.DtFloat), ["shape"] = Attr.Shape(shape),
            ["container"] = Attr.String(""), ["shared_name"] = Attr.String(""),
        });
        if (fillInitializer)
        {
            // What TF builds for big zeros initializers: Fill(shape, 0) instead of a Const as large as the variable.
            g.Const(name + "/Initializer/zeros/shape_as_tensor", Tensor.Create(shape.Select(d => (int)d).ToArray(), shape.Length));
            g.Const(name + "/Initializer/zeros/Const", Tensor.Scalar(0f));
            g.Add(name + "/Initializer/zeros", "Fill", new[] { name + "/Initializer/zeros/shape_as_tensor", name + "/Initializer/zeros/Const" },
                new Dictionary<string, AttrValue> { ["T"] = Attr.Type(DataType.DtFloat), ["index_type"] = Attr.Type(DataType.DtInt32) });
        }
        else
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
