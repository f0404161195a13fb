using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Xunit;
using static ModelOps.Core.Tests.TestGraphs;

namespace ModelOps.Core.Tests.Ops;

public class ArrayShapeTests
{
    private static readonly Tensor X234 = T(Enumerable.Range(0, 24).Select(i => (float)i).ToArray(), 2, 3, 4);

    private static Dictionary<string, AttrValue> A(params (string, AttrValue)[] a) => a.ToDictionary(p => p.Item1, p => p.Item2);

    private static Tensor SS(Tensor x, int[] b, int[] e, int[] s, long begin = 0, long end = 0, long ellipsis = 0, long newAxis = 0, long shrink = 0) =>
        RunOp("StridedSlice", new[] { x, I(b, b.Length), I(e, e.Length), I(s, s.Length) },
            A(("begin_mask", Attr.Int(begin)), ("end_mask", Attr.Int(end)), ("ellipsis_mask", Attr.Int(ellipsis)), ("new_axis_mask", Attr.Int(newAxis)), ("shrink_axis_mask", Attr.Int(shrink))))[0];

    [Fact]
    public void Reshape_infers_minus_one_and_rejects_bad_counts()
    {
        var r = Run1("Reshape", X234, I(new[] { -1, 6 }, 2));
        Assert.Equal(new[] { 4, 6 }, r.Shape);
        Assert.Equal(X234.As<float>(), r.As<float>());
        Assert.Equal(new[] { 0, 5 }, Run1("Reshape", T(Array.Empty<float>(), 0, 5), I(new[] { -1, 5 }, 2)).Shape);
        Assert.Throws<ModelOpsException>(() => Run1("Reshape", X234, I(new[] { 5, -1 }, 2)));
    }

    [Fact]
    public void Squeeze_and_ExpandDims()
    {
        var x = T(new[] { 1f, 2f }, 1, 2, 1);
        Assert.Equal(new[] { 2 }, Run1("Squeeze", x).Shape);
        Assert.Equal(new[] { 1, 2 }, RunOp("Squeeze", new[] { x }, A(("squeeze_dims", Attr.Ints(-1))))[0].Shape);
        Assert.Throws<ModelOpsException>(() => RunOp("Squeeze", new[] { x }, A(("squeeze_dims", Attr.Ints(1)))));
        Assert.Equal(new[] { 1, 2, 1, 1 }, Run1("ExpandDims", x, Tensor.Scalar(-1)).Shape);
        Assert.Equal(new[] { 1 }, Run1("ExpandDims", Tensor.Scalar(3f), Tensor.Scalar(0)).Shape);
    }

    [Fact]
    public void Transpose_permutes()
    {
        var r = Run1("Transpose", X234, I(new[] { 2, 0, 1 }, 3));
        Assert.Equal(new[] { 4, 2, 3 }, r.Shape);
        // r[k, i, j] = x[i, j, k] = 12i + 4j + k
        Assert.Equal(12 * 1 + 4 * 2 + 3, r.As<float>()[3 * 6 + 1 * 3 + 2]);
        var s = Run1("Transpose", Tensor.FromStrings(new[] { "a", "b", "c", "d" }, 2, 2), I(new[] { 1, 0 }, 2));
        Assert.Equal(new[] { "a", "c", "b", "d" }, s.As<byte[]>().Select(b => System.Text.Encoding.UTF8.GetString(b)));
    }

