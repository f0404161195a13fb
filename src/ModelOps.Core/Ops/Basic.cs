using ModelOps.Core.Errors;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Ops;

/// <summary>
/// Graph plumbing: constants, placeholders, identities and checks. Const and fed placeholders are
/// served by the executor from its plan; the kernels here cover the rest.
/// </summary>
public sealed partial class Basic : OpFamily
{
    public override void RegisterKernels(KernelRegistry registry)
    {
        registry.Add("Const", ctx => ctx.SetOutput(0, ctx.TensorAttr("value")));
        registry.Add(new[] { "Placeholder", "PlaceholderV2" }, ctx =>
            throw new ModelOpsException(EngineErrorIds.MissingInput, ErrorKind.InvalidArgument,
                $"Input '{ctx.Node.Name}' was not given a value. Feed it.", ctx.Node.Name));
        registry.Add(new[] { "PlaceholderWithDefault", "Identity", "RefIdentity", "Snapshot", "StopGradient", "PreventGradient", "DebugIdentity" },
            ctx => ctx.SetOutput(0, ctx.Input(0)), KernelTraits.SpareCapacity); // passes the tensor through
        registry.Add("IdentityN", ctx =>
        {
            for (int i = 0; i < ctx.Inputs.Length; i++) ctx.SetOutput(i, ctx.Inputs[i]);
        }, KernelTraits.SpareCapacity);
        registry.Add(new[] { "NoOp", "ControlTrigger" }, _ => { });
        registry.Add("CheckNumerics", CheckNumerics);
        registry.Add("EnsureShape", EnsureShape);
    }

    private static void CheckNumerics(KernelContext ctx)
    {
        var x = ctx.Input(0);
        bool nan = false, inf = false;
        switch (x.Data)
        {
            case float[] f:
                foreach (var v in f) { if (float.IsNaN(v)) nan = true; else if (float.IsInfinity(v)) inf = true; }
                break;
            case double[] d:
                foreach (var v in d) { if (double.IsNaN(v)) nan = true; else if (double.IsInfinity(v)) inf = true; }
                break;
            case Half[] h:
                foreach (var v in h) { if (Half.IsNaN(v)) nan = true; else if (Half.IsInfinity(v)) inf = true; }
                break;
            default:
                if (x.DType == DataType.DtBfloat16)
                    for (int i = 0; i < x.Length; i++) { double v = x.GetDouble(i); if (double.IsNaN(v)) nan = true; else if (double.IsInfinity(v)) inf = true; }
                break;
        }
        if (nan || inf)
        {
            string what = nan && inf ? "NaN and Inf values" : nan ? "NaN values" : "Inf values";
            throw new ModelOpsException("CheckNumericsFailed", ErrorKind.InvalidData,
                $"CheckNumerics node '{ctx.Node.Name}' found {what}: {ctx.String("message", "")}", ctx.Node.Name);
        }
        ctx.SetOutput(0, x);
    }

    private static void EnsureShape(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var shape = ctx.Shape("shape");
        if (shape is not null)
        {
            bool ok = shape.Length == x.Rank;
            for (int i = 0; ok && i < shape.Length; i++) ok = shape[i] < 0 || shape[i] == x.Shape[i];
            if (!ok)
                throw new ModelOpsException("ShapeMismatch", ErrorKind.InvalidData,
                    $"EnsureShape node '{ctx.Node.Name}' expected shape {Tensor.FormatShape(shape)} but the tensor has shape {Tensor.FormatShape(x.Shape)}.", ctx.Node.Name);
        }
        ctx.SetOutput(0, x);
    }
}
