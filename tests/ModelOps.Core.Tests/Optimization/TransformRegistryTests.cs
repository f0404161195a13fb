using ModelOps.Core.Errors;
using ModelOps.Core.Optimization;

using Xunit;

namespace ModelOps.Core.Tests.Optimization;

public class TransformRegistryTests
{
    private static readonly TransformRegistry R = TransformRegistry.BuiltIn;

    [Fact]
    public void ParsesNamesArgumentsQuotesAndRepeats()
    {
        var steps = R.Parse(new[] { "remove_device strip_unused_nodes(type=uint8, shape=\"1,224,224,3\", name=a, type_for_name=int32, name=b, shape_for_name=[2,3])", "sort_by_execution_order" });
        Assert.Equal(new[] { "remove_device", "strip_unused_nodes", "sort_by_execution_order" }, steps.Select(s => s.Pass.Name));
        var a = steps[1].Args;
        Assert.Equal("uint8", a.String("type"));
        Assert.Equal("1,224,224,3", a.String("shape"));
        Assert.Equal(new[] { "a", "b" }, a.All("name"));
        Assert.Equal("[2,3]", a.String("shape_for_name"));
    }

    [Fact]
    public void CommaSeparatedEntriesAndDefaultExpand()
    {
        var steps = R.Parse("remove_device, default");
        Assert.Equal(1 + TransformRegistry.DefaultTransforms.Count, steps.Count);
        Assert.Equal("remove_device", steps[0].Pass.Name);
    }

    [Fact]
    public void UnknownTransformListsTheValidOnes()
    {
        var ex = Assert.Throws<ModelOpsException>(() => R.Parse("fold_constant"));
        Assert.Equal(OptimizationErrorIds.UnknownTransform, ex.ErrorId);
        Assert.Contains("fold_batch_norms", ex.Message);
        Assert.Contains("strip_unused_nodes", ex.Message);
    }

    [Fact]
    public void UnknownArgumentListsTheValidOnes()
    {
        var ex = Assert.Throws<ModelOpsException>(() => R.Parse("strip_unused_nodes(dtype=float)"));
        Assert.Equal(OptimizationErrorIds.UnknownTransformArgument, ex.ErrorId);
        Assert.Contains("type_for_name", ex.Message);
        var none = Assert.Throws<ModelOpsException>(() => R.Parse("sort_by_execution_order(x=1)"));
        Assert.Contains("takes no arguments", none.Message);
    }

    [Theory]
    [InlineData("strip_unused_nodes(type=floaty)", OptimizationErrorIds.InvalidTransformArgument)]
    [InlineData("strip_unused_nodes(shape=\"1,x\")", OptimizationErrorIds.InvalidTransformArgument)]
    [InlineData("remove_device(colocation=maybe)", OptimizationErrorIds.InvalidTransformArgument)]
    [InlineData("strip_unused_nodes(type=float, type=int32)", OptimizationErrorIds.InvalidTransformArgument)]
    [InlineData("strip_unused_nodes(type=float", OptimizationErrorIds.TransformSyntax)]
    [InlineData("strip_unused_nodes(type)", OptimizationErrorIds.TransformSyntax)]
    [InlineData("remove_device;", OptimizationErrorIds.TransformSyntax)]
    public void BadValuesAndSyntaxHaveStableIds(string text, string id)
    {
        var ex = Assert.Throws<ModelOpsException>(() => R.Parse(text));
        Assert.Equal(id, ex.ErrorId);
    }

    [Fact]
    public void EveryPassHasADescriptionAndUniqueName()
    {
        Assert.All(R.Passes, p => Assert.False(string.IsNullOrWhiteSpace(p.Description)));
        Assert.Equal(R.Passes.Count, R.Names.Distinct().Count());
        foreach (var name in TransformRegistry.DefaultTransforms) Assert.NotNull(R.Get(name));
    }
}
