using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Protos;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.TfLite.Kernels;

/// <summary>
/// UNIDIRECTIONAL_SEQUENCE_LSTM (float; int8/uint8 weights of hybrid models are dequantized). Inputs follow
/// TFLite's order: x, 4 input weights, 4 recurrent weights, 3 peepholes, 4 biases, projection weights and bias,
/// output state, cell state, 4 layer-norm coefficients. Gates: i, f, g (cell), o; CIFG when the input gate is absent.
/// </summary>
internal static class Lstm
{
    public static void Register(Dictionary<BuiltinOperator, TfLiteKernel> r)
    {
        r[BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM] = UnidirectionalSequenceLstm;
    }

    private static float[]? F(OpContext ctx, int i)
    {
        var t = ctx.OptionalInput(i);
        if (t is null) return null;
        if (t.DType is DataType.DtFloat or DataType.DtHalf) return Ints.Floats(t);
        var info = ctx.InputInfo(i);
        if (info.Quantization is { HasScale: true }) return Ints.Floats(TfLiteQuantizer.Dequantize(t, info));
        throw ctx.UnsupportedType(t);
    }

    private static void UnidirectionalSequenceLstm(OpContext ctx)
    {
        var o = ctx.Options<UnidirectionalSequenceLSTMOptions>();
        var act = o?.FusedActivationFunction ?? ActivationFunctionType.TANH;
        float cellClip = o?.CellClip ?? 0, projClip = o?.ProjClip ?? 0;
        bool timeMajor = o?.TimeMajor ?? false;
        var x = ctx.Input(0);
        if (x.DType != DataType.DtFloat)
            throw ctx.Unsupported($"full-integer ({x.DType}) LSTM is not implemented; only float and hybrid LSTMs run");
        if (x.Rank != 3) throw ctx.Unsupported("the input must be 3-D");
        if (ctx.HasInput(20) || ctx.HasInput(21) || ctx.HasInput(22) || ctx.HasInput(23)) throw ctx.Unsupported("layer-normalized LSTM is not implemented");
        int steps = timeMajor ? x.Shape[0] : x.Shape[1], batch = timeMajor ? x.Shape[1] : x.Shape[0], nIn = x.Shape[2];
        var wxf = F(ctx, 2)!;
        int nCell = wxf.Length / nIn;
        float[]? wxi = F(ctx, 1), wxc = F(ctx, 3), wxo = F(ctx, 4);
        var whf = F(ctx, 6)!;
        int nOut = whf.Length / nCell;
        float[]? whi = F(ctx, 5), whc = F(ctx, 7), who = F(ctx, 8);
        float[]? pi = F(ctx, 9), pf = F(ctx, 10), po = F(ctx, 11);
        float[]? bi = F(ctx, 12), bf = F(ctx, 13), bc = F(ctx, 14), bo = F(ctx, 15);
        float[]? wp = F(ctx, 16), bp = F(ctx, 17);
        if (wxc is null || wxo is null || whc is null || who is null) throw ctx.Unsupported("cell and output gate weights are required");
        bool cifg = wxi is null;

        int hIdx = ctx.Op.Inputs[18], cIdx = ctx.Op.Inputs[19];
        float[] h = ctx.Value(hIdx) is { } hv ? (float[])Ints.Floats(hv).Clone() : new float[batch * nOut];
        float[] c = ctx.Value(cIdx) is { } cv ? (float[])Ints.Floats(cv).Clone() : new float[batch * nCell];
        var xs = Ints.Floats(x);
        var y = new float[steps * batch * nOut];
        var gi = new float[nCell];
        var gf = new float[nCell];
        var gc = new float[nCell];
        var go = new float[nCell];
        var hc = new float[nCell];

        static float Sigmoid(float v) => 1f / (1f + MathF.Exp(-v));
        static void MatVec(float[]? w, float[] v, int vOff, int rows, int cols, float[] acc)
        {
            if (w is null) return;
            for (int r = 0; r < rows; r++)
            {
                float s = 0;
                int wo = r * cols;
                for (int k = 0; k < cols; k++) s += w[wo + k] * v[vOff + k];
                acc[r] += s;
            }
        }

        for (int t = 0; t < steps; t++)
            for (int b = 0; b < batch; b++)
            {
                int xOff = timeMajor ? (t * batch + b) * nIn : (b * steps + t) * nIn;
                var hPrev = h.AsSpan(b * nOut, nOut).ToArray();
                for (int k = 0; k < nCell; k++)
                {
                    gi[k] = bi?[k] ?? 0; gf[k] = bf?[k] ?? 0; gc[k] = bc?[k] ?? 0; go[k] = bo?[k] ?? 0;
                }
                MatVec(wxi, xs, xOff, nCell, nIn, gi); MatVec(wxf, xs, xOff, nCell, nIn, gf);
                MatVec(wxc, xs, xOff, nCell, nIn, gc); MatVec(wxo, xs, xOff, nCell, nIn, go);
                MatVec(whi, hPrev, 0, nCell, nOut, gi); MatVec(whf, hPrev, 0, nCell, nOut, gf);
                MatVec(whc, hPrev, 0, nCell, nOut, gc); MatVec(who, hPrev, 0, nCell, nOut, go);
                for (int k = 0; k < nCell; k++)
                {
                    float cPrev = c[b * nCell + k];
                    float f = Sigmoid(gf[k] + (pf?[k] ?? 0) * cPrev);
                    float i = cifg ? 1f - f : Sigmoid(gi[k] + (pi?[k] ?? 0) * cPrev);
                    float g = QuantMath.ApplyActivation(gc[k], act);
                    float cNew = f * cPrev + i * g;
                    if (cellClip > 0) cNew = Math.Clamp(cNew, -cellClip, cellClip);
                    c[b * nCell + k] = cNew;
                    float og = Sigmoid(go[k] + (po?[k] ?? 0) * cNew);
                    hc[k] = og * QuantMath.ApplyActivation(cNew, act);
                }
                if (wp is null)
                    Array.Copy(hc, 0, h, b * nOut, nOut);
                else
                {
                    var proj = new float[nOut];
                    if (bp is not null) Array.Copy(bp, proj, nOut);
                    MatVec(wp, hc, 0, nOut, nCell, proj);
                    for (int k = 0; k < nOut; k++) h[b * nOut + k] = projClip > 0 ? Math.Clamp(proj[k], -projClip, projClip) : proj[k];
                }
                int yOff = timeMajor ? (t * batch + b) * nOut : (b * steps + t) * nOut;
                Array.Copy(h, b * nOut, y, yOff, nOut);
            }
        ctx.SetValue(hIdx, new Tensor(DataType.DtFloat, new[] { batch, nOut }, h));
        ctx.SetValue(cIdx, new Tensor(DataType.DtFloat, new[] { batch, nCell }, c));
        ctx.SetOutput(0, new Tensor(DataType.DtFloat, timeMajor ? new[] { steps, batch, nOut } : new[] { batch, steps, nOut }, y));
    }
}
