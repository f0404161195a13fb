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
    /// <summary>Called as variables are read: (variable, bytes so far, total bytes).</summary>
    public Action<string, long, long>? Progress { get; init; }
}

/// <summary>A frozen graph in memory, before it is written.</summary>
public sealed class FreezeResult
{
    public required GraphDef Graph { get; init; }
    public required string SourceFormat { get; init; }
    public required IReadOnlyList<TensorSpec> Inputs { get; init; }
    public required IReadOnlyList<TensorSpec> Outputs { get; init; }
    public int VariablesFrozen { get; init; }
    public long ParameterCount { get; init; }
    /// <summary>Bytes of variable values turned into constants.</summary>
    public long WeightBytes { get; init; }
    public int NodeCount => Graph.Node.Count;
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
