using System.Globalization;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats;
using ModelOps.Core.Graph;
using ModelOps.Core.Inspection;
using ModelOps.Core.Ops;
using ModelOps.Core.Optimization;
using ModelOps.Core.Optimization.Passes;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Runtime;

/// <summary>
/// Runs a GraphDef on the managed engine. The graph is planned once (pruned to what the outputs need,
/// scheduled, kernels looked up, constants decoded, last uses found); <see cref="Run"/> then executes
/// the plan as often as needed. Fetch sets other than the planned outputs get their own plan, made on
/// first use and cached. Runs of one session are serialized (a lock); use one session per thread for
/// parallel inference. Unless <see cref="EngineOptions.FuseContractions"/>, <see cref="EngineOptions.CancelTransposes"/>
/// and <see cref="EngineOptions.FoldPadIntoConv"/> are off, plans run a copy of the graph in which layout transposes around
/// layout-agnostic ops cancel, zero pads fold into convolution padding and contractions and their bias add and activation
/// are fused (same values, fewer intermediates).
/// </summary>
public sealed class GraphSession : IInferenceSession
{
    private readonly TfGraph _graph;
    private readonly KernelRegistry _kernels;
    private readonly Dictionary<string, ExecutionPlan> _plans = new(StringComparer.Ordinal);
    private readonly Dictionary<int, Tensor> _constants = new();
    private readonly TfGraph? _fused;
    private readonly Dictionary<int, Tensor> _fusedConstants = new();
    private readonly ExecutionPlan _defaultPlan;
    private readonly string[] _defaultFetches;
    // Const nodes whose values EngineOptions.ReleaseGraphConstants removed from the graph (plans made later must not decode them).
    private readonly HashSet<NodeDef> _releasedConstants = new(ReferenceEqualityComparer.Instance);
    private bool _disposed;

    public GraphSession(GraphDef graph, IReadOnlyList<string>? outputs = null, EngineOptions? options = null)
        : this(graph, outputs, options, null)
    {
    }

    /// <summary>As the public constructor, with an explicit kernel registry (tests).</summary>
    internal GraphSession(GraphDef graph, IReadOnlyList<string>? outputs, EngineOptions? options, KernelRegistry? kernels)
    {
        ArgumentNullException.ThrowIfNull(graph);
        _graph = new TfGraph(graph);
        Options = options ?? EngineOptions.Default;
        _kernels = kernels ?? OpRegistry.Kernels;

        if (outputs is { Count: > 0 })
        {
            _defaultFetches = outputs.ToArray();
            Outputs = outputs.Select(o => SpecOf(o)).ToList();
        }
        else
        {
            Outputs = ModelInspector.GuessOutputs(graph);
            if (Outputs.Count == 0)
                throw new ModelOpsException(ErrorIds.InvalidGraph, ErrorKind.InvalidData,
                    "The graph has no outputs to compute (no node that is not plumbing is left unconsumed). Name the outputs to compute.");
            _defaultFetches = Outputs.Select(o => o.Name).ToArray();
        }

        _fused = Options.FuseContractions || Options.CancelTransposes || Options.FoldPadIntoConv ? Rewrite(_graph, _defaultFetches, Options) : null;
        _defaultPlan = PlanFor(_defaultFetches);
        // The plan holds its constants decoded now: the graph's copies of them can go before the first run needs memory.
        if (Options.ReleaseGraphConstants) ReleaseGraphConstants(_defaultPlan);
        Inputs = _defaultPlan.Placeholders.Select(i => Placeholders.Spec(_defaultPlan.Graph.Nodes[i], Placeholders.Producer(graph))).ToList();
    }

    /// <summary>Reads a frozen .pb / .pbtxt (or anything ModelReader understands) and plans it.</summary>
    public static GraphSession Load(string path, IReadOnlyList<string>? outputs = null, EngineOptions? options = null) =>
        new(ModelReader.ReadGraphDef(path), outputs, options);

    public EngineOptions Options { get; }

    /// <summary>The placeholders the planned outputs depend on (PlaceholderWithDefault included; feeding it is optional).</summary>
    public IReadOnlyList<TensorSpec> Inputs { get; }

    /// <summary>The outputs computed when Run is given no fetches.</summary>
    public IReadOnlyList<TensorSpec> Outputs { get; }

    /// <summary>The graph being run (with <see cref="EngineOptions.ReleaseGraphConstants"/>, without the values it released).</summary>
    public GraphDef Graph => _graph.Def;

