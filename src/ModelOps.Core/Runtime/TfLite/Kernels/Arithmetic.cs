using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.Kernels;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.TfLite.Kernels;

/// <summary>Element-wise binary ops with broadcasting: ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM, SQUARED_DIFFERENCE.</summary>
internal static class Arithmetic
{
    public static void Register(Dictionary<BuiltinOperator, TfLiteKernel> r)
    {
        r[BuiltinOperator.ADD] = ctx => Binary(ctx, '+', ctx.Options<AddOptions>()?.FusedActivationFunction ?? ActivationFunctionType.NONE);
        r[BuiltinOperator.SUB] = ctx => Binary(ctx, '-', ctx.Options<SubOptions>()?.FusedActivationFunction ?? ActivationFunctionType.NONE);
        r[BuiltinOperator.MUL] = ctx => Binary(ctx, '*', ctx.Options<MulOptions>()?.FusedActivationFunction ?? ActivationFunctionType.NONE);
        r[BuiltinOperator.DIV] = ctx => Binary(ctx, '/', ctx.Options<DivOptions>()?.FusedActivationFunction ?? ActivationFunctionType.NONE);
        r[BuiltinOperator.MAXIMUM] = ctx => Binary(ctx, 'M', ActivationFunctionType.NONE);
        r[BuiltinOperator.MINIMUM] = ctx => Binary(ctx, 'm', ActivationFunctionType.NONE);
        r[BuiltinOperator.SQUARED_DIFFERENCE] = ctx => Binary(ctx, 'S', ActivationFunctionType.NONE);
    }

    private static void Binary(OpContext ctx, char op, ActivationFunctionType act)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        var shape = Broadcast.Shape(ctx, a.Shape, b.Shape);
        if (a.DType == DataType.DtFloat && b.DType == DataType.DtFloat)
        {
            // The engine's vectorized broadcasting kernels (same IEEE arithmetic, no per-element index arrays).
            var x = Ints.Floats(a);
            var y = Ints.Floats(b);
            var r = op switch
            {
                '+' => ElementWiseOps.BroadcastFloat<ElementWiseOps.AddOp>(x, a.Shape, y, b.Shape),
                '-' => ElementWiseOps.BroadcastFloat<ElementWiseOps.SubOp>(x, a.Shape, y, b.Shape),
                '*' => ElementWiseOps.BroadcastFloat<ElementWiseOps.MulOp>(x, a.Shape, y, b.Shape),
                '/' => ElementWiseOps.BroadcastFloat<ElementWiseOps.DivOp>(x, a.Shape, y, b.Shape),
                'M' => ElementWiseOps.BroadcastFloat<ElementWiseOps.MaxOp>(x, a.Shape, y, b.Shape),
                'm' => ElementWiseOps.BroadcastFloat<ElementWiseOps.MinOp>(x, a.Shape, y, b.Shape),
                _ => ElementWiseOps.BroadcastFloat<ElementWiseOps.SqDiffOp>(x, a.Shape, y, b.Shape),
            };
            switch (act)
            {
                case ActivationFunctionType.NONE: break;
                case ActivationFunctionType.RELU: Activation.Relu(r, r); break;
                case ActivationFunctionType.RELU6: Activation.Relu6(r, r); break;
                default:
                    for (int i = 0; i < r.Length; i++) r[i] = QuantMath.ApplyActivation(r[i], act);
                    break;
            }
            ctx.SetOutput(0, new Tensor(DataType.DtFloat, shape, r));
            return;
        }
        bool same = Broadcast.Same(a.Shape, shape) && Broadcast.Same(b.Shape, shape);
        int[]? ia = same ? null : Broadcast.Indices(a.Shape, shape);
        int[]? ib = same ? null : Broadcast.Indices(b.Shape, shape);
        int n = (int)Tensor.ElementCount(shape);
        var dt = a.DType;

