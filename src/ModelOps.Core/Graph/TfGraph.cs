using ModelOps.Core.Errors;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Graph;

/// <summary>
/// An indexed, read-only view over a <see cref="GraphDef"/>: lookup by name, parsed inputs, consumers,
/// topological order (TF1 loop back edges NextIteration→Merge are not treated as cycles) and cycle
/// detection. Rebuild the view after changing the GraphDef.
/// </summary>
public sealed class TfGraph
{
    private readonly Dictionary<string, NodeDef> _byName;
    private readonly Dictionary<string, int> _index;
    private readonly TensorName[][] _inputs;
    private List<NodeDef>[]? _consumers;

    public TfGraph(GraphDef def)
    {
        Def = def;
        _byName = new Dictionary<string, NodeDef>(def.Node.Count, StringComparer.Ordinal);
        _index = new Dictionary<string, int>(def.Node.Count, StringComparer.Ordinal);
        _inputs = new TensorName[def.Node.Count][];
        for (int i = 0; i < def.Node.Count; i++)
        {
            var n = def.Node[i];
            if (!_byName.TryAdd(n.Name, n))
                throw new ModelOpsException(ErrorIds.InvalidGraph, ErrorKind.InvalidData,
                    $"The graph has two nodes named '{n.Name}'. Node names must be unique.", n.Name);
            _index[n.Name] = i;
            var ins = new TensorName[n.Input.Count];
            for (int j = 0; j < ins.Length; j++) ins[j] = TensorName.Parse(n.Input[j]);
            _inputs[i] = ins;
        }
    }

    public GraphDef Def { get; }
    public IReadOnlyList<NodeDef> Nodes => Def.Node;
    public int Count => Def.Node.Count;

    public NodeDef? Find(string name) => _byName.GetValueOrDefault(name);

    public bool Contains(string name) => _byName.ContainsKey(name);

    /// <summary>The node with this name; accepts tensor names ("x:0") too. Throws NodeNotFound suggesting near names.</summary>
    public NodeDef Get(string name)
    {
        if (_byName.TryGetValue(name, out var n)) return n;
        var tn = TensorName.Parse(name);
        if (!tn.IsControl && _byName.TryGetValue(tn.Node, out n)) return n;
        throw NotFound(name);
    }

    public ModelOpsException NotFound(string name, string what = "node")
    {
        var near = Suggest(name, 5);
        string hint = near.Count > 0 ? $" Did you mean: {string.Join(", ", near)}?" : "";
        return new ModelOpsException(ErrorIds.NodeNotFound, ErrorKind.ObjectNotFound,
            $"The graph has no {what} named '{name}'.{hint}", name);
    }

    /// <summary>Node names closest to <paramref name="name"/> (substring matches first, then edit distance).</summary>
    public IReadOnlyList<string> Suggest(string name, int max)
    {
        string key = TensorName.Parse(name.TrimStart('^')).Node;
        return _byName.Keys
            .Select(k => (k, score: k.Contains(key, StringComparison.OrdinalIgnoreCase) || key.Contains(k, StringComparison.OrdinalIgnoreCase) ? 0 : EditDistance(k, key)))
            .Where(p => p.score <= Math.Max(3, key.Length / 2))
            .OrderBy(p => p.score).ThenBy(p => p.k.Length).ThenBy(p => p.k, StringComparer.Ordinal)
            .Take(max).Select(p => p.k).ToList();
    }

    public int IndexOf(string name) => _index.TryGetValue(name, out int i) ? i : -1;

    /// <summary>Parsed inputs of a node (data inputs first, then control inputs, as TF requires).</summary>
    public IReadOnlyList<TensorName> InputsOf(NodeDef node) => _inputs[_index[node.Name]];

    public IReadOnlyList<TensorName> InputsOf(int index) => _inputs[index];

    /// <summary>Nodes that read any output of, or have a control edge from, the named node.</summary>
    public IReadOnlyList<NodeDef> Consumers(string name)
    {
        if (_consumers is null)
        {
            var c = new List<NodeDef>[Count];
            for (int i = 0; i < c.Length; i++) c[i] = new List<NodeDef>();
            for (int i = 0; i < Count; i++)
                foreach (var tn in _inputs[i])
                    if (_index.TryGetValue(tn.Node, out int src) && !c[src].Contains(Def.Node[i]))
                        c[src].Add(Def.Node[i]);
            _consumers = c;
        }
        return _index.TryGetValue(name, out int k) ? _consumers[k] : Array.Empty<NodeDef>();
    }

