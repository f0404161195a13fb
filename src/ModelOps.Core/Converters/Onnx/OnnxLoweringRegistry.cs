using ModelOps.Core.Ops;

namespace ModelOps.Core.Converters.Onnx;

/// <summary>Writes the ONNX nodes for one TensorFlow node (see <see cref="OnnxLoweringContext"/>).</summary>
public delegate void OnnxLowering(OnnxLoweringContext ctx);

/// <summary>
/// ONNX lowerings by TensorFlow op name, each with the lowest opset it is written for. For a target
/// opset the converter takes the lowering with the highest "since" opset not above the target, so an
/// op whose ONNX form changed (ReduceMean's axes became an input in opset 18 ...) registers one
/// lowering per form.
/// </summary>
public sealed class OnnxLoweringRegistry
{
    public const int MinOpset = 13;
    public const int MaxOpset = 21;
    public const int DefaultOpset = 17;

    private readonly Dictionary<string, List<(int Since, OnnxLowering Lowering)>> _lowerings = new(StringComparer.Ordinal);

    private static readonly Lazy<OnnxLoweringRegistry> _default = new(() =>
    {
        var r = new OnnxLoweringRegistry();
        foreach (var f in OpRegistry.Families) f.RegisterOnnx(r);
        return r;
    });

    /// <summary>The lowerings of every op family in this assembly.</summary>
    public static OnnxLoweringRegistry Default => _default.Value;

    public void Add(string tfOp, int sinceOpset, OnnxLowering lowering)
    {
        if (!_lowerings.TryGetValue(tfOp, out var list)) _lowerings[tfOp] = list = new();
        if (list.Any(l => l.Since == sinceOpset))
            throw new InvalidOperationException($"Two ONNX lowerings are registered for op '{tfOp}' since opset {sinceOpset}.");
        list.Add((sinceOpset, lowering));
        list.Sort((a, b) => a.Since.CompareTo(b.Since));
    }

    public void Add(IEnumerable<string> tfOps, int sinceOpset, OnnxLowering lowering)
    {
        foreach (var op in tfOps) Add(op, sinceOpset, lowering);
    }

    /// <summary>The lowering of <paramref name="tfOp"/> for the target opset: the newest version not above it.</summary>
    public bool TryGet(string tfOp, int opset, out OnnxLowering lowering)
    {
        lowering = null!;
        if (!_lowerings.TryGetValue(tfOp, out var list)) return false;
        for (int i = list.Count - 1; i >= 0; i--)
        {
            if (list[i].Since <= opset) { lowering = list[i].Lowering; return true; }
        }
        return false;
    }

    public bool Contains(string tfOp) => _lowerings.ContainsKey(tfOp);

    /// <summary>TensorFlow ops with at least one lowering.</summary>
    public IReadOnlyCollection<string> Ops => _lowerings.Keys;
}
