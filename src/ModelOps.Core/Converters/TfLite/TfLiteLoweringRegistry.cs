using ModelOps.Core.Ops;

namespace ModelOps.Core.Converters.TfLite;

/// <summary>
/// Lowers one TF node to TFLite: reads ctx inputs/attributes, emits builtin ops and binds every TF
/// output (ctx.SetOutput / ctx.SetConstant). A lowering that sees all-constant inputs may fold them.
/// </summary>
public delegate void TfLiteLowering(TfLiteLoweringContext ctx);

/// <summary>TF op name → TFLite lowering. Each op family registers its own in <see cref="OpFamily.RegisterTfLite"/>.</summary>
public sealed class TfLiteLoweringRegistry
{
    private readonly Dictionary<string, TfLiteLowering> _lowerings = new(StringComparer.Ordinal);

    public void Add(string op, TfLiteLowering lowering)
    {
        if (!_lowerings.TryAdd(op, lowering))
            throw new InvalidOperationException($"Two TFLite lowerings are registered for op '{op}'.");
    }

    public void Add(IEnumerable<string> ops, TfLiteLowering lowering)
    {
        foreach (var op in ops) Add(op, lowering);
    }

    public bool TryGet(string op, out TfLiteLowering lowering) => _lowerings.TryGetValue(op, out lowering!);

    public bool Contains(string op) => _lowerings.ContainsKey(op);

    public IReadOnlyCollection<string> Ops => _lowerings.Keys;

    private static readonly Lazy<TfLiteLoweringRegistry> _default = new(() =>
    {
        var r = new TfLiteLoweringRegistry();
        foreach (var f in OpRegistry.Families) f.RegisterTfLite(r);
        return r;
    });

    /// <summary>Every lowering of every op family in this assembly.</summary>
    public static TfLiteLoweringRegistry Default => _default.Value;
}
