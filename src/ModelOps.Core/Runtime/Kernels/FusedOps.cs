using ModelOps.Core.Ops;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Runtime.Kernels;

/// <summary>
/// Reads the grappler-fused attributes (fused_ops, num_args, epsilon, leakyrelu_alpha) of _FusedConv2D,
/// _FusedDepthwiseConv2dNative and _FusedMatMul into an <see cref="Epilogue"/> over output channels.
/// Supported sequences: [BiasAdd | FusedBatchNorm] [Add|AddV2] [activation], or a lone activation.
/// </summary>
public static class FusedOps
{
    public static Epilogue Parse(KernelContext ctx, int argStart, int channels, int[] outShape)
    {
        var e = Parse(ctx, argStart, channels, outShape, out var broadcastAdd);
        if (broadcastAdd is not null)
            throw ctx.Error($"has a fused Add input of shape {Tensor.FormatShape(broadcastAdd.Shape)}, expected {Tensor.FormatShape(outShape)}.");
        return e;
    }

    /// <summary>
    /// As <see cref="Parse(KernelContext, int, int, int[])"/>, but a fused Add whose other input does not have the output's
    /// shape (it broadcasts) is handed back in <paramref name="broadcastAdd"/> instead of failing: the epilogue then holds no
    /// residual, and its activation must run after the caller has added that tensor.
    /// </summary>
    public static Epilogue Parse(KernelContext ctx, int argStart, int channels, int[] outShape, out Tensor? broadcastAdd)
    {
        broadcastAdd = null;
        var ops = ctx.Strings("fused_ops", Array.Empty<string>());
        int numArgs = (int)ctx.Int("num_args", 0);
        if (ctx.Inputs.Length < argStart + numArgs)
            throw ctx.Error($"has num_args={numArgs} but only {ctx.Inputs.Length - argStart} extra inputs.");
        // Arguments that are all graph constants (no residual Add) give the same epilogue on every run: made once.
        bool constant = Array.IndexOf(ops, "Add") < 0 && Array.IndexOf(ops, "AddV2") < 0;
        for (int a = 0; a < numArgs && constant; a++) constant = ctx.IsConstantInput(argStart + a);
        if (constant && ctx.EpilogueCache is Cached kept && kept.Channels == channels && kept.ArgsAre(ctx.Inputs, argStart, numArgs))
            return kept.Value;
        var epilogue = Make(ctx, ops, argStart, numArgs, channels, outShape, out broadcastAdd);
        if (constant) ctx.EpilogueCache = new Cached(epilogue, channels, ctx.Inputs.AsSpan(argStart, numArgs).ToArray());
        return epilogue;
    }

    /// <summary>An epilogue made from constant arguments, with the tensors it was made from.</summary>
    private sealed record Cached(Epilogue Value, int Channels, Tensor[] Args)
    {
        public bool ArgsAre(Tensor[] inputs, int start, int count)
        {
            if (count != Args.Length) return false;
            for (int i = 0; i < count; i++)
                if (!ReferenceEquals(inputs[start + i], Args[i])) return false;
            return true;
        }
    }

    private static Epilogue Make(KernelContext ctx, string[] ops, int argStart, int numArgs, int channels, int[] outShape, out Tensor? broadcastAdd)
    {
        broadcastAdd = null;
        int argi = 0;
        Tensor NextArg(string what)
        {
            if (argi >= numArgs) throw ctx.Error($"needs an input for fused {what} (fused_ops [{string.Join(", ", ops)}], num_args={numArgs}).");
            return FloatConvert.ToFloat(ctx.Inputs[argStart + argi++]);
        }
        float[] Vec(Tensor t, string what)
        {
            if (t.Length != channels) throw ctx.Error($"has a fused {what} of {t.Length} elements for {channels} channels.");
            return t.As<float>();
        }
        float[]? scale = null, shift = null, residual = null;
        var act = FusedActivation.None;
        int i = 0;
        if (i < ops.Length && ops[i] == "BiasAdd")
        {
            shift = Vec(NextArg("BiasAdd"), "bias");
            i++;
        }
        else if (i < ops.Length && ops[i] is "FusedBatchNorm" or "FusedBatchNormV2" or "FusedBatchNormV3")
        {
            var s = Vec(NextArg("FusedBatchNorm scale"), "scale");
            var o = Vec(NextArg("FusedBatchNorm offset"), "offset");
            var mean = Vec(NextArg("FusedBatchNorm mean"), "mean");
            var variance = Vec(NextArg("FusedBatchNorm variance"), "variance");
            float eps = ctx.Float("epsilon", 0.0001f);
            scale = new float[channels];
            shift = new float[channels];
            for (int c = 0; c < channels; c++)
            {
                float m = s[c] / MathF.Sqrt(variance[c] + eps);
                scale[c] = m;
                shift[c] = o[c] - mean[c] * m;
            }
            i++;
        }
        if (i < ops.Length && ops[i] is "Add" or "AddV2")
        {
            var r = NextArg("Add");
            if (r.Shape.AsSpan().SequenceEqual(outShape)) residual = r.As<float>();
            else broadcastAdd = r;
            i++;
        }
        if (i < ops.Length)
        {
            act = Activation.Parse(ops[i]) ?? throw ctx.Error($"has unsupported fused_ops [{string.Join(", ", ops)}].");
            i++;
        }
        if (i < ops.Length) throw ctx.Error($"has unsupported fused_ops [{string.Join(", ", ops)}].");
        return new Epilogue
        {
            Scale = scale,
            Shift = shift,
            Residual = residual,
            Activation = act,
            LeakyAlpha = ctx.Float("leakyrelu_alpha", 0.2f),
        };
    }
}