        if (dt is DataType.DtFloat or DataType.DtHalf)
        {
            float[] x = Ints.Floats(a), y = Ints.Floats(b);
            var r = new float[n];
            for (int i = 0; i < n; i++)
            {
                float p = x[ia?[i] ?? i], q = y[ib?[i] ?? i];
                float v = op switch { '+' => p + q, '-' => p - q, '*' => p * q, '/' => p / q, 'M' => Math.Max(p, q), 'm' => Math.Min(p, q), _ => (p - q) * (p - q) };
                r[i] = QuantMath.ApplyActivation(v, act);
            }
            ctx.SetOutput(0, new Tensor(DataType.DtFloat, shape, r));
            return;
        }
        if (dt is DataType.DtInt32 or DataType.DtInt64 || (Ints.IsQuantizedInt(dt) && ctx.InputInfo(0).Quantization is null))
        {
            long[] x = a.ToInt64Array(), y = b.ToInt64Array();
            var r = new long[n];
            for (int i = 0; i < n; i++)
            {
                long p = x[ia?[i] ?? i], q = y[ib?[i] ?? i];
                r[i] = op switch { '+' => p + q, '-' => p - q, '*' => p * q, '/' => q == 0 ? 0 : p / q, 'M' => Math.Max(p, q), 'm' => Math.Min(p, q), _ => (p - q) * (p - q) };
                if (act == ActivationFunctionType.RELU) r[i] = Math.Max(0, r[i]);
            }
            ctx.SetOutput(0, dt == DataType.DtInt64 ? new Tensor(dt, shape, r) : Ints.ToTensor(r.Select(v => (int)v).ToArray(), dt, shape));
            return;
        }
        if (!Ints.IsQuantizedInt(dt)) throw ctx.UnsupportedType(a);

        var outType = dt; // TFLite gives the output the inputs' type, whatever the file declares
        var (tmin, tmax) = Ints.Range(outType);
        QParams q1 = ctx.InQ(0), q2 = ctx.InQ(1), qo = ctx.OutQ();
        var (amin, amax) = QuantMath.ActivationRange(act, qo.Scale, qo.ZeroPoint, tmin, tmax);
        int[] xa = Ints.Of(a), xb = Ints.Of(b);
        var res = new int[n];
        if (op is '+' or '-')
        {
            // Both inputs are rescaled to a common scale with 20 (int16: 15) bits of headroom, summed, rescaled to the output.
            int leftShift = outType == DataType.DtInt16 ? 15 : 20;
            double twiceMax = 2.0 * Math.Max(q1.Scale, q2.Scale);
            var (m1, s1) = QuantMath.QuantizeMultiplierSmallerThanOne(q1.Scale / twiceMax);
            var (m2, s2) = QuantMath.QuantizeMultiplierSmallerThanOne(q2.Scale / twiceMax);
            var (mo, so) = QuantMath.QuantizeMultiplierSmallerThanOne(twiceMax / ((1 << leftShift) * qo.Scale));
            if (op == '-') m2 = -m2; // TFLite runs SUB as ADD with the second multiplier negated
            for (int i = 0; i < n; i++)
            {
                int v1 = (xa[ia?[i] ?? i] - q1.ZeroPoint) * (1 << leftShift);
                int v2 = (xb[ib?[i] ?? i] - q2.ZeroPoint) * (1 << leftShift);
                int sum = QuantMath.MultiplyByQuantizedMultiplierSmallerThanOneExp(v1, m1, s1)
                        + QuantMath.MultiplyByQuantizedMultiplierSmallerThanOneExp(v2, m2, s2);
                int o = QuantMath.MultiplyByQuantizedMultiplierSmallerThanOneExp(sum, mo, so) + qo.ZeroPoint;
                res[i] = Math.Clamp(o, amin, amax);
            }
        }
        else if (op == '*')
        {
            var (m, s) = QuantMath.QuantizeMultiplier(q1.Scale * q2.Scale / qo.Scale); // float arithmetic, as TFLite
            for (int i = 0; i < n; i++)
            {
                int p = (xa[ia?[i] ?? i] - q1.ZeroPoint) * (xb[ib?[i] ?? i] - q2.ZeroPoint);
                res[i] = Math.Clamp(QuantMath.MultiplyByQuantizedMultiplier(p, m, s) + qo.ZeroPoint, amin, amax);
            }
        }
        else if (op is 'M' or 'm')
        {
            for (int i = 0; i < n; i++)
            {
                int p = xa[ia?[i] ?? i], q = xb[ib?[i] ?? i];
                res[i] = op == 'M' ? Math.Max(p, q) : Math.Min(p, q);
            }
        }
        else throw ctx.Unsupported($"quantized {ctx.Code.Name} is not implemented");
        ctx.SetOutput(0, Ints.ToTensor(res, outType, shape));
    }
}
