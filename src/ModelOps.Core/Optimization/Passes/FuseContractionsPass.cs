using Google.Protobuf;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Optimization.Passes;

/// <summary>
/// fuse_contractions: what grappler's remapper does for inference on CPU. Conv2D, DepthwiseConv2dNative
/// (NHWC) and MatMul followed by BiasAdd and optionally an activation become one _FusedConv2D,
/// _FusedDepthwiseConv2dNative or _FusedMatMul node named after the last node of the pattern, with the
/// attributes the remapper writes (T, fused_ops, num_args, epsilon; TArgs and num_host_args for
/// _FusedConv2D; leakyrelu_alpha for LeakyRelu). An Add/AddV2 of a constant per-channel vector counts as a
/// BiasAdd, and an already fused op with fused_ops=[BiasAdd] takes a following activation too. With the
/// residual argument (the engine's plans), a 1×1 stride-1 _FusedConv2D[BiasAdd] read only by an Add of another
/// tensor takes that Add, and an activation after it. Every node folded away must be read only by the next one and carry no
/// control edges.
/// </summary>
public sealed class FuseContractionsPass : IGraphPass
{
    public const string DefaultActivations = "Relu,Relu6,Elu,LeakyRelu";

    public string Name => "fuse_contractions";

    public string Description => "Fuses Conv2D/DepthwiseConv2dNative/MatMul + BiasAdd (+ activation) into _FusedConv2D/_FusedDepthwiseConv2dNative/_FusedMatMul.";

    public IReadOnlyList<PassArgument> Arguments { get; } = new[]
    {
        new PassArgument("activations", PassArgumentKind.String,
            "activations to fuse (comma list; TF's CPU kernels take Relu, Relu6, Elu, LeakyRelu; the ModelOps engine also Sigmoid, Tanh)", DefaultActivations),
        new PassArgument("depthwise", PassArgumentKind.Bool, "also fuse DepthwiseConv2dNative (its fused op exists in TF only with oneDNN)", "true"),
        new PassArgument("residual", PassArgumentKind.Bool,
            "also fuse a following Add of another tensor (and an activation after it) into a 1x1 stride-1 _FusedConv2D as fused_ops [BiasAdd, Add(, act)] (TF runs these only with oneDNN; the ModelOps engine writes the result over that tensor when it is at its last use)", "false"),
    };

    public GraphDef Apply(GraphDef graph, PassContext context)
    {
        var g = new GraphEditor(graph.Clone());
        var region = ControlFlowRegions.Find(g.Graph);
        var cv = new ConstantValues(g);
        var acts = new HashSet<string>((context.Args.String("activations") ?? DefaultActivations)
            .Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries), StringComparer.Ordinal);
        bool depthwise = context.Args.Bool("depthwise", true);
        bool residual = context.Args.Bool("residual", false);
        int fused = 0, extended = 0, biasAdds = 0, residuals = 0;

        bool Contraction(NodeDef? n) => n is not null && !region.Contains(n.Name) && n.Op switch
        {
            "Conv2D" => GraphEditor.Type(n) is DataType.DtFloat && GraphEditor.Str(n, "data_format", "NHWC") == "NHWC",
            "DepthwiseConv2dNative" => depthwise && GraphEditor.Type(n) == DataType.DtFloat && GraphEditor.Str(n, "data_format", "NHWC") == "NHWC",
            "MatMul" => GraphEditor.Type(n) == DataType.DtFloat,
            _ => false,
        };
        bool Free(NodeDef n) => !GraphEditor.HasControlInputs(n) && !g.HasControlConsumers(n.Name);
        bool Sole(NodeDef n) => Free(n) && !context.Protected.Contains(n.Name) && g.Consumers(n.Name).Count == 1 && g.DataUses(n.Name).Count() == 1
            && g.DataUses(n.Name).All(u => u.Input.Index == 0);

        // 1. Add/AddV2(contraction, per-channel constant) → BiasAdd (same name), so it can fuse.
        foreach (var add in g.Nodes.Where(n => n.Op is "Add" or "AddV2" && !region.Contains(n.Name)).ToList())
        {
            if (!Free(add) || add.Input.Count != 2 || GraphEditor.Type(add) != DataType.DtFloat) continue;
            for (int side = 0; side < 2; side++)
            {
                var c = g.Producer(add.Input[side]);
                if (!Contraction(c) || TensorName.Parse(add.Input[side]).Index != 0 || !Sole(c!)) continue;
                var v = cv.Floats(add.Input[1 - side]);
                if (v is null) continue;
                int channels = OutputChannels(c!, cv);
                if (channels <= 0) continue;
                var vec = ConstantValues.PerChannel(v.Value, channels, c!.Op == "MatMul" ? 2 : 4, c.Op == "MatMul" ? 1 : 3);
                if (vec is null || v.Value.Values.Length != channels) continue;
                string biasName = add.Input[1 - side];
                if (v.Value.Shape.Length != 1)
                {
                    var bias = FoldBatchNormsPass.ConstNode(g.UniqueName(add.Name + "/bias"), Tensor.Create(vec.Select(x => (float)x).ToArray(), channels), add.Device);
                    g.Insert(bias, add);
                    biasName = bias.Name;
                }
                var ba = new NodeDef { Name = add.Name, Op = "BiasAdd", Device = add.Device };
                ba.Input.Add(add.Input[side]);
                ba.Input.Add(biasName);
                ba.Attr["T"] = Attr.Type(DataType.DtFloat);
                ba.Attr["data_format"] = Attr.String("NHWC");
                g.Replace(add, ba);
                biasAdds++;
                break;
            }
        }

