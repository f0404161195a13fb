using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Xunit;
using static ModelOps.Core.Tests.TestGraphs;

namespace ModelOps.Core.Tests.Ops;

public class BasicTests
{
    [Fact]
    public void Identity_family_passes_values_through()
    {
        var x = T(new[] { 1f, 2f }, 2);
        foreach (var op in new[] { "Identity", "Snapshot", "StopGradient", "PreventGradient" })
            Assert.Equal(x.As<float>(), Run1(op, x).As<float>());
        var n = RunOp("IdentityN", new[] { x, I(new[] { 3 }, 1) }, null, 2);
        Assert.Equal(new[] { 3 }, n[1].As<int>());
    }

    [Fact]
    public void CheckNumerics_fails_on_nan_and_inf_with_the_message()
    {
        var attrs = new Dictionary<string, AttrValue> { ["message"] = Attr.String("bad logits") };
        Assert.Equal(new[] { 1f }, RunOp("CheckNumerics", new[] { T(new[] { 1f }, 1) }, attrs)[0].As<float>());
        var ex = Assert.Throws<ModelOpsException>(() => RunOp("CheckNumerics", new[] { T(new[] { float.NaN }, 1) }, attrs));
        Assert.Contains("bad logits", ex.Message);
        Assert.Throws<ModelOpsException>(() => RunOp("CheckNumerics", new[] { T(new[] { float.PositiveInfinity }, 1) }, attrs));
    }

    [Fact]
    public void EnsureShape_checks_known_dims()
    {
        var x = T(new float[6], 2, 3);
        Assert.Equal(new[] { 2, 3 }, RunOp("EnsureShape", new[] { x }, new() { ["shape"] = Attr.Shape(new long[] { -1, 3 }) })[0].Shape);
        Assert.Throws<ModelOpsException>(() => RunOp("EnsureShape", new[] { x }, new() { ["shape"] = Attr.Shape(new long[] { 3, 2 }) }));
    }

    [Fact]
    public void Const_values_are_decoded_once_and_served_every_run()
    {
        var b = new GraphBuilder();
        b.Const("c", T(new[] { 4f, 5f }, 2));
        b.Op("o", "Identity", "c");
        using var s = Session(b, "o");
        var r1 = s.Run(new Dictionary<string, Tensor>())["o"];
        var r2 = s.Run(new Dictionary<string, Tensor>())["o"];
        Assert.Same(r1.Data, r2.Data);
        Assert.Equal(new[] { 4f, 5f }, r1.As<float>());
    }
}