    [Theory]
    [InlineData(new[] { 2, 3, 37, 41 }, new[] { 0, 2, 3, 1 })] // NCHW -> NHWC, tiles with ragged edges
    [InlineData(new[] { 2, 41, 37, 9 }, new[] { 0, 3, 1, 2 })] // NHWC -> NCHW
    [InlineData(new[] { 3, 5, 40, 33 }, new[] { 1, 0, 3, 2 })] // two swaps: the tiled last pair under a permuted outer dim
    [InlineData(new[] { 1, 3, 9, 11 }, new[] { 0, 2, 3, 1 })] // an RGB image to NHWC: three columns, one pass
    [InlineData(new[] { 2, 4, 3, 5 }, new[] { 0, 2, 3, 1 })] // exactly one 4-wide register block per row, ragged rows
    [InlineData(new[] { 1, 124, 13, 13 }, new[] { 0, 2, 3, 1 })] // 169 x 124: ragged 4x4 blocks on both sides
    [InlineData(new[] { 1, 13, 13, 124 }, new[] { 0, 3, 1, 2 })]
    [InlineData(new[] { 1, 80, 2704 }, new[] { 0, 2, 1 })] // nanodet's head transposes
    [InlineData(new[] { 3, 2, 5 }, new[] { 0, 2, 1 })] // fewer than 4 rows
    [InlineData(new[] { 2, 1, 6, 5 }, new[] { 0, 2, 3, 1 })] // a size-1 dim
    public void Transpose_of_large_tensors_matches_the_definition(int[] shape, int[] perm)
    {
        int n = shape.Aggregate(1, (a, d) => a * d);
        var x = T(Enumerable.Range(0, n).Select(i => (float)i).ToArray(), shape);
        var r = Run1("Transpose", x, I(perm, perm.Length));
        var outShape = perm.Select(p => shape[p]).ToArray();
        Assert.Equal(outShape, r.Shape);
        var inStrides = new int[shape.Length];
        for (int d = shape.Length - 1, s = 1; d >= 0; s *= shape[d], d--) inStrides[d] = s;
        var got = r.As<float>();
        var coord = new int[outShape.Length];
        for (int i = 0; i < n; i++)
        {
            int rem = i, src = 0;
            for (int d = outShape.Length - 1; d >= 0; d--) { coord[d] = rem % outShape[d]; rem /= outShape[d]; }
            for (int d = 0; d < outShape.Length; d++) src += coord[d] * inStrides[perm[d]];
            Assert.Equal(src, (int)got[i]);
        }
    }

    [Fact]
    public void Transpose_of_other_element_sizes_matches_float()
    {
        int[] shape = [2, 5, 6, 7];
        int[] perm = [0, 3, 1, 2];
        int n = shape.Aggregate(1, (a, d) => a * d);
        var f = Run1("Transpose", T(Enumerable.Range(0, n).Select(i => (float)i).ToArray(), shape), I(perm, 4)).As<float>();
        Assert.Equal(f.Select(v => (double)v), Run1("Transpose", Tensor.Create(Enumerable.Range(0, n).Select(i => (double)i).ToArray(), shape), I(perm, 4)).As<double>());
        Assert.Equal(f.Select(v => (short)v), Run1("Transpose", Tensor.Create(Enumerable.Range(0, n).Select(i => (short)i).ToArray(), shape), I(perm, 4)).As<short>());
        Assert.Equal(f.Select(v => (long)v), Run1("Transpose", Tensor.Create(Enumerable.Range(0, n).Select(i => (long)i).ToArray(), shape), I(perm, 4)).As<long>());
    }

    [Fact]
    public void Transpose_matches_naive_for_tiled_and_plain_permutations()
    {
        // NCHW<->NHWC and other permutations (tiles of 16 with partial edges), float and int.
        var rnd = new Random(3);
        int[][] shapes = [[1, 19, 21, 37], [2, 3, 17, 33], [3, 40, 5], [2, 3, 4, 5, 6]];
        foreach (var shape in shapes)
            for (int rep = 0; rep < 4; rep++)
            {
                int[] perm = rep switch
                {
                    0 when shape.Length == 4 => [0, 2, 3, 1],
                    1 when shape.Length == 4 => [0, 3, 1, 2],
                    _ => Enumerable.Range(0, shape.Length).OrderBy(_ => rnd.Next()).ToArray(),
                };
                int count = shape.Aggregate(1, (a, b) => a * b);
                var data = Enumerable.Range(0, count).Select(i => (float)i).ToArray();
                var r = Run1("Transpose", T(data, shape), I(perm, perm.Length));
                var outShape = perm.Select(p => shape[p]).ToArray();
                Assert.Equal(outShape, r.Shape);
                var inStrides = new int[shape.Length];
                for (int d = shape.Length - 1, st = 1; d >= 0; st *= shape[d], d--) inStrides[d] = st;
                var got = r.As<float>();
                var idx = new int[shape.Length];
                for (int o = 0; o < count; o++)
                {
                    int src = 0;
                    for (int d = 0; d < shape.Length; d++) src += idx[d] * inStrides[perm[d]];
                    Assert.Equal(src, (int)got[o]);
                    for (int d = shape.Length - 1; d >= 0 && ++idx[d] == outShape[d]; d--) idx[d] = 0;
                }
                var ri = Run1("Transpose", Tensor.Create(Enumerable.Range(0, count).ToArray(), shape), I(perm, perm.Length));
                Assert.Equal(got.Select(v => (int)v), ri.As<int>());
            }
    }

