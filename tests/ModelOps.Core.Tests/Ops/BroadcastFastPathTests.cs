using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Ops;

/// <summary>
/// The vectorized float paths of the broadcasting binary ops (same shape, tensor·scalar both ways,
/// [..., C]·[C] both ways, outer [N,1]·[N,M], NCHW [1,C,1,1], both operands broadcast), at lengths around the
/// vector width, in place and not, against the element-by-element definition computed per index.
/// </summary>
public class BroadcastFastPathTests
{
    private static readonly string[] Ops = ["AddV2", "Sub", "Mul", "RealDiv", "Maximum", "Minimum", "SquaredDifference"];

    private static float Reference(string op, float a, float b) => op switch
    {
        "AddV2" => a + b,
        "Sub" => a - b,
        "Mul" => a * b,
        "RealDiv" => a / b,
        "Maximum" => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : a > b ? a : b > a ? b
            : a == 0 ? (float.IsNegative(a) && float.IsNegative(b) ? -0f : 0f) : a, // max(+0, −0) = +0
        "Minimum" => float.IsNaN(a) || float.IsNaN(b) ? float.NaN : a < b ? a : b < a ? b
            : a == 0 ? (float.IsNegative(a) || float.IsNegative(b) ? -0f : 0f) : a, // min(+0, −0) = −0
        "SquaredDifference" => (a - b) * (a - b),
        _ => throw new ArgumentException(op),
    };

    /// <summary>Values with the cases Maximum/Minimum must get right: NaN and both zeros.</summary>
    private static float[] Values(int n, int seed)
    {
        var v = K.Random(n, seed, -3, 3);
        for (int i = 0; i < n; i++)
        {
            if (i % 11 == 3) v[i] = 0f;
            else if (i % 13 == 5) v[i] = -0f;
            else if (i % 29 == 7) v[i] = float.NaN;
            else if (i % 7 == 1) v[i] = MathF.Round(v[i]); // equal values on both sides now and then
        }
        return v;
    }

    private static void CheckAgainstDefinition(string op, Tensor a, Tensor b, Tensor r)
    {
        int rank = Math.Max(a.Rank, b.Rank);
        var os = r.Shape;
        Assert.Equal(rank, os.Length);
        var A = a.As<float>();
        var B = b.As<float>();
        var R = r.As<float>();
        var idx = new int[rank];
        for (int f = 0; f < R.Length; f++)
        {
            int rem = f;
            for (int i = rank - 1; i >= 0; i--) { idx[i] = rem % os[i]; rem /= os[i]; }
            float e = Reference(op, A[Flat(a.Shape, idx)], B[Flat(b.Shape, idx)]);
            float got = R[f];
            // Bitwise equal (NaN to NaN): the same IEEE operation, including the sign of a zero from Maximum/Minimum.
            if (!(float.IsNaN(e) ? float.IsNaN(got) : BitConverter.SingleToInt32Bits(e) == BitConverter.SingleToInt32Bits(got)))
                Assert.Fail($"{op} {Tensor.FormatShape(a.Shape)} {Tensor.FormatShape(b.Shape)}: [{f}] = {got:R}, expected {e:R}");
        }
    }

    private static int Flat(int[] s, int[] idx)
    {
        int off = 0, rank = idx.Length;
        for (int i = 0; i < s.Length; i++)
        {
            int d = s[i];
            off = off * d + (d == 1 ? 0 : idx[i + rank - s.Length]);
        }
        return off;
    }

