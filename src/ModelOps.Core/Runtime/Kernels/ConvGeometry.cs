using ModelOps.Core.Ops;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Runtime.Kernels;

/// <summary>
/// The spatial geometry of a 2-D window op (convolution or pooling) in NHWC terms: output size and the
/// top/left padding, following TensorFlow's GetWindowedOutputSize rules: VALID → out = ceil((in − eff_k + 1)/s),
/// SAME → out = ceil(in/s) with pad_total = max(0, (out−1)·s + eff_k − in) split as pad_before = pad_total/2
/// (the extra pixel goes after), EXPLICIT → given pads, out = (in + before + after − eff_k)/s + 1.
/// </summary>
public sealed class ConvGeometry
{
    public int N, H, W, C;           // input (NHWC)
    public int KH, KW;               // window
    public int SH, SW, DH, DW;       // strides, dilations
    public int OH, OW;               // output spatial size
    public int PadTop, PadLeft;      // padding before

    public bool Nchw;

    /// <summary>Reads data_format, strides, dilations, padding and explicit_paddings from the node.</summary>
    public static ConvGeometry Create(KernelContext ctx, int[] inputShape, int kh, int kw, long[]? stridesOverride = null)
    {
        if (inputShape.Length != 4) throw ctx.Error($"needs a 4-D input, got shape {Tensor.FormatShape(inputShape)}.");
        bool nchw = ctx.String("data_format", "NHWC") == "NCHW";
        int hi = nchw ? 2 : 1, wi = nchw ? 3 : 2, ci = nchw ? 1 : 3;
        var strides = stridesOverride ?? ctx.Ints("strides", [1, 1, 1, 1]);
        var dil = ctx.Ints("dilations", [1, 1, 1, 1]);
        if (strides.Length != 4 || dil.Length != 4) throw ctx.Error("needs 4 strides and 4 dilations.");
        if (strides[0] != 1 || strides[ci] != 1) throw ctx.Error("does not support strides in the batch or channel dimension.");
        var g = new ConvGeometry
        {
            Nchw = nchw,
            N = inputShape[0], H = inputShape[hi], W = inputShape[wi], C = inputShape[ci],
            KH = kh, KW = kw,
            SH = (int)strides[hi], SW = (int)strides[wi], DH = (int)dil[hi], DW = (int)dil[wi],
        };
        if (g.SH < 1 || g.SW < 1 || g.DH < 1 || g.DW < 1) throw ctx.Error("needs strides and dilations of 1 or more.");
        string padding = ctx.String("padding", "VALID");
        long[] ex = padding == "EXPLICIT" ? ctx.Ints("explicit_paddings", []) : [];
        if (padding == "EXPLICIT" && ex.Length != 8) throw ctx.Error($"needs 8 explicit_paddings, got {ex.Length}.");
        (g.OH, g.PadTop) = Window(ctx, g.H, kh, g.DH, g.SH, padding, ex.Length == 8 ? (int)ex[2 * hi] : 0, ex.Length == 8 ? (int)ex[2 * hi + 1] : 0);
        (g.OW, g.PadLeft) = Window(ctx, g.W, kw, g.DW, g.SW, padding, ex.Length == 8 ? (int)ex[2 * wi] : 0, ex.Length == 8 ? (int)ex[2 * wi + 1] : 0);
        return g;
    }

    public static (int Out, int PadBefore) Window(KernelContext ctx, int input, int k, int dilation, int stride, string padding, int before, int after)
    {
        int eff = (k - 1) * dilation + 1;
        switch (padding)
        {
            case "VALID":
            {
                if (input < eff) throw ctx.Error($"has a window of effective size {eff} larger than the input size {input} with VALID padding.");
                return ((input - eff + stride) / stride, 0);
            }
            case "SAME":
            {
                int o = (input + stride - 1) / stride;
                int total = Math.Max(0, (o - 1) * stride + eff - input);
                return (o, total / 2);
            }
            case "EXPLICIT":
            {
                if (before < 0 || after < 0) throw ctx.Error("has negative explicit padding.");
                int span = input + before + after - eff;
                return (span < 0 ? 0 : span / stride + 1, before);
            }
            default:
                throw ctx.Error($"has unsupported padding '{padding}'.");
        }
    }

    public int[] OutShape(int channels) => Nchw ? [N, channels, OH, OW] : [N, OH, OW, channels];

    /// <summary>NCHW → NHWC for a float tensor's data.</summary>
    public static float[] ToNhwc(float[] x, int[] nchw) => Permute.Run(x, nchw, [0, 2, 3, 1]);

    /// <summary>NHWC → NCHW for a float tensor's data.</summary>
    public static float[] ToNchw(float[] x, int[] nhwc) => Permute.Run(x, nhwc, [0, 3, 1, 2]);
}
