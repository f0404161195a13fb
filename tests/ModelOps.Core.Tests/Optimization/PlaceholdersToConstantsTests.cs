using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Optimization;
using ModelOps.Core.Optimization.Passes;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using static ModelOps.Core.Tests.Optimization.OptTestGraphs;

using Xunit;

namespace ModelOps.Core.Tests.Optimization;

public class PlaceholdersToConstantsTests
{
    private static GraphDef G()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 3);
        b.Placeholder("scale", DataType.DtFloat, 3);
        b.Placeholder("keras_learning_phase", DataType.DtBool);
        b.Placeholder("steps", DataType.DtInt32);
        b.Op("y", "Mul", DataType.DtFloat, "x", "scale");
        b.Add("sel", "Select", new[] { "keras_learning_phase", "y", "x" }).Attr["T"] = Attr.Type(DataType.DtFloat);
        return b.Graph;
    }

    private static Tensor Value(GraphDef g, string name) => TensorProtoCodec.Decode(Node(g, name).Attr["value"].Tensor);

    [Fact]
    public void LearningPhaseBecomesFalseAndGivenValuesFillShapes()
    {
        var g = Run(new PlaceholdersToConstantsPass(), G(), new[] { "x" }, new[] { "sel" }, "name=scale, value=\"1.5,2,3\", name=steps, value=7");
        Assert.Equal("Const", Node(g, "keras_learning_phase").Op);
        Assert.False(Value(g, "keras_learning_phase").As<bool>()[0]);
        Assert.Equal(new[] { 1.5f, 2f, 3f }, Value(g, "scale").As<float>());
        Assert.Equal(new[] { 7 }, Value(g, "steps").As<int>());
        Assert.Equal("Placeholder", Node(g, "x").Op);
    }

    [Fact]
    public void OneValueFillsAKnownShape()
    {
        var g = Run(new PlaceholdersToConstantsPass(), G(), new[] { "x" }, new[] { "sel" }, "name=scale, value=0.5");
        Assert.Equal(new[] { 0.5f, 0.5f, 0.5f }, Value(g, "scale").As<float>());
        Assert.Equal(new[] { 3 }, Value(g, "scale").Shape);
    }

    [Theory]
    [InlineData("name=nope, value=1", OptimizationErrorIds.InputNotFound)]
    [InlineData("name=y, value=1", OptimizationErrorIds.InvalidTransformArgument)]
    [InlineData("name=scale, value=\"1,2\"", OptimizationErrorIds.InvalidTransformArgument)]
    [InlineData("name=scale, value=abc", OptimizationErrorIds.InvalidTransformArgument)]
    [InlineData("name=scale", OptimizationErrorIds.InvalidTransformArgument)]
    public void BadNamesAndValuesAreClearErrors(string args, string id)
    {
        var ex = Assert.Throws<ModelOpsException>(() => Run(new PlaceholdersToConstantsPass(), G(), new[] { "x" }, new[] { "sel" }, args));
        Assert.Equal(id, ex.ErrorId);
    }

    [Fact]
    public void LearningPhaseCanBeLeftAlone()
    {
        var g = Run(new PlaceholdersToConstantsPass(), G(), new[] { "x" }, new[] { "sel" }, "learning_phase=false");
        Assert.Equal("Placeholder", Node(g, "keras_learning_phase").Op);
    }
}
