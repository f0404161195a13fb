using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Optimization.Passes;

/// <summary>
/// remove_dropout: makes dropout the identity it is at inference, in both forms frozen graphs carry.
/// <list type="bullet">
/// <item>Learning-phase form (Keras on TF1): <c>cond(keras_learning_phase, dropped, x)</c>. Every tf.cond
/// whose predicate is a constant (or a learning-phase placeholder, taken as false) is resolved: the branch
/// not taken is removed with the Switch/Merge pair, readers of the Merge read the taken value.</item>
/// <item>Rate-multiply form: <c>Mul(x / keep_prob, Floor(keep_prob + RandomUniform))</c> (tf.nn.dropout v1) or
/// <c>Mul(x * 1/(1-rate), Cast(GreaterEqual(RandomUniform, rate)))</c> (v2): the Mul becomes Identity(x).</item>
/// </list>
/// Loops (Enter/Exit) are never touched; a cond is resolved only when its predicate is provably constant.
/// </summary>
public sealed class RemoveDropoutPass : IGraphPass
{
    private static readonly HashSet<string> RandomOps = new(StringComparer.Ordinal)
    {
        "RandomUniform", "RandomUniformInt", "RandomStandardNormal", "TruncatedNormal", "StatelessRandomUniform",
        "StatelessRandomUniformV2", "StatelessRandomUniformFullInt", "StatelessRandomNormal", "StatelessRandomNormalV2",
        "StatelessRandomGetKeyCounter", "RngReadAndSkip", "StatefulUniform", "StatefulUniformFullInt",
    };

    /// <summary>True for ops that draw random numbers (the mask of a dropout).</summary>
    public static bool IsRandom(string op) => RandomOps.Contains(op);

    public string Name => "remove_dropout";

    public string Description => "Removes dropout: resolves conds on the (constant) learning phase and replaces random-mask multiplies by their input.";

    public IReadOnlyList<PassArgument> Arguments { get; } = new[]
    {
        new PassArgument("learning_phase", PassArgumentKind.Bool, "treat bool placeholders named *keras_learning_phase* as false", "true"),
    };

    public GraphDef Apply(GraphDef graph, PassContext context)
    {
        var g = new GraphEditor(graph.Clone());
        int conds = ResolveConstantConds(g, context);
        int masks = RemoveMaskMultiplies(g, context);
        if (conds > 0) context.Note($"Resolved {conds} cond(s) on a constant predicate.");
        if (masks > 0) context.Note($"Replaced {masks} random-mask multiply(ies) by their input.");
        return g.Graph;
    }

    private static bool? PredicateValue(GraphEditor g, ConstantValues cv, string input, bool learningPhase)
    {
        var v = cv.BoolScalar(input);
        if (v is not null) return v;
        if (!learningPhase) return null;
        // Through Identity chains to a learning-phase placeholder.
        var tn = TensorName.Parse(input);
        for (int hops = 0; hops < 32; hops++)
        {
            var n = g.Find(tn.Node);
            if (n is null) return null;
            if (PlaceholdersToConstantsPass.IsLearningPhase(n)) return false;
            if (n.Op is not ("Identity" or "Snapshot") || n.Input.Count == 0 || n.Input[0].StartsWith('^')) return null;
            tn = TensorName.Parse(n.Input[0]);
        }
        return null;
    }

