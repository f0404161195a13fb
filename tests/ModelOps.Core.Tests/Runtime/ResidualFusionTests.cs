using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;
using ModelOps.Core.Tests.Ops;
using ModelOps.Core.Tests.Optimization;
using Xunit;

namespace ModelOps.Core.Tests.Runtime;

/// <summary>
/// Plans fuse a convolution's Add of another tensor (and the activation after it) into the convolution; a 1×1
/// convolution then writes over that tensor when it is at its last use. Every case must give the bits of the graph
/// run as given.
/// </summary>
public class ResidualFusionTests
{
    /// <summary>out = act(conv_k×k(x) + bias + side), side = Neg(s) (an intermediate: it may be written over), s of <paramref name="sideShape"/>.</summary>
    private static GraphDef Residual(int h, int cin, int cout, int k, int[] sideShape, string act = "Relu", bool convSecond = false)
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 1, h, h, cin);
        b.Placeholder("s", DataType.DtFloat, sideShape.Select(d => (long)d).ToArray());
        b.Const("w", Tensor.Create(K.Random(k * k * cin * cout, 1), k, k, cin, cout));
        OptTestGraphs.Conv(b, "conv", "x", "w");
        b.Const("b", Tensor.Create(K.Random(cout, 2), cout));
        b.Op("bias", "BiasAdd", DataType.DtFloat, "conv", "b");
        b.Op("side", "Neg", DataType.DtFloat, "s");
        if (convSecond) b.Op("add", "AddV2", DataType.DtFloat, "side", "bias");
        else b.Op("add", "AddV2", DataType.DtFloat, "bias", "side");
        b.Op("act", act, DataType.DtFloat, "add");
        return b.Graph;
    }

    /// <summary>Runs the graph fused and as given (pooled, profiled, and unpooled); returns the most bytes alive at once in each profiled session.</summary>
    private static (long Fused, long Plain) SameAsUnfused(GraphDef graph, int h, int cin, int[] sideShape)
    {
        var profile = new OpProfile();
        var plainProfile = new OpProfile();
        using var fused = new GraphSession(graph, ["act"], new EngineOptions { IntraOpThreads = 2, Profile = profile });
        using var pooled = new GraphSession(graph, ["act"], new EngineOptions { FuseContractions = false, IntraOpThreads = 1, Profile = plainProfile });
        using var plain = new GraphSession(graph, ["act"], new EngineOptions { FuseContractions = false, PoolHoldFactor = 0, IntraOpThreads = 1 });
        for (int run = 0; run < 3; run++)
        {
            var feeds = new Dictionary<string, Tensor>
            {
                ["x"] = Tensor.Create(K.Random(h * h * cin, 10 + run), 1, h, h, cin),
                ["s"] = Tensor.Create(K.Random((int)Tensor.ElementCount(sideShape), 20 + run), sideShape),
            };
            var expected = plain.Run(feeds)["act"];
            Assert.True(pooled.Run(feeds)["act"].ContentEquals(expected));
            var got = fused.Run(feeds)["act"];
            Assert.True(got.ContentEquals(expected), $"run {run}: {got} differs from {expected}");
        }
        var ops = profile.Entries.Select(e => e.Op).ToHashSet();
        Assert.DoesNotContain("AddV2", ops);
        Assert.Contains("_FusedConv2D", ops);
        return (profile.PeakLiveBytes, plainProfile.PeakLiveBytes);
    }

    [Theory]
    [InlineData(9, 16, 24, "Relu")]   // one GEMM chunk
    [InlineData(40, 8, 20, "Relu6")]  // 1600 pixels: several chunks, over two threads, each setting its residual rows aside
    [InlineData(7, 32, 16, "Elu")]    // an activation the GEMM does not apply itself: the chunk gets the epilogue after it
    public void A_1x1_convolution_writes_over_its_residual_and_matches_the_unfused_graph(int h, int cin, int cout, string act)
    {
        int[] side = [1, h, h, cout];
        var (fused, plain) = SameAsUnfused(Residual(h, cin, cout, 1, side, act), h, cin, side);
        // Written over the residual: the output never takes bytes of its own (the unfused graph holds conv, side and sum).
        Assert.True(fused <= plain - h * h * cout * 4L, $"fused peak {fused} B, unfused {plain} B");
    }

    [Fact]
    public void A_3x3_convolution_keeps_its_Add()
    {
        // Only 1×1 convolutions take the Add (they write over the other tensor); a 3×3 one would only keep it alive longer.
        int[] side = [1, 12, 12, 16];
        var profile = new OpProfile();
        using var s = new GraphSession(Residual(12, 8, 16, 3, side), ["act"], new EngineOptions { Profile = profile });
        s.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Create(K.Random(12 * 12 * 8, 1), 1, 12, 12, 8), ["s"] = Tensor.Create(K.Random(12 * 12 * 16, 2), side) });
        Assert.Contains("AddV2", profile.Entries.Select(e => e.Op));
    }

    [Fact]
    public void The_convolution_may_be_either_operand_of_the_Add()
    {
        int[] side = [1, 10, 10, 16];
        SameAsUnfused(Residual(10, 8, 16, 1, side, convSecond: true), 10, 8, side);
    }

    [Theory]
    [InlineData(new[] { 16 })]           // the other tensor broadcasts over the output
    [InlineData(new[] { 2, 6, 6, 16 })]  // the output broadcasts over a larger other tensor
    public void An_Add_of_a_tensor_that_broadcasts_falls_back_to_the_unfused_arithmetic(int[] side)
    {
        SameAsUnfused(Residual(6, 4, 16, 1, side), 6, 4, side);
    }
}