    /// <summary>
    /// Runs the graph. Feed and fetch names are "node" or "node:i"; the result is keyed by the fetch
    /// names exactly as given. Fetches default to <see cref="Outputs"/>.
    /// </summary>
    public IReadOnlyDictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyList<string>? fetches = null)
    {
        ObjectDisposedCheck();
        ArgumentNullException.ThrowIfNull(feeds);
        string[] names = fetches is { Count: > 0 } ? fetches.ToArray() : _defaultFetches;
        ExecutionPlan plan;
        lock (_plans) plan = names == _defaultFetches ? _defaultPlan : PlanFor(names);
        var fed = BindFeeds(feeds, plan.Graph);
        lock (plan)
        {
            var values = plan.Execute(fed);
            var result = new Dictionary<string, Tensor>(names.Length, StringComparer.Ordinal);
            for (int i = 0; i < names.Length; i++) result[names[i]] = values[i];
            return result;
        }
    }

    /// <summary>Runs with one feed per input, in the order of <see cref="Inputs"/>.</summary>
    public IReadOnlyDictionary<string, Tensor> Run(params Tensor[] inputs)
    {
        if (inputs.Length != Inputs.Count(i => !IsOptional(i.Name)))
            throw new ModelOpsException(EngineErrorIds.MissingInput, ErrorKind.InvalidArgument,
                $"The model takes {Inputs.Count} input(s) ({string.Join(", ", Inputs)}) but {inputs.Length} were given.");
        var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int i = 0; i < inputs.Length; i++) feeds[Inputs[i].Name] = inputs[i];
        return Run(feeds);
    }

    /// <summary>
    /// Removes from the graph the values of the constants <paramref name="plan"/> holds (EngineOptions.ReleaseGraphConstants):
    /// each keeps its dtype and shape, so the graph still describes the model; the element bytes can be collected.
    /// </summary>
    private void ReleaseGraphConstants(ExecutionPlan plan)
    {
        lock (_plans)
        {
            foreach (var node in plan.ConstantNodes)
            {
                if (!node.Attr.TryGetValue("value", out var v) || v.Tensor is not { } t) continue;
                node.Attr["value"] = new AttrValue { Tensor = new TensorProto { Dtype = t.Dtype, TensorShape = t.TensorShape } };
                _releasedConstants.Add(node);
            }
        }
    }

    /// <summary>The buffer pool of the plan for the default outputs (tests).</summary>
    internal BufferPool DefaultPool => _defaultPlan.Pool;

    /// <summary>The plan for the default outputs (tests).</summary>
    internal ExecutionPlan DefaultPlan => _defaultPlan;

    /// <summary>The plan a run with these fetches uses (made now when it is new; tests).</summary>
    internal ExecutionPlan PlanOf(params string[] fetches)
    {
        lock (_plans) return PlanFor(fetches);
    }

    public void Dispose()
    {
        _disposed = true;
        lock (_plans) _plans.Clear();
    }

    private void ObjectDisposedCheck()
    {
        if (_disposed)
            throw new ModelOpsException(EngineErrorIds.SessionDisposed, ErrorKind.InvalidOperation, "This GraphSession was disposed. Create a new one to run the model.");
    }

    private bool IsOptional(string name) => _graph.Find(name)?.Op == "PlaceholderWithDefault";

    private ExecutionPlan PlanFor(string[] fetches)
    {
        string key = string.Join("\n", fetches.Select(f => TensorName.Parse(f).Tensor));
        if (_plans.TryGetValue(key, out var plan)) return plan;
        // The fused copy serves every fetch it still has (a fused node keeps the name of the pattern's last node,
        // so it produces that node's value); a fetch of a node folded away is planned on the graph as given.
        bool fused = _fused is not null && fetches.All(f => TensorName.Parse(f).Node is { } n && _fused.Find(n) is not null);
        plan = fused
            ? new ExecutionPlan(_fused!, fetches, _kernels, Options, _fusedConstants, _releasedConstants)
            : new ExecutionPlan(_graph, fetches, _kernels, Options, _constants, _releasedConstants);
        _plans[key] = plan;
        return plan;
    }

    /// <summary>
    /// The graph with layout transposes cancelled and contractions + bias add + activation fused, as the options
    /// ask (placeholders and <paramref name="fetches"/> kept), or null when nothing changed.
    /// </summary>
    private static TfGraph? Rewrite(TfGraph graph, string[] fetches, EngineOptions options)
    {
        var inputs = graph.Def.Node.Where(n => IsPlaceholder(n.Op)).Select(n => n.Name).ToList();
        var notes = new List<string>();
        GraphDef rewritten = graph.Def;
        try
        {
            // Transposes first: an activation that moves next to its convolution can then fuse into it.
            if (options.CancelTransposes)
                rewritten = new CancelTransposesPass().Apply(rewritten, new PassContext(inputs, fetches, notes: notes));
            if (options.FoldPadIntoConv)
                rewritten = new FoldPadIntoConvPass().Apply(rewritten, new PassContext(inputs, fetches, notes: notes));
            if (options.FuseContractions)
                rewritten = new FuseContractionsPass().Apply(rewritten, new PassContext(inputs, fetches,
                    new PassArgs(new[] { KeyValuePair.Create("residual", "true") }), notes));
        }
        catch (ModelOpsException)
        {
            return null; // the rewrite is an optimization: a graph it cannot read runs as given (planning reports real problems)
        }
        if (rewritten.Node.Count == graph.Def.Node.Count && notes.Count == 0) return null;
        ShareUnchangedNodes(rewritten, graph);
        return new TfGraph(rewritten);
    }

    /// <summary>
    /// Puts the given graph's own NodeDef in place of every rewritten node equal to it (the passes work on copies):
    /// the session then holds one copy of the nodes the rewrite left alone, not two (half a megabyte of names and
    /// attributes on the small corpus models). Nodes are not modified after planning, except by
    /// <see cref="ReleaseGraphConstants"/>, which then clears a shared Const in both graphs at once (as it should).
    /// </summary>
    private static void ShareUnchangedNodes(GraphDef rewritten, TfGraph original)
    {
        for (int i = 0; i < rewritten.Node.Count; i++)
            if (original.Find(rewritten.Node[i].Name) is { } given && !ReferenceEquals(given, rewritten.Node[i]) && given.Equals(rewritten.Node[i]))
                rewritten.Node[i] = given;
    }

    /// <summary>Resolves and validates feeds: node index → tensor.</summary>
    private Dictionary<int, Tensor> BindFeeds(IReadOnlyDictionary<string, Tensor> feeds, TfGraph graph)
    {
        var bound = new Dictionary<int, Tensor>(feeds.Count);
        foreach (var (name, value) in feeds)
        {
            if (value is null)
                throw new ModelOpsException(EngineErrorIds.UnknownInput, ErrorKind.InvalidArgument, $"The value fed to '{name}' is null.", name);
            var tn = string.IsNullOrEmpty(name) ? default : TensorName.Parse(name);
            int idx = tn.Node is null || tn.IsControl ? -1 : graph.IndexOf(tn.Node);
            if (idx < 0 || tn.Index != 0 || !IsPlaceholder(graph.Nodes[idx].Op))
            {
                string real = Inputs.Count == 0 ? "none" : string.Join(", ", Inputs.Select(i => i.ToString()));
                string what = idx >= 0 && !IsPlaceholder(graph.Nodes[idx].Op)
                    ? $"'{name}' is a {graph.Nodes[idx].Op} node, not an input of the model."
                    : $"The model has no input named '{name}'.";
                throw new ModelOpsException(EngineErrorIds.UnknownInput, ErrorKind.InvalidArgument,
                    $"{what} Its inputs are: {real}.", name);
            }
            var node = graph.Nodes[idx];
            DataType expected = node.Attr.TryGetValue("dtype", out var dt) ? dt.Type.Base() : DataType.DtInvalid;
            if (expected != DataType.DtInvalid && value.DType != expected)
                throw new ModelOpsException(EngineErrorIds.InputDTypeMismatch, ErrorKind.InvalidArgument,
                    $"Input '{node.Name}' expects {expected.Name()} but got {value.DType.Name()}. Convert the value (for example with a typed array) before feeding it.", name);
            long[]? shape = Placeholders.DeclaredShape(node, Placeholders.Producer(graph.Def));
            if (shape is not null && !ShapeFits(shape, value.Shape))
                throw new ModelOpsException(EngineErrorIds.InputShapeMismatch, ErrorKind.InvalidArgument,
                    $"Input '{node.Name}' expects shape {Tensor.FormatShape(shape)} but got {Tensor.FormatShape(value.Shape)}.", name);
            bound[idx] = value;
        }
        return bound;
    }

    internal static bool IsPlaceholder(string op) => Placeholders.Is(op);

    private static bool ShapeFits(long[] declared, int[] actual)
    {
        if (declared.Length != actual.Length) return false;
        for (int i = 0; i < declared.Length; i++)
            if (declared[i] >= 0 && declared[i] != actual[i]) return false;
        return true;
    }

    private TensorSpec SpecOf(string name)
    {
        var tn = TensorName.Parse(name);
        var node = _graph.Find(tn.Node) ?? throw _graph.NotFound(name, "output node");
        long[]? shape = node.Attr.TryGetValue("_output_shapes", out var v) && v.List is { } l && l.Shape.Count > tn.Index
            ? TensorProtoCodec.ToPartialShape(l.Shape[tn.Index]) : null;
        string dtype = node.Op == "Const" || IsPlaceholder(node.Op) || tn.Index == 0 ? ModelInspector.OutputDType(node) : "?";
        return new TensorSpec(name, dtype, shape);
    }

    /// <summary>Ops in the graph (or the part the outputs need) that have no kernel, with counts.</summary>
    internal static string FormatOpCounts(IEnumerable<KeyValuePair<string, int>> counts) =>
        string.Join(", ", counts.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => string.Create(CultureInfo.InvariantCulture, $"{kv.Key} ({kv.Value})")));
}