    public static IEnumerable<object[]> Shapes()
    {
        foreach (int n in new[] { 0, 1, 7, 8, 9, 31, 32, 33, 100 })
        {
            yield return [new[] { n }, new[] { n }];                       // same shape
            yield return [new[] { 2, n }, Array.Empty<int>()];             // tensor op scalar
            yield return [new[] { 1 }, new[] { 3, n }];                    // scalar of shape [1] op tensor
            yield return [new[] { 3, 5, n }, new[] { n }];                 // [..., C] op [C]
            yield return [new[] { 37, n }, new[] { 1, n }];                // few channels: tiled pattern runs and a partial one
            yield return [new[] { 1, 1, n }, new[] { 4, 3, n }];           // [C] op [..., C]
            yield return [new[] { n, 1 }, new[] { n, 5 }];                 // outer broadcast [N,1] op [N,M]
            yield return [new[] { 1, 3, n, 2 }, new[] { 1, 3, 1, 1 }];     // NCHW per-channel
            yield return [new[] { n, 1 }, new[] { 1, 6 }];                 // both broadcast
            yield return [new[] { 2, 1, 3, n }, new[] { 4, 1, n }];        // mixed
        }
        yield return [new[] { 4, 9 }, new[] { 4, 1 }]; // once: it does not depend on n (xunit skipped the eight repeats as duplicate ids)
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void MatchesTheDefinition(int[] sa, int[] sb)
    {
        int seed = sa.Sum() * 31 + sb.Sum();
        foreach (var op in Ops)
        {
            var a = K.F(Values((int)Tensor.ElementCount(sa), seed), sa);
            var b = K.F(Values((int)Tensor.ElementCount(sb), seed + 1), sb);
            CheckAgainstDefinition(op, a, b, K.Run1(op, a, b));
            CheckAgainstDefinition(op, b, a, K.Run1(op, b, a));
        }
    }

    /// <summary>Runs a binary op with input <paramref name="donate"/> donated, as a plan does at the input's last use.</summary>
    private static Tensor RunInPlace(string op, Tensor a, Tensor b, int donate)
    {
        Assert.True(OpRegistry.Kernels.TryGet(op, out var kernel));
        var g = new GraphBuilder();
        var node = g.Add("node", op, [g.Placeholder("a", DataType.DtFloat).Name, g.Placeholder("b", DataType.DtFloat).Name],
            new Dictionary<string, AttrValue> { ["T"] = Attr.Type(DataType.DtFloat) });
        var ctx = new KernelContext(node, [a, b], 1) { Donatable = [donate == 0, donate == 1] };
        kernel(ctx);
        return ctx.Outputs[0];
    }

    [Theory]
    [InlineData(33)]
    [InlineData(8)]
    [InlineData(1)]
    public void InPlaceOverEitherInput(int n)
    {
        foreach (var op in Ops)
        {
            var values = Values(4 * n, 3);
            var chan = K.F(Values(n, 4), n);
            var other = K.F(Values(4 * n, 5), 4, n);
            for (int c = 0; c < 5; c++)
            {
                var full = K.F((float[])values.Clone(), 4, n);
                var (a, b, donate) = c switch
                {
                    0 => (full, chan, 0),
                    1 => (chan, full, 1),
                    2 => (full, other, 0),
                    3 => (other, full, 1),
                    _ => (full, Tensor.Scalar(0.5f), 0),
                };
                var copyA = ReferenceEquals(a, full) ? K.F(values, a.Shape) : a;
                var copyB = ReferenceEquals(b, full) ? K.F(values, b.Shape) : b;
                var r = RunInPlace(op, a, b, donate);
                Assert.Same(full.Data, r.Data); // written over the donated input
                CheckAgainstDefinition(op, copyA, copyB, r);
            }
        }
    }

    [Theory]
    [InlineData(3)]
    [InlineData(16)]
    [InlineData(100)]
    public void LargeChannelBroadcastsSplitOverThreadsMatch(int channels)
    {
        // Over 65536 elements the rows are split between threads at arbitrary row boundaries.
        int rows = 70_000 / channels + 3;
        var x = K.F(Values(rows * channels, 8), 1, rows, channels);
        var c = K.F(Values(channels, 9), channels);
        var two = new EngineOptions { IntraOpThreads = 2 };
        foreach (var op in Ops)
        {
            CheckAgainstDefinition(op, x, c, K.RunWith(op, null, 1, two, x, c)[0]);
            CheckAgainstDefinition(op, c, x, K.RunWith(op, null, 1, two, c, x)[0]);
        }
    }

    [Fact]
    public void PlanCacheFollowsShapeChanges()
    {
        // One node's context run again with other shapes (a plan keeps the context between runs).
        var ctx = K.Context("Mul", null, [false, false], null, K.F([1, 2, 3], 3), K.F([2], 1));
        Assert.Equal(new float[] { 2, 4, 6 }, K.Rerun(ctx).As<float>());
        ctx.Inputs[0] = K.F([1, 2, 3, 4], 2, 2);
        ctx.Inputs[1] = K.F([10, 100], 2, 1);
        var r = K.Rerun(ctx);
        K.Shape([2, 2], r);
        Assert.Equal(new float[] { 10, 20, 300, 400 }, r.As<float>());
        ctx.Inputs[0] = K.F([1, 2, 3], 3);
        ctx.Inputs[1] = K.F([2], 1);
        Assert.Equal(new float[] { 2, 4, 6 }, K.Rerun(ctx).As<float>());
    }

    [Theory]
    [InlineData(3, 0)]
    [InlineData(3, 1)]
    [InlineData(4, 33)]
    [InlineData(5, 10_000)]
    public void AddNAddsInInputOrder(int count, int n)
    {
        var inputs = Enumerable.Range(0, count).Select(k => K.F(K.Random(n, 40 + k, -1e4f, 1e4f), n)).ToArray();
        var expected = new float[n];
        for (int i = 0; i < n; i++)
        {
            float acc = inputs[0].As<float>()[i];
            for (int k = 1; k < count; k++) acc += inputs[k].As<float>()[i];
            expected[i] = acc;
        }
        var attrs = K.A(("N", Attr.Int(count)));
        Assert.Equal(expected, K.Run1("AddN", attrs, inputs).As<float>());
        // In place over the first input.
        Assert.True(OpRegistry.Kernels.TryGet("AddN", out var kernel));
        var g = new GraphBuilder();
        var node = g.Add("node", "AddN", inputs.Select((_, k) => g.Placeholder($"in{k}", DataType.DtFloat).Name), attrs);
        node.Attr["T"] = Attr.Type(DataType.DtFloat);
        var donate = new bool[count];
        donate[^1] = true; // a later input may not be written over: the kernel must allocate instead
        var ctx = new KernelContext(node, inputs, 1) { Donatable = donate };
        kernel(ctx);
        Assert.Equal(expected, ctx.Outputs[0].As<float>());
        if (n > 0) Assert.NotSame(inputs[^1].Data, ctx.Outputs[0].Data);
        donate = new bool[count];
        donate[0] = true;
        ctx = new KernelContext(node, inputs, 1) { Donatable = donate };
        kernel(ctx);
        Assert.Equal(expected, ctx.Outputs[0].As<float>());
        if (n > 0) Assert.Same(inputs[0].Data, ctx.Outputs[0].Data);
    }
}
