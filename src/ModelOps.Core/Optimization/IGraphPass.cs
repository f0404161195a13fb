using System.Globalization;
using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Optimization;

/// <summary>
/// One graph rewrite: a plain GraphDef → GraphDef function. A pass never changes the graph it is given
/// (it works on a copy) and must keep every output of <see cref="PassContext.Outputs"/> computing the same
/// values. Passes that cannot prove a rewrite safe (control flow, shared nodes, control edges) skip it.
/// </summary>
public interface IGraphPass
{
    /// <summary>The name used in transform lists (Graph Transform Tool spelling: lower_snake_case).</summary>
    string Name { get; }

    /// <summary>One sentence: what the pass does.</summary>
    string Description { get; }

    /// <summary>The arguments the pass accepts; any other argument name is an error.</summary>
    IReadOnlyList<PassArgument> Arguments { get; }

    GraphDef Apply(GraphDef graph, PassContext context);
}

/// <summary>The kind of value an argument takes; values are checked when the transform list is parsed.</summary>
public enum PassArgumentKind
{
    String,
    Bool,
    Int,
    Float,
    DataType,
    Shape,
}

/// <summary>An argument a pass accepts, with its type, default and meaning.</summary>
public sealed record PassArgument(string Name, PassArgumentKind Kind, string Description, string? Default = null, bool Repeatable = false)
{
    public override string ToString() => Default is null ? $"{Name} ({Kind.ToString().ToLowerInvariant()})" : $"{Name} ({Kind.ToString().ToLowerInvariant()}, default {Default})";
}

/// <summary>The argument values given to one pass (name → values in the order given; repeatable names may have several).</summary>
public sealed class PassArgs
{
    private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);

    public static PassArgs Empty { get; } = new();

    public PassArgs() { }

    public PassArgs(IEnumerable<KeyValuePair<string, string>> values)
    {
        foreach (var (k, v) in values) Add(k, v);
    }

    internal void Add(string name, string value)
    {
        if (!_values.TryGetValue(name, out var list)) _values[name] = list = new List<string>();
        list.Add(value);
    }

    public IReadOnlyCollection<string> Names => _values.Keys;

    public bool Has(string name) => _values.ContainsKey(name);

    public IReadOnlyList<string> All(string name) => _values.TryGetValue(name, out var l) ? l : Array.Empty<string>();

    public string? String(string name) => _values.TryGetValue(name, out var l) ? l[^1] : null;

    public bool Bool(string name, bool fallback) => String(name) is { } s ? ParseBool(s, name) : fallback;

    public long Int(string name, long fallback) => String(name) is { } s ? ParseInt(s, name) : fallback;

    public double Float(string name, double fallback) => String(name) is { } s ? ParseFloat(s, name) : fallback;

    public DataType? DType(string name) => String(name) is { } s ? DataTypes.Parse(s) : null;

    public override string ToString() =>
        string.Join(", ", _values.SelectMany(kv => kv.Value.Select(v => $"{kv.Key}={(v.Contains(',') || v.Contains(' ') ? "\"" + v + "\"" : v)}")));

    internal static bool ParseBool(string s, string name) => s.Trim().ToLowerInvariant() switch
    {
        "true" or "1" or "yes" => true,
        "false" or "0" or "no" => false,
        _ => throw Invalid(name, s, "true or false"),
    };

    internal static long ParseInt(string s, string name) =>
        long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long v) ? v : throw Invalid(name, s, "an integer");

    internal static double ParseFloat(string s, string name) =>
        double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) ? v : throw Invalid(name, s, "a number");

    /// <summary>"1,224,224,3", "[?,224,224,3]" or "-1,28,28" → dims (-1 unknown); "" or "[]" → scalar.</summary>
    public static long[] ParseShape(string s, string name = "shape")
    {
        string t = s.Trim().TrimStart('[', '(').TrimEnd(']', ')').Trim();
        if (t.Length == 0) return Array.Empty<long>();
        return t.Split(',').Select(p => p.Trim()).Select(p => p is "?" or "-1" or "None" or "none" ? -1L :
            long.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out long d) && d >= 0 ? d : throw Invalid(name, s, "a shape such as 1,224,224,3 (? or -1 for an unknown dimension)")).ToArray();
    }

    internal static ModelOpsException Invalid(string name, string value, string expected) =>
        new(OptimizationErrorIds.InvalidTransformArgument, ErrorKind.InvalidArgument,
            $"The value '{value}' of argument '{name}' is not valid: expected {expected}.", name);
}

/// <summary>What a pass is told besides the graph: the model's inputs and outputs, its arguments, and where to note what it skipped.</summary>
public sealed class PassContext
{
    private readonly List<string> _notes;

    public PassContext(IReadOnlyList<string> inputs, IReadOnlyList<string> outputs, PassArgs? args = null, List<string>? notes = null)
    {
        Inputs = inputs;
        Outputs = outputs;
        Args = args ?? PassArgs.Empty;
        _notes = notes ?? new List<string>();
        var prot = new HashSet<string>(StringComparer.Ordinal);
        foreach (var n in inputs) prot.Add(TensorName.Parse(n).Node);
        foreach (var n in outputs) prot.Add(TensorName.Parse(n).Node);
        Protected = prot;
    }

    /// <summary>Input node names (placeholders or nodes the user cuts the graph at).</summary>
    public IReadOnlyList<string> Inputs { get; }

    /// <summary>Output names ("node" or "node:i") whose values every pass keeps.</summary>
    public IReadOnlyList<string> Outputs { get; }

    public PassArgs Args { get; }

    /// <summary>Node names no pass may remove or rename: the inputs and the output nodes.</summary>
    public IReadOnlySet<string> Protected { get; }

    /// <summary>Things the pass chose not to do, and why (shown in the report).</summary>
    public IReadOnlyList<string> Notes => _notes;

    public void Note(string message) => _notes.Add(message);

    /// <summary>The same inputs and outputs with other arguments and a fresh list of notes.</summary>
    public PassContext With(PassArgs args) => new(Inputs, Outputs, args);
}

/// <summary>Stable error ids of the optimizer.</summary>
public static class OptimizationErrorIds
{
    public const string GraphNotFrozen = "GraphNotFrozen";
    public const string UnknownTransform = "UnknownTransform";
    public const string UnknownTransformArgument = "UnknownTransformArgument";
    public const string InvalidTransformArgument = "InvalidTransformArgument";
    public const string TransformSyntax = "TransformSyntax";
    public const string InputNotFound = "InputNodeNotFound";
    public const string OutputNotFound = "OutputNodeNotFound";
    public const string VerificationFailed = "VerificationFailed";
    public const string VerificationInputInvalid = "VerificationInputInvalid";
    public const string NoOutputs = "NoOutputs";
}
