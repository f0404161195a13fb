using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.Kernels;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.TfLite.Kernels;

/// <summary>SOFTMAX, LOGISTIC, TANH, RELU, RELU6, RELU_N1_TO_1, LEAKY_RELU, HARD_SWISH (float), float and integer.</summary>
internal static class Activations
{
    public static void Register(Dictionary<BuiltinOperator, TfLiteKernel> r)
    {
        r[BuiltinOperator.SOFTMAX] = Softmax;
        // float tensors use the vectorized functions; the int8/uint8 tables keep TFLite's own float arithmetic.
        r[BuiltinOperator.LOGISTIC] = ctx => Lut(ctx, x => 1.0f / (1.0f + MathF.Exp(-x)), VecMath.Sigmoid);
        r[BuiltinOperator.TANH] = ctx => Lut(ctx, MathF.Tanh, VecMath.Tanh);
        r[BuiltinOperator.RELU] = ctx => Clamp(ctx, 0f, float.PositiveInfinity);
        r[BuiltinOperator.RELU6] = ctx => Clamp(ctx, 0f, 6f);
        r[BuiltinOperator.RELU_N1_TO_1] = ctx => Clamp(ctx, -1f, 1f);
        r[BuiltinOperator.LEAKY_RELU] = LeakyRelu;
        r[BuiltinOperator.HARD_SWISH] = ctx => Lut(ctx, x => x * Math.Clamp(x + 3f, 0f, 6f) / 6f);
    }

    private static void Softmax(OpContext ctx)
    {
        float beta = ctx.Options<SoftmaxOptions>()?.Beta ?? 1f;
        var input = ctx.Input(0);
        int last = input.Shape.Length == 0 ? 1 : input.Shape[^1];
        int rows = last == 0 ? 0 : input.Length / last;
        if (input.DType == DataType.DtFloat)
        {
            var x = Ints.Floats(input);
            var y = new float[x.Length];
            for (int r = 0; r < rows; r++)
            {
                var xr = x.AsSpan(r * last, last);
                var yr = y.AsSpan(r * last, last);
                float max = float.NegativeInfinity;
                foreach (float v in xr) max = Math.Max(max, v);
                for (int j = 0; j < last; j++) yr[j] = (xr[j] - max) * beta;
                VecMath.Exp(yr, yr);
                float sum = 0;
                foreach (float v in yr) sum += v;
                for (int j = 0; j < last; j++) yr[j] /= sum;
            }
            ctx.SetOutput(0, new Tensor(DataType.DtFloat, input.Shape, y));
            return;
        }
        if (input.DType is not (DataType.DtInt8 or DataType.DtUint8)) throw ctx.UnsupportedType(input);
        // TFLite's default (optimized) int8/uint8 softmax: a 256-entry float table of exp(-scale·beta·d) for the
        // distance d from the row maximum, normalized and rounded to the output scale.
        var qi = ctx.InQ(0);
        var qo = ctx.OutQ();
        var table = new float[256];
        float scale = -qi.Scale * beta;
        for (int v = 0; v <= 255; v++) table[255 - v] = MathF.Exp(scale * v);
        var xi = Ints.Of(input);
        var outType = ctx.OutputType();
        var (tmin, tmax) = Ints.Range(outType);
        var res = new int[xi.Length];
        for (int r = 0; r < rows; r++)
        {
            int o = r * last;
            int max = int.MinValue;
            for (int j = 0; j < last; j++) max = Math.Max(max, xi[o + j]);
            int off = 255 - max;
            float sum = 0;
            for (int j = 0; j < last; j++) sum += table[off + xi[o + j]];
            float inv = 1.0f / (sum * qo.Scale);
            for (int j = 0; j < last; j++)
            {
                float p = table[off + xi[o + j]] * inv;
                res[o + j] = Math.Clamp((int)(p + 0.5f) + qo.ZeroPoint, tmin, tmax);
            }
        }
        ctx.SetOutput(0, Ints.ToTensor(res, outType, input.Shape));
    }

    private delegate void FloatMap(ReadOnlySpan<float> x, Span<float> y);

