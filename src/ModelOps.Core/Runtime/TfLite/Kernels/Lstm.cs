using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.TfLite.Kernels;

/// <summary>
/// UNIDIRECTIONAL_SEQUENCE_LSTM and LSTM (one step). Inputs follow TFLite's order: x, 4 input weights, 4 recurrent
/// weights, 3 peepholes, 4 biases, projection weights and bias, output state, cell state, 4 layer-norm coefficients.
/// Gates: i, f, g (cell), o; CIFG when the input gate is absent.
/// Float (int8/uint8 weights of hybrid models dequantized) and full-integer 8x8→16 (int8 activations and weights,
/// int16 cell state and gates, 5 intermediate tensors), the latter with TFLite's integer arithmetic (lstm_eval.cc
/// EvalInteger8x8_16), bit for bit.
/// </summary>
internal static class Lstm
{
    public static void Register(Dictionary<BuiltinOperator, TfLiteKernel> r)
    {
        r[BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM] = UnidirectionalSequenceLstm;
        r[BuiltinOperator.LSTM] = LstmStep;
    }

    private const int InputToInput = 1, InputToForget = 2, InputToCell = 3, InputToOutput = 4;
    private const int RecurrentToInput = 5, RecurrentToForget = 6, RecurrentToCell = 7, RecurrentToOutput = 8;
    private const int CellToInput = 9, CellToForget = 10, CellToOutput = 11;
    private const int InputGateBias = 12, ForgetGateBias = 13, CellGateBias = 14, OutputGateBias = 15;
    private const int ProjectionWeights = 16, ProjectionBias = 17, OutputState = 18, CellState = 19;
    private const int InputLayerNorm = 20, ForgetLayerNorm = 21, CellLayerNorm = 22, OutputLayerNorm = 23;

    private static void UnidirectionalSequenceLstm(OpContext ctx)
    {
        var o = ctx.Options<UnidirectionalSequenceLSTMOptions>();
        var x = ctx.Input(0);
        if (x.Rank != 3) throw ctx.Unsupported("the input must be 3-D");
        var p = new LstmParams(o?.FusedActivationFunction ?? ActivationFunctionType.TANH, o?.CellClip ?? 0, o?.ProjClip ?? 0, o?.TimeMajor ?? false);
        if (x.DType == DataType.DtInt8) Integer8x8To16(ctx, x, p);
        else if (x.DType == DataType.DtFloat) FloatLstm(ctx, x, p);
        else throw ctx.UnsupportedType(x);
    }

    /// <summary>LSTM: one time step of a [batch, input] input (TFLite's full kernel; the basic 5-input kernel is not implemented).</summary>
    private static void LstmStep(OpContext ctx)
    {
        var o = ctx.Options<LSTMOptions>();
        if (o is { KernelType: LSTMKernelType.BASIC } || ctx.InputCount < 20) throw ctx.Unsupported("the basic (5-input) LSTM kernel is not implemented");
        var x = ctx.Input(0);
        if (x.Rank != 2) throw ctx.Unsupported("the input must be 2-D [batch, input]");
        var p = new LstmParams(o?.FusedActivationFunction ?? ActivationFunctionType.TANH, o?.CellClip ?? 0, o?.ProjClip ?? 0, TimeMajor: true);
        if (x.DType == DataType.DtInt8) Integer8x8To16(ctx, x, p);
        else if (x.DType == DataType.DtFloat) FloatLstm(ctx, x, p);
        else throw ctx.UnsupportedType(x);
    }

    private readonly record struct LstmParams(ActivationFunctionType Activation, float CellClip, float ProjClip, bool TimeMajor);

    // Sequence layout: (steps, batch) of a rank-3 input, or one step of a rank-2 [batch, input] one.
    private static (int Steps, int Batch, int Input) Layout(Tensor x, bool timeMajor) =>
        x.Rank == 2 ? (1, x.Shape[0], x.Shape[1])
        : timeMajor ? (x.Shape[0], x.Shape[1], x.Shape[2]) : (x.Shape[1], x.Shape[0], x.Shape[2]);

