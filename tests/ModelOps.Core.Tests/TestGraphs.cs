using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Tests;

/// <summary>
/// Helpers for engine tests: a kernel registry with every family plus a few test-only arithmetic ops
/// (named Test*, so they never collide with the math families), and graph-building shortcuts.
/// </summary>
internal static class TestGraphs
{
    public static KernelRegistry Registry { get; } = Build();

    private static KernelRegistry Build()
    {
        var r = new KernelRegistry();
        foreach (var op in OpRegistry.Kernels.Ops)
        {
            OpRegistry.Kernels.TryGet(op, out var k);
            r.Add(op, k, OpRegistry.Kernels.TraitsOf(op));
        }
        r.Add("TestAddI", ctx => ctx.SetOutput(0, Tensor.Scalar(ctx.Input(0).As<int>()[0] + ctx.Input(1).As<int>()[0])));
        r.Add("TestLessI", ctx => ctx.SetOutput(0, Tensor.Scalar(ctx.Input(0).As<int>()[0] < ctx.Input(1).As<int>()[0])));
        r.Add("TestNegF", ctx => ctx.SetOutput(0, Tensor.Create(ctx.Input(0).As<float>().Select(v => -v).ToArray(), ctx.Input(0).Shape)));
        return r;
    }

    /// <summary>Runs one node of <paramref name="op"/> on constant inputs; returns its outputs 0..outputs-1.</summary>
    public static Tensor[] RunOp(string op, Tensor[] inputs, Dictionary<string, AttrValue>? attrs = null, int outputs = 1)
    {
        var b = new GraphBuilder();
        var names = new string[inputs.Length];
        for (int i = 0; i < inputs.Length; i++) names[i] = b.Const($"in{i}", inputs[i]).Name;
        var node = b.Add("op", op, names, attrs);
        var fetches = Enumerable.Range(0, outputs).Select(i => $"op:{i}").ToArray();
        using var s = new GraphSession(b.Graph, fetches, null, Registry);
        var r = s.Run(new Dictionary<string, Tensor>());
        var results = fetches.Select(f => r[f]).ToArray();
        // A kernel that takes longer buffers must give the same bits in them (see K.SameInLongerBuffers).
        if ((Registry.TraitsOf(op) & KernelTraits.SpareCapacity) != 0 && Registry.TryGet(op, out var kernel))
            Ops.K.SameInLongerBuffers(node, kernel, inputs, results, null);
        return results;
    }

    public static Tensor Run1(string op, params Tensor[] inputs) => RunOp(op, inputs)[0];

    public static Tensor T(float[] v, params int[] shape) => Tensor.Create(v, shape);
    public static Tensor I(int[] v, params int[] shape) => Tensor.Create(v, shape);
    public static Tensor L(long[] v, params int[] shape) => Tensor.Create(v, shape);

    public static GraphSession Session(GraphBuilder b, params string[] outputs) =>
        new(b.Graph, outputs.Length == 0 ? null : outputs, null, Registry);

    public static NodeDef Op(this GraphBuilder b, string name, string op, params string[] inputs) => b.Add(name, op, inputs);

    public static NodeDef Enter(this GraphBuilder b, string name, string input, string frame, bool isConstant = false) =>
        b.Add(name, "Enter", new[] { input }, new Dictionary<string, AttrValue>
        {
            ["frame_name"] = Attr.String(frame),
            ["is_constant"] = Attr.Bool(isConstant),
            ["parallel_iterations"] = Attr.Int(10),
        });

    /// <summary>
    /// A TF1 while loop over int32 loop variables: builds Enter/Merge/Switch/Identity/NextIteration/Exit
    /// around a condition and body written by the callbacks (which receive the Identity names of the
    /// loop variables). Returns the Exit node names.
    /// </summary>
    public static string[] While(this GraphBuilder b, string frame, string[] initial,
        Func<string[], string> cond, Func<string[], string[]> body)
    {
        int n = initial.Length;
        var merges = new NodeDef[n];
        for (int i = 0; i < n; i++)
        {
            var enter = b.Enter($"{frame}/Enter_{i}", initial[i], frame);
            merges[i] = b.Add($"{frame}/Merge_{i}", "Merge", new[] { enter.Name, enter.Name }); // 2nd input patched below
        }
        string c = cond(merges.Select(m => m.Name).ToArray());
        var loopCond = b.Add($"{frame}/LoopCond", "LoopCond", new[] { c });
        var ids = new string[n];
        var exits = new string[n];
        for (int i = 0; i < n; i++)
        {
            var sw = b.Add($"{frame}/Switch_{i}", "Switch", new[] { merges[i].Name, loopCond.Name });
            exits[i] = b.Add($"{frame}/Exit_{i}", "Exit", new[] { sw.Name }).Name;
            ids[i] = b.Add($"{frame}/Identity_{i}", "Identity", new[] { sw.Name + ":1" }).Name;
        }
        var next = body(ids);
        for (int i = 0; i < n; i++)
        {
            var ni = b.Add($"{frame}/NextIteration_{i}", "NextIteration", new[] { next[i] });
            merges[i].Input[1] = ni.Name;
        }
        return exits;
    }
}
