using ModelOps.Core.Graph;
using ModelOps.Core.Optimization.Passes;
using ModelOps.Core.Protos;
using static ModelOps.Core.Tests.Optimization.OptTestGraphs;

using Xunit;

namespace ModelOps.Core.Tests.Optimization;

public class RemoveDeviceTests
{
    [Fact]
    public void ClearsDevicesAndOptionallyColocation()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 3).Device = "/device:GPU:0";
        var n = b.Op("y", "Neg", DataType.DtFloat, "x");
        n.Device = "/job:worker/task:0/device:CPU:0";
        n.Attr["_class"] = Attr.Strings("loc:@x");
        var src = b.Graph;
        var g = Run(new RemoveDevicePass(), src, new[] { "x" }, new[] { "y" });
        Assert.All(g.Node, x => Assert.Equal("", x.Device));
        Assert.True(Node(g, "y").Attr.ContainsKey("_class"));
        Assert.Equal("/device:GPU:0", Node(src, "x").Device); // the input graph is not changed
        var g2 = Run(new RemoveDevicePass(), src, new[] { "x" }, new[] { "y" }, "colocation=true");
        Assert.False(Node(g2, "y").Attr.ContainsKey("_class"));
    }
}
