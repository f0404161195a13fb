using System.Text;
using ModelOps.Core.Errors;
using ModelOps.Core.Optimization.Passes;

namespace ModelOps.Core.Optimization;

/// <summary>A pass with the argument values it is to run with, as parsed from one transform entry.</summary>
public sealed record TransformStep(IGraphPass Pass, PassArgs Args)
{
    public override string ToString() => Args.Names.Count == 0 ? Pass.Name : $"{Pass.Name}({Args})";
}

/// <summary>
/// The passes by name, and the parser for Graph-Transform-Tool-style transform lists:
/// <c>strip_unused_nodes fold_constants(max_bytes=1048576) remove_device</c>, entries separated by
/// spaces or commas; argument values may be quoted ("1,224,224,3") and repeated (name=a, name=b).
/// </summary>
public sealed class TransformRegistry
{
    private readonly Dictionary<string, IGraphPass> _passes = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The name that expands to <see cref="DefaultTransforms"/> inside a list.</summary>
    public const string DefaultSetName = "default";

    public TransformRegistry(IEnumerable<IGraphPass> passes)
    {
        foreach (var p in passes)
            if (!_passes.TryAdd(p.Name, p)) throw new InvalidOperationException($"Two passes are named '{p.Name}'.");
    }

    /// <summary>Every built-in pass.</summary>
    public static TransformRegistry BuiltIn { get; } = new(new IGraphPass[]
    {
        new StripUnusedNodesPass(),
        new RemoveTrainingNodesPass(),
        new RemoveDropoutPass(),
        new PlaceholdersToConstantsPass(),
        new FoldConstantsPass(),
        new FoldBatchNormsPass(),
        new FuseContractionsPass(),
        new CancelTransposesPass(),
        new FoldPadIntoConvPass(),
        new MergeDuplicateNodesPass(),
        new RemoveDevicePass(),
        new SortByExecutionOrderPass(),
    });

    /// <summary>
    /// The default list: what TF's optimize_for_inference does (placeholder → const for the learning phase,
    /// strip unused, remove training nodes, fold batch norms) plus dropout removal, constant folding,
    /// grappler-style fusion, de-duplication and a final prune and sort.
    /// </summary>
    public static IReadOnlyList<string> DefaultTransforms { get; } = new[]
    {
        "placeholders_to_constants", "strip_unused_nodes", "remove_dropout", "remove_training_nodes",
        "fold_constants", "fold_batch_norms", "fuse_contractions", "merge_duplicate_nodes",
        "strip_unused_nodes", "sort_by_execution_order",
    };

    public IReadOnlyCollection<IGraphPass> Passes => _passes.Values;

    public IEnumerable<string> Names => _passes.Keys.OrderBy(k => k, StringComparer.Ordinal);

    public IGraphPass Get(string name) =>
        _passes.TryGetValue(name, out var p) ? p : throw new ModelOpsException(OptimizationErrorIds.UnknownTransform, ErrorKind.InvalidArgument,
            $"'{name}' is not a known transform. Valid transforms: {string.Join(", ", Names)} (or '{DefaultSetName}' for the default list).", name);

    /// <summary>Parses transform entries (each may hold several, separated by spaces or commas); "default" expands to the default list.</summary>
    public IReadOnlyList<TransformStep> Parse(IEnumerable<string> entries)
    {
        var steps = new List<TransformStep>();
        foreach (var entry in entries)
            foreach (var (name, args) in Split(entry))
            {
                if (name.Equals(DefaultSetName, StringComparison.OrdinalIgnoreCase))
                {
                    if (args.Count > 0) throw Syntax(entry, $"'{DefaultSetName}' takes no arguments");
                    steps.AddRange(Parse(DefaultTransforms));
                    continue;
                }
                var pass = Get(name);
                steps.Add(new TransformStep(pass, Validate(pass, args)));
            }
        return steps;
    }

    public IReadOnlyList<TransformStep> Parse(string text) => Parse(new[] { text });

