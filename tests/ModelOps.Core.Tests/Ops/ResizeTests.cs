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

    [Fact]
    public void BilinearChannelVectorsMatchNaive()
    {
        // channels below, at and above the 8-lane width; up- and downsampling; batch 2; all three modes.
        foreach (int c in new[] { 3, 8, 13 })
            foreach (var (align, half) in new[] { (false, false), (true, false), (false, true) })
                foreach (var (oh, ow) in new[] { (7, 9), (2, 3) })
                {
                    int n = 2, ih = 4, iw = 5;
                    var x = K.Random(n * ih * iw * c, c + oh);
                    var r = K.Run1("ResizeBilinear", R(align, half), K.F(x, n, ih, iw, c), Size(oh, ow)).As<float>();
                    float hs = align && oh > 1 ? (ih - 1) / (float)(oh - 1) : ih / (float)oh;
                    float ws = align && ow > 1 ? (iw - 1) / (float)(ow - 1) : iw / (float)ow;
                    for (int b = 0; b < n; b++)
                        for (int i = 0; i < oh; i++)
                            for (int j = 0; j < ow; j++)
                                for (int ch = 0; ch < c; ch++)
                                {
                                    float sy = half ? (i + 0.5f) * hs - 0.5f : i * hs, sx = half ? (j + 0.5f) * ws - 0.5f : j * ws;
                                    int y0 = Math.Max((int)MathF.Floor(sy), 0), y1 = Math.Min((int)MathF.Ceiling(sy), ih - 1);
                                    int x0 = Math.Max((int)MathF.Floor(sx), 0), x1 = Math.Min((int)MathF.Ceiling(sx), iw - 1);
                                    float dy = sy - MathF.Floor(sy), dx = sx - MathF.Floor(sx);
                                    float At(int yy, int xx) => x[((b * ih + yy) * iw + xx) * c + ch];
                                    float top = At(y0, x0) + (At(y0, x1) - At(y0, x0)) * dx;
                                    float bot = At(y1, x0) + (At(y1, x1) - At(y1, x0)) * dx;
                                    float e = top + (bot - top) * dy;
                                    Assert.Equal(e, r[((b * oh + i) * ow + j) * c + ch], 5);
                                }
                }
    }
}
