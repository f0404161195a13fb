using ModelOps.Core.Inspection;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Freezing;

/// <summary>What to freeze and how (Export-FrozenGraph's parameters).</summary>
public sealed class FreezeOptions
{
    /// <summary>Output node or tensor names ("logits", "logits:0"); empty = the signature's outputs.</summary>
    public IReadOnlyList<string> OutputNodes { get; init; } = Array.Empty<string>();
    /// <summary>Wildcard patterns (*, ?) of variables to freeze; empty = all.</summary>
    public IReadOnlyList<string> IncludeVariables { get; init; } = Array.Empty<string>();
    /// <summary>Wildcard patterns of variables to leave as variables.</summary>
    public IReadOnlyList<string> ExcludeVariables { get; init; } = Array.Empty<string>();
    public bool ClearDevices { get; init; } = true;
    /// <summary>SavedModel tag set to pick (all must match); default {serve}.</summary>
    public IReadOnlyList<string> Tags { get; init; } = new[] { "serve" };
    public string Signature { get; init; } = "serving_default";
    /// <summary>Called as variable values are read or, for values streamed into the output, written: (variable, bytes so far, total bytes).</summary>
    public Action<string, long, long>? Progress { get; init; }
}

/// <summary>
/// A frozen graph before it is written. Large variable values stay in the checkpoint until
/// <see cref="GraphFreezer.Write"/> streams them into the output; reading <see cref="Graph"/> reads them into
/// memory first. Dispose it to close the checkpoint (done once the values are in memory).
/// </summary>
public sealed class FreezeResult : IDisposable
{
    private readonly GraphDef _graph = null!;

    /// <summary>The frozen graph with every value in memory (read from the checkpoint, CRC-checked, on first use).</summary>
    public required GraphDef Graph
    {
        get
        {
            if (Deferred is { } d)
            {
                d.Materialize();
                Deferred = null;
            }
            return _graph;
        }
        init => _graph = value;
    }

    /// <summary>The graph as it is, values not yet read holding only their length.</summary>
    internal GraphDef RawGraph => _graph;
    internal DeferredWeights? Deferred { get; set; }
    public required string SourceFormat { get; init; }
    public required IReadOnlyList<TensorSpec> Inputs { get; init; }
    public required IReadOnlyList<TensorSpec> Outputs { get; init; }
    public int VariablesFrozen { get; init; }
    public long ParameterCount { get; init; }
    /// <summary>Bytes of variable values turned into constants.</summary>
    public long WeightBytes { get; init; }
    public int NodeCount => _graph.Node.Count;

    public void Dispose()
    {
        Deferred?.Dispose();
        Deferred = null;
    }
}

/// <summary>What Export-FrozenGraph emits: one object per frozen model.</summary>
public sealed class FrozenGraphInfo
{
    public required string Path { get; init; }
    public required string SourceFormat { get; init; }
    public required IReadOnlyList<TensorSpec> Inputs { get; init; }
    public required IReadOnlyList<TensorSpec> Outputs { get; init; }
    public int NodeCount { get; init; }
    public int VariablesFrozen { get; init; }
    public long ParameterCount { get; init; }
    /// <summary>Size of the written file.</summary>
    public long Bytes { get; init; }
    public TimeSpan Elapsed { get; init; }

    public override string ToString() => $"{System.IO.Path.GetFileName(Path)} ({NodeCount} nodes, {VariablesFrozen} variables frozen)";
}
