using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Optimization.Passes;

/// <summary>
/// cancel_transposes: removes the layout shuffles of graphs converted between NCHW and NHWC (ONNX → TF
/// graphs put a Transpose before and after every NHWC op). For a permutation P, a region is a connected set
/// of layout-agnostic nodes (element-wise unary ops, binary ops whose other operand is a constant or in the
/// region, Pad/PadV2/MirrorPad with constant paddings, ConcatV2 with a constant axis) all of whose layout
/// inputs are Transpose(·, P) nodes or region nodes. The region is rewritten to compute on the
/// untransposed tensors (paddings, axes and broadcast constants are permuted to match), so its input
/// transposes fall away; a Transpose(·, Q) reading the region becomes Transpose(·, P∘Q) — nothing when
/// that is the identity — and any other reader gets one Transpose(·, P) inserted. A region is rewritten only
/// when it removes more transposes than it inserts. Adjacent transposes merge into one (none when they cancel).
/// Rewritten nodes get new names (their values change
/// layout); inputs, outputs and nodes in control flow are never part of a region, and every output keeps
/// its value and shape.
/// </summary>
public sealed class CancelTransposesPass : IGraphPass
{
    /// <summary>Suffix of the new name of a rewritten node (its value is its old value with the permutation undone).</summary>
    public const string RenameSuffix = "/relayout";

    public string Name => "cancel_transposes";

    public string Description => "Cancels Transpose pairs by moving transposes through layout-agnostic ops (element-wise, Pad, ConcatV2) until they meet their inverse.";

    public IReadOnlyList<PassArgument> Arguments { get; } = Array.Empty<PassArgument>();

    private static readonly HashSet<string> Unary = new(StringComparer.Ordinal)
    {
        "Relu", "Relu6", "LeakyRelu", "Elu", "Selu", "Sigmoid", "Tanh", "Softplus", "Softsign", "Neg", "Abs", "Exp",
        "Expm1", "Log", "Log1p", "Sqrt", "Rsqrt", "Square", "Reciprocal", "Floor", "Ceil", "Round", "Rint", "Sign",
        "Erf", "Sin", "Cos", "Identity", "Snapshot",
    };

    private static readonly HashSet<string> Binary = new(StringComparer.Ordinal)
    {
        "Add", "AddV2", "Sub", "Mul", "RealDiv", "Div", "DivNoNan", "Maximum", "Minimum", "Pow", "SquaredDifference",
        "FloorDiv", "FloorMod",
    };

    /// <summary>What a data input of a region node is to the rewrite.</summary>
    private enum Role
    {
        /// <summary>A tensor in the region's layout: from a region node or an input Transpose(·, P).</summary>
        Layout,
        /// <summary>Layout, or a constant broadcast against the other operand (permuted in the rewrite).</summary>
        LayoutOrConstant,
        /// <summary>Pad paddings (constant, rows permuted).</summary>
        Paddings,
        /// <summary>ConcatV2 axis (constant, remapped).</summary>
        Axis,
        /// <summary>Not layout dependent (PadV2 constant_values).</summary>
        Free,
    }

    public GraphDef Apply(GraphDef graph, PassContext context)
    {
        var g = new GraphEditor(graph.Clone());
        var flow = ControlFlowRegions.Find(g.Graph);
        var cv = new ConstantValues(g);
        int regions = 0, removed = 0, inserted = 0;
        for (int round = 0; round < 16; round++)
        {
            int merged = MergeAdjacent(g, cv, flow, context);
            removed += merged;
            bool changed = merged > 0;
            if (changed) cv = new ConstantValues(g);
            foreach (var perm in CandidatePerms(g, cv))
            {
                var (r, rem, ins) = RewriteRegions(g, cv, flow, context, perm);
                regions += r;
                removed += rem;
                inserted += ins;
                changed |= r > 0;
                cv = new ConstantValues(g);
            }
            if (!changed) break;
        }
        if (regions > 0 || removed > 0)
            context.Note($"Moved transposes through {regions} region(s) of layout-agnostic ops: removed {removed} Transpose(s), inserted {inserted}.");
        return g.Graph;
    }

