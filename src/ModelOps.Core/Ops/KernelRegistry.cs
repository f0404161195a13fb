using System.Reflection;

namespace ModelOps.Core.Ops;

/// <summary>Runs one node: reads ctx.Inputs and attributes, sets every ctx.Outputs[i].</summary>
public delegate void Kernel(KernelContext ctx);

/// <summary>What the engine may ask of a kernel beyond the <see cref="Kernel"/> contract.</summary>
[Flags]
public enum KernelTraits
{
    None = 0,

    /// <summary>
    /// The kernel reads its inputs as their first <see cref="Tensors.Tensor.Length"/> elements (never the length of
    /// <see cref="Tensors.Tensor.Data"/>), and makes its outputs from <see cref="KernelContext.Allocate{T}"/> arrays with
    /// the engine's internal <c>Tensor.Over</c>, so the plan may hand it buffers longer
    /// than the tensors they hold: one buffer then serves tensors of different sizes over a run. Other kernels get
    /// buffers of exactly their outputs' size, and inputs copied to exact arrays when they sit in a longer buffer.
    /// </summary>
    SpareCapacity = 1,

    /// <summary>
    /// The kernel reads the elements of input 1 (its weights) only through <see cref="KernelContext.Prepared{T}"/>, which
    /// keeps a prepared copy (a packed filter) when the input is a graph constant; otherwise it reads only that input's
    /// dtype and shape. Once such kernels have prepared it (in the first run, right after its last reader), the plan keeps
    /// only the shape of a constant that is read by no other kernel (<see cref="Tensors.Tensor.ShapeOnly"/>), so the
    /// session holds one copy of those weights, not two.
    /// </summary>
    PreparesWeights = 2,
}

/// <summary>Engine kernels by TensorFlow op name.</summary>
public sealed class KernelRegistry
{
    private readonly Dictionary<string, (Kernel Kernel, KernelTraits Traits)> _kernels;
    private readonly KernelTraits _traits;

    public KernelRegistry()
    {
        _kernels = new(StringComparer.Ordinal);
    }

    private KernelRegistry(Dictionary<string, (Kernel, KernelTraits)> kernels, KernelTraits traits)
    {
        _kernels = kernels;
        _traits = traits;
    }

    /// <summary>This registry, adding <paramref name="traits"/> to every kernel registered through the returned view.</summary>
    public KernelRegistry WithTraits(KernelTraits traits) => new(_kernels, _traits | traits);

    public void Add(string op, Kernel kernel, KernelTraits traits = KernelTraits.None)
    {
        if (!_kernels.TryAdd(op, (kernel, traits | _traits)))
            throw new InvalidOperationException($"Two kernels are registered for op '{op}'.");
    }

    public void Add(IEnumerable<string> ops, Kernel kernel, KernelTraits traits = KernelTraits.None)
    {
        foreach (var op in ops) Add(op, kernel, traits);
    }

    public bool TryGet(string op, out Kernel kernel)
    {
        bool found = _kernels.TryGetValue(op, out var k);
        kernel = k.Kernel;
        return found;
    }

    /// <summary>The traits <paramref name="op"/>'s kernel was registered with (None when it has no kernel).</summary>
    public KernelTraits TraitsOf(string op) => _kernels.TryGetValue(op, out var k) ? k.Traits : KernelTraits.None;

    public bool Contains(string op) => _kernels.ContainsKey(op);

    public IReadOnlyCollection<string> Ops => _kernels.Keys;
}

/// <summary>All op families of this assembly, found once by reflection.</summary>
public static class OpRegistry
{
    private static readonly Lazy<IReadOnlyList<OpFamily>> _families = new(() =>
        typeof(OpFamily).Assembly.GetTypes()
            .Where(t => t.IsSubclassOf(typeof(OpFamily)) && !t.IsAbstract && t.GetConstructor(Type.EmptyTypes) is not null)
            .OrderBy(t => t.FullName, StringComparer.Ordinal)
            .Select(t => (OpFamily)Activator.CreateInstance(t)!)
            .ToList());

    private static readonly Lazy<KernelRegistry> _kernels = new(() =>
    {
        var r = new KernelRegistry();
        foreach (var f in Families) f.RegisterKernels(r);
        return r;
    });

    public static IReadOnlyList<OpFamily> Families => _families.Value;

    public static KernelRegistry Kernels => _kernels.Value;
}
