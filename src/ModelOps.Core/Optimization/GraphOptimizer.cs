using System.Diagnostics;
using Google.Protobuf;
using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Inspection;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Optimization;

/// <summary>What one pass did: nodes removed and added (by name and op), serialized bytes saved, time, notes.</summary>
public sealed class PassReport
{
    public required string Name { get; init; }
    public string Arguments { get; init; } = "";
    public int NodesBefore { get; init; }
    public int NodesAfter { get; init; }
    public int NodesRemoved { get; init; }
    public int NodesAdded { get; init; }
    public long BytesBefore { get; init; }
    public long BytesAfter { get; init; }
    public long BytesSaved => BytesBefore - BytesAfter;
    public TimeSpan Elapsed { get; init; }
    public IReadOnlyList<string> Notes { get; init; } = Array.Empty<string>();

    public override string ToString() => $"{Name}: -{NodesRemoved} +{NodesAdded} nodes, {BytesSaved} bytes saved";
}

/// <summary>The optimized graph and what each pass did.</summary>
public sealed class OptimizationResult
{
    public required GraphDef Graph { get; init; }
    public required IReadOnlyList<string> Inputs { get; init; }
    public required IReadOnlyList<string> Outputs { get; init; }
    public required IReadOnlyList<PassReport> Passes { get; init; }
    public TimeSpan Elapsed { get; init; }
}

/// <summary>
/// Runs a list of passes over a graph: resolves and checks the inputs and outputs, refuses graphs that are
/// not frozen, checks the graph after every pass (unique names, no dangling inputs) and records per pass
/// the nodes removed/added and bytes saved.
/// </summary>
public static class GraphOptimizer
{
    private static readonly HashSet<string> VariableOps = new(StringComparer.Ordinal)
    { "Variable", "VariableV2", "VarHandleOp", "AutoReloadVariable", "_VarHandlesOp", "ReadVariableOp", "ResourceGather" };

    public static OptimizationResult Optimize(GraphDef graph, IReadOnlyList<TransformStep> steps, IReadOnlyList<string>? inputs = null, IReadOnlyList<string>? outputs = null)
    {
        var total = Stopwatch.StartNew();
        var (ins, outs) = ResolveEndpoints(graph, inputs, outputs);
        var reports = new List<PassReport>();
        var current = graph;
        foreach (var step in steps)
        {
            var ctx = new PassContext(ins, outs, step.Args);
            var sw = Stopwatch.StartNew();
            var next = step.Pass.Apply(current, ctx);
            sw.Stop();
            if (ReferenceEquals(next, current)) next = current.Clone();
            DropDanglingColocation(next);
            CheckValid(next, step, outs);
            reports.Add(Compare(step, current, next, sw.Elapsed, ctx.Notes));
            current = next;
        }
        // Inputs a pass made unused (dropout's keep_prob, the learning phase) are no longer inputs.
        var live = new TfGraph(current).AncestorsOf(outs.Select(o => TensorName.Parse(o).Node));
        var g = new TfGraph(current);
        var finalInputs = ins.Where(i => g.IndexOf(i) is int k && k >= 0 && live.Contains(k)).ToList();
        return new OptimizationResult { Graph = current, Inputs = finalInputs, Outputs = outs, Passes = reports, Elapsed = total.Elapsed };
    }

    /// <summary>
    /// Checks user-given input and output names (node names; "node:0" accepted) against the graph, fills in
    /// the defaults (placeholders the outputs need; the graph's natural outputs), and refuses a graph whose
    /// outputs depend on variables.
    /// </summary>
    public static (IReadOnlyList<string> Inputs, IReadOnlyList<string> Outputs) ResolveEndpoints(GraphDef graph, IReadOnlyList<string>? inputs, IReadOnlyList<string>? outputs)
    {
        var g = new TfGraph(graph);
        List<string> outs;
        if (outputs is { Count: > 0 })
        {
            outs = new List<string>();
            foreach (var o in outputs.SelectMany(SplitList))
            {
                var tn = TensorName.Parse(o);
                if (tn.IsControl || !g.Contains(tn.Node))
                    throw Missing(g, o, OptimizationErrorIds.OutputNotFound, "output");
                outs.Add(tn.Index == 0 ? tn.Node : tn.ToString());
            }
        }
        else
        {
            outs = ModelInspector.GuessOutputs(graph).Select(s => s.Name).ToList();
            if (outs.Count == 0)
                throw new ModelOpsException(OptimizationErrorIds.NoOutputs, ErrorKind.InvalidArgument,
                    "The graph has no natural outputs (every node is consumed or is plumbing). Name them with -OutputNode.");
        }
        outs = outs.Distinct(StringComparer.Ordinal).ToList();

        var needed = g.AncestorsOf(outs.Select(o => TensorName.Parse(o).Node));
        var variables = needed.Select(i => g.Nodes[i]).Where(n => VariableOps.Contains(n.Op)).Select(n => n.Name).ToList();
        if (variables.Count > 0)
            throw new ModelOpsException(OptimizationErrorIds.GraphNotFrozen, ErrorKind.InvalidData,
                $"The graph is not frozen: its outputs read {variables.Count} variable(s) ({string.Join(", ", variables.Take(5))}{(variables.Count > 5 ? ", ..." : "")}). " +
                "Freeze it first with Export-FrozenGraph (variables become constants), then optimize the frozen .pb.", variables[0]);

        List<string> ins;
        if (inputs is { Count: > 0 })
        {
            ins = new List<string>();
            foreach (var i in inputs.SelectMany(SplitList))
            {
                var tn = TensorName.Parse(i);
                if (tn.IsControl || !g.Contains(tn.Node))
                    throw Missing(g, i, OptimizationErrorIds.InputNotFound, "input");
                if (tn.Index != 0)
                    throw new ModelOpsException(OptimizationErrorIds.InputNotFound, ErrorKind.InvalidArgument,
                        $"The input '{i}' names output {tn.Index} of node '{tn.Node}'; inputs are whole nodes (output 0). Name the node '{tn.Node}' or one that produces the tensor.", i);
                ins.Add(tn.Node);
            }
        }
        else
        {
            // The learning phase is not an input of an inference graph: placeholders_to_constants sets it.
            ins = needed.OrderBy(i => i).Select(i => g.Nodes[i])
                .Where(n => n.Op is "Placeholder" or "PlaceholderV2" && !Passes.PlaceholdersToConstantsPass.IsLearningPhase(n))
                .Select(n => n.Name).ToList();
        }
        return (ins.Distinct(StringComparer.Ordinal).ToList(), outs);
    }