    /// <summary>
    /// Transpose(Transpose(x, P), Q) reads x with the permutation P∘Q instead (the outer node keeps its name and value);
    /// when that is the identity it is x itself. Returns the number of Transpose nodes that went away.
    /// </summary>
    private static int MergeAdjacent(GraphEditor g, ConstantValues cv, HashSet<string> flow, PassContext context)
    {
        int before = g.Nodes.Count(n => n.Op == "Transpose");
        var orphans = new List<string>();
        foreach (var t2 in g.Nodes.Where(n => n.Op == "Transpose").ToList())
        {
            if (g.Find(t2.Name) != t2 || flow.Contains(t2.Name)) continue;
            var q = Perm(t2, cv);
            var src = TensorName.Parse(t2.Input[0]);
            var t1 = g.Find(src.Node);
            if (q is null || src.Index != 0 || t1 is null || t1.Op != "Transpose" || flow.Contains(t1.Name)) continue;
            var p = Perm(t1, cv);
            if (p is null || p.Length != q.Length) continue;
            var composed = q.Select(k => p[k]).ToArray();
            string x = t1.Input[0];
            orphans.Add(t1.Name);
            if (!IsIdentity(composed))
            {
                var pc = FoldBatchNormsPass.ConstNode(g.UniqueName(t2.Name + "/perm"), Tensor.Create(composed, composed.Length), t2.Device);
                g.Insert(pc, t2);
                orphans.Add(TensorName.Parse(t2.Input[1]).Node);
                t2.Input[0] = x;
                t2.Input[1] = pc.Name;
                t2.Attr["Tperm"] = Attr.Type(DataType.DtInt32);
            }
            else if (context.Protected.Contains(t2.Name) || g.HasControlConsumers(t2.Name) || GraphEditor.HasControlInputs(t2))
            {
                var id = new NodeDef { Name = t2.Name, Op = "Identity", Device = t2.Device };
                id.Input.Add(x);
                id.Input.AddRange(GraphEditor.ControlInputs(t2));
                if (t2.Attr.TryGetValue("T", out var tt)) id.Attr["T"] = tt;
                else if (t1.Attr.TryGetValue("T", out var t1t)) id.Attr["T"] = t1t;
                else continue;
                g.Replace(t2, id);
            }
            else
            {
                g.RewireData(new TensorName(t2.Name, 0, false), x);
                orphans.Add(t2.Name);
            }
        }
        g.RemoveOrphans(orphans, context.Protected);
        return before - g.Nodes.Count(n => n.Op == "Transpose");
    }

