using ModelOps.Core.Graph;
using ModelOps.Core.Optimization.Passes;
using ModelOps.Core.Protos;
using static ModelOps.Core.Tests.Optimization.OptTestGraphs;

using Xunit;

namespace ModelOps.Core.Tests.Optimization;

public class SortByExecutionOrderTests
{
    [Fact]
    public void EveryNodeFollowsItsInputs()
    {
        var g = new GraphDef();
        g.Node.Add(new NodeDef { Name = "out", Op = "AddV2", Input = { "b", "a" } });
        g.Node.Add(new NodeDef { Name = "b", Op = "Neg", Input = { "a", "^x" } });
        g.Node.Add(new NodeDef { Name = "a", Op = "Neg", Input = { "x" } });
        g.Node.Add(new NodeDef { Name = "x", Op = "Placeholder" });
        var r = Run(new SortByExecutionOrderPass(), g, new[] { "x" }, new[] { "out" });
        Assert.Equal(new[] { "x", "a", "b", "out" }, r.Node.Select(n => n.Name));
    }

    [Fact]
    public void LoopBackEdgesAreNotCycles()
    {
        var g = new GraphDef();
        g.Node.Add(new NodeDef { Name = "next", Op = "NextIteration", Input = { "body" } });
        g.Node.Add(new NodeDef { Name = "body", Op = "Neg", Input = { "merge" } });
        g.Node.Add(new NodeDef { Name = "merge", Op = "Merge", Input = { "enter", "next" } });
        g.Node.Add(new NodeDef { Name = "enter", Op = "Enter", Input = { "x" } });
        g.Node.Add(new NodeDef { Name = "x", Op = "Placeholder" });
        var r = Run(new SortByExecutionOrderPass(), g, new[] { "x" }, new[] { "body" });
        Assert.Equal(new[] { "x", "enter", "merge", "body", "next" }, r.Node.Select(n => n.Name));
    }
}