    private static int ResolveConstantConds(GraphEditor g, PassContext context)
    {
        var cv = new ConstantValues(g);
        bool lp = context.Args.Bool("learning_phase", true);
        var view = g.Snapshot();
        // Switches on a constant predicate (never a loop's: their predicate is a LoopCond).
        var constSwitch = new Dictionary<int, bool>();
        for (int i = 0; i < view.Count; i++)
        {
            var n = view.Nodes[i];
            if (n.Op is not ("Switch" or "RefSwitch") || n.Input.Count < 2) continue;
            var pred = PredicateValue(g, cv, n.Input[1], lp);
            if (pred is not null) constSwitch[i] = pred.Value;
        }
        if (constSwitch.Count == 0) return 0;

        // Dead-tensor propagation, as TF's executor does it: a Switch's untaken output is dead; a node with
        // a dead data or control input is dead; a cond Merge is dead only when all its inputs are.
        int[] order = view.TopologicalOrder();
        var deadPort = new HashSet<(int, int)>();
        var deadNode = new bool[view.Count];
        foreach (int i in order)
        {
            var n = view.Nodes[i];
            var ins = view.InputsOf(i);
            bool IsDead(TensorName t)
            {
                int s = view.IndexOf(t.Node);
                if (s < 0) return false;
                return t.IsControl ? deadNode[s] : deadNode[s] || deadPort.Contains((s, t.Index));
            }
            if (n.Op is "Merge" or "RefMerge")
            {
                if (ControlFlowRegions.IsLoopMerge(view, n)) continue;
                var data = ins.Where(t => !t.IsControl).ToList();
                deadNode[i] = data.Count > 0 && data.All(IsDead) || ins.Where(t => t.IsControl).Any(IsDead);
                continue;
            }
            if (ins.Any(IsDead)) { deadNode[i] = true; continue; }
            if (constSwitch.TryGetValue(i, out bool p)) deadPort.Add((i, p ? 0 : 1));
        }
        var deadProtected = Enumerable.Range(0, view.Count).Where(i => deadNode[i] && context.Protected.Contains(view.Nodes[i].Name)).ToList();
        if (deadProtected.Count > 0)
        {
            context.Note($"Did not resolve constant conds: output/input '{view.Nodes[deadProtected[0]].Name}' lies in a branch that is never taken.");
            return 0;
        }

        // Merges with exactly one live input forward it.
        int resolved = 0;
        var remove = new List<NodeDef>();
        var orphans = new List<string>();
        for (int i = 0; i < view.Count; i++)
        {
            var n = view.Nodes[i];
            if (deadNode[i] || n.Op is not ("Merge" or "RefMerge") || ControlFlowRegions.IsLoopMerge(view, n)) continue;
            var data = view.InputsOf(i).Select((t, k) => (t, k)).Where(p => !p.t.IsControl).ToList();
            var live = data.Where(p => { int s = view.IndexOf(p.t.Node); return s >= 0 && !deadNode[s] && !deadPort.Contains((s, p.t.Index)); }).ToList();
            if (live.Count != 1 || live.Count == data.Count || context.Protected.Contains(n.Name)) continue;
            if (g.DataUses(n.Name).Any(u => u.Input.Index == 1))
            {
                // value_index is read: give it as a constant.
                var idx = new NodeDef { Name = g.UniqueName(n.Name + "/value_index"), Op = "Const" };
                idx.Attr["dtype"] = Attr.Type(DataType.DtInt32);
                idx.Attr["value"] = new AttrValue { Tensor = TensorProtoCodec.Encode(Tensor.Scalar(live[0].k)) };
                g.Add(idx);
                g.RewireData(new TensorName(n.Name, 1, false), idx.Name);
            }
            g.RewireData(new TensorName(n.Name, 0, false), live[0].t.ToString());
            g.ReplaceControlEdges(n.Name, new[] { "^" + live[0].t.Node });
            remove.Add(n);
            orphans.AddRange(n.Input.Select(x => TensorName.Parse(x).Node));
            resolved++;
        }
        // Constant-predicate Switches: the taken output is the data input.
        foreach (var (i, p) in constSwitch)
        {
            var n = view.Nodes[i];
            if (deadNode[i] || context.Protected.Contains(n.Name)) continue;
            // Readers of the taken output (pivot Identities among them) may end up unused: let the orphan sweep see them.
            orphans.AddRange(g.Consumers(n.Name).Select(c => c.Name));
            g.RewireData(new TensorName(n.Name, p ? 1 : 0, false), n.Input[0]);
            g.ReplaceControlEdges(n.Name, new[] { "^" + TensorName.Parse(n.Input[0]).Node });
            if (g.Consumers(n.Name).Any(c => view.IndexOf(c.Name) is var k && (k < 0 || !deadNode[k]))) continue;
            remove.Add(n);
            orphans.AddRange(n.Input.Select(x => TensorName.Parse(x).Node));
        }
        for (int i = 0; i < view.Count; i++)
            if (deadNode[i]) { remove.Add(view.Nodes[i]); orphans.AddRange(view.Nodes[i].Input.Select(x => TensorName.Parse(x).Node)); }
        var removeSet = new HashSet<NodeDef>(remove, ReferenceEqualityComparer.Instance);
        g.Remove(removeSet);
        g.RemoveOrphans(orphans, context.Protected);
        return resolved;
    }

