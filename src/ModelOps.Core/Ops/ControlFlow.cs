using ModelOps.Core.Tensors;

namespace ModelOps.Core.Ops;

/// <summary>
/// TF1 control flow. The kernels only compute values; routing between frames and iterations and
/// dead-tensor propagation are the executor's (Runtime/DataflowExecutor): Switch leaves its untaken
/// output null (dead), Merge receives null for inputs that did not arrive.
/// </summary>
public sealed partial class ControlFlow : OpFamily
{
    public override void RegisterKernels(KernelRegistry registry)
    {
        registry.Add(new[] { "Switch", "RefSwitch" }, ctx =>
        {
            var pred = ctx.Input(1);
            if (pred.Length != 1 || pred.Data is not bool[] p)
                throw ctx.Error($"needs a scalar bool predicate but got {pred}.");
            ctx.SetOutput(p[0] ? 1 : 0, ctx.Input(0));
        });
        registry.Add(new[] { "Merge", "RefMerge" }, ctx =>
        {
            for (int i = 0; i < ctx.Inputs.Length; i++)
            {
                if (ctx.Inputs[i] is null) continue;
                ctx.SetOutput(0, ctx.Inputs[i]);
                ctx.SetOutput(1, Tensor.Scalar(i));
                return;
            }
            throw ctx.Error("ran with no live input.");
        });
        registry.Add(new[] { "Enter", "RefEnter", "Exit", "RefExit", "NextIteration", "RefNextIteration" },
            ctx => ctx.SetOutput(0, ctx.Input(0)));
        registry.Add("LoopCond", ctx =>
        {
            var c = ctx.Input(0);
            if (c.Length != 1 || c.Data is not bool[])
                throw ctx.Error($"needs a scalar bool but got {c}.");
            ctx.SetOutput(0, c);
        });
    }
}
