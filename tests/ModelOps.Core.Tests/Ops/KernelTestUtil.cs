using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Ops;

/// <summary>Runs one registered kernel on a NodeDef built in code.</summary>
internal static class K
{
    public static Tensor[] Run(string op, IDictionary<string, AttrValue>? attrs, int outputs, params Tensor[] inputs) =>
        RunWith(op, attrs, outputs, null, inputs);

    public static Tensor[] RunWith(string op, IDictionary<string, AttrValue>? attrs, int outputs, EngineOptions? options, params Tensor[] inputs)
    {
        Assert.True(OpRegistry.Kernels.TryGet(op, out var kernel), $"no kernel for {op}");
        var g = new GraphBuilder();
        var names = inputs.Select((t, i) => g.Placeholder($"in{i}", t.DType).Name).ToArray();
        var node = g.Add("node", op, names, attrs);
        if (inputs.Length > 0 && !node.Attr.ContainsKey("T")) node.Attr["T"] = Attr.Type(inputs[0].DType);
        var ctx = new KernelContext(node, inputs, outputs, options);
        kernel(ctx);
        foreach (var o in ctx.Outputs) Assert.NotNull(o);
        if ((OpRegistry.Kernels.TraitsOf(op) & KernelTraits.SpareCapacity) != 0) SameInLongerBuffers(node, kernel, inputs, ctx.Outputs, options);
        return ctx.Outputs;
    }

    /// <summary>
    /// A kernel registered with <see cref="KernelTraits.SpareCapacity"/> must compute the same bits when its inputs sit at
    /// the start of longer arrays and its output arrays are longer than asked for (as planned buffers may be), the
    /// tails filled with one bits (NaN): run again that way and compare every output.
    /// </summary>
    internal static void SameInLongerBuffers(NodeDef node, Kernel kernel, Tensor[] inputs, Tensor[] expected, EngineOptions? options)
    {
        const int Extra = 7;
        var longer = inputs.Select(t =>
        {
            if (t.Data is byte[][]) return t;
            int n = t.Data.Length;
            var a = Array.CreateInstance(t.Data.GetType().GetElementType()!, n + Extra);
            Array.Copy(t.Data, a, n);
            // one bits over the tail, whatever the element type
            var bytes = System.Runtime.InteropServices.MemoryMarshal.CreateSpan(
                ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(a), checked((int)BufferPool.Bytes(a)));
            bytes[checked((int)BufferPool.Bytes(t.Data))..].Fill(0xFF);
            return Tensor.Over(t.DType, t.Shape, a);
        }).ToArray();
        var ctx = new KernelContext(node, longer, expected.Length, options) { SpareCapacity = true, SpareForTests = Extra };
        kernel(ctx);
        for (int i = 0; i < expected.Length; i++)
        {
            var got = ctx.Outputs[i];
            Assert.NotNull(got);
            Assert.True(got.ContentEquals(expected[i]),
                $"{node.Op} output {i}: {got} in longer buffers differs from {expected[i]} in exact ones");
        }
    }

    /// <summary>
    /// A reusable context for one node (as an execution plan keeps one per step), with the given inputs
    /// marked as graph constants; run it with <see cref="Rerun"/>, changing ctx.Inputs between runs.
    /// </summary>
    public static KernelContext Context(string op, IDictionary<string, AttrValue>? attrs, bool[] constantInputs, EngineOptions? options, params Tensor[] inputs)
    {
        var g = new GraphBuilder();
        var names = inputs.Select((t, i) => g.Placeholder($"in{i}", t.DType).Name).ToArray();
        var node = g.Add("node", op, names, attrs);
        if (inputs.Length > 0 && !node.Attr.ContainsKey("T")) node.Attr["T"] = Attr.Type(inputs[0].DType);
        return new KernelContext(node, inputs, 1, options) { ConstantInputs = constantInputs };
    }

    public static Tensor Rerun(KernelContext ctx)
    {
        Assert.True(OpRegistry.Kernels.TryGet(ctx.Node.Op, out var kernel));
        kernel(ctx);
        var o = ctx.Outputs[0];
        Assert.NotNull(o);
        return o;
    }

    public static Tensor Run1(string op, IDictionary<string, AttrValue>? attrs, params Tensor[] inputs) => Run(op, attrs, 1, inputs)[0];

    public static Tensor Run1(string op, params Tensor[] inputs) => Run(op, null, 1, inputs)[0];

    public static Dictionary<string, AttrValue> A(params (string Name, AttrValue Value)[] attrs) =>
        attrs.ToDictionary(a => a.Name, a => a.Value);

    public static Tensor F(float[] data, params int[] shape) => Tensor.Create(data, shape);

    public static float[] Random(int n, int seed, float lo = -1, float hi = 1)
    {
        var r = new Random(seed);
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + (float)r.NextDouble() * (hi - lo);
        return a;
    }

    public static void Close(float[] expected, float[] actual, float tol = 1e-5f)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            float e = expected[i], a = actual[i];
            if (float.IsNaN(e)) { Assert.True(float.IsNaN(a), $"[{i}] expected NaN, got {a}"); continue; }
            if (e == a) continue;
            float err = Math.Abs(e - a);
            Assert.True(err <= tol * Math.Max(1, Math.Abs(e)), $"[{i}] expected {e}, got {a} (err {err})");
        }
    }

    public static void Shape(int[] expected, Tensor t) => Assert.Equal(expected, t.Shape);
}