    private static PassArgs Validate(IGraphPass pass, List<KeyValuePair<string, string>> args)
    {
        var result = new PassArgs();
        foreach (var (key, value) in args)
        {
            var spec = pass.Arguments.FirstOrDefault(a => a.Name.Equals(key, StringComparison.OrdinalIgnoreCase));
            if (spec is null)
            {
                string valid = pass.Arguments.Count == 0 ? "it takes no arguments" : "valid arguments: " + string.Join(", ", pass.Arguments);
                throw new ModelOpsException(OptimizationErrorIds.UnknownTransformArgument, ErrorKind.InvalidArgument,
                    $"The transform '{pass.Name}' has no argument '{key}'; {valid}.", key);
            }
            if (!spec.Repeatable && result.Has(spec.Name))
                throw new ModelOpsException(OptimizationErrorIds.InvalidTransformArgument, ErrorKind.InvalidArgument,
                    $"The argument '{spec.Name}' of '{pass.Name}' was given twice; it takes one value.", key);
            switch (spec.Kind)
            {
                case PassArgumentKind.Bool: PassArgs.ParseBool(value, spec.Name); break;
                case PassArgumentKind.Int: PassArgs.ParseInt(value, spec.Name); break;
                case PassArgumentKind.Float: PassArgs.ParseFloat(value, spec.Name); break;
                case PassArgumentKind.DataType:
                    try { Tensors.DataTypes.Parse(value); }
                    catch (ModelOpsException ex)
                    {
                        throw new ModelOpsException(OptimizationErrorIds.InvalidTransformArgument, ErrorKind.InvalidArgument,
                            $"The argument '{spec.Name}' of '{pass.Name}': {ex.Message}", key, ex);
                    }
                    break;
                case PassArgumentKind.Shape: PassArgs.ParseShape(value, spec.Name); break;
            }
            result.Add(spec.Name, value);
        }
        return result;
    }

    /// <summary>Splits "a b(x=1, y=\"2,3\"), c" into (name, args) entries.</summary>
    internal static List<(string Name, List<KeyValuePair<string, string>> Args)> Split(string text)
    {
        var result = new List<(string, List<KeyValuePair<string, string>>)>();
        int i = 0;
        while (true)
        {
            while (i < text.Length && (char.IsWhiteSpace(text[i]) || text[i] == ',')) i++;
            if (i >= text.Length) break;
            int start = i;
            while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] == '_')) i++;
            if (i == start) throw Syntax(text, $"expected a transform name at position {i + 1}, found '{text[i]}'");
            string name = text[start..i];
            var args = new List<KeyValuePair<string, string>>();
            while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
            if (i < text.Length && text[i] == '(')
            {
                i++;
                while (true)
                {
                    while (i < text.Length && (char.IsWhiteSpace(text[i]) || text[i] == ',')) i++;
                    if (i >= text.Length) throw Syntax(text, $"'(' after '{name}' is never closed");
                    if (text[i] == ')') { i++; break; }
                    int ks = i;
                    while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] == '_')) i++;
                    string key = text[ks..i];
                    while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
                    if (key.Length == 0 || i >= text.Length || text[i] != '=')
                        throw Syntax(text, $"expected 'argument=value' inside the parentheses of '{name}' at position {i + 1}");
                    i++;
                    while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
                    var value = new StringBuilder();
                    if (i < text.Length && text[i] is '"' or '\'')
                    {
                        char q = text[i++];
                        while (i < text.Length && text[i] != q) value.Append(text[i++]);
                        if (i >= text.Length) throw Syntax(text, $"a quoted value of '{key}' is never closed");
                        i++;
                    }
                    else if (i < text.Length && text[i] == '[')
                    {
                        while (i < text.Length && text[i] != ']') value.Append(text[i++]);
                        if (i >= text.Length) throw Syntax(text, $"'[' in the value of '{key}' is never closed");
                        value.Append(text[i++]);
                    }
                    else
                    {
                        while (i < text.Length && text[i] != ',' && text[i] != ')' && !char.IsWhiteSpace(text[i])) value.Append(text[i++]);
                    }
                    args.Add(new KeyValuePair<string, string>(key, value.ToString()));
                }
            }
            else if (i < text.Length && !(char.IsWhiteSpace(text[i]) || text[i] == ',') && !(i > 0 && char.IsWhiteSpace(text[i - 1]) && (char.IsLetter(text[i]) || text[i] == '_')))
            {
                throw Syntax(text, $"unexpected '{text[i]}' after '{name}' at position {i + 1}");
            }
            result.Add((name, args));
        }
        return result;
    }

    private static ModelOpsException Syntax(string text, string what) =>
        new(OptimizationErrorIds.TransformSyntax, ErrorKind.InvalidArgument,
            $"The transform list '{text}' cannot be read: {what}. Write transforms as name or name(arg=value, arg2=value).", text);
}
