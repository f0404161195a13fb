using ModelOps.Core.Graph;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Optimization;

/// <summary>
/// Mutable helper over a GraphDef a pass owns (a copy): lookup, consumers, rewiring of inputs, removal
/// and unique names. The consumer index is rebuilt lazily after each change.
/// </summary>
internal sealed class GraphEditor
{
    private Dictionary<string, NodeDef> _byName = new(StringComparer.Ordinal);
    private Dictionary<string, List<NodeDef>>? _consumers;

    public GraphEditor(GraphDef graph)
    {
        Graph = graph;
        Reindex();
    }

    public GraphDef Graph { get; }

    public IEnumerable<NodeDef> Nodes => Graph.Node;

    public NodeDef? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>
    /// An indexed view of the nodes as they are now, over a separate node list (the nodes themselves are
    /// shared): indices stay valid while the pass inserts and removes nodes in the graph.
    /// </summary>
    public TfGraph Snapshot()
    {
        var copy = new GraphDef();
        copy.Node.AddRange(Graph.Node);
        return new TfGraph(copy);
    }

    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The node producing a tensor given as "node", "node:i" or "^node".</summary>
    public NodeDef? Producer(string input) => Find(TensorName.Parse(input).Node);

    public void Reindex()
    {
        _byName = new Dictionary<string, NodeDef>(Graph.Node.Count, StringComparer.Ordinal);
        foreach (var n in Graph.Node) _byName[n.Name] = n;
        _consumers = null;
    }

    private Dictionary<string, List<NodeDef>> ConsumerIndex()
    {
        if (_consumers is not null) return _consumers;
        var c = new Dictionary<string, List<NodeDef>>(StringComparer.Ordinal);
        foreach (var n in Graph.Node)
            foreach (var input in n.Input)
            {
                string src = TensorName.Parse(input).Node;
                if (!c.TryGetValue(src, out var l)) c[src] = l = new List<NodeDef>();
                if (l.Count == 0 || !ReferenceEquals(l[^1], n)) l.Add(n);
            }
        return _consumers = c;
    }

    /// <summary>Nodes reading any output of, or with a control edge from, the node.</summary>
    public IReadOnlyList<NodeDef> Consumers(string node) =>
        ConsumerIndex().TryGetValue(node, out var l) ? l : (IReadOnlyList<NodeDef>)Array.Empty<NodeDef>();

    /// <summary>Every (consumer, input position) that reads the node through a data edge.</summary>
    public IEnumerable<(NodeDef Node, int Index, TensorName Input)> DataUses(string node)
    {
        foreach (var c in Consumers(node))
            for (int i = 0; i < c.Input.Count; i++)
            {
                var tn = TensorName.Parse(c.Input[i]);
                if (!tn.IsControl && tn.Node == node) yield return (c, i, tn);
            }
    }

    /// <summary>True when some node has a control edge from the node.</summary>
    public bool HasControlConsumers(string node) =>
        Consumers(node).Any(c => c.Input.Any(i => i.Length > 0 && i[0] == '^' && i.AsSpan(1).SequenceEqual(node)));

    public static bool HasControlInputs(NodeDef n) => n.Input.Any(i => i.StartsWith('^'));

    public static IEnumerable<string> DataInputs(NodeDef n) => n.Input.Where(i => !i.StartsWith('^'));

    public static IEnumerable<string> ControlInputs(NodeDef n) => n.Input.Where(i => i.StartsWith('^'));

    /// <summary>Makes every data reader of <paramref name="from"/> ("node:i") read <paramref name="to"/> instead.</summary>
    public int RewireData(TensorName from, string to)
    {
        int count = 0;
        foreach (var c in Consumers(from.Node).ToList())
            for (int i = 0; i < c.Input.Count; i++)
            {
                var tn = TensorName.Parse(c.Input[i]);
                if (!tn.IsControl && tn.Node == from.Node && tn.Index == from.Index)
                {
                    c.Input[i] = to;
                    count++;
                }
            }
        if (count > 0) _consumers = null;
        return count;
    }

    /// <summary>Rewires every data reader of the node's outputs to the tensors given by port (port → new tensor name).</summary>
    public void RewireAllOutputs(string node, Func<int, string> to)
    {
        foreach (var c in Consumers(node).ToList())
            for (int i = 0; i < c.Input.Count; i++)
            {
                var tn = TensorName.Parse(c.Input[i]);
                if (!tn.IsControl && tn.Node == node) c.Input[i] = to(tn.Index);
            }
        _consumers = null;
    }

