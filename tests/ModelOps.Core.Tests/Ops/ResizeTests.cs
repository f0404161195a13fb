using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Ops;

public class ResizeTests
{
    private static Dictionary<string, AttrValue> R(bool align, bool half) =>
        K.A(("align_corners", Attr.Bool(align)), ("half_pixel_centers", Attr.Bool(half)));

    private static Tensor Size(int h, int w) => Tensor.Create(new[] { h, w }, 2);

    [Fact]
    public void NearestModes()
    {
        var x = K.F([1, 2, 3], 1, 1, 3, 1);
        // upsample 3 -> 5
        // legacy: floor(i * 0.6) = 0,0,1,1,2
        Assert.Equal(new float[] { 1, 1, 2, 2, 3 }, K.Run1("ResizeNearestNeighbor", R(false, false), x, Size(1, 5)).As<float>());
        // half-pixel: floor((i+0.5)*0.6) = 0,0,1,2,2
        Assert.Equal(new float[] { 1, 1, 2, 3, 3 }, K.Run1("ResizeNearestNeighbor", R(false, true), x, Size(1, 5)).As<float>());
        // align corners: round(i * 0.5) = 0,1(0.5 rounds up),1,2(1.5),2
        Assert.Equal(new float[] { 1, 2, 2, 3, 3 }, K.Run1("ResizeNearestNeighbor", R(true, false), x, Size(1, 5)).As<float>());
        var i32 = K.Run1("ResizeNearestNeighbor", R(false, false), Tensor.Create(new[] { 7, 8 }, 1, 1, 2, 1), Size(1, 4));
        Assert.Equal(new[] { 7, 7, 8, 8 }, i32.As<int>());
    }

    [Fact]
    public void BilinearModes()
    {
        var x = K.F([0, 10], 1, 1, 2, 1);
        // legacy 2 -> 4: src = i*0.5 -> 0, 0.5, 1, 1.5 (clamped upper) -> 0, 5, 10, 10
        K.Close([0, 5, 10, 10], K.Run1("ResizeBilinear", R(false, false), x, Size(1, 4)).As<float>());
        // align corners 2 -> 3: src = i*0.5 -> 0, 5, 10
        K.Close([0, 5, 10], K.Run1("ResizeBilinear", R(true, false), x, Size(1, 3)).As<float>());
        // half pixel 2 -> 4: src = (i+0.5)*0.5-0.5 = -0.25, 0.25, 0.75, 1.25 -> 0, 2.5, 7.5, 10
        K.Close([0, 2.5f, 7.5f, 10], K.Run1("ResizeBilinear", R(false, true), x, Size(1, 4)).As<float>());
        // 2-D: 2x2 -> 3x3 align corners gives the centre mean
        var y = K.Run1("ResizeBilinear", R(true, false), K.F([1, 2, 3, 4], 1, 2, 2, 1), Size(3, 3));
        K.Close([1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4], y.As<float>());
        var u8 = K.Run1("ResizeBilinear", R(false, false), Tensor.Create(new byte[] { 0, 10 }, 1, 1, 2, 1), Size(1, 4));
        Assert.Equal(DataType.DtFloat, u8.DType);
    }
}
