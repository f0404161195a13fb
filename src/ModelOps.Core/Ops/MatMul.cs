using System.Numerics;
using System.Numerics.Tensors;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.Kernels;
using ModelOps.Core.Tensors;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Ops;

/// <summary>
/// Matrix products: MatMul, BatchMatMul/V2/V3 (adj_x/adj_y, broadcast batch dims), _FusedMatMul
/// (BiasAdd [+Add] [+activation]) and Einsum (any two-operand contraction without repeated labels inside
/// one operand, reduced to transposes and a batched GEMM; one-operand sums/transposes).
/// </summary>
public sealed partial class MatMulOps : OpFamily
{
    public override void RegisterKernels(KernelRegistry r)
    {
        // MatMul reads its operands by their shapes and makes its output with Tensor.Over: it takes longer buffers.
        r.Add("MatMul", ctx => MatMulKernel(ctx, fused: false), KernelTraits.SpareCapacity);
        r.Add("_FusedMatMul", ctx => MatMulKernel(ctx, fused: true), KernelTraits.SpareCapacity);
        r.Add(["BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"], BatchMatMul);
        r.Add("Einsum", Einsum);
    }

    private static void MatMulKernel(KernelContext ctx, bool fused)
    {
        var a = ctx.Input(0);
        var b = ctx.Input(1);
        bool ta = ctx.Bool("transpose_a", false), tb = ctx.Bool("transpose_b", false);
        if (a.Rank != 2 || b.Rank != 2)
            throw ctx.Error($"needs 2-D inputs, got shapes {Tensor.FormatShape(a.Shape)} and {Tensor.FormatShape(b.Shape)}.");
        int m = ta ? a.Shape[1] : a.Shape[0], k = ta ? a.Shape[0] : a.Shape[1];
        int kb = tb ? b.Shape[1] : b.Shape[0], n = tb ? b.Shape[0] : b.Shape[1];
        if (k != kb)
            throw ctx.Error($"cannot multiply {Tensor.FormatShape(a.Shape)}{(ta ? "ᵀ" : "")} by {Tensor.FormatShape(b.Shape)}{(tb ? "ᵀ" : "")}: inner dimensions {k} and {kb} differ.");
        if (a.DType != b.DType) throw ctx.Error($"has inputs of different dtypes {a.DType.Name()} and {b.DType.Name()}.");
        int[] outShape = [m, n];
        Tensor c;
        if (a.DType == DataType.DtFloat && m > 4 && ctx.IsConstantInput(1))
        {
            // Constant weights: packed for the GEMM once per session.
            var packed = ctx.Prepared(1, w => Gemm.PackB(tb, k, n, w.As<float>(), 0, w.Shape[1]));
            var C = ctx.Allocate<float>((long)m * n, clear: false);
            Gemm.SgemmPacked(ta, m, a.As<float>(), 0, a.Shape[1], packed, C, 0, n, false, ctx.Options.IntraOpThreads);
            c = Tensor.Over(DataType.DtFloat, [m * n], C);
        }
        else c = Multiply(ctx, a, b, ta, tb, 1, [0], [0], m, n, k, a.Shape[1], b.Shape[1]);
        if (fused)
        {
            if (c.DType != DataType.DtFloat && !FloatConvert.IsReducedFloat(c.DType))
                throw ctx.Error($"does not support dtype {c.DType.Name()}.");
            var cf = FloatConvert.ToFloat(c);
            FusedOps.Parse(ctx, 2, n, outShape).ApplyAll(cf.As<float>(), m, n, ctx.Options.IntraOpThreads);
            c = FloatConvert.FromFloat(cf, a.DType);
        }
        ctx.SetOutput(0, c.Reshape(outShape));
    }