    [Fact]
    public void Pad_matches_naive_with_unpadded_trailing_dims()
    {
        // NHWC-style pads (trailing dims unpadded, merged into longer rows) and others, zero and constant fill.
        int[][] shapes = [[1, 5, 6, 3], [2, 3, 4, 5], [7], [3, 4]];
        var rnd = new Random(8);
        foreach (var shape in shapes)
            for (int rep = 0; rep < 4; rep++)
            {
                var pads = new int[2 * shape.Length];
                for (int d = 0; d < shape.Length; d++)
                    if (d < shape.Length - rep % 3 || rep == 3) { pads[2 * d] = rnd.Next(3); pads[2 * d + 1] = rnd.Next(3); }
                int count = shape.Aggregate(1, (a, b) => a * b);
                var data = Enumerable.Range(0, count).Select(i => (float)i + 1).ToArray();
                float fill = rep == 2 ? -7.5f : 0f;
                var r = rep == 2
                    ? Run1("PadV2", T(data, shape), I(pads, shape.Length, 2), T(new[] { fill }))
                    : Run1("Pad", T(data, shape), I(pads, shape.Length, 2));
                var outShape = shape.Select((n, d) => n + pads[2 * d] + pads[2 * d + 1]).ToArray();
                Assert.Equal(outShape, r.Shape);
                var got = r.As<float>();
                var idx = new int[shape.Length];
                for (int o = 0; o < got.Length; o++)
                {
                    int src = 0;
                    bool inside = true;
                    for (int d = 0; d < shape.Length; d++)
                    {
                        int c = idx[d] - pads[2 * d];
                        inside &= c >= 0 && c < shape[d];
                        src = src * shape[d] + c;
                    }
                    Assert.Equal(inside ? data[src] : fill, got[o]);
                    for (int d = shape.Length - 1; d >= 0 && ++idx[d] == outShape[d]; d--) idx[d] = 0;
                }
            }
    }

    /// <summary>Naive padding by the definition: constant fill outside, or the mirrored source coordinate.</summary>
    private static int[] NaivePad(int[] data, int[] shape, int[] pads, int fill, string? mirror)
    {
        var outShape = shape.Select((n, d) => n + pads[2 * d] + pads[2 * d + 1]).ToArray();
        var result = new int[outShape.Aggregate(1, (a, b) => a * b)];
        var idx = new int[shape.Length];
        for (int o = 0; o < result.Length; o++)
        {
            int src = 0;
            bool inside = true;
            for (int d = 0; d < shape.Length; d++)
            {
                int c = idx[d] - pads[2 * d];
                if (mirror is not null && c < 0) c = mirror == "REFLECT" ? -c : -c - 1;
                else if (mirror is not null && c >= shape[d]) c = mirror == "REFLECT" ? 2 * shape[d] - 2 - c : 2 * shape[d] - 1 - c;
                inside &= c >= 0 && c < shape[d];
                src = src * shape[d] + c;
            }
            result[o] = inside ? data[src] : fill;
            for (int d = shape.Length - 1; d >= 0 && ++idx[d] == outShape[d]; d--) idx[d] = 0;
        }
        return result;
    }

    [Theory]
    [InlineData("REFLECT")]
    [InlineData("SYMMETRIC")]
    [InlineData(null)]
    public void Pad_and_MirrorPad_match_naive_for_edge_shapes_and_int_storage(string? mirror)
    {
        // Rank 1, single elements, padding only an outer dim (long merged rows), only the last dim, NCHW/NHWC-like 4-D, batch padding.
        int[][] shapes = [[1], [5], [1, 1, 1], [2, 3], [4, 1, 3], [1, 3, 4, 5], [2, 4, 5, 3], [3, 2, 2, 2, 2]];
        var rnd = new Random(21);
        int off = mirror == "REFLECT" ? 1 : 0;
        foreach (var shape in shapes)
            for (int rep = 0; rep < 6; rep++)
            {
                var pads = new int[2 * shape.Length];
                for (int d = 0; d < shape.Length; d++)
                {
                    int max = mirror is null ? 3 : shape[d] - off;
                    bool padThis = rep switch { 0 => d == 0, 1 => d == shape.Length - 1, 2 => d != shape.Length - 1, _ => true };
                    if (padThis && max > 0) { pads[2 * d] = rnd.Next(max + 1); pads[2 * d + 1] = rnd.Next(max + 1); }
                }
                int count = shape.Aggregate(1, (a, b) => a * b);
                var data = Enumerable.Range(0, count).Select(i => i * 3 + 1).ToArray();
                int fill = rep == 4 && mirror is null ? -9 : 0;
                var x = Tensor.Create(data, shape);
                var p = I(pads, shape.Length, 2);
                var r = mirror is not null ? RunOp("MirrorPad", new[] { x, p }, A(("mode", Attr.String(mirror))))[0]
                    : fill != 0 ? Run1("PadV2", x, p, Tensor.Scalar(fill)) : Run1("Pad", x, p);
                Assert.Equal(shape.Select((n, d) => n + pads[2 * d] + pads[2 * d + 1]), r.Shape);
                Assert.Equal(NaivePad(data, shape, pads, fill, mirror), r.As<int>());
                // float storage takes the same path
                var rf = mirror is not null ? RunOp("MirrorPad", new[] { T(data.Select(v => (float)v).ToArray(), shape), p }, A(("mode", Attr.String(mirror))))[0]
                    : Run1("PadV2", T(data.Select(v => (float)v).ToArray(), shape), p, Tensor.Scalar((float)fill));
                Assert.Equal(NaivePad(data, shape, pads, fill, mirror).Select(v => (float)v), rf.As<float>());
            }
    }

