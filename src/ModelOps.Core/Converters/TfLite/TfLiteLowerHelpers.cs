using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Converters.TfLite;

/// <summary>Shared pieces of the per-family lowerings: layouts, padding, broadcasting, activations, small constant folds.</summary>
public static class TfLiteLowerHelpers
{
    /// <summary>Requires NHWC (TFLite's only image layout) and returns (strideH, strideW) etc. from a 4-element NHWC list.</summary>
    public static (int H, int W) Nhwc2(TfLiteLoweringContext ctx, string attr, long defaultValue = 1)
    {
        var v = ctx.Ints(attr, new[] { 1, defaultValue, defaultValue, 1 });
        if (v.Length == 2) return ((int)v[0], (int)v[1]);
        if (v.Length != 4 || v[0] != 1 || v[3] != 1) throw ctx.Error($"has {attr}={Tensor.FormatShape(v)}; TFLite supports only [1,h,w,1] in NHWC.");
        return ((int)v[1], (int)v[2]);
    }

    public static void RequireNhwc(TfLiteLoweringContext ctx)
    {
        string f = ctx.String("data_format", "NHWC");
        if (f != "NHWC") throw ctx.Error($"uses data_format {f}; TFLite supports NHWC only. Convert the model to NHWC first.");
    }

    public static Padding PaddingOf(TfLiteLoweringContext ctx)
    {
        string p = ctx.String("padding");
        return p switch
        {
            "SAME" => Padding.SAME,
            "VALID" => Padding.VALID,
            _ => throw ctx.Error($"uses padding {p}; only SAME and VALID lower to TFLite."),
        };
    }

    /// <summary>Output size of a window op along one axis (TF's rule for SAME / VALID).</summary>
    public static int WindowOut(int input, int kernel, int stride, int dilation, Padding padding)
    {
        int effective = (kernel - 1) * dilation + 1;
        return padding == Padding.SAME ? (input + stride - 1) / stride : (input - effective + stride) / stride;
    }

    /// <summary>Numpy broadcasting of two shapes.</summary>
    public static int[] Broadcast(TfLiteLoweringContext ctx, int[] a, int[] b)
    {
        int n = Math.Max(a.Length, b.Length);
        var r = new int[n];
        for (int i = 0; i < n; i++)
        {
            int x = i - (n - a.Length) >= 0 ? a[i - (n - a.Length)] : 1;
            int y = i - (n - b.Length) >= 0 ? b[i - (n - b.Length)] : 1;
            if (x != y && x != 1 && y != 1) throw ctx.Error($"cannot broadcast {Tensor.FormatShape(a)} with {Tensor.FormatShape(b)}.");
            r[i] = x == 1 ? y : x;
        }
        return r;
    }

    /// <summary>A float32 tensor of zeros, e.g. the bias TFLite needs for CONV_2D without BiasAdd.</summary>
    public static Tensor ZeroBias(int n) => Tensor.Create(new float[n], n);

    /// <summary>Builtin for a standalone activation op name (Relu, Relu6, Sigmoid, Tanh, Elu, LeakyRelu ...).</summary>
    public static int EmitActivation(TfLiteLoweringContext ctx, string activation, int input, int output, float leakyAlpha = 0.2f)
    {
        var (code, opts) = activation switch
        {
            "Relu" => (BuiltinOperator.RELU, (BuiltinOptionsUnion?)null),
            "Relu6" => (BuiltinOperator.RELU6, null),
            "Sigmoid" => (BuiltinOperator.LOGISTIC, null),
            "Tanh" => (BuiltinOperator.TANH, null),
            "Elu" => (BuiltinOperator.ELU, null),
            "LeakyRelu" => (BuiltinOperator.LEAKY_RELU, BuiltinOptionsUnion.FromLeakyReluOptions(new LeakyReluOptionsT { Alpha = leakyAlpha })),
            _ => throw ctx.Error($"fuses activation '{activation}', which has no TFLite lowering."),
        };
        ctx.Emit(code, new[] { input }, new[] { output }, opts);
        return output;
    }

    /// <summary>Fused-activation field for activations TFLite fuses; null for those that need their own op.</summary>
    public static ActivationFunctionType? FusableActivation(string activation) => activation switch
    {
        "Relu" => ActivationFunctionType.RELU,
        "Relu6" => ActivationFunctionType.RELU6,
        _ => null,
    };

    /// <summary>Constant int32 vector tensor (shapes, axes, permutations ...).</summary>
    public static Tensor Int32s(params int[] values) => Tensor.Create(values, values.Length);

    /// <summary>Reads an int tensor (int32 or int64) as ints.</summary>
    public static int[] Ints(Tensor t) => t.ToInt32Array();

    /// <summary>Normalizes a possibly negative axis.</summary>
    public static int Axis(TfLiteLoweringContext ctx, long axis, int rank)
    {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= Math.Max(rank, 1)) throw ctx.Error($"has axis {axis}, out of range for rank {rank}.");
        return (int)a;
    }

    /// <summary>Transposes a dense tensor by a permutation (constant weight layout changes).</summary>
    public static Tensor Transpose(Tensor t, int[] perm)
    {
        int rank = t.Rank;
        var outShape = perm.Select(p => t.Shape[p]).ToArray();
        var inStrides = Strides(t.Shape);
        var outStrides = Strides(outShape);
        int n = t.Length;
        var src = t.Data;
        var dst = Array.CreateInstance(src.GetType().GetElementType()!, n);
        var idx = new int[rank];
        for (int o = 0; o < n; o++)
        {
            int rem = o, srcOff = 0;
            for (int d = 0; d < rank; d++)
            {
                idx[d] = rem / outStrides[d];
                rem -= idx[d] * outStrides[d];
                srcOff += idx[d] * inStrides[perm[d]];
            }
            Array.Copy(src, srcOff, dst, o, 1);
        }
        return new Tensor(t.DType, outShape, dst);
    }

    public static int[] Strides(int[] shape)
    {
        var s = new int[shape.Length];
        int acc = 1;
        for (int d = shape.Length - 1; d >= 0; d--) { s[d] = acc; acc *= shape[d]; }
        return s;
    }

    /// <summary>A float32 copy of a float-like constant (float16/float64 weights are widened).</summary>
    public static Tensor AsFloat32(Tensor t)
    {
        if (t.DType == DataType.DtFloat) return t;
        var r = new float[t.Length];
        for (int i = 0; i < r.Length; i++) r[i] = (float)t.GetDouble(i);
        return Tensor.Create(r, t.Shape);
    }

    public static bool IsFloat(DataType t) => t == DataType.DtFloat;
}
