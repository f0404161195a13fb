using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;

namespace ModelOps.Benchmarks;

/// <summary>
/// Element-wise kernels at 1 thread, on the shapes the corpus models use, each inside a small graph run
/// by a <see cref="GraphSession"/> (a chain of nodes, so outputs come from the buffer pool and may be
/// written in place as in a real model). Per op and input shapes: µs per kernel call, the best of
/// several blocks of runs (the machine is shared; the minimum is the least disturbed figure).
/// Usage: <c>elementwise [filter]</c>.
/// </summary>
public static class ElementWiseBench
{
    private const int Chain = 6;

    public static int Run(string[] args)
    {
        string? filter = args.SkipWhile(a => a != "elementwise").Skip(1).FirstOrDefault();
        if (filter == "--math")
        {
            MathPerElement();
            return 0;
        }
        Console.WriteLine($"Element-wise kernels, 1 thread: µs per call (best block of {Blocks} × {RunsPerBlock} runs)");
        foreach (var (name, build) in Cases())
        {
            if (filter is not null && !name.Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
            var g = new GraphBuilder();
            var feeds = new Dictionary<string, Tensor>();
            // The chain ends in a scalar max, so the fetched result (which leaves the buffer pool) is tiny.
            g.Const("flat_shape", Tensor.Create(new[] { -1 }, 1));
            g.Const("axis0", Tensor.Create(new[] { 0 }, 1));
            var flat = g.Add("flat", "Reshape", [build(g, feeds), "flat_shape"], new Dictionary<string, AttrValue> { ["T"] = Attr.Type(DataType.DtFloat), ["Tshape"] = Attr.Type(DataType.DtInt32) });
            string output = g.Add("result", "Max", [flat.Name, "axis0"], new Dictionary<string, AttrValue> { ["T"] = Attr.Type(DataType.DtFloat), ["Tidx"] = Attr.Type(DataType.DtInt32) }).Name;
            var profile = new OpProfile(byShape: true);
            using var s = new GraphSession(g.Graph, [output], new EngineOptions { IntraOpThreads = 1, Profile = profile });
            for (int i = 0; i < 20; i++) s.Run(feeds, [output]);
            var best = new Dictionary<string, double>();
            var calls = new Dictionary<string, long>();
            var bytes = new Dictionary<string, double>();
            for (int b = 0; b < Blocks; b++)
            {
                profile.Reset();
                for (int i = 0; i < RunsPerBlock; i++) s.Run(feeds, [output]);
                foreach (var e in profile.Entries)
                {
                    double us = e.TotalMs * 1000 / e.Calls;
                    best[e.Op] = best.TryGetValue(e.Op, out double v) ? Math.Min(v, us) : us;
                    calls[e.Op] = e.Calls / RunsPerBlock;
                    bytes[e.Op] = (double)e.AllocatedBytes / e.Calls;
                }
            }
            Console.WriteLine($"{name}");
            foreach (var (op, us) in best.Where(kv => !kv.Key.StartsWith("Max [", StringComparison.Ordinal) && !kv.Key.StartsWith("Reshape", StringComparison.Ordinal) && !kv.Key.StartsWith("ConcatV2", StringComparison.Ordinal)).OrderByDescending(kv => kv.Value))
                Console.WriteLine($"    {op,-48} {us,9:F1} µs  ({calls[op]} calls/run, {bytes[op],7:F0} B allocated/call)");
        }
        return 0;
    }

    /// <summary>ns per element of the vectorized float math against System.Numerics.Tensors and MathF, on 4096-element spans (L1).</summary>
    private static void MathPerElement()
    {
        const int N = 4096;
        var y = new float[N];
        var fns = new (string, Action<float[], float[]>)[]
        {
            ("VecMath.Exp", (x, o) => ModelOps.Core.Runtime.Kernels.VecMath.Exp(x, o)),
            ("TensorPrimitives.Exp", (x, o) => System.Numerics.Tensors.TensorPrimitives.Exp(x, o)),
            ("VecMath.Tanh", (x, o) => ModelOps.Core.Runtime.Kernels.VecMath.Tanh(x, o)),
            ("TensorPrimitives.Tanh", (x, o) => System.Numerics.Tensors.TensorPrimitives.Tanh(x, o)),
            ("MathF.Tanh", (x, o) => { for (int i = 0; i < x.Length; i++) o[i] = MathF.Tanh(x[i]); }),
            ("VecMath.Sigmoid", (x, o) => ModelOps.Core.Runtime.Kernels.VecMath.Sigmoid(x, o)),
            ("TensorPrimitives.Sigmoid", (x, o) => System.Numerics.Tensors.TensorPrimitives.Sigmoid(x, o)),
            ("VecMath.Elu", (x, o) => ModelOps.Core.Runtime.Kernels.VecMath.Elu(x, o)),
        };
        foreach (var (lo, hi) in new[] { (-1f, 1f), (-10f, 0f), (-6f, 6f) })
        {
            var x = Random(99, lo, hi, N).As<float>();
            Console.WriteLine($"x in [{lo}, {hi}]:");
            foreach (var (name, f) in fns)
            {
                double best = double.MaxValue;
                for (int b = 0; b < 7; b++)
                {
                    var sw = System.Diagnostics.Stopwatch.StartNew();
                    for (int r = 0; r < 200; r++) f(x, y);
                    best = Math.Min(best, sw.Elapsed.TotalMilliseconds * 1e6 / (200.0 * N));
                }
                Console.WriteLine($"    {name,-26} {best,6:F2} ns/element");
            }
        }
    }

    private const int Blocks = 7;
    private const int RunsPerBlock = 20;

    private static Tensor Random(int seed, float lo, float hi, params int[] shape)
    {
        var r = new Random(seed);
        var a = new float[Tensor.ElementCount(shape)];
        for (int i = 0; i < a.Length; i++) a[i] = lo + (float)r.NextDouble() * (hi - lo);
        return Tensor.Create(a, shape);
    }

    private delegate string Builder(GraphBuilder g, Dictionary<string, Tensor> feeds);

    private static string Feed(GraphBuilder g, Dictionary<string, Tensor> feeds, string name, Tensor t)
    {
        g.Placeholder(name, t.DType, null);
        feeds[name] = t;
        return name;
    }

    /// <summary>Chain nodes h = op(h) (or op(h, other) / op(other, h)).</summary>
    private static string Unary(GraphBuilder g, string x, params string[] ops)
    {
        string h = x;
        for (int i = 0; i < Chain; i++)
            foreach (var op in ops)
                h = g.Op($"{op}{i}", op, DataType.DtFloat, h).Name;
        return h;
    }

    private static IEnumerable<(string, Builder)> Cases()
    {
        yield return ("Tanh [1,31,31,16] (age)", (g, f) => Unary(g, Feed(g, f, "x", Random(1, -2, 2, 1, 31, 31, 16)), "Tanh"));
        yield return ("Sigmoid [1,256,256,1] (selfie)", (g, f) => Unary(g, Feed(g, f, "x", Random(2, -6, 6, 1, 256, 256, 1)), "Sigmoid"));
        yield return ("Exp(Neg) [1,56,56,32]", (g, f) => Unary(g, Feed(g, f, "x", Random(3, -1, 1, 1, 56, 56, 32)), "Neg", "Exp"));
        yield return ("Elu [1,56,56,32]", (g, f) => Unary(g, Feed(g, f, "x", Random(4, -3, 3, 1, 56, 56, 32)), "Elu"));
        yield return ("Softmax [64,1000]", (g, f) => Unary(g, Feed(g, f, "x", Random(5, -5, 5, 64, 1000)), "Softmax"));
        yield return ("PReLU max(0,x) + a[C]*min(0,x) [1,56,56,32] (mobileface)", (g, f) =>
        {
            string h = Feed(g, f, "x", Random(6, -1, 1, 1, 56, 56, 32));
            g.Const("zero", Tensor.Scalar(0f));
            g.Const("alpha", Random(7, 0, 0.5f, 32));
            for (int i = 0; i < Chain; i++)
            {
                var p = g.Op($"max{i}", "Maximum", DataType.DtFloat, "zero", h).Name;
                var n = g.Op($"min{i}", "Minimum", DataType.DtFloat, "zero", h).Name;
                var m = g.Op($"mul{i}", "Mul", DataType.DtFloat, "alpha", n).Name;
                h = g.Op($"add{i}", "AddV2", DataType.DtFloat, p, m).Name;
            }
            return h;
        });
        yield return ("x*s + t, scalars, [1,128,128,16] (meet/selfie)", (g, f) =>
        {
            string h = Feed(g, f, "x", Random(8, -1, 1, 1, 128, 128, 16));
            g.Const("s", Tensor.Scalar(0.9f));
            g.Const("t", Tensor.Scalar(0.05f));
            for (int i = 0; i < Chain; i++)
                h = g.Op($"add{i}", "AddV2", DataType.DtFloat, g.Op($"mul{i}", "Mul", DataType.DtFloat, "s", h).Name, "t").Name;
            return h;
        });
        yield return ("same shape x*y, x+y [1,128,128,16] (selfie)", (g, f) =>
        {
            string h = Feed(g, f, "x", Random(9, -1, 1, 1, 128, 128, 16));
            string y = Feed(g, f, "y", Random(10, 0.5f, 1, 1, 128, 128, 16));
            for (int i = 0; i < Chain; i++)
                h = g.Op($"add{i}", "Add", DataType.DtFloat, g.Op($"mul{i}", "Mul", DataType.DtFloat, h, y).Name, y).Name;
            return h;
        });
        yield return ("x - c[1] [1,112,112,3] (mobileface)", (g, f) =>
        {
            string h = Feed(g, f, "x", Random(11, -1, 1, 1, 112, 112, 3));
            g.Const("c", Tensor.Create(new[] { 0.5f }, 1));
            for (int i = 0; i < Chain; i++) h = g.Op($"sub{i}", "Sub", DataType.DtFloat, h, "c").Name;
            return h;
        });
        yield return ("x * c[C] [1,32,32,96]", (g, f) =>
        {
            string h = Feed(g, f, "x", Random(12, -1, 1, 1, 32, 32, 96));
            g.Const("c", Random(13, 0.9f, 1.1f, 96));
            for (int i = 0; i < Chain; i++) h = g.Op($"mul{i}", "Mul", DataType.DtFloat, h, "c").Name;
            return h;
        });
        yield return ("few channels x + c[2] [1,144,256,2], x * c[1,1,1,16] [1,72,128,16] (meet)", (g, f) =>
        {
            string h = Feed(g, f, "x", Random(25, -1, 1, 1, 144, 256, 2));
            string h2 = Feed(g, f, "x2", Random(26, -1, 1, 1, 72, 128, 16));
            g.Const("c", Random(27, -0.1f, 0.1f, 2));
            g.Const("c2", Random(28, 0.9f, 1.1f, 1, 1, 1, 16));
            for (int i = 0; i < Chain; i++)
            {
                h = g.Op($"add{i}", "Add", DataType.DtFloat, h, "c").Name;
                h2 = g.Op($"mul{i}", "Mul", DataType.DtFloat, h2, "c2").Name;
            }
            g.Const("r1", Tensor.Create(new[] { -1 }, 1));
            var f1 = g.Add("f1", "Reshape", [h, "r1"], new Dictionary<string, AttrValue> { ["T"] = Attr.Type(DataType.DtFloat), ["Tshape"] = Attr.Type(DataType.DtInt32) }).Name;
            var f2 = g.Add("f2", "Reshape", [h2, "r1"], new Dictionary<string, AttrValue> { ["T"] = Attr.Type(DataType.DtFloat), ["Tshape"] = Attr.Type(DataType.DtInt32) }).Name;
            g.Const("ax", Tensor.Scalar(0));
            return g.Add("cat", "ConcatV2", [f1, f2, "ax"], new Dictionary<string, AttrValue> { ["T"] = Attr.Type(DataType.DtFloat), ["N"] = Attr.Int(2), ["Tidx"] = Attr.Type(DataType.DtInt32) }).Name;
        });
        yield return ("c[N,1] * x[N,M] outer broadcast [256,1] [256,200]", (g, f) =>
        {
            string h = Feed(g, f, "x", Random(14, -1, 1, 256, 200));
            g.Const("c", Random(15, 0.9f, 1.1f, 256, 1));
            for (int i = 0; i < Chain; i++) h = g.Op($"mul{i}", "Mul", DataType.DtFloat, "c", h).Name;
            return h;
        });
        yield return ("NCHW bias x[1,32,56,56] + c[1,32,1,1]", (g, f) =>
        {
            string h = Feed(g, f, "x", Random(16, -1, 1, 1, 32, 56, 56));
            g.Const("c", Random(17, -0.1f, 0.1f, 1, 32, 1, 1));
            for (int i = 0; i < Chain; i++) h = g.Op($"add{i}", "AddV2", DataType.DtFloat, h, "c").Name;
            return h;
        });
        yield return ("Maximum/Minimum x[1,28,28,32] vs c[1,1,1,32]", (g, f) =>
        {
            string h = Feed(g, f, "x", Random(18, -1, 1, 1, 28, 28, 32));
            g.Const("lo", Random(19, -0.5f, 0, 1, 1, 1, 32));
            g.Const("hi", Random(20, 0, 0.5f, 1, 1, 1, 32));
            for (int i = 0; i < Chain; i++)
                h = g.Op($"min{i}", "Minimum", DataType.DtFloat, g.Op($"max{i}", "Maximum", DataType.DtFloat, h, "lo").Name, "hi").Name;
            return h;
        });
        yield return ("AddN of 3 [1,56,56,32]", (g, f) =>
        {
            string h = Feed(g, f, "x", Random(21, -1, 1, 1, 56, 56, 32));
            string y = Feed(g, f, "y", Random(22, -1, 1, 1, 56, 56, 32));
            string z = Feed(g, f, "z", Random(23, -1, 1, 1, 56, 56, 32));
            for (int i = 0; i < Chain; i++)
            {
                var n = g.Add($"addn{i}", "AddN", [h, y, z], new Dictionary<string, AttrValue> { ["T"] = Attr.Type(DataType.DtFloat), ["N"] = Attr.Int(3) });
                h = n.Name;
            }
            return h;
        });
        yield return ("small scalar ops [1] [1] (age)", (g, f) =>
        {
            string h = Feed(g, f, "x", Random(24, -1, 1, 1));
            g.Const("c", Tensor.Create(new[] { 0.5f }, 1));
            for (int i = 0; i < Chain; i++) h = g.Op($"mul{i}", "Mul", DataType.DtFloat, h, "c").Name;
            return h;
        });
    }
}
