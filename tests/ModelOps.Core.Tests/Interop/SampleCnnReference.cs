using ModelOps.Core.Samples;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Tests.Interop;

/// <summary>
/// A direct, loop-by-loop float64 evaluation of <see cref="SampleModels.FrozenCnn"/> (written from TF's
/// op definitions, independent of the converter and the engine), used as the expected output.
/// </summary>
internal static class SampleCnnReference
{
    public static double[] Run(Tensor input)
    {
        var g = SampleModels.FrozenCnn();
        Tensor C(string name) => TensorProtoCodec.Decode(g.Node.Single(n => n.Name == name).Attr["value"].Tensor);
        var w = C("conv/weights").As<float>();      // [3,3,3,4] HWIO
        var b = C("conv/bias").As<float>();
        var dw = C("dense/weights").As<float>();    // [64,5]
        var db = C("dense/bias").As<float>();
        var x = input.As<float>();                  // [1,8,8,3]
        var conv = new double[8, 8, 4];
        for (int y = 0; y < 8; y++)
            for (int xx = 0; xx < 8; xx++)
                for (int o = 0; o < 4; o++)
                {
                    double s = b[o];
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++)
                        {
                            int iy = y + ky - 1, ix = xx + kx - 1;     // SAME, stride 1, 3x3: pad 1 each side
                            if (iy < 0 || iy >= 8 || ix < 0 || ix >= 8) continue;
                            for (int c = 0; c < 3; c++) s += x[(iy * 8 + ix) * 3 + c] * w[((ky * 3 + kx) * 3 + c) * 4 + o];
                        }
                    conv[y, xx, o] = Math.Max(0, s);
                }
        var flat = new double[64];
        for (int y = 0; y < 4; y++)
            for (int xx = 0; xx < 4; xx++)
                for (int o = 0; o < 4; o++)
                    flat[(y * 4 + xx) * 4 + o] = Math.Max(Math.Max(conv[2 * y, 2 * xx, o], conv[2 * y, 2 * xx + 1, o]), Math.Max(conv[2 * y + 1, 2 * xx, o], conv[2 * y + 1, 2 * xx + 1, o]));
        var logits = new double[5];
        for (int j = 0; j < 5; j++)
        {
            double s = db[j];
            for (int i = 0; i < 64; i++) s += flat[i] * dw[i * 5 + j];
            logits[j] = s;
        }
        double max = logits.Max();
        var e = logits.Select(v => Math.Exp(v - max)).ToArray();
        double sum = e.Sum();
        return e.Select(v => v / sum).ToArray();
    }
}
