using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Optimization.Passes;

/// <summary>
/// fold_pad_into_conv: a zero Pad (Pad, or PadV2 with a constant 0) of the spatial dimensions read only by
/// Conv2D / DepthwiseConv2dNative nodes with VALID or EXPLICIT padding becomes their explicit padding
/// (padding=EXPLICIT, explicit_paddings = the pads, added to any they had): a convolution with explicit padding
/// reads zeros outside its input, which is what the Pad wrote. A zero Pad read only by one Transpose is first
/// moved after it (paddings permuted), so Pad → Transpose → Conv2D folds too. The padded tensor is never
/// materialized. Likewise a PadV2 with -inf read only by VALID/EXPLICIT MaxPool nodes becomes their explicit padding
/// (a max over a window never picks a -inf pad over a real element, and a window of padding only is -inf either way).
/// Pads of the batch or channel dimension, fetched Pads and Pads with control edges stay.
/// </summary>
public sealed class FoldPadIntoConvPass : IGraphPass
{
    public string Name => "fold_pad_into_conv";

    public string Description => "Folds zero Pad nodes into the explicit padding of the Conv2D/DepthwiseConv2dNative nodes reading them (-inf PadV2 into MaxPool).";

    public IReadOnlyList<PassArgument> Arguments { get; } = Array.Empty<PassArgument>();

