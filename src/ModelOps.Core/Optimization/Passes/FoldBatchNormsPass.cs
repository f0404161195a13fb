using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Optimization.Passes;

/// <summary>
/// fold_batch_norms: folds an inference batch norm into the weights of the contraction before it.
/// Batch norms: FusedBatchNorm/V2/V3 (is_training=false), BatchNormWithGlobalNormalization, and the
/// decomposed form x*scale (+ offset) whose scale and offset are constant expressions (Keras' Rsqrt/Mul/Sub
/// pattern, or plain constants after folding). Contractions: Conv2D, DepthwiseConv2dNative and MatMul (TF's
/// tool skips MatMul), optionally through a constant BiasAdd/Add in between. The weights are scaled per output
/// channel; the batch norm becomes a BiasAdd with its name. Shared tensors, control edges and control flow
/// are left alone.
/// </summary>
public sealed class FoldBatchNormsPass : IGraphPass
{
    public string Name => "fold_batch_norms";

    public string Description => "Folds FusedBatchNorm(V3), BatchNormWithGlobalNormalization and Mul/Add batch norms into the preceding Conv2D, DepthwiseConv2dNative or MatMul.";

    public IReadOnlyList<PassArgument> Arguments { get; } = Array.Empty<PassArgument>();

    private sealed record Contraction(NodeDef Node, NodeDef? Bias, double[]? BiasValues, int Channels, string DataFormat);

    public GraphDef Apply(GraphDef graph, PassContext context)
    {
        var g = new GraphEditor(graph.Clone());
        var region = ControlFlowRegions.Find(g.Graph);
        var cv = new ConstantValues(g);
        var orphans = new List<string>();
        int folded = 0;
        var view = g.Snapshot();
        foreach (int idx in view.TopologicalOrder())
        {
            var node = view.Nodes[idx];
            if (g.Find(node.Name) != node || region.Contains(node.Name)) continue;
            bool ok = node.Op switch
            {
                "FusedBatchNorm" or "FusedBatchNormV2" or "FusedBatchNormV3" => FoldFused(g, cv, node, context, orphans),
                "BatchNormWithGlobalNormalization" => FoldGlobal(g, cv, node, context, orphans),
                "Mul" => FoldDecomposed(g, cv, node, context, orphans),
                _ => false,
            };
            if (ok) folded++;
        }
        g.RemoveOrphans(orphans, context.Protected);
        if (folded > 0) context.Note($"Folded {folded} batch norm(s) into contraction weights.");
        return g.Graph;
    }

    private static bool FoldFused(GraphEditor g, ConstantValues cv, NodeDef bn, PassContext ctx, List<string> orphans)
    {
        if (GraphEditor.Bool(bn, "is_training", true) || GraphEditor.Type(bn) != DataType.DtFloat) return false;
        if (g.DataUses(bn.Name).Any(u => u.Input.Index != 0) || GraphEditor.HasControlInputs(bn) || g.HasControlConsumers(bn.Name)) return false;
        var data = GraphEditor.DataInputs(bn).ToList();
        if (data.Count < 5) return false;
        var c = FindContraction(g, cv, data[0], ctx);
        if (c is null) return false;
        if (GraphEditor.Str(bn, "data_format", "NHWC") != c.DataFormat) return false;
        var gamma = Vec(cv, data[1], c.Channels);
        var beta = Vec(cv, data[2], c.Channels);
        var mean = Vec(cv, data[3], c.Channels);
        var variance = Vec(cv, data[4], c.Channels);
        if (gamma is null || beta is null || mean is null || variance is null)
        {
            ctx.Note($"'{bn.Name}': batch norm parameters are not constants of {c.Channels} channels; not folded.");
            return false;
        }
        double eps = bn.Attr.TryGetValue("epsilon", out var e) ? e.F : 1e-4;
        var scale = new double[c.Channels];
        var offset = new double[c.Channels];
        for (int i = 0; i < scale.Length; i++)
        {
            scale[i] = gamma[i] / Math.Sqrt(variance[i] + eps);
            offset[i] = beta[i] - mean[i] * scale[i];
        }
        Rewrite(g, c, bn, scale, offset, orphans);
        return true;
    }