    /// <summary>
    /// batch products C[i] = op(A[aIdx[i]]) · op(B[bIdx[i]]), each m×n, as one flat tensor of count×m×n.
    /// </summary>
    private static Tensor Multiply(KernelContext ctx, Tensor a, Tensor b, bool ta, bool tb, int count, int[] aIdx, int[] bIdx,
        int m, int n, int k, int lda, int ldb)
    {
        var dtype = a.DType;
        int threads = ctx.Options.IntraOpThreads;
        int aStride = m * k, bStride = k * n, cStride = m * n;
        if (dtype == DataType.DtFloat || FloatConvert.IsReducedFloat(dtype))
        {
            var A = FloatConvert.ToFloat(a).As<float>();
            var B = FloatConvert.ToFloat(b).As<float>();
            var C = ctx.Allocate<float>((long)count * cStride);
            long flops = 2L * m * n * k;
            if (count > 1 && count >= threads && flops < 4_000_000)
                KernelParallel.For(threads, count, flops, (s, e) =>
                {
                    for (int i = s; i < e; i++)
                        Gemm.Sgemm(ta, tb, m, n, k, A, aIdx[i] * aStride, lda, B, bIdx[i] * bStride, ldb, C, i * cStride, n, false, 1);
                }, 200_000);
            else
                for (int i = 0; i < count; i++)
                    Gemm.Sgemm(ta, tb, m, n, k, A, aIdx[i] * aStride, lda, B, bIdx[i] * bStride, ldb, C, i * cStride, n, false, threads);
            return FloatConvert.FromFloat(Tensor.Over(DataType.DtFloat, [count * cStride], C), dtype);
        }
        if (dtype == DataType.DtDouble)
        {
            var A = a.As<double>();
            var B = b.As<double>();
            var C = ctx.Allocate<double>((long)count * cStride);
            for (int i = 0; i < count; i++)
                Gemm.Dgemm(ta, tb, m, n, k, A, aIdx[i] * aStride, lda, B, bIdx[i] * bStride, ldb, C, i * cStride, n, threads);
            return Tensor.Over(dtype, [count * cStride], C);
        }
        return dtype switch
        {
            DataType.DtInt32 => NaiveInt<int>(a, b, ta, tb, count, aIdx, bIdx, m, n, k, lda, ldb),
            DataType.DtInt64 => NaiveInt<long>(a, b, ta, tb, count, aIdx, bIdx, m, n, k, lda, ldb),
            _ => throw ctx.Error($"does not support dtype {dtype.Name()}."),
        };
    }