    [Fact]
    public void Pad_of_empty_tensors_fills_the_padding()
    {
        var r = Run1("PadV2", T(Array.Empty<float>(), 2, 0), I(new[] { 0, 1, 1, 1 }, 2, 2), T(new[] { 4f }));
        Assert.Equal(new[] { 3, 2 }, r.Shape);
        Assert.All(r.As<float>(), v => Assert.Equal(4f, v));
        var e = Run1("Pad", T(Array.Empty<float>(), 0, 3), I(new[] { 0, 0, 1, 1 }, 2, 2));
        Assert.Equal(new[] { 0, 5 }, e.Shape);
        var s = Run1("Pad", Tensor.FromStrings(new[] { "a", "b" }, 2), I(new[] { 1, 0 }, 1, 2));
        Assert.Equal(new[] { "", "a", "b" }, s.As<byte[]>().Select(b => System.Text.Encoding.UTF8.GetString(b)));
    }

    [Fact]
    public void ConcatV2_Pack_Unpack_Split_SplitV()
    {
        var a = T(new[] { 1f, 2f, 3f, 4f }, 2, 2);
        var b = T(new[] { 5f, 6f }, 2, 1);
        var c = Run1("ConcatV2", a, b, Tensor.Scalar(-1));
        Assert.Equal(new[] { 2, 3 }, c.Shape);
        Assert.Equal(new[] { 1f, 2f, 5f, 3f, 4f, 6f }, c.As<float>());
        Assert.Equal(new[] { 3, 2 }, Run1("ConcatV2", a, T(new[] { 9f, 9f }, 1, 2), Tensor.Scalar(0)).Shape);
        Assert.Equal(new[] { 2, 2 }, Run1("ConcatV2", a, T(Array.Empty<float>(), 2, 0), Tensor.Scalar(1)).Shape);

        var p = RunOp("Pack", new[] { T(new[] { 1f, 2f }, 2), T(new[] { 3f, 4f }, 2) }, A(("axis", Attr.Int(1))))[0];
        Assert.Equal(new[] { 2, 2 }, p.Shape);
        Assert.Equal(new[] { 1f, 3f, 2f, 4f }, p.As<float>());

        var u = RunOp("Unpack", new[] { a }, A(("num", Attr.Int(2)), ("axis", Attr.Int(1))), 2);
        Assert.Equal(new[] { 1f, 3f }, u[0].As<float>());
        Assert.Equal(new[] { 2f, 4f }, u[1].As<float>());

        var sp = RunOp("Split", new[] { Tensor.Scalar(1), T(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, 1, 6) }, A(("num_split", Attr.Int(3))), 3);
        Assert.Equal(new[] { 3f, 4f }, sp[1].As<float>());
        var sv = RunOp("SplitV", new[] { T(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, 6), I(new[] { 1, -1, 2 }, 3), Tensor.Scalar(0) }, A(("num_split", Attr.Int(3))), 3);
        Assert.Equal(new[] { 2f, 3f, 4f }, sv[1].As<float>());
        Assert.Equal(new[] { 5f, 6f }, sv[2].As<float>());
    }

    [Fact]
    public void Slice_with_minus_one_size()
    {
        var r = Run1("Slice", X234, I(new[] { 1, 1, 2 }, 3), I(new[] { -1, 2, -1 }, 3));
        Assert.Equal(new[] { 1, 2, 2 }, r.Shape);
        Assert.Equal(new[] { 18f, 19f, 22f, 23f }, r.As<float>());
    }