    private static bool FoldGlobal(GraphEditor g, ConstantValues cv, NodeDef bn, PassContext ctx, List<string> orphans)
    {
        if (GraphEditor.Type(bn) != DataType.DtFloat || GraphEditor.HasControlInputs(bn) || g.HasControlConsumers(bn.Name)) return false;
        var data = GraphEditor.DataInputs(bn).ToList();
        if (data.Count != 5) return false;
        var c = FindContraction(g, cv, data[0], ctx);
        if (c is null || c.DataFormat != "NHWC") return false;
        var mean = Vec(cv, data[1], c.Channels);
        var variance = Vec(cv, data[2], c.Channels);
        var beta = Vec(cv, data[3], c.Channels);
        var gamma = Vec(cv, data[4], c.Channels);
        if (gamma is null || beta is null || mean is null || variance is null) return false;
        double eps = bn.Attr.TryGetValue("variance_epsilon", out var e) ? e.F : 1e-3;
        bool useGamma = GraphEditor.Bool(bn, "scale_after_normalization", true);
        var scale = new double[c.Channels];
        var offset = new double[c.Channels];
        for (int i = 0; i < scale.Length; i++)
        {
            scale[i] = (useGamma ? gamma[i] : 1.0) / Math.Sqrt(variance[i] + eps);
            offset[i] = beta[i] - mean[i] * scale[i];
        }
        Rewrite(g, c, bn, scale, offset, orphans);
        return true;
    }

    /// <summary>y = x * s (+ o) with x from a contraction and s, o per-channel constants: the decomposed batch norm.</summary>
    private static bool FoldDecomposed(GraphEditor g, ConstantValues cv, NodeDef mul, PassContext ctx, List<string> orphans)
    {
        if (GraphEditor.Type(mul) != DataType.DtFloat || GraphEditor.HasControlInputs(mul) || g.HasControlConsumers(mul.Name)) return false;
        var data = GraphEditor.DataInputs(mul).ToList();
        if (data.Count != 2) return false;
        for (int side = 0; side < 2; side++)
        {
            var sv = cv.Floats(data[1 - side]);
            if (sv is null) continue;
            var producer = g.Producer(data[side]);
            if (producer is null || producer.Op is "Const") continue;
            var c = FindContraction(g, cv, data[side], ctx);
            if (c is null) continue;
            int rank = c.Node.Op == "MatMul" ? 2 : 4;
            int axis = rank == 2 ? 1 : c.DataFormat == "NCHW" ? 1 : 3;
            var scale = ConstantValues.PerChannel(sv.Value, c.Channels, rank, axis);
            if (scale is null) continue;
            // An Add/AddV2/BiasAdd/Sub of a per-channel constant right after is the batch norm's offset.
            NodeDef last = mul;
            var offset = new double[c.Channels];
            var uses = g.DataUses(mul.Name).ToList();
            if (uses.Count == 1 && !ctx.Protected.Contains(mul.Name) && uses[0].Node is { } next
                && next.Op is "Add" or "AddV2" or "BiasAdd" or "Sub" && !GraphEditor.HasControlInputs(next) && !g.HasControlConsumers(next.Name)
                && GraphEditor.DataInputs(next).Count() == 2 && GraphEditor.Type(next) == DataType.DtFloat
                && (next.Op != "BiasAdd" || GraphEditor.Str(next, "data_format", "NHWC") == c.DataFormat))
            {
                int other = 1 - uses[0].Index;
                if (!(next.Op is "Sub" or "BiasAdd" && other == 0) && cv.Floats(next.Input[other]) is { } ov
                    && ConstantValues.PerChannel(ov, c.Channels, rank, axis) is { } o)
                {
                    for (int i = 0; i < o.Length; i++) offset[i] = next.Op == "Sub" ? -o[i] : o[i];
                    last = next;
                }
            }
            Rewrite(g, c, last, scale, offset, orphans, extraRemoved: last == mul ? null : mul);
            return true;
        }
        return false;
    }

    private static double[]? Vec(ConstantValues cv, string input, int channels)
    {
        var v = cv.Floats(input);
        return v is null ? null : ConstantValues.PerChannel(v.Value, channels, 1, 0);
    }