    /// <summary>The distinct constant permutations of Transpose nodes that some candidate op reads.</summary>
    private static List<int[]> CandidatePerms(GraphEditor g, ConstantValues cv)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var result = new List<int[]>();
        foreach (var t in g.Nodes.Where(n => n.Op == "Transpose").ToList())
        {
            var p = Perm(t, cv);
            if (p is null || IsIdentity(p)) continue;
            if (!g.DataUses(t.Name).Any(u => Roles(u.Node) is not null)) continue;
            if (seen.Add(string.Join(",", p))) result.Add(p);
        }
        return result;
    }

    private static int[]? Perm(NodeDef t, ConstantValues cv)
    {
        if (t.Op != "Transpose" || t.Input.Count < 2 || t.Input[0].StartsWith('^') || t.Input[1].StartsWith('^')) return null;
        var c = cv.ConstTensor(t.Input[1]);
        if (c is null || c.Rank != 1 || c.DType is not (DataType.DtInt32 or DataType.DtInt64)) return null;
        var p = c.ToInt32Array();
        var seen = new bool[p.Length];
        foreach (int v in p)
        {
            if (v < 0 || v >= p.Length || seen[v]) return null;
            seen[v] = true;
        }
        return p;
    }

    private static bool IsIdentity(int[] p)
    {
        for (int i = 0; i < p.Length; i++) if (p[i] != i) return false;
        return true;
    }

    private static int[] Inverse(int[] p)
    {
        var inv = new int[p.Length];
        for (int i = 0; i < p.Length; i++) inv[p[i]] = i;
        return inv;
    }

    /// <summary>The roles of a node's data inputs when it may join a region, else null.</summary>
    private static Role[]? Roles(NodeDef n)
    {
        int data = n.Input.TakeWhile(i => !i.StartsWith('^')).Count();
        if (n.Input.Skip(data).Any(i => !i.StartsWith('^'))) return null; // data after control inputs: malformed
        if (!n.Attr.ContainsKey("T")) return null;
        if (Unary.Contains(n.Op)) return data == 1 ? new[] { Role.Layout } : null;
        if (Binary.Contains(n.Op)) return data == 2 ? new[] { Role.LayoutOrConstant, Role.LayoutOrConstant } : null;
        return n.Op switch
        {
            "Pad" or "MirrorPad" when data == 2 => new[] { Role.Layout, Role.Paddings },
            "PadV2" when data == 3 => new[] { Role.Layout, Role.Paddings, Role.Free },
            "ConcatV2" when data >= 2 => Enumerable.Repeat(Role.Layout, data - 1).Append(Role.Axis).ToArray(),
            _ => null,
        };
    }

    private sealed class Member
    {
        public required NodeDef Node;
        public required Role[] Roles;
    }

    private (int Regions, int Removed, int Inserted) RewriteRegions(GraphEditor g, ConstantValues cv, HashSet<string> flow, PassContext context, int[] perm)
    {
        int n = perm.Length;
        var inv = Inverse(perm);
        string permKey = string.Join(",", perm);

        // Candidates: every node that could join a region for this permutation.
        var members = new Dictionary<string, Member>(StringComparer.Ordinal);
        foreach (var node in g.Nodes)
        {
            if (flow.Contains(node.Name) || context.Protected.Contains(node.Name)) continue;
            var roles = Roles(node);
            if (roles is not null) members[node.Name] = new Member { Node = node, Roles = roles };
        }
        if (members.Count == 0) return (0, 0, 0);

        var consts = new Dictionary<string, Tensor?>(StringComparer.Ordinal);
        Tensor? Const(string input)
        {
            if (!consts.TryGetValue(input, out var t)) consts[input] = t = cv.ConstTensor(input);
            return t;
        }
        var transposeOk = new Dictionary<string, bool>(StringComparer.Ordinal);
        bool IsInputTranspose(TensorName tn, bool checkProducer)
        {
            if (tn.IsControl || tn.Index != 0) return false;
            var t = g.Find(tn.Node);
            if (t is null || t.Op != "Transpose") return false;
            if (!transposeOk.TryGetValue(t.Name, out bool ok))
            {
                var p = Perm(t, cv);
                transposeOk[t.Name] = ok = p is not null && string.Join(",", p) == permKey;
            }
            // Its input must keep its own layout: it cannot be a node of a region being rewritten.
            return ok && (!checkProducer || !members.ContainsKey(TensorName.Parse(t.Input[0]).Node));
        }
        bool IsLayout(string input, bool checkProducer)
        {
            var tn = TensorName.Parse(input);
            if (tn.IsControl) return false;
            return members.ContainsKey(tn.Node) && tn.Index == 0 || IsInputTranspose(tn, checkProducer);
        }
        bool Valid(Member m, bool checkProducer)
        {
            var node = m.Node;
            bool anyLayout = false;
            for (int i = 0; i < m.Roles.Length; i++)
            {
                string input = node.Input[i];
                switch (m.Roles[i])
                {
                    case Role.Layout:
                        if (!IsLayout(input, checkProducer)) return false;
                        anyLayout = true;
                        break;
                    case Role.LayoutOrConstant:
                        if (IsLayout(input, checkProducer)) { anyLayout = true; break; }
                        var c = Const(input);
                        if (c is null || c.Rank > n) return false;
                        break;
                    case Role.Paddings:
                        var pads = Const(input);
                        if (pads is null || pads.Rank != 2 || pads.Shape[0] != n || pads.Shape[1] != 2 || pads.DType is not (DataType.DtInt32 or DataType.DtInt64)) return false;
                        break;
                    case Role.Axis:
                        var axis = Const(input);
                        if (axis is null || axis.Length != 1 || axis.DType is not (DataType.DtInt32 or DataType.DtInt64)) return false;
                        long a = axis.GetInt64(0);
                        if (a < -n || a >= n) return false;
                        break;
                }
            }
            return anyLayout;
        }

        // Drop candidates whose inputs cannot all be brought to the region's layout, to a fixpoint; first
        // without, then with the rule that an input Transpose must not read a region node.
        foreach (bool checkProducer in new[] { false, true })
        {
            var queue = new Queue<string>(members.Keys);
            var queued = new HashSet<string>(members.Keys, StringComparer.Ordinal);
            while (queue.Count > 0)
            {
                string name = queue.Dequeue();
                queued.Remove(name);
                if (!members.TryGetValue(name, out var m) || Valid(m, checkProducer)) continue;
                members.Remove(name);
                foreach (var c in g.Consumers(name))
                    if (members.ContainsKey(c.Name) && queued.Add(c.Name)) queue.Enqueue(c.Name);
            }
        }
        if (members.Count == 0) return (0, 0, 0);

        // Regions: members connected by data edges or by reading the same input Transpose.
        var parent = members.Keys.ToDictionary(k => k, k => k, StringComparer.Ordinal);
        string Root(string x)
        {
            while (parent[x] != x) x = parent[x] = parent[parent[x]];
            return x;
        }
        void Union(string a, string b) => parent[Root(a)] = Root(b);
        var byTranspose = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var m in members.Values)
            for (int i = 0; i < m.Roles.Length; i++)
            {
                if (m.Roles[i] is not (Role.Layout or Role.LayoutOrConstant)) continue;
                var tn = TensorName.Parse(m.Node.Input[i]);
                if (members.ContainsKey(tn.Node)) Union(m.Node.Name, tn.Node);
                else if (IsInputTranspose(tn, true))
                {
                    if (byTranspose.TryGetValue(tn.Node, out var other)) Union(m.Node.Name, other);
                    else byTranspose[tn.Node] = m.Node.Name;
                }
            }
        var groups = members.Keys.GroupBy(Root, StringComparer.Ordinal).Select(gr => gr.ToList()).ToList();

        int regions = 0, removedTotal = 0, insertedTotal = 0;
        foreach (var names in groups)
        {
            var set = new HashSet<string>(names, StringComparer.Ordinal);
            // Input transposes and whether each falls away.
            var inputs = new HashSet<string>(StringComparer.Ordinal);
            foreach (var name in names)
            {
                var m = members[name];
                for (int i = 0; i < m.Roles.Length; i++)
                    if (m.Roles[i] is Role.Layout or Role.LayoutOrConstant && !set.Contains(TensorName.Parse(m.Node.Input[i]).Node))
                    {
                        var tn = TensorName.Parse(m.Node.Input[i]);
                        if (IsInputTranspose(tn, true)) inputs.Add(tn.Node);
                    }
            }
            int removed = inputs.Count(t => !context.Protected.Contains(t) && !g.HasControlConsumers(t)
                && g.DataUses(t).All(u => set.Contains(u.Node.Name)));
            // Readers outside the region: Transposes fold the permutation in, anything else needs it restored.
            var foldInto = new List<(NodeDef Transpose, int[] Composed)>();
            var restore = new List<NodeDef>(); // region nodes needing Transpose(·, P) for outside readers
            foreach (var name in names)
            {
                bool needs = false;
                foreach (var use in g.DataUses(name).ToList())
                {
                    if (set.Contains(use.Node.Name)) continue;
                    var q = use.Index == 0 && !flow.Contains(use.Node.Name) ? Perm(use.Node, cv) : null;
                    if (q is not null && q.Length == n)
                    {
                        var composed = q.Select(k => perm[k]).ToArray();
                        if (!foldInto.Any(f => ReferenceEquals(f.Transpose, use.Node))) foldInto.Add((use.Node, composed));
                        if (IsIdentity(composed)) removed++;
                    }
                    else needs = true;
                }
                if (needs) restore.Add(members[name].Node);
            }
            if (removed <= restore.Count) continue;

            Rewrite(g, cv, names.Select(x => members[x]).ToList(), set, perm, inv, foldInto, restore, context);
            regions++;
            removedTotal += removed;
            insertedTotal += restore.Count;
            cv = new ConstantValues(g);
        }
        return (regions, removedTotal, insertedTotal);
    }

    private static void Rewrite(GraphEditor g, ConstantValues cv, List<Member> region, HashSet<string> set, int[] perm, int[] inv,
        List<(NodeDef Transpose, int[] Composed)> foldInto, List<NodeDef> restore, PassContext context)
    {
        int n = perm.Length;
        var orphans = new List<string>();
        // New names first (readers outside the region are rewired below, by the old names).
        var rename = region.ToDictionary(m => m.Node.Name, m => g.UniqueName(m.Node.Name + RenameSuffix), StringComparer.Ordinal);

        // 1. Outside readers. Transposes: fold the permutation in (or become Identity / vanish).
        foreach (var (t, composed) in foldInto)
        {
            var src = TensorName.Parse(t.Input[0]);
            string newSrc = new TensorName(rename[src.Node], src.Index, false).ToString();
            if (!IsIdentity(composed))
            {
                var pc = FoldBatchNormsPass.ConstNode(g.UniqueName(t.Name + "/perm"), Tensor.Create(composed, n), t.Device);
                g.Insert(pc, t);
                orphans.Add(TensorName.Parse(t.Input[1]).Node);
                t.Input[0] = newSrc;
                t.Input[1] = pc.Name;
                t.Attr["Tperm"] = Attr.Type(DataType.DtInt32);
            }
            else if (context.Protected.Contains(t.Name) || g.HasControlConsumers(t.Name) || GraphEditor.HasControlInputs(t))
            {
                var id = new NodeDef { Name = t.Name, Op = "Identity", Device = t.Device };
                id.Input.Add(newSrc);
                id.Input.AddRange(GraphEditor.ControlInputs(t));
                id.Attr["T"] = t.Attr.TryGetValue("T", out var tt) ? tt : g.Find(src.Node)!.Attr["T"];
                g.Replace(t, id);
            }
            else
            {
                g.RewireData(new TensorName(t.Name, 0, false), newSrc);
                orphans.Add(t.Name);
            }
        }
        // Anything else outside: one Transpose(·, P) per region node, back to the original layout.
        foreach (var node in restore)
        {
            string oldName = node.Name;
            var pc = FoldBatchNormsPass.ConstNode(g.UniqueName(oldName + "/restore_perm"), Tensor.Create((int[])perm.Clone(), n), node.Device);
            var tr = new NodeDef { Name = g.UniqueName(oldName + "/restore_layout"), Op = "Transpose", Device = node.Device };
            tr.Input.Add(rename[oldName]);
            tr.Input.Add(pc.Name);
            tr.Attr["T"] = node.Attr["T"];
            tr.Attr["Tperm"] = Attr.Type(DataType.DtInt32);
            foreach (var reader in g.Consumers(oldName).Where(c => !set.Contains(c.Name)).ToList())
                for (int i = 0; i < reader.Input.Count; i++)
                {
                    var tn = TensorName.Parse(reader.Input[i]);
                    if (!tn.IsControl && tn.Node == oldName) reader.Input[i] = tr.Name;
                }
            g.Add(pc);
            g.Add(tr);
        }

        // 2. The region's own inputs.
        foreach (var m in region)
        {
            var node = m.Node;
            for (int i = 0; i < m.Roles.Length; i++)
            {
                var tn = TensorName.Parse(node.Input[i]);
                switch (m.Roles[i])
                {
                    case Role.Layout:
                    case Role.LayoutOrConstant:
                        if (set.Contains(tn.Node)) break;
                        var producer = g.Find(tn.Node)!;
                        if (producer.Op == "Transpose" && tn.Index == 0 && cv.ConstTensor(node.Input[i]) is null)
                        {
                            orphans.Add(producer.Name);
                            node.Input[i] = producer.Input[0];
                            break;
                        }
                        var c = cv.ConstTensor(node.Input[i])!;
                        if (c.Length <= 1) break; // a scalar broadcasts the same in any layout
                        var c4 = c.Reshape(Enumerable.Repeat(1, n - c.Rank).Concat(c.Shape).ToArray());
                        var permuted = ArrayShape.Transpose(c4, inv);
                        var cn = FoldBatchNormsPass.ConstNode(g.UniqueName(node.Name + "/relayout_const"), permuted, node.Device);
                        g.Insert(cn, node);
                        orphans.Add(tn.Node);
                        node.Input[i] = cn.Name;
                        break;
                    case Role.Paddings:
                        var pads = cv.ConstTensor(node.Input[i])!.ToInt64Array();
                        var np = new long[2 * n];
                        for (int k = 0; k < n; k++)
                        {
                            np[2 * perm[k]] = pads[2 * k];
                            np[2 * perm[k] + 1] = pads[2 * k + 1];
                        }
                        var old = cv.ConstTensor(node.Input[i])!;
                        var pt = old.DType == DataType.DtInt64 ? Tensor.Create(np, n, 2) : Tensor.Create(np.Select(v => checked((int)v)).ToArray(), n, 2);
                        var pn = FoldBatchNormsPass.ConstNode(g.UniqueName(node.Name + "/relayout_paddings"), pt, node.Device);
                        g.Insert(pn, node);
                        orphans.Add(tn.Node);
                        node.Input[i] = pn.Name;
                        break;
                    case Role.Axis:
                        var at = cv.ConstTensor(node.Input[i])!;
                        long a = at.GetInt64(0);
                        int axis = perm[(int)(a < 0 ? a + n : a)];
                        var an = FoldBatchNormsPass.ConstNode(g.UniqueName(node.Name + "/relayout_axis"),
                            at.DType == DataType.DtInt64 ? Tensor.Scalar((long)axis) : Tensor.Scalar(axis), node.Device);
                        g.Insert(an, node);
                        orphans.Add(tn.Node);
                        node.Input[i] = an.Name;
                        break;
                }
            }
        }

        // 3. Rename the region's nodes everywhere they are read (data or control).
        foreach (var node in g.Nodes)
            for (int i = 0; i < node.Input.Count; i++)
            {
                var tn = TensorName.Parse(node.Input[i]);
                if (rename.TryGetValue(tn.Node, out var nn)) node.Input[i] = new TensorName(nn, tn.Index, tn.IsControl).ToString();
            }
        foreach (var m in region) m.Node.Name = rename[m.Node.Name];
        g.Reindex();

        // 4. Input transposes, folded transposes and constants nobody reads any more.
        g.RemoveOrphans(orphans, context.Protected);
    }
}