    private static int RemoveMaskMultiplies(GraphEditor g, PassContext context)
    {
        var cv = new ConstantValues(g);
        var region = ControlFlowRegions.Find(g.Graph);
        int count = 0;
        var orphans = new List<string>();
        foreach (var mul in g.Nodes.Where(n => n.Op == "Mul").ToList())
        {
            if (region.Contains(mul.Name) || GraphEditor.HasControlInputs(mul) || mul.Input.Count != 2) continue;
            for (int side = 0; side < 2; side++)
            {
                string maskIn = mul.Input[side], scaledIn = mul.Input[1 - side];
                var scaled = g.Producer(scaledIn);
                if (scaled is null || !HasRandomAncestor(g, maskIn) || HasRandomAncestor(g, scaledIn)) continue;
                string? x = ScaledInput(g, cv, scaled);
                if (x is null || g.DataUses(scaled.Name).Count() != 1 || context.Protected.Contains(scaled.Name)) continue;
                var id = new NodeDef { Name = mul.Name, Op = "Identity", Device = mul.Device };
                id.Input.Add(x);
                id.Attr["T"] = mul.Attr["T"];
                g.Replace(mul, id);
                orphans.Add(TensorName.Parse(maskIn).Node);
                orphans.Add(scaled.Name);
                count++;
                break;
            }
        }
        g.RemoveOrphans(orphans, context.Protected);
        return count;
    }

    /// <summary>x for x / keep (RealDiv, Div) or x * scale (Mul) where the other operand is a constant or a placeholder (keep_prob).</summary>
    private static string? ScaledInput(GraphEditor g, ConstantValues cv, NodeDef scaled)
    {
        var data = GraphEditor.DataInputs(scaled).ToList();
        if (data.Count != 2) return null;
        bool IsFactor(string t) => cv.Floats(t) is { Values.Length: 1 };
        bool IsKeepProb(string t) => IsFactor(t) || g.Producer(t)?.Op is "Placeholder" or "PlaceholderWithDefault";
        return scaled.Op switch
        {
            "RealDiv" or "Div" when IsKeepProb(data[1]) => data[0],
            "Mul" when IsFactor(data[1]) && !IsFactor(data[0]) => data[0],
            "Mul" when IsFactor(data[0]) && !IsFactor(data[1]) => data[1],
            _ => null,
        };
    }

    /// <summary>True when a random op lies within a few data edges above the tensor (the mask of a dropout).</summary>
    private static bool HasRandomAncestor(GraphEditor g, string input)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var frontier = new List<string> { TensorName.Parse(input).Node };
        for (int depth = 0; depth < 8 && frontier.Count > 0; depth++)
        {
            var next = new List<string>();
            foreach (var name in frontier)
            {
                var n = g.Find(name);
                if (n is null || !seen.Add(n.Name)) continue;
                if (RandomOps.Contains(n.Op)) return true;
                next.AddRange(GraphEditor.DataInputs(n).Select(i => TensorName.Parse(i).Node));
            }
            frontier = next;
        }
        return false;
    }
}