    /// <summary>Inputs that name nodes absent from the graph (a graph with any is invalid).</summary>
    public IEnumerable<(NodeDef Node, string Input)> DanglingInputs()
    {
        for (int i = 0; i < Count; i++)
            foreach (var tn in _inputs[i])
                if (!_byName.ContainsKey(tn.Node)) yield return (Def.Node[i], tn.ToString());
    }

    /// <summary>Nodes nobody consumes: the natural outputs of a graph (excluding NoOp/Assign-like sinks when asked).</summary>
    public IReadOnlyList<NodeDef> Sinks()
    {
        var used = new HashSet<string>(StringComparer.Ordinal);
        foreach (var ins in _inputs) foreach (var tn in ins) used.Add(tn.Node);
        return Def.Node.Where(n => !used.Contains(n.Name)).ToList();
    }

    /// <summary>
    /// Node indices in an order where every node follows its inputs (Kahn's algorithm, stable by
    /// original position). Merge inputs coming from NextIteration are loop back edges and ignored.
    /// Throws GraphCycle naming nodes on a real cycle and InvalidGraph on a dangling input.
    /// </summary>
    public int[] TopologicalOrder()
    {
        int n = Count;
        var pending = new int[n];
        var outs = new List<int>[n];
        for (int i = 0; i < n; i++) outs[i] = new List<int>();
        for (int i = 0; i < n; i++)
        {
            var node = Def.Node[i];
            bool isMerge = node.Op is "Merge" or "RefMerge";
            foreach (var tn in _inputs[i])
            {
                if (!_index.TryGetValue(tn.Node, out int src))
                    throw new ModelOpsException(ErrorIds.InvalidGraph, ErrorKind.InvalidData,
                        $"Node '{node.Name}' reads '{tn}', but the graph has no node '{tn.Node}'.", node.Name);
                if (isMerge && Def.Node[src].Op is "NextIteration" or "RefNextIteration") continue;
                pending[i]++;
                outs[src].Add(i);
            }
        }
        var order = new int[n];
        int head = 0, tail = 0;
        // A min-heap by original index keeps the order stable and close to the file's order.
        var ready = new PriorityQueue<int, int>();
        for (int i = 0; i < n; i++) if (pending[i] == 0) ready.Enqueue(i, i);
        while (ready.TryDequeue(out int v, out _))
        {
            order[tail++] = v;
            foreach (int w in outs[v]) if (--pending[w] == 0) ready.Enqueue(w, w);
        }
        if (tail != n)
        {
            var stuck = Enumerable.Range(0, n).Where(i => pending[i] > 0).Select(i => Def.Node[i].Name).Take(8).ToList();
            throw new ModelOpsException(ErrorIds.GraphCycle, ErrorKind.InvalidData,
                $"The graph has a cycle that is not a TF loop (NextIteration→Merge); nodes on or after it include: {string.Join(", ", stuck)}.");
        }
        _ = head;
        return order;
    }

    /// <summary>Indices of every node the given nodes depend on (data and control edges), including themselves.</summary>
    public HashSet<int> AncestorsOf(IEnumerable<string> nodeNames)
    {
        var seen = new HashSet<int>();
        var stack = new Stack<int>();
        foreach (var name in nodeNames)
        {
            int i = IndexOf(TensorName.Parse(name).Node);
            if (i < 0) throw NotFound(name);
            if (seen.Add(i)) stack.Push(i);
        }
        while (stack.Count > 0)
        {
            int v = stack.Pop();
            foreach (var tn in _inputs[v])
                if (_index.TryGetValue(tn.Node, out int src) && seen.Add(src)) stack.Push(src);
        }
        return seen;
    }

    private static int EditDistance(string a, string b)
    {
        if (Math.Abs(a.Length - b.Length) > 8) return 99;
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (char.ToLowerInvariant(a[i - 1]) == char.ToLowerInvariant(b[j - 1]) ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