    private static Tensor NaiveInt<T>(Tensor a, Tensor b, bool ta, bool tb, int count, int[] aIdx, int[] bIdx,
        int m, int n, int k, int lda, int ldb) where T : unmanaged, INumber<T>
    {
        var A = a.As<T>();
        var B = b.As<T>();
        var C = new T[(long)count * m * n];
        for (int bi = 0; bi < count; bi++)
        {
            int ao = aIdx[bi] * m * k, bo = bIdx[bi] * k * n, co = bi * m * n;
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    T s = T.Zero;
                    for (int p = 0; p < k; p++)
                        s += A[ao + (ta ? p * lda + i : i * lda + p)] * B[bo + (tb ? j * ldb + p : p * ldb + j)];
                    C[co + i * n + j] = s;
                }
        }
        return new Tensor(a.DType, [C.Length], C);
    }

    /// <summary>For each batch index of the broadcast batch shape, the flat batch index into an input.</summary>
    private static int[] BatchIndex(int[] outBatch, int[] inBatch)
    {
        long count = Tensor.ElementCount(outBatch);
        var idx = new int[count];
        int r = outBatch.Length, off = r - inBatch.Length;
        var coord = new int[r];
        for (long i = 0; i < count; i++)
        {
            long rem = i;
            for (int d = r - 1; d >= 0; d--) { coord[d] = (int)(rem % outBatch[d]); rem /= outBatch[d]; }
            int flat = 0;
            for (int d = 0; d < inBatch.Length; d++)
                flat = flat * inBatch[d] + (inBatch[d] == 1 ? 0 : coord[d + off]);
            idx[i] = flat;
        }
        return idx;
    }

    private static void BatchMatMul(KernelContext ctx)
    {
        var x = ctx.Input(0);
        var y = ctx.Input(1);
        bool ax = ctx.Bool("adj_x", false), ay = ctx.Bool("adj_y", false);
        if (x.Rank < 2 || y.Rank < 2)
            throw ctx.Error($"needs inputs of rank 2 or more, got shapes {Tensor.FormatShape(x.Shape)} and {Tensor.FormatShape(y.Shape)}.");
        if (x.DType != y.DType) throw ctx.Error($"has inputs of different dtypes {x.DType.Name()} and {y.DType.Name()}.");
        int xr = x.Shape[^2], xc = x.Shape[^1], yr = y.Shape[^2], yc = y.Shape[^1];
        int m = ax ? xc : xr, k = ax ? xr : xc, kb = ay ? yc : yr, n = ay ? yr : yc;
        if (k != kb)
            throw ctx.Error($"cannot multiply {Tensor.FormatShape(x.Shape)} by {Tensor.FormatShape(y.Shape)} (adj_x={ax}, adj_y={ay}): inner dimensions {k} and {kb} differ.");
        var bx = x.Shape[..^2];
        var by = y.Shape[..^2];
        var batch = Broadcast.TryShape(bx, by)
            ?? throw ctx.Error($"cannot broadcast batch dimensions {Tensor.FormatShape(bx)} and {Tensor.FormatShape(by)}.");
        int count = (int)Tensor.ElementCount(batch);
        var outShape = batch.Concat(new[] { m, n }).ToArray();
        var c = Multiply(ctx, x, y, ax, ay, count, BatchIndex(batch, bx), BatchIndex(batch, by), m, n, k, xc, yc);
        var outType = ctx.HasAttr("Tout") ? ctx.Type("Tout") : x.DType;
        if (outType != c.DType) throw ctx.Error($"does not support Tout={outType.Name()} for inputs of {x.DType.Name()}.");
        ctx.SetOutput(0, c.Reshape(outShape));
    }

    // ------------------------------------------------------------------ Einsum

    private static void Einsum(KernelContext ctx)
    {
        string eq = ctx.String("equation").Replace(" ", "", StringComparison.Ordinal);
        var inputs = ctx.Inputs;
        if (inputs.Length is < 1 or > 2) throw ctx.Error($"supports one or two operands, got {inputs.Length}.");
        var dtype = inputs[0].DType;
        if (dtype != DataType.DtFloat && !FloatConvert.IsReducedFloat(dtype))
            throw ctx.Error($"supports floating-point operands only, got {dtype.Name()}.");
        foreach (var t in inputs)
            if (t.DType != dtype) throw ctx.Error("has operands of different dtypes.");

        string[] sides = eq.Split("->");
        if (sides.Length > 2) throw ctx.Error($"has a malformed equation '{eq}'.");
        string[] ins = sides[0].Split(',');
        if (ins.Length != inputs.Length) throw ctx.Error($"equation '{eq}' names {ins.Length} operands but the node has {inputs.Length}.");

        // Expand "..." into private labels, right-aligned across operands.
        int ellRank = 0;
        for (int i = 0; i < ins.Length; i++)
            if (ins[i].Contains("...", StringComparison.Ordinal))
                ellRank = Math.Max(ellRank, inputs[i].Rank - (ins[i].Length - 3));
        string Ell(int dims) => new(Enumerable.Range(ellRank - dims, dims).Select(d => (char)(0x100 + d)).ToArray());
        var labels = new List<char[]>();
        var shapes = new List<int[]>();
        var data = new List<float[]>();
        for (int i = 0; i < ins.Length; i++)
        {
            string s = ins[i];
            if (s.Contains("...", StringComparison.Ordinal)) s = s.Replace("...", Ell(inputs[i].Rank - (s.Length - 3)), StringComparison.Ordinal);
            if (s.Length != inputs[i].Rank)
                throw ctx.Error($"operand {i} has rank {inputs[i].Rank} but its subscripts '{ins[i]}' name {s.Length} dimensions.");
            if (s.Distinct().Count() != s.Length)
                throw new ModelOpsException("UnsupportedEinsum", ErrorKind.NotImplemented,
                    $"{ctx.Node.Op} node '{ctx.Node.Name}': repeated subscripts within one operand (diagonals) in '{eq}' are not supported.", ctx.Node.Name);
            labels.Add(s.ToCharArray());
            shapes.Add(inputs[i].Shape);
            data.Add(FloatConvert.ToFloat(inputs[i]).As<float>());
        }
        string outLabels;
        if (sides.Length == 2) outLabels = sides[1].Replace("...", Ell(ellRank), StringComparison.Ordinal);
        else
        {
            var all = labels.SelectMany(l => l).ToList();
            outLabels = Ell(ellRank) + new string(all.Where(ch => ch < 0x100 && all.Count(x => x == ch) == 1).OrderBy(ch => ch).ToArray());
        }
        var size = new Dictionary<char, int>();
        for (int i = 0; i < labels.Count; i++)
            for (int d = 0; d < labels[i].Length; d++)
            {
                char ch = labels[i][d];
                int sz = shapes[i][d];
                if (size.TryGetValue(ch, out int prev) && prev != sz && prev != 1 && sz != 1)
                    throw ctx.Error($"has subscript '{ch}' with sizes {prev} and {sz}.");
                size[ch] = size.TryGetValue(ch, out prev) ? Math.Max(prev, sz) : sz;
            }
        foreach (char ch in outLabels)
            if (!size.ContainsKey(ch)) throw ctx.Error($"output subscript '{ch}' does not appear in the inputs of '{eq}'.");

        // Drop size-1 dims that broadcast against a larger size elsewhere (they act as absent).
        for (int i = 0; i < labels.Count; i++)
        {
            var keep = Enumerable.Range(0, labels[i].Length).Where(d => !(shapes[i][d] == 1 && size[labels[i][d]] > 1)).ToArray();
            if (keep.Length != labels[i].Length)
            {
                labels[i] = keep.Select(d => labels[i][d]).ToArray();
                shapes[i] = keep.Select(d => shapes[i][d]).ToArray();
            }
        }

        // Sum away labels that appear only in one operand and not in the output.
        for (int i = 0; i < labels.Count; i++)
        {
            var li = labels[i];
            var others = labels.Where((_, j) => j != i).SelectMany(l => l).ToHashSet();
            var sum = li.Where(ch => !outLabels.Contains(ch) && !others.Contains(ch)).ToArray();
            if (sum.Length == 0) continue;
            var kept = li.Where(ch => !sum.Contains(ch)).ToArray();
            data[i] = SumOut(data[i], shapes[i], li, kept, sum, size);
            labels[i] = kept;
            shapes[i] = kept.Select(ch => size[ch]).ToArray();
        }

        float[] result;
        char[] resLabels;
        if (labels.Count == 1)
        {
            result = data[0];
            resLabels = labels[0];
        }
        else
        {
            var la = labels[0];
            var lb = labels[1];
            var batch = outLabels.Where(ch => la.Contains(ch) && lb.Contains(ch)).ToArray();
            var contract = la.Where(ch => lb.Contains(ch) && !outLabels.Contains(ch)).ToArray();
            var mL = outLabels.Where(ch => la.Contains(ch) && !lb.Contains(ch)).ToArray();
            var nL = outLabels.Where(ch => lb.Contains(ch) && !la.Contains(ch)).ToArray();
            var aOrder = batch.Concat(mL).Concat(contract).ToArray();
            var bOrder = batch.Concat(contract).Concat(nL).ToArray();
            var A = Permute.Run(data[0], shapes[0], aOrder.Select(ch => Array.IndexOf(la, ch)).ToArray());
            var B = Permute.Run(data[1], shapes[1], bOrder.Select(ch => Array.IndexOf(lb, ch)).ToArray());
            int P(IEnumerable<char> ls) => ls.Aggregate(1, (acc, ch) => acc * size[ch]);
            int nb = P(batch), m = P(mL), k = P(contract), n = P(nL);
            result = new float[(long)nb * m * n];
            int threads = ctx.Options.IntraOpThreads;
            for (int bi = 0; bi < nb; bi++)
                Gemm.Sgemm(false, false, m, n, k, A, bi * m * k, k, B, bi * k * n, n, result, bi * m * n, n, false, threads);
            resLabels = batch.Concat(mL).Concat(nL).ToArray();
        }
        var resShape = resLabels.Select(ch => size[ch]).ToArray();
        // Output labels absent from the result (size-1 broadcast dims) are appended as size 1 before permuting.
        var missing = outLabels.Where(ch => !resLabels.Contains(ch)).ToArray();
        resLabels = resLabels.Concat(missing).ToArray();
        resShape = resShape.Concat(missing.Select(_ => 1)).ToArray();
        var perm = outLabels.Select(ch => Array.IndexOf(resLabels, ch)).ToArray();
        var final = Permute.Run(result, resShape, perm);
        var finalShape = Permute.Shape(resShape, perm);
        ctx.SetOutput(0, FloatConvert.FromFloat(new Tensor(DataType.DtFloat, finalShape, final), dtype));
    }

    /// <summary>Sums the dims labelled <paramref name="sum"/> away, leaving dims in <paramref name="kept"/> order.</summary>
    private static float[] SumOut(float[] x, int[] shape, char[] labels, char[] kept, char[] sum, Dictionary<char, int> size)
    {
        var perm = kept.Concat(sum).Select(ch => Array.IndexOf(labels, ch)).ToArray();
        var p = Permute.Run(x, shape, perm);
        int inner = sum.Aggregate(1, (acc, ch) => acc * shape[Array.IndexOf(labels, ch)]);
        int outer = inner == 0 ? kept.Aggregate(1, (acc, ch) => acc * shape[Array.IndexOf(labels, ch)]) : p.Length / inner;
        var r = new float[outer];
        if (inner > 0)
            for (int i = 0; i < outer; i++) r[i] = TensorPrimitives.Sum<float>(p.AsSpan(i * inner, inner));
        return r;
    }
}