    public GraphDef Apply(GraphDef graph, PassContext context)
    {
        var g = new GraphEditor(graph.Clone());
        var flow = ControlFlowRegions.Find(g.Graph);
        var cv = new ConstantValues(g);
        int folded = 0, swapped = 0, pooled = 0;
        var orphans = new List<string>();

        bool Free(NodeDef n) => !flow.Contains(n.Name) && !context.Protected.Contains(n.Name)
            && !GraphEditor.HasControlInputs(n) && !g.HasControlConsumers(n.Name);

        long[]? ZeroPads(NodeDef pad) => Pads(pad, 0.0);

        // Constant pads of the given value (0 for convolutions, -inf for max pooling), or null.
        long[]? Pads(NodeDef pad, double value)
        {
            if (pad.Op is not ("Pad" or "PadV2") || !Free(pad)) return null;
            if (pad.Op == "Pad" ? pad.Input.Count != 2 || value != 0 : pad.Input.Count != 3) return null;
            if (GraphEditor.Type(pad) is not (DataType.DtFloat or DataType.DtHalf or DataType.DtDouble or DataType.DtBfloat16)) return null;
            if (pad.Op == "PadV2")
            {
                var v = cv.Floats(pad.Input[2]);
                if (v is null || v.Value.Values.Length != 1 || !v.Value.Values[0].Equals(value)) return null;
            }
            var p = cv.ConstTensor(pad.Input[1]);
            if (p is null || p.DType is not (DataType.DtInt32 or DataType.DtInt64) || p.Rank != 2 || p.Shape[0] != 4 || p.Shape[1] != 2) return null;
            var pads = p.ToInt64Array();
            return pads.Any(x => x < 0) ? null : pads;
        }

        // 1. Pad → Transpose (sole reader) → ... becomes Transpose → Pad with the paddings permuted.
        foreach (var pad in g.Nodes.Where(n => n.Op is "Pad" or "PadV2").ToList())
        {
            var pads = ZeroPads(pad);
            if (pads is null) continue;
            var uses = g.DataUses(pad.Name).ToList();
            if (uses.Count != 1 || uses[0].Index != 0 || g.Consumers(pad.Name).Count != 1) continue;
            var t = uses[0].Node;
            if (t.Op != "Transpose" || flow.Contains(t.Name) || t.Input.Count != 2) continue;
            var perm = cv.ConstTensor(t.Input[1])?.ToInt32Array();
            if (perm is null || perm.Length != 4 || perm.Order().Select((v, i) => v == i).Any(ok => !ok)) continue;
            if (!g.DataUses(t.Name).Any(u => u.Index == 0 && u.Node.Op is "Conv2D" or "DepthwiseConv2dNative")) continue;
            // out[k] = padded[perm[k]]: dimension k of the transpose's output is padded as dimension perm[k] was.
            var moved = new long[8];
            for (int k = 0; k < 4; k++)
            {
                moved[2 * k] = pads[2 * perm[k]];
                moved[2 * k + 1] = pads[2 * perm[k] + 1];
            }
            var pc = FoldBatchNormsPass.ConstNode(g.UniqueName(pad.Name + "/paddings_moved"), Tensor.Create(moved, 4, 2), pad.Device);
            g.Insert(pc, pad);
            // The Transpose reads the unpadded tensor; a new Pad after it (under the Transpose's name) keeps the value.
            string tName = t.Name, newT = g.UniqueName(t.Name + "/before_pad");
            var nt = t.Clone();
            nt.Name = newT;
            var np = new NodeDef { Name = tName, Op = "Pad", Device = pad.Device };
            np.Input.Add(newT);
            np.Input.Add(pc.Name);
            np.Input.AddRange(GraphEditor.ControlInputs(t));
            np.Attr["T"] = pad.Attr["T"];
            np.Attr["Tpaddings"] = Attr.Type(DataType.DtInt64);
            nt.Input.Clear();
            nt.Input.Add(pad.Input[0]);
            nt.Input.Add(t.Input[1]);
            g.Replace(t, np);
            g.Insert(nt, np);
            orphans.Add(pad.Name);
            swapped++;
        }
        if (swapped > 0) g.RemoveOrphans(orphans, context.Protected);
        cv = new ConstantValues(g);
        orphans.Clear();

        // 2. Zero Pad read only by convolutions, -inf PadV2 read only by max pools → their explicit padding.
        foreach (var pad in g.Nodes.Where(n => n.Op is "Pad" or "PadV2").ToList())
        {
            var zero = ZeroPads(pad);
            var pads = zero ?? Pads(pad, double.NegativeInfinity);
            if (pads is null) continue;
            string reader = zero is not null ? "Conv2D" : "MaxPool";
            var uses = g.DataUses(pad.Name).ToList();
            if (uses.Count == 0 || uses.Count != g.Consumers(pad.Name).Count) continue;
            var readers = new List<(NodeDef Node, long[] Explicit)>();
            foreach (var u in uses)
            {
                var c = u.Node;
                bool ok = reader == "Conv2D" ? c.Op is "Conv2D" or "DepthwiseConv2dNative" : c.Op == "MaxPool";
                if (u.Index != 0 || u.Input.Index != 0 || !ok || flow.Contains(c.Name)) break;
                bool nchw = GraphEditor.Str(c, "data_format", "NHWC") == "NCHW";
                int ci = nchw ? 1 : 3;
                if (pads[0] != 0 || pads[1] != 0 || pads[2 * ci] != 0 || pads[2 * ci + 1] != 0) break;
                string padding = GraphEditor.Str(c, "padding", "VALID");
                long[] ex = new long[8];
                if (padding == "EXPLICIT")
                {
                    var given = c.Attr.TryGetValue("explicit_paddings", out var e) && e.List is not null ? e.List.I.ToArray() : Array.Empty<long>();
                    if (given.Length != 8) break;
                    ex = given;
                }
                else if (padding != "VALID") break;
                readers.Add((c, ex.Select((v, i) => v + pads[i]).ToArray()));
            }
            if (readers.Count != uses.Count) continue;
            foreach (var (c, ex) in readers)
            {
                c.Input[0] = pad.Input[0];
                c.Attr["padding"] = Attr.String("EXPLICIT");
                c.Attr["explicit_paddings"] = Attr.Ints(ex);
            }
            orphans.Add(pad.Name);
            if (reader == "Conv2D") folded++; else pooled++;
        }
        g.RemoveOrphans(orphans, context.Protected);
        if (folded + swapped + pooled > 0)
            context.Note($"Folded {folded} zero Pad(s) into convolution padding{(swapped > 0 ? $" ({swapped} moved after a Transpose first)" : "")}"
                + $"{(pooled > 0 ? $" and {pooled} -inf PadV2(s) into MaxPool padding" : "")}.");
        return g.Graph;
    }
}