    /// <summary>Float: f(x) (or <paramref name="vec"/> over the span when given). int8/uint8: TFLite's 256-entry lookup table built in float from the quantization.</summary>
    private static void Lut(OpContext ctx, Func<float, float> f, FloatMap? vec = null)
    {
        var input = ctx.Input(0);
        if (input.DType == DataType.DtFloat)
        {
            var x = Ints.Floats(input);
            float[] y;
            if (vec is null) y = x.Select(f).ToArray();
            else
            {
                y = new float[x.Length];
                vec(x, y);
            }
            ctx.SetOutput(0, new Tensor(DataType.DtFloat, input.Shape, y));
            return;
        }
        if (input.DType is not (DataType.DtInt8 or DataType.DtUint8)) throw ctx.UnsupportedType(input);
        var qi = ctx.InQ(0);
        var qo = ctx.OutQ();
        var outType = ctx.OutputType();
        var (tmin, tmax) = Ints.Range(outType);
        var (lo, hi) = Ints.Range(input.DType);
        var table = new int[hi - lo + 1];
        float inverse = 1.0f / qo.Scale;
        for (int v = lo; v <= hi; v++)
        {
            float real = qi.Scale * (v - qi.ZeroPoint);
            float rescaled = MathF.Round(f(real) * inverse, MidpointRounding.AwayFromZero);
            table[v - lo] = Math.Clamp((int)(rescaled + qo.ZeroPoint), tmin, tmax);
        }
        var xi = Ints.Of(input);
        for (int i = 0; i < xi.Length; i++) xi[i] = table[xi[i] - lo];
        ctx.SetOutput(0, Ints.ToTensor(xi, outType, input.Shape));
    }

    private static void Clamp(OpContext ctx, float lo, float hi)
    {
        var input = ctx.Input(0);
        if (input.DType == DataType.DtFloat)
        {
            ctx.SetOutput(0, new Tensor(DataType.DtFloat, input.Shape, Ints.Floats(input).Select(v => Math.Clamp(v, lo, hi)).ToArray()));
            return;
        }
        if (!Ints.IsQuantizedInt(input.DType)) throw ctx.UnsupportedType(input);
        var qi = ctx.InQ(0);
        var qo = ctx.OutQ();
        var outType = ctx.OutputType();
        var (tmin, tmax) = Ints.Range(outType);
        int amin = Math.Max(tmin, qo.ZeroPoint + (int)QuantMath.Round(lo / qo.Scale));
        int amax = float.IsPositiveInfinity(hi) ? tmax : Math.Min(tmax, qo.ZeroPoint + (int)QuantMath.Round(hi / qo.Scale));
        var (m, s) = QuantMath.QuantizeMultiplier(qi.Scale / qo.Scale);
        var xi = Ints.Of(input);
        for (int i = 0; i < xi.Length; i++)
            xi[i] = Math.Clamp(qo.ZeroPoint + QuantMath.MultiplyByQuantizedMultiplier(xi[i] - qi.ZeroPoint, m, s), amin, amax);
        ctx.SetOutput(0, Ints.ToTensor(xi, outType, input.Shape));
    }

    private static void LeakyRelu(OpContext ctx)
    {
        float alpha = ctx.Options<LeakyReluOptions>()?.Alpha ?? 0.2f;
        var input = ctx.Input(0);
        if (input.DType == DataType.DtFloat)
        {
            ctx.SetOutput(0, new Tensor(DataType.DtFloat, input.Shape, Ints.Floats(input).Select(v => v > 0 ? v : v * alpha).ToArray()));
            return;
        }
        if (!Ints.IsQuantizedInt(input.DType)) throw ctx.UnsupportedType(input);
        var qi = ctx.InQ(0);
        var qo = ctx.OutQ();
        var outType = ctx.OutputType();
        var (tmin, tmax) = Ints.Range(outType);
        var (ma, sa) = QuantMath.QuantizeMultiplier(qi.Scale * alpha / qo.Scale) /* float arithmetic, as TFLite */;
        var (mi, si) = QuantMath.QuantizeMultiplier(qi.Scale / qo.Scale);
        var xi = Ints.Of(input);
        for (int i = 0; i < xi.Length; i++)
        {
            int v = xi[i] - qi.ZeroPoint;
            int o = v >= 0 ? QuantMath.MultiplyByQuantizedMultiplier(v, mi, si) : QuantMath.MultiplyByQuantizedMultiplier(v, ma, sa);
            xi[i] = Math.Clamp(o + qo.ZeroPoint, tmin, tmax);
        }
        ctx.SetOutput(0, Ints.ToTensor(xi, outType, input.Shape));
    }
}
