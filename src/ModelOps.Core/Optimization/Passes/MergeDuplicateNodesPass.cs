using System.Security.Cryptography;
using Google.Protobuf;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Optimization.Passes;

/// <summary>
/// merge_duplicate_nodes: nodes with the same op, device, attributes (a Const's value included), the same data
/// inputs in order and the same set of control inputs compute the same thing; all but one are removed and
/// their readers rewired. Walking in topological order merges whole duplicated subgraphs in one pass.
/// Stateful and random ops, placeholders and control-flow ops are never merged; of two duplicates the
/// protected one (an input or output) is kept, and two protected ones both stay.
/// </summary>
public sealed class MergeDuplicateNodesPass : IGraphPass
{
    public string Name => "merge_duplicate_nodes";

    public string Description => "Merges nodes that compute the same value (identical op, attributes, constants and inputs).";

    public IReadOnlyList<PassArgument> Arguments { get; } = Array.Empty<PassArgument>();

    internal static bool IsStateful(string op) =>
        op.StartsWith("Random", StringComparison.Ordinal) || op.StartsWith("Stateful", StringComparison.Ordinal)
        || op is "TruncatedNormal" or "Multinomial" or "ParameterizedTruncatedNormal" or "RandomGamma" or "RandomPoisson" or "RandomPoissonV2"
        || op.Contains("Variable", StringComparison.Ordinal) || op.Contains("TensorArray", StringComparison.Ordinal)
        || op.Contains("Stack", StringComparison.Ordinal) || op.Contains("Queue", StringComparison.Ordinal)
        || op.StartsWith("Assign", StringComparison.Ordinal) || op.Contains("Iterator", StringComparison.Ordinal)
        || op.Contains("HashTable", StringComparison.Ordinal) || op.Contains("Lookup", StringComparison.Ordinal)
        || op.StartsWith("Save", StringComparison.Ordinal) || op.StartsWith("Restore", StringComparison.Ordinal)
        || op is "Print" or "PrintV2" or "Assert" or "NoOp" or "ControlTrigger" or "Placeholder" or "PlaceholderV2" or "PlaceholderWithDefault"
        || op.EndsWith("Summary", StringComparison.Ordinal) || op.EndsWith("SummaryV2", StringComparison.Ordinal)
        || op is "PartitionedCall" or "StatefulPartitionedCall" or "If" or "While" or "StatelessIf" or "StatelessWhile" or "Case"
        || op.StartsWith('_');

    public GraphDef Apply(GraphDef graph, PassContext context)
    {
        var g = new GraphEditor(graph.Clone());
        var view = g.Snapshot();
        var seen = new Dictionary<string, List<NodeDef>>(StringComparer.Ordinal);
        var removed = new List<NodeDef>();
        foreach (int i in view.TopologicalOrder())
        {
            var n = view.Nodes[i];
            if (IsStateful(n.Op) || ControlFlowRegions.IsControlFlowOp(n.Op)) continue;
            string key = Key(n);
            if (!seen.TryGetValue(key, out var bucket)) { seen[key] = new List<NodeDef> { n }; continue; }
            var twin = bucket.FirstOrDefault(b => Same(b, n));
            if (twin is null) { bucket.Add(n); continue; }
            NodeDef keep = twin, drop = n;
            if (context.Protected.Contains(drop.Name))
            {
                if (context.Protected.Contains(keep.Name)) continue;
                (keep, drop) = (drop, keep);
                bucket[bucket.IndexOf(twin)] = keep;
            }
            g.RewireAllOutputs(drop.Name, port => port == 0 ? keep.Name : $"{keep.Name}:{port}");
            g.ReplaceControlEdges(drop.Name, new[] { "^" + keep.Name });
            removed.Add(drop);
        }
        g.Remove(removed);
        if (removed.Count > 0) context.Note($"Merged {removed.Count} duplicate node(s).");
        return g.Graph;
    }

    private static string Key(NodeDef n)
    {
        var data = n.Input.Where(i => !i.StartsWith('^')).Select(i => TensorName.Parse(i).ToString());
        var ctl = n.Input.Where(i => i.StartsWith('^')).Distinct().OrderBy(i => i, StringComparer.Ordinal);
        using var sha = SHA256.Create();
        foreach (var kv in n.Attr.Where(kv => kv.Key != "_output_shapes").OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            var kb = System.Text.Encoding.UTF8.GetBytes(kv.Key);
            sha.TransformBlock(kb, 0, kb.Length, null, 0);
            var vb = kv.Value.ToByteArray();
            sha.TransformBlock(vb, 0, vb.Length, null, 0);
        }
        sha.TransformFinalBlock(Array.Empty<byte>(), 0, 0);
        return n.Op + "|" + n.Device + "|" + string.Join(",", data) + "|" + string.Join(",", ctl) + "|" + Convert.ToHexString(sha.Hash!);
    }

    private static bool Same(NodeDef a, NodeDef b)
    {
        if (a.Op != b.Op || a.Device != b.Device) return false;
        var da = a.Input.Where(i => !i.StartsWith('^')).Select(i => TensorName.Parse(i).ToString()).ToList();
        var db = b.Input.Where(i => !i.StartsWith('^')).Select(i => TensorName.Parse(i).ToString()).ToList();
        if (!da.SequenceEqual(db)) return false;
        var ca = a.Input.Where(i => i.StartsWith('^')).ToHashSet();
        if (!ca.SetEquals(b.Input.Where(i => i.StartsWith('^')))) return false;
        var ka = a.Attr.Keys.Where(k => k != "_output_shapes").OrderBy(k => k, StringComparer.Ordinal).ToList();
        var kb = b.Attr.Keys.Where(k => k != "_output_shapes").OrderBy(k => k, StringComparer.Ordinal).ToList();
        return ka.SequenceEqual(kb) && ka.All(k => a.Attr[k].Equals(b.Attr[k]));
    }
}