    /// <summary>
    /// The contraction feeding <paramref name="input"/>: directly, or through a BiasAdd/Add of a constant
    /// per-channel bias. Each tensor on the way must be read only by the next node, carry no control edges
    /// and not be an input/output.
    /// </summary>
    private static Contraction? FindContraction(GraphEditor g, ConstantValues cv, string input, PassContext ctx)
    {
        var tn = TensorName.Parse(input);
        if (tn.IsControl || tn.Index != 0) return null;
        var node = g.Find(tn.Node);
        NodeDef? bias = null;
        double[]? biasValues = null;
        if (node is null || !SoleUse(g, node, ctx)) return null;
        (double[] Values, int[] Shape)? biasConst = null;
        if (node.Op is "BiasAdd" or "Add" or "AddV2")
        {
            var d = GraphEditor.DataInputs(node).ToList();
            if (d.Count != 2) return null;
            int constSide = cv.Floats(d[1]) is not null ? 1 : node.Op != "BiasAdd" && cv.Floats(d[0]) is not null ? 0 : -1;
            if (constSide < 0) return null;
            biasConst = cv.Floats(d[constSide]);
            bias = node;
            var inner = TensorName.Parse(d[1 - constSide]);
            if (inner.Index != 0) return null;
            node = g.Find(inner.Node);
            if (node is null || !SoleUse(g, node, ctx)) return null;
        }
        if (node.Op is not ("Conv2D" or "DepthwiseConv2dNative" or "MatMul") || GraphEditor.Type(node) != DataType.DtFloat) return null;
        var w = cv.ConstTensor(node.Input[1]);
        if (w is null || w.DType != DataType.DtFloat) return null;
        string fmt = node.Op == "MatMul" ? "NHWC" : GraphEditor.Str(node, "data_format", "NHWC");
        int channels;
        if (node.Op == "Conv2D") { if (w.Rank != 4) return null; channels = w.Shape[3]; }
        else if (node.Op == "DepthwiseConv2dNative") { if (w.Rank != 4) return null; channels = w.Shape[2] * w.Shape[3]; }
        else
        {
            if (w.Rank != 2) return null;
            channels = GraphEditor.Bool(node, "transpose_b", false) ? w.Shape[0] : w.Shape[1];
        }
        if (bias is not null)
        {
            if (bias.Op == "BiasAdd" && GraphEditor.Str(bias, "data_format", "NHWC") != fmt) return null;
            int rank = node.Op == "MatMul" ? 2 : 4;
            int axis = rank == 2 ? 1 : fmt == "NCHW" ? 1 : 3;
            biasValues = bias.Op == "BiasAdd" ? ConstantValues.PerChannel(biasConst!.Value, channels, 1, 0) : ConstantValues.PerChannel(biasConst!.Value, channels, rank, axis);
            if (biasValues is null) return null;
        }
        return new Contraction(node, bias, biasValues, channels, fmt);
    }

    private static bool SoleUse(GraphEditor g, NodeDef node, PassContext ctx) =>
        !ctx.Protected.Contains(node.Name) && !GraphEditor.HasControlInputs(node) && !g.HasControlConsumers(node.Name)
        && g.DataUses(node.Name).Count() == 1;

    private static void Rewrite(GraphEditor g, Contraction c, NodeDef last, double[] scale, double[] offset, List<string> orphans, NodeDef? extraRemoved = null)
    {
        var conv = c.Node;
        var w = new ConstantValues(g).ConstTensor(conv.Input[1])!;
        var src = w.As<float>();
        var dst = new float[src.Length];
        int channels = c.Channels;
        bool transposeB = conv.Op == "MatMul" && GraphEditor.Bool(conv, "transpose_b", false);
        int inner = transposeB ? w.Shape[1] : 1;
        for (int i = 0; i < src.Length; i++)
        {
            int ch = transposeB ? i / inner : i % channels;
            dst[i] = (float)(src[i] * scale[ch]);
        }
        var bias = new float[channels];
        for (int i = 0; i < channels; i++)
            bias[i] = (float)((c.BiasValues is null ? 0.0 : c.BiasValues[i]) * scale[i] + offset[i]);

        var wNode = ConstNode(g.UniqueName(conv.Name + "/folded_weights"), Tensor.Create(dst, w.Shape), conv.Device);
        var bNode = ConstNode(g.UniqueName(last.Name + "/folded_bias"), Tensor.Create(bias, channels), conv.Device);
        g.Insert(wNode, conv);
        orphans.Add(TensorName.Parse(conv.Input[1]).Node);
        conv.Input[1] = wNode.Name;

        var biasAdd = new NodeDef { Name = last.Name, Op = "BiasAdd", Device = last.Device };
        biasAdd.Input.Add(conv.Name);
        biasAdd.Input.Add(bNode.Name);
        biasAdd.Attr["T"] = Attr.Type(DataType.DtFloat);
        biasAdd.Attr["data_format"] = Attr.String(c.DataFormat);
        foreach (var i in last.Input.Concat(c.Bias?.Input ?? Enumerable.Empty<string>()).Concat(extraRemoved?.Input ?? Enumerable.Empty<string>()))
            orphans.Add(TensorName.Parse(i).Node);
        g.Insert(bNode, last);
        g.Replace(last, biasAdd);
        var gone = new List<NodeDef>();
        if (c.Bias is not null) gone.Add(c.Bias);
        if (extraRemoved is not null) gone.Add(extraRemoved);
        g.Remove(gone);
    }

    internal static NodeDef ConstNode(string name, Tensor value, string device = "")
    {
        var n = new NodeDef { Name = name, Op = "Const", Device = device };
        n.Attr["dtype"] = Attr.Type(value.DType);
        n.Attr["value"] = new AttrValue { Tensor = TensorProtoCodec.Encode(value) };
        return n;
    }
}
