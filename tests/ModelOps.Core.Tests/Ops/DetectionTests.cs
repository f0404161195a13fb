using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Xunit;
using static ModelOps.Core.Tests.TestGraphs;

namespace ModelOps.Core.Tests.Ops;

public class DetectionTests
{
    [Fact]
    public void TopKV2_sorts_descending_with_ties_to_lower_index()
    {
        var r = RunOp("TopKV2", new[] { T(new[] { 1f, 3f, 3f, 2f, 5f, 0f, 5f, 4f }, 2, 4), Tensor.Scalar(2) }, null, 2);
        Assert.Equal(new[] { 2, 2 }, r[0].Shape);
        Assert.Equal(new[] { 3f, 3f, 5f, 5f }, r[0].As<float>());
        Assert.Equal(new[] { 1, 2, 0, 2 }, r[1].As<int>());
        var z = RunOp("TopKV2", new[] { I(new[] { 4, 9 }, 2), Tensor.Scalar(0) }, null, 2);
        Assert.Equal(new[] { 0 }, z[0].Shape);
    }

    // Boxes: 0 and 1 overlap heavily (IoU 0.81), 2 is apart, 3 overlaps 2 (IoU 1/3).
    private static readonly Tensor Boxes = T(new[]
    {
        0f, 0f, 1f, 1f,
        0f, 0.1f, 1f, 1.1f,
        0f, 2f, 1f, 3f,
        0f, 2.5f, 1f, 3.5f,
    }, 4, 4);

    private static readonly Tensor Scores = T(new[] { 0.9f, 0.95f, 0.5f, 0.6f }, 4);

    [Fact]
    public void Nms_v3_greedy_with_iou_and_score_thresholds()
    {
        var r = RunOp("NonMaxSuppressionV3", new[] { Boxes, Scores, Tensor.Scalar(10), Tensor.Scalar(0.5f), Tensor.Scalar(0f) })[0];
        Assert.Equal(new[] { 1, 3, 2 }, r.As<int>());
        var strict = RunOp("NonMaxSuppressionV3", new[] { Boxes, Scores, Tensor.Scalar(10), Tensor.Scalar(0.1f), Tensor.Scalar(0f) })[0];
        Assert.Equal(new[] { 1, 3 }, strict.As<int>());
        var thr = RunOp("NonMaxSuppressionV3", new[] { Boxes, Scores, Tensor.Scalar(10), Tensor.Scalar(0.5f), Tensor.Scalar(0.6f) })[0];
        Assert.Equal(new[] { 1 }, thr.As<int>()); // 0.6 is not strictly above the threshold
        var max1 = RunOp("NonMaxSuppressionV2", new[] { Boxes, Scores, Tensor.Scalar(1), Tensor.Scalar(0.5f) })[0];
        Assert.Equal(new[] { 1 }, max1.As<int>());
    }

    [Fact]
    public void Nms_v4_pads_and_reports_valid_count()
    {
        var attrs = new Dictionary<string, AttrValue> { ["pad_to_max_output_size"] = Attr.Bool(true) };
        var r = RunOp("NonMaxSuppressionV4", new[] { Boxes, Scores, Tensor.Scalar(6), Tensor.Scalar(0.5f), Tensor.Scalar(0f) }, attrs, 2);
        Assert.Equal(new[] { 1, 3, 2, 0, 0, 0 }, r[0].As<int>());
        Assert.Equal(3, r[1].As<int>()[0]);
    }

    [Fact]
    public void Nms_v5_soft_suppression_decays_scores()
    {
        var r = RunOp("NonMaxSuppressionV5", new[] { Boxes, Scores, Tensor.Scalar(10), Tensor.Scalar(1f), Tensor.Scalar(0f), Tensor.Scalar(0.5f) }, null, 3);
        // Box 1 first (0.95); box 0 decays to 0.9·exp(-iou²) with iou = 0.9/1.1; box 3 (0.6) and 2 decays by exp(-(1/3)²).
        float iou01 = 0.9f / 1.1f;
        float s0 = 0.9f * MathF.Exp(-iou01 * iou01);
        float s2 = 0.5f * MathF.Exp(-(1f / 3f) * (1f / 3f));
        Assert.Equal(new[] { 1, 3, 0, 2 }, r[0].As<int>());
        var sc = r[1].As<float>();
        Assert.Equal(0.95f, sc[0]);
        Assert.Equal(0.6f, sc[1]);
        Assert.Equal(s0, sc[2], 5);
        Assert.Equal(s2, sc[3], 5);
        Assert.Equal(4, r[2].As<int>()[0]);
        // sigma 0 is hard NMS
        var hard = RunOp("NonMaxSuppressionV5", new[] { Boxes, Scores, Tensor.Scalar(10), Tensor.Scalar(0.5f), Tensor.Scalar(0f), Tensor.Scalar(0f) }, null, 3);
        Assert.Equal(new[] { 1, 3, 2 }, hard[0].As<int>());
        Assert.Equal(new[] { 0.95f, 0.6f, 0.5f }, hard[1].As<float>());
    }

    [Fact]
    public void Iou_accepts_flipped_corners_and_zero_area()
    {
        var b = new[] { 1f, 1f, 0f, 0f, 0f, 0f, 1f, 1f, 0f, 0f, 0f, 1f };
        Assert.Equal(1f, ModelOps.Core.Ops.Detection.Iou(b, 0, 1));
        Assert.Equal(0f, ModelOps.Core.Ops.Detection.Iou(b, 0, 2));
    }
}