    [Fact]
    public void StridedSlice_basic_negative_and_reverse()
    {
        var v = T(new[] { 0f, 1f, 2f, 3f, 4f, 5f }, 6);
        Assert.Equal(new[] { 1f, 3f }, SS(v, new[] { 1 }, new[] { 5 }, new[] { 2 }).As<float>());
        Assert.Equal(new[] { 5f, 4f, 3f, 2f, 1f, 0f }, SS(v, new[] { 0 }, new[] { 0 }, new[] { -1 }, begin: 1, end: 1).As<float>());
        Assert.Equal(new[] { 4f, 2f }, SS(v, new[] { -2 }, new[] { 0 }, new[] { -2 }).As<float>());
        Assert.Equal(new[] { 3f, 4f, 5f }, SS(v, new[] { -3 }, new[] { 100 }, new[] { 1 }).As<float>());
        Assert.Empty(SS(v, new[] { 4 }, new[] { 2 }, new[] { 1 }).As<float>());
    }

    [Fact]
    public void StridedSlice_plan_kept_for_constant_bounds_is_redone_for_a_new_shape_or_bounds()
    {
        // x[:, 1:3, ::2] with constant begin/end/strides: the plan is kept between runs of the same context
        var b = I(new[] { 0, 1, 0 }, 3);
        var e = I(new[] { 0, 3, 0 }, 3);
        var s = I(new[] { 1, 1, 2 }, 3);
        var attrs = A(("begin_mask", Attr.Int(5)), ("end_mask", Attr.Int(5)), ("Index", Attr.Type(DataType.DtInt32)));
        var ctx = K.Context("StridedSlice", attrs, [false, true, true, true], null, X234, b, e, s);
        var first = K.Rerun(ctx);
        Assert.Equal(new[] { 2, 2, 2 }, first.Shape);
        Assert.Equal(new[] { 4f, 6f, 8f, 10f, 16f, 18f, 20f, 22f }, first.As<float>());
        // same shape, new values: same plan, new data
        ctx.Inputs[0] = T(Enumerable.Range(0, 24).Select(i => (float)(100 + i)).ToArray(), 2, 3, 4);
        var second = K.Rerun(ctx);
        Assert.Equal(new[] { 104f, 106f, 108f, 110f, 116f, 118f, 120f, 122f }, second.As<float>());
        second.Shape[0] = 99; // the output's shape is the caller's to change
        // a new input shape: planned again
        ctx.Inputs[0] = T(Enumerable.Range(0, 30).Select(i => (float)i).ToArray(), 1, 5, 6);
        var third = K.Rerun(ctx);
        Assert.Equal(new[] { 1, 2, 3 }, third.Shape);
        Assert.Equal(new[] { 6f, 8f, 10f, 12f, 14f, 16f }, third.As<float>());
        // bounds that are not constants (a new tensor each run) are planned every time
        ctx.Inputs[0] = X234;
        ctx.Inputs[1] = I(new[] { 0, 2, 0 }, 3);
        var fourth = K.Rerun(ctx);
        Assert.Equal(new[] { 2, 1, 2 }, fourth.Shape);
        Assert.Equal(new[] { 8f, 10f, 20f, 22f }, fourth.As<float>());
    }

    [Fact]
    public void StridedSlice_shrink_newaxis_ellipsis()
    {
        // x[1] → shape [3,4]
        var a = SS(X234, new[] { 1 }, new[] { 2 }, new[] { 1 }, shrink: 1);
        Assert.Equal(new[] { 3, 4 }, a.Shape);
        Assert.Equal(12f, a.As<float>()[0]);
        // x[..., -1] → [2,3] of last elements
        var b = SS(X234, new[] { 0, -1 }, new[] { 0, 0 }, new[] { 1, 1 }, ellipsis: 1, shrink: 2);
        Assert.Equal(new[] { 2, 3 }, b.Shape);
        Assert.Equal(new[] { 3f, 7f, 11f, 15f, 19f, 23f }, b.As<float>());
        // x[:, tf.newaxis, 1:3, ::2] → [2,1,2,2]
        var c = SS(X234, new[] { 0, 0, 1, 0 }, new[] { 0, 0, 3, 0 }, new[] { 1, 1, 1, 2 }, begin: 1 | 8, end: 1 | 8, newAxis: 2);
        Assert.Equal(new[] { 2, 1, 2, 2 }, c.Shape);
        Assert.Equal(new[] { 4f, 6f, 8f, 10f, 16f, 18f, 20f, 22f }, c.As<float>());
        // x[tf.newaxis, ..., 0] → [1,2,3]
        var d = SS(X234, new[] { 0, 0, 0 }, new[] { 0, 0, 1 }, new[] { 1, 1, 1 }, newAxis: 1, ellipsis: 2, shrink: 4);
        Assert.Equal(new[] { 1, 2, 3 }, d.Shape);
        Assert.Equal(new[] { 0f, 4f, 8f, 12f, 16f, 20f }, d.As<float>());
        // scalar result from shrinking every axis: x[1, 2, 3]
        var e = SS(X234, new[] { 1, 2, 3 }, new[] { 2, 3, 4 }, new[] { 1, 1, 1 }, shrink: 7);
        Assert.Empty(e.Shape);
        Assert.Equal(23f, e.As<float>()[0]);
        Assert.Throws<ModelOpsException>(() => SS(X234, new[] { 5 }, new[] { 6 }, new[] { 1 }, shrink: 1));
    }