    /// <summary>Replaces control edges ^node by the given control inputs (de-duplicated), keeping data inputs first.</summary>
    public void ReplaceControlEdges(string node, IEnumerable<string> replacementControlInputs)
    {
        var repl = replacementControlInputs.ToList();
        foreach (var c in Consumers(node).ToList())
        {
            string ctl = "^" + node;
            if (!c.Input.Contains(ctl)) continue;
            var data = c.Input.Where(i => !i.StartsWith('^')).ToList();
            var ctls = c.Input.Where(i => i.StartsWith('^') && i != ctl).ToList();
            foreach (var r in repl)
                if (!ctls.Contains(r) && r != "^" + c.Name && !data.Any(d => TensorName.Parse(d).Node == r[1..])) ctls.Add(r);
            c.Input.Clear();
            c.Input.AddRange(data);
            c.Input.AddRange(ctls);
        }
        _consumers = null;
    }

    public NodeDef Add(NodeDef node)
    {
        Graph.Node.Add(node);
        _byName[node.Name] = node;
        _consumers = null;
        return node;
    }

    /// <summary>Inserts the node right before <paramref name="before"/> in file order (keeps the file readable).</summary>
    public NodeDef Insert(NodeDef node, NodeDef before)
    {
        int at = Graph.Node.IndexOf(before);
        if (at < 0) Graph.Node.Add(node); else Graph.Node.Insert(at, node);
        _byName[node.Name] = node;
        _consumers = null;
        return node;
    }

    /// <summary>Puts <paramref name="replacement"/> where <paramref name="old"/> was (same position; names may differ).</summary>
    public void Replace(NodeDef old, NodeDef replacement)
    {
        int at = Graph.Node.IndexOf(old);
        Graph.Node[at] = replacement;
        if (_byName.TryGetValue(old.Name, out var cur) && ReferenceEquals(cur, old)) _byName.Remove(old.Name);
        _byName[replacement.Name] = replacement;
        _consumers = null;
    }

    public void Remove(IEnumerable<NodeDef> nodes)
    {
        var set = new HashSet<NodeDef>(nodes, ReferenceEqualityComparer.Instance);
        if (set.Count == 0) return;
        var keep = Graph.Node.Where(n => !set.Contains(n)).ToList();
        Graph.Node.Clear();
        Graph.Node.AddRange(keep);
        Reindex();
    }

    public void Remove(NodeDef node) => Remove(new[] { node });

    /// <summary>Removes nodes nobody reads (data or control), starting from the candidates and walking up their inputs; protected names stay.</summary>
    public int RemoveOrphans(IEnumerable<string> candidates, IReadOnlySet<string> protectedNames)
    {
        var pending = new Stack<string>(candidates);
        var removed = new HashSet<NodeDef>(ReferenceEqualityComparer.Instance);
        var used = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var n in Graph.Node)
            foreach (var i in n.Input)
            {
                string src = TensorName.Parse(i).Node;
                used[src] = used.GetValueOrDefault(src) + 1;
            }
        while (pending.Count > 0)
        {
            string name = pending.Pop();
            if (protectedNames.Contains(name) || used.GetValueOrDefault(name) > 0) continue;
            var node = Find(name);
            if (node is null || removed.Contains(node)) continue;
            removed.Add(node);
            foreach (var i in node.Input)
            {
                string src = TensorName.Parse(i).Node;
                used[src] = used.GetValueOrDefault(src) - 1;
                pending.Push(src);
            }
        }
        Remove(removed);
        return removed.Count;
    }

    public string UniqueName(string name)
    {
        if (!_byName.ContainsKey(name)) return name;
        for (int i = 1; ; i++)
        {
            string candidate = $"{name}_{i}";
            if (!_byName.ContainsKey(candidate)) return candidate;
        }
    }

    public static string Str(NodeDef n, string attr, string fallback = "") =>
        n.Attr.TryGetValue(attr, out var v) && v.ValueCase == AttrValue.ValueOneofCase.S ? v.S.ToStringUtf8() : fallback;

    public static DataType Type(NodeDef n, string attr = "T") =>
        n.Attr.TryGetValue(attr, out var v) ? v.Type : DataType.DtInvalid;

    public static bool Bool(NodeDef n, string attr, bool fallback) =>
        n.Attr.TryGetValue(attr, out var v) && v.ValueCase == AttrValue.ValueOneofCase.B ? v.B : fallback;
}