        // 2. contraction + BiasAdd (+ activation).
        foreach (var bias in g.Nodes.Where(n => n.Op == "BiasAdd").ToList())
        {
            if (g.Find(bias.Name) != bias || bias.Input.Count != 2 || !Free(bias)) continue;
            var c = g.Producer(bias.Input[0]);
            if (!Contraction(c) || TensorName.Parse(bias.Input[0]).Index != 0 || !Sole(c!)) continue;
            if (GraphEditor.Str(bias, "data_format", "NHWC") != "NHWC" || GraphEditor.Type(bias) != GraphEditor.Type(c!)) continue;
            NodeDef last = bias;
            NodeDef? act = null;
            var uses = g.DataUses(bias.Name).ToList();
            if (uses.Count == 1 && uses[0].Input.Index == 0 && Sole(bias) && acts.Contains(uses[0].Node.Op) && Free(uses[0].Node)
                && !region.Contains(uses[0].Node.Name) && GraphEditor.Type(uses[0].Node) == GraphEditor.Type(bias))
            {
                act = uses[0].Node;
                last = act;
            }
            var f = MakeFused(c!, last.Name, bias.Input[1], act);
            g.Replace(last, f);
            g.Remove(act is null ? new[] { c! } : new[] { c!, bias });
            fused++;
        }

        // 3. _Fused*[BiasAdd] + activation → _Fused*[BiasAdd, activation].
        foreach (var fn in g.Nodes.Where(n => n.Op is "_FusedConv2D" or "_FusedMatMul" or "_FusedDepthwiseConv2dNative").ToList())
        {
            if (g.Find(fn.Name) != fn || region.Contains(fn.Name) || !Sole(fn)) continue;
            if (!fn.Attr.TryGetValue("fused_ops", out var ops) || ops.List is null || ops.List.S.Count != 1 || ops.List.S[0].ToStringUtf8() != "BiasAdd") continue;
            var use = g.DataUses(fn.Name).Single();
            var act = use.Node;
            if (use.Input.Index != 0 || !acts.Contains(act.Op) || !Free(act) || region.Contains(act.Name) || GraphEditor.Type(act) != GraphEditor.Type(fn)) continue;
            if (fn.Op == "_FusedConv2D" && act.Op == "LeakyRelu" && fn.Attr.ContainsKey("leakyrelu_alpha")) continue;
            var f = fn.Clone();
            f.Name = act.Name;
            f.Attr["fused_ops"] = Attr.Strings("BiasAdd", act.Op);
            if (act.Op == "LeakyRelu") f.Attr["leakyrelu_alpha"] = act.Attr.TryGetValue("alpha", out var a) ? a : Attr.Float(0.2f);
            g.Replace(act, f);
            g.Remove(fn);
            extended++;
        }

        // 4. _FusedConv2D[BiasAdd] + Add(other) (+ activation) → _FusedConv2D[BiasAdd, Add(, activation)], other as the second arg.
        if (residual)
            foreach (var fn in g.Nodes.Where(n => n.Op == "_FusedConv2D").ToList())
            {
                if (g.Find(fn.Name) != fn || region.Contains(fn.Name) || !Free(fn) || context.Protected.Contains(fn.Name)) continue;
                if (!fn.Attr.TryGetValue("fused_ops", out var ops) || ops.List is null || ops.List.S.Count != 1 || ops.List.S[0].ToStringUtf8() != "BiasAdd") continue;
                // 1×1, stride 1 only: there the engine writes the sum over the other tensor; elsewhere the fusion saves one
                // pass but keeps the other tensor alive through the convolution (emotion's live peak rose 10%).
                if (cv.ConstShape(fn.Input[1]) is not { Length: 4 } w || w[0] != 1 || w[1] != 1
                    || !fn.Attr.TryGetValue("strides", out var st) || st.List is null || st.List.I.Any(v => v != 1)) continue;
                var uses = g.DataUses(fn.Name).ToList();
                if (uses.Count != 1 || g.Consumers(fn.Name).Count != 1) continue;
                var add = uses[0].Node;
                if (add.Op is not ("Add" or "AddV2") || add.Input.Count != 2 || !Free(add) || region.Contains(add.Name) || GraphEditor.Type(add) != GraphEditor.Type(fn)) continue;
                int slot = TensorName.Parse(add.Input[0]).Node == fn.Name ? 0 : 1;
                var mine = TensorName.Parse(add.Input[slot]);
                var other = add.Input[1 - slot];
                if (mine.Node != fn.Name || mine.Index != 0 || TensorName.Parse(other).Node == fn.Name) continue;
                NodeDef last = add;
                NodeDef? act = null;
                var addUses = g.DataUses(add.Name).ToList();
                if (addUses.Count == 1 && addUses[0].Input.Index == 0 && Sole(add) && acts.Contains(addUses[0].Node.Op) && Free(addUses[0].Node)
                    && !region.Contains(addUses[0].Node.Name) && GraphEditor.Type(addUses[0].Node) == GraphEditor.Type(add)
                    && !(addUses[0].Node.Op == "LeakyRelu" && fn.Attr.ContainsKey("leakyrelu_alpha")))
                {
                    act = addUses[0].Node;
                    last = act;
                }
                var f = fn.Clone();
                f.Name = last.Name;
                f.Input.Add(other);
                f.Attr["TArgs"] = Attr.Types(GraphEditor.Type(fn), GraphEditor.Type(fn));
                f.Attr["num_args"] = Attr.Int(2);
                f.Attr["fused_ops"] = act is null ? Attr.Strings("BiasAdd", "Add") : Attr.Strings("BiasAdd", "Add", act.Op);
                if (act?.Op == "LeakyRelu") f.Attr["leakyrelu_alpha"] = act.Attr.TryGetValue("alpha", out var a) ? a : Attr.Float(0.2f);
                g.Replace(last, f);
                g.Remove(act is null ? new[] { fn } : new[] { fn, add });
                residuals++;
            }