    [Fact]
    public void Pad_PadV2_MirrorPad()
    {
        var x = T(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, 2, 3);
        var p = I(new[] { 1, 0, 0, 2 }, 2, 2);
        var r = Run1("Pad", x, p);
        Assert.Equal(new[] { 3, 5 }, r.Shape);
        Assert.Equal(new[] { 0f, 0, 0, 0, 0, 1, 2, 3, 0, 0, 4, 5, 6, 0, 0 }, r.As<float>());
        Assert.Equal(9f, Run1("PadV2", x, p, Tensor.Scalar(9f)).As<float>()[0]);

        var v = T(new[] { 1f, 2f, 3f }, 3);
        var pads = I(new[] { 2, 2 }, 1, 2);
        Assert.Equal(new[] { 3f, 2f, 1f, 2f, 3f, 2f, 1f }, RunOp("MirrorPad", new[] { v, pads }, A(("mode", Attr.String("REFLECT"))))[0].As<float>());
        Assert.Equal(new[] { 2f, 1f, 1f, 2f, 3f, 3f, 2f }, RunOp("MirrorPad", new[] { v, pads }, A(("mode", Attr.String("SYMMETRIC"))))[0].As<float>());
        Assert.Throws<ModelOpsException>(() => RunOp("MirrorPad", new[] { v, I(new[] { 3, 0 }, 1, 2) }, A(("mode", Attr.String("REFLECT")))));
    }

    [Fact]
    public void Shape_Size_Rank_Fill_Likes_Range()
    {
        Assert.Equal(new[] { 2, 3, 4 }, Run1("Shape", X234).As<int>());
        Assert.Equal(new long[] { 2, 3, 4 }, RunOp("Shape", new[] { X234 }, A(("out_type", Attr.Type(DataType.DtInt64))))[0].As<long>());
        Assert.Equal(24, Run1("Size", X234).As<int>()[0]);
        Assert.Equal(3, Run1("Rank", X234).As<int>()[0]);
        var sn = RunOp("ShapeN", new[] { X234, Tensor.Scalar(1f) }, A(("N", Attr.Int(2))), 2);
        Assert.Empty(sn[1].As<int>());
        var f = Run1("Fill", I(new[] { 2, 2 }, 2), Tensor.Scalar(7L));
        Assert.Equal(new long[] { 7, 7, 7, 7 }, f.As<long>());
        Assert.Equal(new[] { 1, 1 }, Run1("OnesLike", I(new[] { 5, 6 }, 2)).As<int>());
        Assert.Equal(new[] { false, false }, Run1("ZerosLike", Tensor.Create(new[] { true, true }, 2)).As<bool>());
        Assert.Equal(new[] { 10, 7, 4 }, Run1("Range", Tensor.Scalar(10), Tensor.Scalar(1), Tensor.Scalar(-3)).As<int>());
        Assert.Equal(new[] { 0f, 0.5f, 1f, 1.5f }, Run1("Range", Tensor.Scalar(0f), Tensor.Scalar(2f), Tensor.Scalar(0.5f)).As<float>());
        Assert.Empty(Run1("Range", Tensor.Scalar(3), Tensor.Scalar(3), Tensor.Scalar(1)).As<int>());
        Assert.Throws<ModelOpsException>(() => Run1("Range", Tensor.Scalar(0), Tensor.Scalar(3), Tensor.Scalar(-1)));
    }

