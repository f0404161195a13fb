using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using Xunit;

namespace ModelOps.Core.Tests.Graph;

public class NodeAttributeReaderTests
{
    private static NodeDef Node()
    {
        var node = new NodeDef { Name = "n", Op = "Conv2D" };
        node.Attr["padding"] = Attr.String("SAME");
        node.Attr["strides"] = Attr.Ints(1, 2, 2, 1);
        node.Attr["fused_ops"] = Attr.Strings("BiasAdd", "Relu");
        return node;
    }

    [Fact]
    public void KernelContextsReadCachedAttributesAsCopies()
    {
        var ctx = new KernelContext(Node(), [], 1);
        for (int round = 0; round < 3; round++)
        {
            Assert.Equal("SAME", ctx.String("padding"));
            var strides = ctx.Ints("strides");
            Assert.Equal(new long[] { 1, 2, 2, 1 }, strides);
            strides[1] = 99; // a caller changing its copy changes nothing for the next read
            var ops = ctx.Strings("fused_ops");
            Assert.Equal(new[] { "BiasAdd", "Relu" }, ops);
            ops[0] = "changed";
            // absent attributes: the default each time, or the missing-attribute error
            Assert.Equal("NHWC", ctx.String("data_format", "NHWC"));
            Assert.Equal(new long[] { 1, 1, 1, 1 }, ctx.Ints("dilations", [1, 1, 1, 1]));
            Assert.Throws<ModelOps.Core.Errors.ModelOpsException>(() => ctx.Ints("ksize"));
        }
    }
}