        if (fused + extended + residuals > 0) context.Note($"Fused {fused} contraction(s){(biasAdds > 0 ? $" ({biasAdds} Add(s) of a per-channel constant read as BiasAdd)" : "")}; added an activation to {extended} fused op(s){(residuals > 0 ? $"; fused the Add of another tensor into {residuals} convolution(s)" : "")}.");
        return g.Graph;
    }

    private static int OutputChannels(NodeDef c, ConstantValues cv)
    {
        var w = cv.ConstShape(c.Input[1]); // the shape alone: decoding a filter to count its channels cost megabytes
        if (w is null) return -1;
        return c.Op switch
        {
            "Conv2D" when w.Length == 4 => w[3],
            "DepthwiseConv2dNative" when w.Length == 4 => w[2] * w[3],
            "MatMul" when w.Length == 2 => GraphEditor.Bool(c, "transpose_b", false) ? w[0] : w[1],
            _ => -1,
        };
    }

    /// <summary>The fused node, attributes as grappler's remapper sets them.</summary>
    internal static NodeDef MakeFused(NodeDef contraction, string name, string bias, NodeDef? activation)
    {
        var f = new NodeDef { Name = name, Device = contraction.Device };
        f.Input.Add(contraction.Input[0]);
        f.Input.Add(contraction.Input[1]);
        f.Input.Add(bias);
        var src = contraction.Attr;
        var t = src["T"];
        AttrValue Get(string key, AttrValue fallback) => src.TryGetValue(key, out var v) ? v : fallback;
        switch (contraction.Op)
        {
            case "Conv2D":
                f.Op = "_FusedConv2D";
                f.Attr["T"] = t;
                f.Attr["TArgs"] = Attr.Types(t.Type);
                f.Attr["num_host_args"] = Attr.Int(0);
                f.Attr["strides"] = Get("strides", Attr.Ints(1, 1, 1, 1));
                f.Attr["padding"] = Get("padding", Attr.String("VALID"));
                f.Attr["explicit_paddings"] = Get("explicit_paddings", new AttrValue { List = new AttrValue.Types.ListValue() });
                f.Attr["dilations"] = Get("dilations", Attr.Ints(1, 1, 1, 1));
                f.Attr["data_format"] = Get("data_format", Attr.String("NHWC"));
                f.Attr["use_cudnn_on_gpu"] = Get("use_cudnn_on_gpu", Attr.Bool(true));
                break;
            case "DepthwiseConv2dNative":
                f.Op = "_FusedDepthwiseConv2dNative";
                f.Attr["T"] = t;
                f.Attr["strides"] = Get("strides", Attr.Ints(1, 1, 1, 1));
                f.Attr["padding"] = Get("padding", Attr.String("VALID"));
                f.Attr["dilations"] = Get("dilations", Attr.Ints(1, 1, 1, 1));
                f.Attr["data_format"] = Get("data_format", Attr.String("NHWC"));
                if (src.TryGetValue("explicit_paddings", out var ep)) f.Attr["explicit_paddings"] = ep;
                break;
            default:
                f.Op = "_FusedMatMul";
                f.Attr["T"] = t;
                f.Attr["transpose_a"] = Get("transpose_a", Attr.Bool(false));
                f.Attr["transpose_b"] = Get("transpose_b", Attr.Bool(false));
                break;
        }
        if (activation is not null && activation.Op == "LeakyRelu")
            f.Attr["leakyrelu_alpha"] = activation.Attr.TryGetValue("alpha", out var a) ? a : Attr.Float(0.2f);
        f.Attr["fused_ops"] = activation is null ? Attr.Strings("BiasAdd") : Attr.Strings("BiasAdd", activation.Op);
        f.Attr["num_args"] = Attr.Int(1);
        f.Attr["epsilon"] = Attr.Float(0f);
        return f;
    }
}
