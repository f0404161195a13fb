namespace ModelOps.Core.Optimization;

/// <summary>What Optimize-TfGraph emits: the graph before and after, what each pass did, and the verification.</summary>
public sealed class OptimizationReport
{
    /// <summary>The optimized graph file (what the next cmdlet in a pipeline reads); not yet written when <see cref="Written"/> is false.</summary>
    public required string Path { get; init; }
    /// <summary>The graph that was optimized.</summary>
    public required string SourcePath { get; init; }
    /// <summary>False under -WhatIf (or when nothing was written).</summary>
    public bool Written { get; init; }
    public IReadOnlyList<string> Transforms { get; init; } = Array.Empty<string>();
    public IReadOnlyList<string> Inputs { get; init; } = Array.Empty<string>();
    public IReadOnlyList<string> Outputs { get; init; } = Array.Empty<string>();
    public int NodesBefore { get; init; }
    public int NodesAfter { get; init; }
    /// <summary>Bytes of the input file, and of the optimized graph as written.</summary>
    public long SizeBefore { get; init; }
    public long SizeAfter { get; init; }
    public IReadOnlyDictionary<string, int> OpsBefore { get; init; } = new Dictionary<string, int>();
    public IReadOnlyDictionary<string, int> OpsAfter { get; init; } = new Dictionary<string, int>();
    public IReadOnlyList<PassReport> Passes { get; init; } = Array.Empty<PassReport>();
    public VerificationResult? Verification { get; init; }
    public TimeSpan Elapsed { get; init; }

    /// <summary>Op count changes, e.g. "Conv2D -12, FusedBatchNormV3 -12, _FusedConv2D +12".</summary>
    public string OpChanges => string.Join(", ", OpsBefore.Keys.Union(OpsAfter.Keys)
        .Select(k => (k, d: OpsAfter.GetValueOrDefault(k) - OpsBefore.GetValueOrDefault(k))).Where(p => p.d != 0)
        .OrderBy(p => p.d).ThenBy(p => p.k, StringComparer.Ordinal).Select(p => $"{p.k} {(p.d > 0 ? "+" : "")}{p.d}"));

    public string VerificationSummary => Verification is null ? "skipped" : Verification.Passed ? $"passed (max diff {Verification.MaxAbsDiff:G3})" : "FAILED";

    public override string ToString() => $"{System.IO.Path.GetFileName(Path)}: {NodesBefore} → {NodesAfter} nodes, {SizeBefore} → {SizeAfter} bytes, verification {VerificationSummary}";
}