    [Fact]
    public void Cast_follows_c_rules()
    {
        Tensor Cast(Tensor x, DataType t) => RunOp("Cast", new[] { x }, A(("DstT", Attr.Type(t)), ("SrcT", Attr.Type(x.DType))))[0];
        Assert.Equal(new[] { 1, -1, 2 }, Cast(T(new[] { 1.9f, -1.9f, 2.5f }, 3), DataType.DtInt32).As<int>());
        Assert.Equal(new byte[] { 255, 0 }, Cast(I(new[] { -1, 256 }, 2), DataType.DtUint8).As<byte>());
        Assert.Equal(new[] { true, false, true }, Cast(T(new[] { 0.1f, 0f, -3f }, 3), DataType.DtBool).As<bool>());
        Assert.Equal(new[] { 1f, 0f }, Cast(Tensor.Create(new[] { true, false }, 2), DataType.DtFloat).As<float>());
        Assert.Equal(new long[] { 9007199254740993 }, Cast(L(new[] { 9007199254740993L }, 1), DataType.DtInt64).As<long>());
        Assert.Equal((Half)1.5f, Cast(T(new[] { 1.5f }, 1), DataType.DtHalf).As<Half>()[0]);
        Assert.Equal(new[] { 200f }, Cast(Tensor.Create(new byte[] { 200 }, 1), DataType.DtFloat).As<float>());
    }

    [Fact]
    public void GatherV2_axes_and_batch_dims()
    {
        var p = T(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, 3, 2);
        var g0 = Run1("GatherV2", p, I(new[] { 2, 0 }, 2), Tensor.Scalar(0));
        Assert.Equal(new[] { 2, 2 }, g0.Shape);
        Assert.Equal(new[] { 5f, 6f, 1f, 2f }, g0.As<float>());
        var g1 = Run1("GatherV2", p, I(new[] { 1, 1, 0 }, 1, 3), Tensor.Scalar(-1));
        Assert.Equal(new[] { 3, 1, 3 }, g1.Shape);
        Assert.Equal(new[] { 2f, 2f, 1f, 4f, 4f, 3f, 6f, 6f, 5f }, g1.As<float>());
        var gs = Run1("GatherV2", p, Tensor.Scalar(1), Tensor.Scalar(0));
        Assert.Equal(new[] { 2 }, gs.Shape);
        // batch_dims=1: per row pick
        var b = RunOp("GatherV2", new[] { p, I(new[] { 1, 0, 1 }, 3, 1), Tensor.Scalar(1) }, A(("batch_dims", Attr.Int(1))))[0];
        Assert.Equal(new[] { 3, 1 }, b.Shape);
        Assert.Equal(new[] { 2f, 3f, 6f }, b.As<float>());
        Assert.Throws<ModelOpsException>(() => Run1("GatherV2", p, I(new[] { 3 }, 1), Tensor.Scalar(0)));
    }

    [Fact]
    public void GatherNd_full_and_partial_indices()
    {
        var p = T(new[] { 1f, 2f, 3f, 4f }, 2, 2);
        Assert.Equal(new[] { 2f, 3f }, Run1("GatherNd", p, I(new[] { 0, 1, 1, 0 }, 2, 2)).As<float>());
        var rows = Run1("GatherNd", p, I(new[] { 1 }, 1, 1));
        Assert.Equal(new[] { 1, 2 }, rows.Shape);
        Assert.Equal(new[] { 3f, 4f }, rows.As<float>());
    }

    [Fact]
    public void Tile_BroadcastTo_Reverse()
    {
        var x = T(new[] { 1f, 2f }, 1, 2);
        var t = Run1("Tile", x, I(new[] { 2, 2 }, 2));
        Assert.Equal(new[] { 2, 4 }, t.Shape);
        Assert.Equal(new[] { 1f, 2f, 1f, 2f, 1f, 2f, 1f, 2f }, t.As<float>());
        var b = Run1("BroadcastTo", T(new[] { 1f, 2f, 3f }, 3, 1), I(new[] { 2, 3, 2 }, 3));
        Assert.Equal(new[] { 1f, 1f, 2f, 2f, 3f, 3f, 1f, 1f, 2f, 2f, 3f, 3f }, b.As<float>());
        Assert.Throws<ModelOpsException>(() => Run1("BroadcastTo", T(new[] { 1f, 2f }, 2), I(new[] { 3 }, 1)));
        var r = Run1("ReverseV2", T(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, 2, 3), I(new[] { -1 }, 1));
        Assert.Equal(new[] { 3f, 2f, 1f, 6f, 5f, 4f }, r.As<float>());
        var r2 = Run1("Reverse", T(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, 2, 3), Tensor.Create(new[] { true, true }, 2));
        Assert.Equal(new[] { 6f, 5f, 4f, 3f, 2f, 1f }, r2.As<float>());
    }

