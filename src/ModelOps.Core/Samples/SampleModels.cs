using Google.Protobuf;
using ModelOps.Core.Formats;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Samples;

/// <summary>
/// Small models ModelOps makes with its own writers, for the demo, the tests and anyone who wants to
/// try the cmdlets without a model at hand. Weights are deterministic (seeded), so outputs are stable.
/// </summary>
public static partial class SampleModels
{
    /// <summary>
    /// A frozen image classifier: input float32[?,8,8,3] → Conv2D 3x3x3x4 SAME + BiasAdd + Relu →
    /// MaxPool 2x2 → Reshape [-1,64] → MatMul 64x5 + BiasAdd → Softmax "probabilities".
    /// </summary>
    public static GraphDef FrozenCnn(int seed = 7)
    {
        var rng = new Random(seed);
        var b = new GraphBuilder();
        b.Placeholder("input", DataType.DtFloat, -1, 8, 8, 3);
        b.Const("conv/weights", Tensor.Create(Random(rng, 3 * 3 * 3 * 4, 0.3f), 3, 3, 3, 4));
        var conv = b.Op("conv/Conv2D", "Conv2D", DataType.DtFloat, "input", "conv/weights");
        conv.Attr["strides"] = Attr.Ints(1, 1, 1, 1);
        conv.Attr["padding"] = Attr.String("SAME");
        conv.Attr["data_format"] = Attr.String("NHWC");
        conv.Attr["dilations"] = Attr.Ints(1, 1, 1, 1);
        b.Const("conv/bias", Tensor.Create(Random(rng, 4, 0.1f), 4));
        b.Op("conv/BiasAdd", "BiasAdd", DataType.DtFloat, "conv/Conv2D", "conv/bias").Attr["data_format"] = Attr.String("NHWC");
        b.Op("conv/Relu", "Relu", DataType.DtFloat, "conv/BiasAdd");
        var pool = b.Op("pool", "MaxPool", DataType.DtFloat, "conv/Relu");
        pool.Attr["ksize"] = Attr.Ints(1, 2, 2, 1);
        pool.Attr["strides"] = Attr.Ints(1, 2, 2, 1);
        pool.Attr["padding"] = Attr.String("VALID");
        pool.Attr["data_format"] = Attr.String("NHWC");
        b.Const("flatten/shape", Tensor.Create(new[] { -1, 64 }, 2));
        b.Op("flatten", "Reshape", DataType.DtFloat, "pool", "flatten/shape").Attr["Tshape"] = Attr.Type(DataType.DtInt32);
        b.Const("dense/weights", Tensor.Create(Random(rng, 64 * 5, 0.2f), 64, 5));
        var mm = b.Op("dense/MatMul", "MatMul", DataType.DtFloat, "flatten", "dense/weights");
        mm.Attr["transpose_a"] = Attr.Bool(false);
        mm.Attr["transpose_b"] = Attr.Bool(false);
        b.Const("dense/bias", Tensor.Create(Random(rng, 5, 0.1f), 5));
        b.Op("dense/BiasAdd", "BiasAdd", DataType.DtFloat, "dense/MatMul", "dense/bias").Attr["data_format"] = Attr.String("NHWC");
        b.Op("probabilities", "Softmax", DataType.DtFloat, "dense/BiasAdd");
        return b.Graph;
    }

    /// <summary>Writes <see cref="FrozenCnn"/> as binary (.pb) or, for a .pbtxt name, text. Returns the path.</summary>
    public static string WriteFrozenCnn(string path, bool overwrite = false)
    {
        var g = FrozenCnn();
        if (path.EndsWith(".pbtxt", StringComparison.OrdinalIgnoreCase))
            AtomicFile.Write(path, System.Text.Encoding.UTF8.GetBytes(Formats.Text.TextFormatPrinter.Print(g)), overwrite);
        else
            AtomicFile.Write(path, g.ToByteArray(), overwrite);
        return path;
    }

    /// <summary>A deterministic sample input for the CNN: float32[batch,8,8,3] in [0,1).</summary>
    public static Tensor CnnInput(int batch = 1, int seed = 11)
    {
        var rng = new Random(seed);
        var data = new float[batch * 8 * 8 * 3];
        for (int i = 0; i < data.Length; i++) data[i] = (float)rng.NextDouble();
        return Tensor.Create(data, batch, 8, 8, 3);
    }

    private static float[] Random(Random rng, int n, float scale)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)((rng.NextDouble() * 2 - 1) * scale);
        return a;
    }
}
