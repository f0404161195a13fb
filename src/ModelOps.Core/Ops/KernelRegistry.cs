using System.Reflection;

namespace ModelOps.Core.Ops;

/// <summary>Runs one node: reads ctx.Inputs and attributes, sets every ctx.Outputs[i].</summary>
public delegate void Kernel(KernelContext ctx);

/// <summary>Engine kernels by TensorFlow op name.</summary>
public sealed class KernelRegistry
{
    private readonly Dictionary<string, Kernel> _kernels = new(StringComparer.Ordinal);

    public void Add(string op, Kernel kernel)
    {
        if (!_kernels.TryAdd(op, kernel))
            throw new InvalidOperationException($"Two kernels are registered for op '{op}'.");
    }

    public void Add(IEnumerable<string> ops, Kernel kernel)
    {
        foreach (var op in ops) Add(op, kernel);
    }

    public bool TryGet(string op, out Kernel kernel) => _kernels.TryGetValue(op, out kernel!);

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