    [Fact]
    public void SparseToDense_and_OneHot()
    {
        var d = Run1("SparseToDense", I(new[] { 0, 1, 2, 0 }, 2, 2), I(new[] { 3, 2 }, 2), T(new[] { 5f, 6f }, 2), Tensor.Scalar(-1f));
        Assert.Equal(new[] { -1f, 5f, -1f, -1f, 6f, -1f }, d.As<float>());
        var oh = RunOp("OneHot", new[] { L(new long[] { 0, 2, -1 }, 3), Tensor.Scalar(3), Tensor.Scalar(1f), Tensor.Scalar(0f) })[0];
        Assert.Equal(new[] { 3, 3 }, oh.Shape);
        Assert.Equal(new[] { 1f, 0, 0, 0, 0, 1, 0, 0, 0 }, oh.As<float>());
        var oh0 = RunOp("OneHot", new[] { I(new[] { 1, 0 }, 2), Tensor.Scalar(2), Tensor.Scalar(5), Tensor.Scalar(-5) }, A(("axis", Attr.Int(0))))[0];
        Assert.Equal(new[] { 2, 2 }, oh0.Shape);
        Assert.Equal(new[] { -5, 5, 5, -5 }, oh0.As<int>());
    }

    [Fact]
    public void SpaceToBatch_BatchToSpace_roundtrip_and_values()
    {
        var x = T(Enumerable.Range(1, 16).Select(i => (float)i).ToArray(), 1, 4, 4, 1);
        var s = Run1("SpaceToBatchND", x, I(new[] { 2, 2 }, 2), I(new[] { 0, 0, 0, 0 }, 2, 2));
        Assert.Equal(new[] { 4, 2, 2, 1 }, s.Shape);
        Assert.Equal(new[] { 1f, 3f, 9f, 11f }, s.As<float>()[..4]);
        Assert.Equal(new[] { 2f, 4f, 10f, 12f }, s.As<float>()[4..8]);
        var back = Run1("BatchToSpaceND", s, I(new[] { 2, 2 }, 2), I(new[] { 0, 0, 0, 0 }, 2, 2));
        Assert.Equal(x.As<float>(), back.As<float>());
        var padded = Run1("SpaceToBatchND", T(new[] { 1f, 2f, 3f }, 1, 3, 1), I(new[] { 2 }, 1), I(new[] { 1, 0 }, 1, 2));
        Assert.Equal(new[] { 2, 2, 1 }, padded.Shape);
        Assert.Equal(new[] { 0f, 2f, 1f, 3f }, padded.As<float>());
        var cropped = Run1("BatchToSpaceND", padded, I(new[] { 2 }, 1), I(new[] { 1, 0 }, 1, 2));
        Assert.Equal(new[] { 1f, 2f, 3f }, cropped.As<float>());
    }

    [Fact]
    public void DepthToSpace_and_SpaceToDepth()
    {
        var x = T(new[] { 1f, 2f, 3f, 4f }, 1, 1, 1, 4);
        var d = RunOp("DepthToSpace", new[] { x }, A(("block_size", Attr.Int(2))))[0];
        Assert.Equal(new[] { 1, 2, 2, 1 }, d.Shape);
        Assert.Equal(new[] { 1f, 2f, 3f, 4f }, d.As<float>());
        var y = T(Enumerable.Range(1, 8).Select(i => (float)i).ToArray(), 1, 2, 2, 2);
        var s = RunOp("SpaceToDepth", new[] { y }, A(("block_size", Attr.Int(2))))[0];
        Assert.Equal(new[] { 1, 1, 1, 8 }, s.Shape);
        Assert.Equal(y.As<float>(), s.As<float>());
        var y2 = T(Enumerable.Range(1, 16).Select(i => (float)i).ToArray(), 1, 4, 4, 1);
        var s2 = RunOp("SpaceToDepth", new[] { y2 }, A(("block_size", Attr.Int(2))))[0];
        Assert.Equal(new[] { 1f, 2f, 5f, 6f }, s2.As<float>()[..4]);
        var back = RunOp("DepthToSpace", new[] { s2 }, A(("block_size", Attr.Int(2))))[0];
        Assert.Equal(y2.As<float>(), back.As<float>());
    }
}