    /// <summary>
    /// Removes colocation constraints ("_class": "loc:@node") that name nodes a pass removed: TF refuses to
    /// import a graph whose node asks to be colocated with an unknown node.
    /// </summary>
    public static void DropDanglingColocation(GraphDef g)
    {
        HashSet<string>? names = null;
        foreach (var n in g.Node)
        {
            if (!n.Attr.TryGetValue("_class", out var cls) || cls.List is null || cls.List.S.Count == 0) continue;
            names ??= new HashSet<string>(g.Node.Select(x => x.Name), StringComparer.Ordinal);
            var keep = cls.List.S.Where(s => { var t = s.ToStringUtf8(); return !t.StartsWith("loc:@", StringComparison.Ordinal) || names.Contains(t[5..]); }).ToList();
            if (keep.Count == cls.List.S.Count) continue;
            if (keep.Count == 0) n.Attr.Remove("_class");
            else { cls.List.S.Clear(); cls.List.S.AddRange(keep); }
        }
    }

    private static IEnumerable<string> SplitList(string s) => s.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    private static ModelOpsException Missing(TfGraph g, string name, string id, string what)
    {
        var near = g.Suggest(name, 5);
        string hint = near.Count > 0 ? $" Did you mean: {string.Join(", ", near)}?" : "";
        return new ModelOpsException(id, ErrorKind.ObjectNotFound,
            $"The {what} node '{name}' is not in the graph.{hint} Names are node names (a tensor name 'node:0' is accepted).", name);
    }

    private static void CheckValid(GraphDef g, TransformStep step, IReadOnlyList<string> outputs)
    {
        TfGraph view;
        try { view = new TfGraph(g); }
        catch (ModelOpsException ex)
        {
            throw new InvalidOperationException($"The pass '{step}' produced an invalid graph: {ex.Message}", ex);
        }
        var dangling = view.DanglingInputs().FirstOrDefault();
        if (dangling.Node is not null)
            throw new InvalidOperationException($"The pass '{step}' produced an invalid graph: node '{dangling.Node.Name}' reads '{dangling.Input}', which no longer exists.");
        foreach (var o in outputs)
            if (!view.Contains(TensorName.Parse(o).Node))
                throw new InvalidOperationException($"The pass '{step}' removed the output node '{o}'.");
    }

    private static PassReport Compare(TransformStep step, GraphDef before, GraphDef after, TimeSpan elapsed, IReadOnlyList<string> notes)
    {
        var a = new HashSet<string>(before.Node.Select(n => n.Name + "\0" + n.Op), StringComparer.Ordinal);
        var b = new HashSet<string>(after.Node.Select(n => n.Name + "\0" + n.Op), StringComparer.Ordinal);
        return new PassReport
        {
            Name = step.Pass.Name,
            Arguments = step.Args.ToString(),
            NodesBefore = before.Node.Count,
            NodesAfter = after.Node.Count,
            NodesRemoved = a.Count(x => !b.Contains(x)),
            NodesAdded = b.Count(x => !a.Contains(x)),
            BytesBefore = before.CalculateSize(),
            BytesAfter = after.CalculateSize(),
            Elapsed = elapsed,
            Notes = notes.ToList(),
        };
    }

    /// <summary>Op type → count, most frequent first.</summary>
    public static IReadOnlyDictionary<string, int> OpHistogram(GraphDef g) =>
        g.Node.GroupBy(n => n.Op).OrderByDescending(x => x.Count()).ThenBy(x => x.Key, StringComparer.Ordinal).ToDictionary(x => x.Key, x => x.Count());
}
