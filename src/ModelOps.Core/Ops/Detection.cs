using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Ops;

/// <summary>
/// The ops detection models end in: TopKV2 and NonMaxSuppression V2–V5 with TensorFlow's greedy
/// selection (candidates with score strictly above score_threshold, highest score first, ties to
/// the lower box index; a candidate is dropped when its IoU with a selected box exceeds
/// iou_threshold; V5 with soft_nms_sigma &gt; 0 decays scores by exp(-iou²/(2σ)) instead).
/// </summary>
public sealed partial class Detection : OpFamily
{
    public override void RegisterKernels(KernelRegistry r)
    {
        r.Add(new[] { "TopKV2", "TopK" }, TopK);
        r.Add("NonMaxSuppression", ctx => Nms(ctx, version: 1));
        r.Add("NonMaxSuppressionV2", ctx => Nms(ctx, version: 2));
        r.Add("NonMaxSuppressionV3", ctx => Nms(ctx, version: 3));
        r.Add("NonMaxSuppressionV4", ctx => Nms(ctx, version: 4));
        r.Add("NonMaxSuppressionV5", ctx => Nms(ctx, version: 5));
    }

    private static void TopK(KernelContext ctx)
    {
        var x = ctx.Input(0);
        long k = ctx.Node.Op == "TopK" ? ctx.Int("k") : DataMovement.ScalarInt(ctx, 1);
        if (x.Rank < 1) throw ctx.Error("needs an input of rank at least 1.");
        int n = x.Shape[^1];
        if (k < 0 || k > n) throw ctx.Error($"asks for k={k} of a last dimension of size {n}.");
        int rows = n == 0 ? DataMovement.Count(x.Shape[..^1]) : x.Length / n;
        var outShape = (int[])x.Shape.Clone();
        outShape[^1] = (int)k;
        var map = new int[rows * (int)k];
        var indices = new int[rows * (int)k];
        var order = new int[n];
        var keys = new double[n];
        for (int row = 0; row < rows; row++)
        {
            for (int i = 0; i < n; i++) { order[i] = i; keys[i] = x.GetDouble(row * n + i); }
            // Largest first; equal values keep the lower index first (a stable order).
            Array.Sort(order, (a, b) =>
            {
                int c = Descending(keys[a], keys[b]);
                return c != 0 ? c : a.CompareTo(b);
            });
            for (int j = 0; j < k; j++)
            {
                map[row * k + j] = row * n + order[j];
                indices[row * k + j] = order[j];
            }
        }
        ctx.SetOutput(0, DataMovement.Take(x, map, outShape));
        ctx.SetOutput(1, new Tensor(DataType.DtInt32, outShape, indices));
    }

    // NaN sorts above everything, as in TF's TopK (which orders with std::greater on a NaN-aware key).
    private static int Descending(double a, double b)
    {
        if (double.IsNaN(a)) return double.IsNaN(b) ? 0 : -1;
        if (double.IsNaN(b)) return 1;
        return b.CompareTo(a);
    }

    private static float[] Floats(Tensor t) => t.Data is float[] f ? f : ArrayShape.Cast(t, DataType.DtFloat).As<float>();

    private static void Nms(KernelContext ctx, int version)
    {
        var boxesT = ctx.Input(0);
        var scoresT = ctx.Input(1);
        if (boxesT.Rank != 2 || boxesT.Shape[1] != 4) throw ctx.Error($"needs boxes of shape [num_boxes,4] but got {Tensor.FormatShape(boxesT.Shape)}.");
        int num = boxesT.Shape[0];
        if (scoresT.Rank != 1 || scoresT.Shape[0] != num) throw ctx.Error($"needs scores of shape [{num}] but got {Tensor.FormatShape(scoresT.Shape)}.");
        long maxOut = DataMovement.ScalarInt(ctx, 2);
        if (maxOut < 0) throw ctx.Error("has a negative max_output_size.");
        float iou = version == 1 ? ctx.Float("iou_threshold", 0.5f) : (float)ctx.Input(3).GetDouble(0);
        if (iou < 0 || iou > 1) throw ctx.Error($"has iou_threshold {iou}; it must be in [0, 1].");
        float scoreThreshold = version >= 3 ? (float)ctx.Input(4).GetDouble(0) : float.MinValue;
        float sigma = version == 5 ? (float)ctx.Input(5).GetDouble(0) : 0f;
        if (sigma < 0) throw ctx.Error("has a negative soft_nms_sigma.");
        bool pad = version >= 4 && ctx.Bool("pad_to_max_output_size", false);

        var boxes = Floats(boxesT);
        var scores = Floats(scoresT);
        var (selected, selectedScores) = Select(boxes, scores, (int)Math.Min(maxOut, int.MaxValue), iou, scoreThreshold, sigma);
        int valid = selected.Count;
        if (pad)
            while (selected.Count < maxOut) { selected.Add(0); selectedScores.Add(0f); }
        ctx.SetOutput(0, Tensor.Create(selected.ToArray(), selected.Count));
        if (version == 4) ctx.SetOutput(1, Tensor.Scalar(valid));
        if (version == 5)
        {
            var s = Tensor.Create(selectedScores.ToArray(), selectedScores.Count);
            ctx.SetOutput(1, scoresT.DType == DataType.DtFloat ? s : ArrayShape.Cast(s, scoresT.DType));
            ctx.SetOutput(2, Tensor.Scalar(valid));
        }
    }