    private static int[] OutputShape(Tensor x, int nOut)
    {
        var shape = (int[])x.Shape.Clone();
        shape[^1] = nOut;
        return shape;
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

    private static void FloatLstm(OpContext ctx, Tensor x, LstmParams p)
    {
        var act = p.Activation;
        float cellClip = p.CellClip, projClip = p.ProjClip;
        bool timeMajor = p.TimeMajor;
        var (steps, batch, nIn) = Layout(x, timeMajor);
        var wxf = F(ctx, InputToForget)!;
        int nCell = wxf.Length / nIn;
        float[]? wxi = F(ctx, InputToInput), wxc = F(ctx, InputToCell), wxo = F(ctx, InputToOutput);
        var whf = F(ctx, RecurrentToForget)!;
        int nOut = whf.Length / nCell;
        float[]? whi = F(ctx, RecurrentToInput), whc = F(ctx, RecurrentToCell), who = F(ctx, RecurrentToOutput);
        float[]? pi = F(ctx, CellToInput), pf = F(ctx, CellToForget), po = F(ctx, CellToOutput);
        float[]? bi = F(ctx, InputGateBias), bf = F(ctx, ForgetGateBias), bc = F(ctx, CellGateBias), bo = F(ctx, OutputGateBias);
        float[]? wp = F(ctx, ProjectionWeights), bp = F(ctx, ProjectionBias);
        if (wxc is null || wxo is null || whc is null || who is null) throw ctx.Unsupported("cell and output gate weights are required");
        bool cifg = wxi is null;
        // Layer norm (when the forget gate's coefficients are given): the gate bias moves after the normalization.
        bool layerNorm = ctx.HasInput(ForgetLayerNorm);
        float[]? li = layerNorm ? F(ctx, InputLayerNorm) : null, lf = layerNorm ? F(ctx, ForgetLayerNorm) : null;
        float[]? lc = layerNorm ? F(ctx, CellLayerNorm) : null, lo = layerNorm ? F(ctx, OutputLayerNorm) : null;
        if (layerNorm && (lc is null || lo is null || (!cifg && li is null))) throw ctx.Unsupported("a layer-norm LSTM needs coefficients for every gate it has");

        int hIdx = ctx.Op.Inputs[OutputState], cIdx = ctx.Op.Inputs[CellState];
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
        // MeanStddevNormalization, then coefficients and bias (TFLite's float layer-norm LSTM).
        static void Normalize(float[] g, float[] coef, float[]? bias)
        {
            float sum = 0;
            foreach (float v in g) sum += v;
            float mean = sum / g.Length, sq = 0;
            foreach (float v in g) sq += (v - mean) * (v - mean);
            float inv = 1f / MathF.Sqrt(sq / g.Length + 1e-8f);
            for (int k = 0; k < g.Length; k++) g[k] = (g[k] - mean) * inv * coef[k] + (bias?[k] ?? 0);
        }

        for (int t = 0; t < steps; t++)
            for (int b = 0; b < batch; b++)
            {
                int xOff = timeMajor ? (t * batch + b) * nIn : (b * steps + t) * nIn;
                var hPrev = h.AsSpan(b * nOut, nOut).ToArray();
                for (int k = 0; k < nCell; k++)
                    if (layerNorm) gi[k] = gf[k] = gc[k] = go[k] = 0;
                    else { gi[k] = bi?[k] ?? 0; gf[k] = bf?[k] ?? 0; gc[k] = bc?[k] ?? 0; go[k] = bo?[k] ?? 0; }
                MatVec(wxi, xs, xOff, nCell, nIn, gi); MatVec(wxf, xs, xOff, nCell, nIn, gf);
                MatVec(wxc, xs, xOff, nCell, nIn, gc); MatVec(wxo, xs, xOff, nCell, nIn, go);
                MatVec(whi, hPrev, 0, nCell, nOut, gi); MatVec(whf, hPrev, 0, nCell, nOut, gf);
                MatVec(whc, hPrev, 0, nCell, nOut, gc); MatVec(who, hPrev, 0, nCell, nOut, go);
                for (int k = 0; k < nCell; k++)
                {
                    float cPrev = c[b * nCell + k];
                    gf[k] += (pf?[k] ?? 0) * cPrev;
                    if (!cifg) gi[k] += (pi?[k] ?? 0) * cPrev;
                }
                if (layerNorm)
                {
                    if (!cifg) Normalize(gi, li!, bi);
                    Normalize(gf, lf!, bf);
                    Normalize(gc, lc!, bc);
                }
                for (int k = 0; k < nCell; k++)
                {
                    float cPrev = c[b * nCell + k];
                    float f = Sigmoid(gf[k]);
                    float i = cifg ? 1f - f : Sigmoid(gi[k]);
                    float g = QuantMath.ApplyActivation(gc[k], act);
                    float cNew = f * cPrev + i * g;
                    if (cellClip > 0) cNew = Math.Clamp(cNew, -cellClip, cellClip);
                    c[b * nCell + k] = cNew;
                    go[k] += (po?[k] ?? 0) * cNew;
                }
                if (layerNorm) Normalize(go, lo!, bo);
                for (int k = 0; k < nCell; k++)
                    hc[k] = Sigmoid(go[k]) * QuantMath.ApplyActivation(c[b * nCell + k], act);
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
        ctx.SetValue(hIdx, new Tensor(DataType.DtFloat, ctx.InputInfo(OutputState).Shape, h));
        ctx.SetValue(cIdx, new Tensor(DataType.DtFloat, ctx.InputInfo(CellState).Shape, c));
        ctx.SetOutput(0, new Tensor(DataType.DtFloat, OutputShape(x, nOut), y));
    }

    // ---------------------------------------------------------------------------------------------------------
    // Full-integer LSTM, 8x8→16: int8 input, weights, output state and output; int16 cell state; gates computed
    // in int16 (Q3.12 before the activation without layer norm, Q0.15 after). Parameters as TFLite's
    // PopulateQuantizedLstmParams8x8_16 and PopulatePrecomputedZPTimesWeightsWithBias derive them.
    // ---------------------------------------------------------------------------------------------------------

    /// <summary>One gate's weights, requantization multipliers and precomputed biases.</summary>
    private sealed class Gate
    {
        public required sbyte[] InputWeights;
        public required int InputMultiplier, InputShift;
        public required int[] InputBias; // gate bias (without layer norm) + rowsum(W_x) × −input_zp
        public required sbyte[] RecurrentWeights;
        public required int RecurrentMultiplier, RecurrentShift;
        public required int[] RecurrentBias; // rowsum(W_h) × −output_state_zp
        public short[]? Peephole;
        public int PeepholeMultiplier, PeepholeShift;
        public short[]? LayerNorm;
        public int[]? LayerNormBias;
        public int LayerNormMultiplier, LayerNormShift, VarianceGuard;
    }

    private static float Scale(OpContext ctx, int tensorIndex, string what)
    {
        var q = ctx.Graph.Tensors[tensorIndex].Quantization;
        if (q is not { HasScale: true }) throw ctx.Unsupported($"the {what} has no quantization scale");
        if (q.PerChannel) throw ctx.Unsupported($"the {what} is quantized per channel; the integer LSTM takes one scale per tensor");
        return q.Scale[0];
    }

    private static int ZeroPoint(OpContext ctx, int tensorIndex)
    {
        var q = ctx.Graph.Tensors[tensorIndex].Quantization;
        return q is { ZeroPoint.Length: > 0 } ? (int)q.ZeroPoint[0] : 0;
    }

    private static T[] Data<T>(OpContext ctx, int input, DataType dtype, string what)
    {
        var t = ctx.Input(input);
        if (t.DType != dtype) throw ctx.Unsupported($"the {what} is {t.DType.Name()}; the integer LSTM needs {dtype.Name()}");
        return t.As<T>();
    }

    /// <summary>bias + rowsum(weights) × zeroPoint (TFLite's PrecomputeZeroPointTimesWeightWithBias).</summary>
    private static int[] ZeroPointTimesWeightWithBias(int zeroPoint, sbyte[] weights, int rows, int cols, int[]? bias)
    {
        var r = bias is null ? new int[rows] : (int[])bias.Clone();
        if (zeroPoint != 0)
            for (int i = 0; i < rows; i++)
            {
                int rowSum = 0;
                for (int j = 0; j < cols; j++) rowSum += weights[i * cols + j];
                r[i] = unchecked(r[i] + rowSum * zeroPoint);
            }
        return r;
    }

    /// <summary>CheckedLog2: the cell state's scale must be a power of two; returns its exponent.</summary>
    private static int CellScaleExponent(OpContext ctx, float scale)
    {
        float log2 = MathF.Log(scale) * (1.0f / MathF.Log(2.0f));
        float rounded = QuantMath.Round(log2);
        if (!(MathF.Abs(log2 - rounded) < 1e-3f))
            throw ctx.Unsupported($"the cell state's scale {scale} is not a power of two, as the integer LSTM requires");
        return (int)rounded;
    }

    private static void Integer8x8To16(OpContext ctx, Tensor x, LstmParams p)
    {
        var inter = ctx.Op.Intermediates;
        if (inter.Length != 5)
            throw ctx.Unsupported(inter.Length == 12
                ? "the 8x8→8 integer LSTM (12 intermediate tensors) is not implemented; only the 8x8→16 one (5 intermediates)"
                : $"the integer LSTM needs 5 intermediate tensors, this operator has {inter.Length}");
        var (steps, batch, nIn) = Layout(x, p.TimeMajor);
        var wxo = ctx.Input(InputToOutput);
        if (wxo.Rank != 2 || wxo.Shape[1] != nIn) throw ctx.Unsupported("the input-to-output weights must be [cells, input]");
        int nCell = wxo.Shape[0];
        var who = ctx.Input(RecurrentToOutput);
        if (who.Rank != 2 || who.Shape[0] != nCell) throw ctx.Unsupported("the recurrent-to-output weights must be [cells, output]");
        int nOut = who.Shape[1];
        bool cifg = !ctx.HasInput(InputToInput);
        bool layerNorm = ctx.HasInput(ForgetLayerNorm);
        bool peephole = ctx.HasInput(CellToOutput);
        bool projection = ctx.HasInput(ProjectionWeights);
        if (peephole && nOut != nCell) throw ctx.Unsupported("a peephole LSTM with a projection of a different size (TFLite indexes the peephole by the output size)");
        if (!projection && nOut != nCell) throw ctx.Unsupported($"without a projection the output size ({nOut}) must equal the cell count ({nCell})");

        int hIdx = ctx.Op.Inputs[OutputState], cIdx = ctx.Op.Inputs[CellState];
        if (ctx.Graph.Tensors[cIdx].DType != DataType.DtInt16) throw ctx.Unsupported("the cell state of an integer LSTM must be int16");
        if (ctx.Graph.Tensors[hIdx].DType != DataType.DtInt8) throw ctx.Unsupported("the output state of an integer LSTM must be int8");

        // Scales (float arithmetic, as TFLite computes them before QuantizeMultiplier takes them as double).
        float inputScale = Scale(ctx, ctx.Op.Inputs[0], "input");
        float outputStateScale = Scale(ctx, hIdx, "output state");
        int cellScale = CellScaleExponent(ctx, Scale(ctx, cIdx, "cell state"));
        var intermediateScale = new float[5];
        for (int k = 0; k < 4; k++) intermediateScale[k] = layerNorm ? Scale(ctx, inter[k], $"intermediate tensor {k}") : (float)Math.Pow(2, -12);
        intermediateScale[4] = Scale(ctx, inter[4], "hidden intermediate tensor");
        int hiddenZp = ZeroPoint(ctx, inter[4]);
        int inputZp = ZeroPoint(ctx, ctx.Op.Inputs[0]);
        int outputStateZp = ZeroPoint(ctx, hIdx);

        Gate? MakeGate(int wx, int wh, int peep, int bias, int ln, int k)
        {
            if (!ctx.HasInput(wx)) return null;
            var wxData = Data<sbyte>(ctx, wx, DataType.DtInt8, "input weights");
            var whData = Data<sbyte>(ctx, wh, DataType.DtInt8, "recurrent weights");
            if (wxData.Length != nCell * nIn || whData.Length != nCell * nOut) throw ctx.Unsupported("gate weights do not match [cells, input] / [cells, output]");
            int[]? biasData = ctx.HasInput(bias) ? Data<int>(ctx, bias, DataType.DtInt32, "gate bias") : null;
            float wxScale = Scale(ctx, ctx.Op.Inputs[wx], "input weights"), whScale = Scale(ctx, ctx.Op.Inputs[wh], "recurrent weights");
            var (mx, sx) = QuantMath.QuantizeMultiplier(wxScale * inputScale / intermediateScale[k]);
            var (mh, sh) = QuantMath.QuantizeMultiplier(whScale * outputStateScale / intermediateScale[k]);
            var g = new Gate
            {
                InputWeights = wxData, InputMultiplier = mx, InputShift = sx,
                InputBias = ZeroPointTimesWeightWithBias(-inputZp, wxData, nCell, nIn, layerNorm ? null : biasData),
                RecurrentWeights = whData, RecurrentMultiplier = mh, RecurrentShift = sh,
                RecurrentBias = ZeroPointTimesWeightWithBias(-outputStateZp, whData, nCell, nOut, null),
            };
            if (peephole && peep >= 0 && ctx.HasInput(peep))
            {
                g.Peephole = Data<short>(ctx, peep, DataType.DtInt16, "peephole weights");
                float ps = Scale(ctx, ctx.Op.Inputs[peep], "peephole weights");
                (g.PeepholeMultiplier, g.PeepholeShift) = QuantMath.QuantizeMultiplier((float)(Math.Pow(2, cellScale) * ps / intermediateScale[k]));
            }
            if (layerNorm)
            {
                g.LayerNorm = Data<short>(ctx, ln, DataType.DtInt16, "layer-norm coefficients");
                g.LayerNormBias = biasData ?? new int[nCell];
                float lnScale = Scale(ctx, ctx.Op.Inputs[ln], "layer-norm coefficients");
                (g.LayerNormMultiplier, g.LayerNormShift) = QuantMath.QuantizeMultiplier(lnScale);
                g.VarianceGuard = Math.Max(1, (int)(10000 * lnScale));
            }
            return g;
        }

        var inputGate = cifg ? null : MakeGate(InputToInput, RecurrentToInput, CellToInput, InputGateBias, InputLayerNorm, 0);
        var forgetGate = MakeGate(InputToForget, RecurrentToForget, CellToForget, ForgetGateBias, ForgetLayerNorm, 1)!;
        var cellGate = MakeGate(InputToCell, RecurrentToCell, -1, CellGateBias, CellLayerNorm, 2)!;
        var outputGate = MakeGate(InputToOutput, RecurrentToOutput, CellToOutput, OutputGateBias, OutputLayerNorm, 3)!;
        if (forgetGate is null || cellGate is null) throw ctx.Unsupported("forget and cell gate weights are required");

        var (hiddenM, hiddenS) = QuantMath.QuantizeMultiplier((float)(Math.Pow(2, -15) / intermediateScale[4] * Math.Pow(2, -15)));
        sbyte[]? projW = null;
        int[]? projBias = null;
        int projM = 0, projS = 0;
        if (projection)
        {
            projW = Data<sbyte>(ctx, ProjectionWeights, DataType.DtInt8, "projection weights");
            if (projW.Length != nOut * nCell) throw ctx.Unsupported("the projection weights must be [output, cells]");
            int[]? pb = ctx.HasInput(ProjectionBias) ? Data<int>(ctx, ProjectionBias, DataType.DtInt32, "projection bias") : null;
            projBias = ZeroPointTimesWeightWithBias(hiddenZp, projW, nOut, nCell, pb);
            (projM, projS) = QuantMath.QuantizeMultiplier(Scale(ctx, ctx.Op.Inputs[ProjectionWeights], "projection weights") * intermediateScale[4] / outputStateScale);
        }
        short cellClip = p.CellClip > 0 ? (short)Math.Min(Math.Max(p.CellClip / Scale(ctx, cIdx, "cell state"), -32768.0f), 32767.0f) : (short)0;
        sbyte projClip = p.ProjClip > 0 ? (sbyte)Math.Min(Math.Max(p.ProjClip / Scale(ctx, ctx.Op.Outputs[0], "output"), -128.0f), 127.0f) : (sbyte)0;
        int tanhIntegerBits = 15 + cellScale;
        if (tanhIntegerBits is < 0 or > 6) throw ctx.Unsupported($"the cell state's scale 2^{cellScale} is outside what TFLite's integer tanh takes (2^-15 … 2^-9)");

        // State: the stored values, or TFLite's reset values (the zero point for int8, 0 for int16).
        var stateH = ctx.Value(hIdx) is { DType: DataType.DtInt8 } hv ? (sbyte[])hv.As<sbyte>().Clone() : Enumerable.Repeat((sbyte)outputStateZp, batch * nOut).ToArray();
        var stateC = ctx.Value(cIdx) is { DType: DataType.DtInt16 } cv ? (short[])cv.As<short>().Clone() : new short[batch * nCell];
        if (stateH.Length != batch * nOut || stateC.Length != batch * nCell) throw ctx.Unsupported("the state tensors do not hold batch × output / batch × cells values");

        var xs = x.As<sbyte>();
        var y = new sbyte[steps * batch * nOut];
        var step = new StepBuffers(p.TimeMajor ? batch : 1, nCell);
        var net = new IntegerNet(inputGate, forgetGate, cellGate, outputGate, nIn, nCell, nOut, cellScale, cellClip, hiddenM, hiddenS, hiddenZp,
            projW, projBias, projM, projS, outputStateZp, projClip);
        if (p.TimeMajor)
        {
            for (int t = 0; t < steps; t++)
            {
                net.Step(xs.AsSpan(t * batch * nIn, batch * nIn), batch, stateH, stateC, step);
                Array.Copy(stateH, 0, y, t * batch * nOut, batch * nOut);
            }
        }
        else
        {
            var h1 = new sbyte[nOut];
            var c1 = new short[nCell];
            for (int b = 0; b < batch; b++)
            {
                Array.Copy(stateH, b * nOut, h1, 0, nOut);
                Array.Copy(stateC, b * nCell, c1, 0, nCell);
                for (int t = 0; t < steps; t++)
                {
                    int off = b * steps + t;
                    net.Step(xs.AsSpan(off * nIn, nIn), 1, h1, c1, step);
                    Array.Copy(h1, 0, y, off * nOut, nOut);
                }
                Array.Copy(h1, 0, stateH, b * nOut, nOut);
                Array.Copy(c1, 0, stateC, b * nCell, nCell);
            }
        }
        ctx.SetValue(hIdx, new Tensor(DataType.DtInt8, ctx.InputInfo(OutputState).Shape, stateH));
        ctx.SetValue(cIdx, new Tensor(DataType.DtInt16, ctx.InputInfo(CellState).Shape, stateC));
        ctx.SetOutput(0, new Tensor(DataType.DtInt8, OutputShape(x, nOut), y));
    }

    private sealed class StepBuffers(int batch, int nCell)
    {
        public readonly short[] InputGate = new short[batch * nCell], ForgetGate = new short[batch * nCell];
        public readonly short[] CellGate = new short[batch * nCell], OutputGate = new short[batch * nCell];
        public readonly short[] CellTanh = new short[batch * nCell];
        public readonly sbyte[] Hidden = new sbyte[batch * nCell];
    }

    private sealed class IntegerNet(
        Gate? inputGate, Gate forgetGate, Gate cellGate, Gate outputGate, int nIn, int nCell, int nOut, int cellScale, short cellClip,
        int hiddenM, int hiddenS, int hiddenZp, sbyte[]? projW, int[]? projBias, int projM, int projS, int outputStateZp, sbyte projClip)
    {
        /// <summary>One time step for <paramref name="batch"/> rows (LstmStepInteger8x8_16); updates h and c in place.</summary>
        public void Step(ReadOnlySpan<sbyte> x, int batch, sbyte[] h, short[] c, StepBuffers s)
        {
            int n = batch * nCell;
            if (inputGate is not null) GateStep(inputGate, x, h, c, batch, tanh: false, s.InputGate);
            GateStep(forgetGate, x, h, c, batch, tanh: false, s.ForgetGate);
            GateStep(cellGate, x, h, c, batch, tanh: true, s.CellGate);

            // Cell update: c = f·c + i·g (CIFG: i = 1 − f), saturating add, optional clip.
            for (int k = 0; k < n; k++)
            {
                short fc = (short)QuantMath.RoundingDivideByPOT(s.ForgetGate[k] * c[k], 15);
                short i = inputGate is null ? (short)(32767 - s.ForgetGate[k]) : s.InputGate[k];
                short ig = (short)QuantMath.RoundingDivideByPOT(i * s.CellGate[k], 30 + cellScale);
                int sum = Math.Clamp(fc + ig, short.MinValue, short.MaxValue);
                if (cellClip > 0) sum = Math.Clamp(sum, -cellClip, cellClip);
                c[k] = (short)sum;
            }

            GateStep(outputGate, x, h, c, batch, tanh: false, s.OutputGate);

            // Hidden = o · tanh(c), requantized to int8 (its zero point subtracted, as TFLite does).
            for (int k = 0; k < n; k++)
            {
                s.CellTanh[k] = QuantMath.FixedPoint16.Tanh(c[k], 15 + cellScale);
                int v = QuantMath.MultiplyByQuantizedMultiplier(s.OutputGate[k] * s.CellTanh[k], hiddenM, hiddenS) - hiddenZp;
                s.Hidden[k] = (sbyte)Math.Clamp(v, -128, 127);
            }
            if (projW is null)
            {
                Array.Copy(s.Hidden, h, batch * nOut);
                return;
            }
            for (int b = 0; b < batch; b++)
                for (int r = 0; r < nOut; r++)
                {
                    int acc = projBias![r];
                    int wo = r * nCell, ho = b * nCell;
                    for (int k = 0; k < nCell; k++) acc += s.Hidden[ho + k] * projW[wo + k];
                    int v = Math.Clamp(QuantMath.MultiplyByQuantizedMultiplier(acc, projM, projS) + outputStateZp, -128, 127);
                    if (projClip > 0) v = Math.Clamp(v, -projClip, projClip);
                    h[b * nOut + r] = (sbyte)v;
                }
        }

        // CalculateLstmGateInteger8x8_16: W_x·x and W_h·h requantized to the gate's int16 scale and added with
        // saturation, optional peephole and layer norm, then sigmoid (Q3.12 → Q0.15) or tanh.
        private void GateStep(Gate g, ReadOnlySpan<sbyte> x, sbyte[] h, short[] c, int batch, bool tanh, short[] gate)
        {
            for (int b = 0; b < batch; b++)
                for (int r = 0; r < nCell; r++)
                {
                    int accX = g.InputBias[r], accH = g.RecurrentBias[r];
                    int xo = b * nIn, wxo = r * nIn;
                    for (int k = 0; k < nIn; k++) accX += x[xo + k] * g.InputWeights[wxo + k];
                    int ho = b * nOut, who = r * nOut;
                    for (int k = 0; k < nOut; k++) accH += h[ho + k] * g.RecurrentWeights[who + k];
                    int v = Math.Clamp(QuantMath.MultiplyByQuantizedMultiplier(accX, g.InputMultiplier, g.InputShift), short.MinValue, short.MaxValue);
                    v = Math.Clamp(QuantMath.MultiplyByQuantizedMultiplier(accH, g.RecurrentMultiplier, g.RecurrentShift) + v, short.MinValue, short.MaxValue);
                    if (g.Peephole is { } pw)
                        v = Math.Clamp(QuantMath.MultiplyByQuantizedMultiplier(pw[r] * c[b * nCell + r], g.PeepholeMultiplier, g.PeepholeShift) + v, short.MinValue, short.MaxValue);
                    gate[b * nCell + r] = (short)v;
                }
            if (g.LayerNorm is not null) LayerNorm(g, gate, batch);
            for (int k = 0; k < batch * nCell; k++)
                gate[k] = tanh ? QuantMath.FixedPoint16.Tanh(gate[k], 3) : QuantMath.FixedPoint16.Logistic(gate[k], 3);
        }

        // ApplyLayerNorm: integer mean and variance (×2^10 resolution), inverse sqrt as a multiplier, then
        // coefficients, bias and the layer-norm scale back to Q3.12.
        private void LayerNorm(Gate g, short[] gate, int batch)
        {
            const int twoToPower20 = 1 << 20;
            var w = g.LayerNorm!;
            var bias = g.LayerNormBias!;
            for (int b = 0; b < batch; b++)
            {
                long sum = 0, sumSq = 0;
                for (int j = 0; j < nCell; j++)
                {
                    int v = gate[b * nCell + j];
                    sum += v;
                    sumSq += v * v;
                }
                int mean = (int)(sum * 1024 / nCell);
                int temp = twoToPower20 / nCell;
                long variance = sumSq * temp - (long)mean * mean;
                int variance2 = (int)(variance / twoToPower20);
                if (variance2 < 1) variance2 = g.VarianceGuard;
                var (invA, invB) = QuantMath.InvSqrtQuantizedMultiplierExp(variance2, -1);
                for (int j = 0; j < nCell; j++)
                {
                    int idx = b * nCell + j;
                    int shifted = unchecked(1024 * gate[idx] - mean);
                    int rescaled = QuantMath.MultiplyByQuantizedMultiplier(shifted, invA, invB);
                    long val3 = unchecked(rescaled * w[j] + bias[j]);
                    int val4 = (int)((val3 > 0 ? val3 + 512 : val3 - 512) / 1024);
                    int val5 = QuantMath.MultiplyByQuantizedMultiplier(val4, g.LayerNormMultiplier, g.LayerNormShift + 12);
                    gate[idx] = (short)Math.Clamp(val5, short.MinValue, short.MaxValue);
                }
            }
        }
    }
}
