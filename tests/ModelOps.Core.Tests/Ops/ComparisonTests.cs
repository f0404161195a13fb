using ModelOps.Core.Errors;
using ModelOps.Core.Tensors;
using Xunit;
using static ModelOps.Core.Tests.TestGraphs;

namespace ModelOps.Core.Tests.Ops;

public class ComparisonTests
{
    [Fact]
    public void Comparisons_broadcast_and_handle_nan()
    {
        var a = T(new[] { 1f, 2f, float.NaN, 4f }, 2, 2);
        var b = T(new[] { 2f, 2f }, 2);
        Assert.Equal(new[] { true, false, false, false }, Run1("Less", a, b).As<bool>());
        Assert.Equal(new[] { true, true, false, false }, Run1("LessEqual", a, b).As<bool>());
        Assert.Equal(new[] { false, false, false, true }, Run1("Greater", a, b).As<bool>());
        Assert.Equal(new[] { false, true, false, true }, Run1("GreaterEqual", a, b).As<bool>());
        Assert.Equal(new[] { false, true, false, false }, Run1("Equal", a, b).As<bool>());
        Assert.Equal(new[] { true, false, true, true }, Run1("NotEqual", a, b).As<bool>());
        var c = Run1("Less", I(new[] { 1, 5 }, 2, 1), I(new[] { 2, 3, 6 }, 1, 3));
        Assert.Equal(new[] { 2, 3 }, c.Shape);
        Assert.Equal(new[] { true, true, true, false, false, true }, c.As<bool>());
        Assert.Equal(new[] { true, false }, Run1("Equal", L(new[] { long.MaxValue, 1 }, 2), L(new[] { long.MaxValue, 2 }, 2)).As<bool>());
        Assert.Equal(new[] { true, false }, Run1("Equal", Tensor.FromStrings(new[] { "a", "b" }, 2), Tensor.FromStrings(new[] { "a" }, 1)).As<bool>());
        Assert.Equal(new[] { false, true }, Run1("Greater", Tensor.Create(new byte[] { 1, 200 }, 2), Tensor.Create(new byte[] { 100 }, 1)).As<bool>());
        Assert.Throws<ModelOpsException>(() => Run1("Less", T(new[] { 1f, 2f, 3f }, 3), T(new[] { 1f, 2f }, 2)));
        Assert.Throws<ModelOpsException>(() => Run1("Less", T(new[] { 1f }, 1), I(new[] { 1 }, 1)));
    }

    [Fact]
    public void Logical_ops()
    {
        var a = Tensor.Create(new[] { true, true, false, false }, 2, 2);
        var b = Tensor.Create(new[] { true, false }, 2);
        Assert.Equal(new[] { true, false, false, false }, Run1("LogicalAnd", a, b).As<bool>());
        Assert.Equal(new[] { true, true, true, false }, Run1("LogicalOr", a, b).As<bool>());
        Assert.Equal(new[] { false, false, true, true }, Run1("LogicalNot", a).As<bool>());
    }

    [Fact]
    public void Select_v1_forms_and_SelectV2_broadcasting()
    {
        var t = T(new[] { 1f, 2f, 3f, 4f }, 2, 2);
        var e = T(new[] { -1f, -2f, -3f, -4f }, 2, 2);
        Assert.Equal(new[] { 1f, -2f, -3f, 4f }, Run1("Select", Tensor.Create(new[] { true, false, false, true }, 2, 2), t, e).As<float>());
        Assert.Equal(new[] { -1f, -2f, 3f, 4f }, Run1("Select", Tensor.Create(new[] { false, true }, 2), t, e).As<float>());
        Assert.Equal(new[] { 1f, 2f, 3f, 4f }, Run1("Select", Tensor.Scalar(true), t, e).As<float>());
        var v2 = Run1("SelectV2", Tensor.Create(new[] { true, false }, 2), t, Tensor.Scalar(0f));
        Assert.Equal(new[] { 1f, 0f, 3f, 0f }, v2.As<float>());
    }

    [Fact]
    public void Where_returns_int64_coordinates()
    {
        var w = Run1("Where", Tensor.Create(new[] { false, true, true, false, false, true }, 2, 3));
        Assert.Equal(new[] { 3, 2 }, w.Shape);
        Assert.Equal(new long[] { 0, 1, 0, 2, 1, 2 }, w.As<long>());
        var none = Run1("Where", T(new[] { 0f, 0f }, 2));
        Assert.Equal(new[] { 0, 1 }, none.Shape);
        Assert.Equal(new long[] { 1 }, Run1("Where", I(new[] { 0, 7 }, 2)).As<long>());
    }
}