    private struct Candidate
    {
        public int Index;
        public float Score;
        public int SuppressBegin;
    }

    /// <summary>TF's greedy (soft-)NMS over [y1,x1,y2,x2] boxes (corners in either order).</summary>
    internal static (List<int> Selected, List<float> Scores) Select(float[] boxes, float[] scores, int maxOut, float iouThreshold, float scoreThreshold, float sigma)
    {
        // Max-heap by score, ties to the lower index.
        var queue = new PriorityQueue<Candidate, (float, int)>(Comparer<(float Score, int Index)>.Create((a, b) =>
        {
            int c = b.Score.CompareTo(a.Score);
            return c != 0 ? c : a.Index.CompareTo(b.Index);
        }));
        for (int i = 0; i < scores.Length; i++)
            if (scores[i] > scoreThreshold) queue.Enqueue(new Candidate { Index = i, Score = scores[i] }, (scores[i], i));

        bool soft = sigma > 0;
        float scale = soft ? -0.5f / sigma : 0f;
        var selected = new List<int>();
        var selectedScores = new List<float>();
        while (selected.Count < maxOut && queue.TryDequeue(out var cand, out _))
        {
            float original = cand.Score;
            bool hard = false;
            for (int j = selected.Count - 1; j >= cand.SuppressBegin; j--)
            {
                float sim = Iou(boxes, cand.Index, selected[j]);
                float weight = MathF.Exp(scale * sim * sim);
                cand.Score *= soft || sim <= iouThreshold ? weight : 0f;
                if (!soft && sim > iouThreshold) { hard = true; break; }
                if (cand.Score <= scoreThreshold) break;
            }
            cand.SuppressBegin = selected.Count;
            if (hard) continue;
            if (cand.Score == original)
            {
                selected.Add(cand.Index);
                selectedScores.Add(cand.Score);
            }
            else if (cand.Score > scoreThreshold)
                queue.Enqueue(cand, (cand.Score, cand.Index));
        }
        return (selected, selectedScores);
    }

    internal static float Iou(float[] b, int i, int j)
    {
        int p = 4 * i, q = 4 * j;
        float yminI = MathF.Min(b[p], b[p + 2]), xminI = MathF.Min(b[p + 1], b[p + 3]);
        float ymaxI = MathF.Max(b[p], b[p + 2]), xmaxI = MathF.Max(b[p + 1], b[p + 3]);
        float yminJ = MathF.Min(b[q], b[q + 2]), xminJ = MathF.Min(b[q + 1], b[q + 3]);
        float ymaxJ = MathF.Max(b[q], b[q + 2]), xmaxJ = MathF.Max(b[q + 1], b[q + 3]);
        float areaI = (ymaxI - yminI) * (xmaxI - xminI);
        float areaJ = (ymaxJ - yminJ) * (xmaxJ - xminJ);
        if (areaI <= 0 || areaJ <= 0) return 0f;
        float iy = MathF.Max(MathF.Min(ymaxI, ymaxJ) - MathF.Max(yminI, yminJ), 0f);
        float ix = MathF.Max(MathF.Min(xmaxI, xmaxJ) - MathF.Max(xminI, xminJ), 0f);
        float inter = iy * ix;
        return inter / (areaI + areaJ - inter);
    }
}
