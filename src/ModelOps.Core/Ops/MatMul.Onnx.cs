using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Ops;

/// <summary>
/// ONNX lowerings of matrix products: MatMul and _FusedMatMul become Gemm (bias in C, transposes as
/// transA/transB) followed by the fused activation; BatchMatMul(V2/V3) becomes MatMul, with adj_x/adj_y
/// as Transposes of the two last axes.
/// </summary>
public sealed partial class MatMulOps
{
    public override void RegisterOnnx(OnnxLoweringRegistry r)
    {
        const int v13 = OnnxLoweringRegistry.MinOpset;
        r.Add(new[] { "MatMul", "_FusedMatMul" }, v13, MatMul);
        r.Add(new[] { "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3" }, v13, BatchMatMul);
    }

    private static void MatMul(OnnxLoweringContext ctx)
    {
        bool ta = ctx.Bool("transpose_a", false), tb = ctx.Bool("transpose_b", false);
        var fused = ctx.Node.Op == "_FusedMatMul" ? ctx.Strings("fused_ops", Array.Empty<string>()) : Array.Empty<string>();
        var type = ctx.Type("T", DataType.DtFloat);
        var a = ctx.InputShape(0);
        var b = ctx.InputShape(1);
        long m = a is { Length: 2 } ? a[ta ? 1 : 0] : -1, n = b is { Length: 2 } ? b[tb ? 0 : 1] : -1;
        int next = 0;
        var inputs = new List<string> { ctx.Input(0), ctx.Input(1) };
        if (next < fused.Length && fused[next] == "BiasAdd") { inputs.Add(ctx.Input(2)); next++; }
        string y;
        bool last = next == fused.Length;
        if (type.IsFloating())
        {
            var attrs = new List<Protos.Onnx.AttributeProto>();
            if (ta) attrs.Add(OnnxAttr.Int("transA", 1));
            if (tb) attrs.Add(OnnxAttr.Int("transB", 1));
            y = last ? ctx.OpTo(ctx.Out(), "Gemm", inputs.ToArray(), attrs.ToArray()) : ctx.Op("Gemm", inputs.ToArray(), attrs.ToArray());
        }
        else
        {
            if (fused.Length > 0) throw ctx.Fail($"fuses ops into an integer matrix product.");
            string x0 = ta ? ctx.Op("Transpose", new[] { inputs[0] }, OnnxAttr.Ints("perm", new long[] { 1, 0 })) : inputs[0];
            string x1 = tb ? ctx.Op("Transpose", new[] { inputs[1] }, OnnxAttr.Ints("perm", new long[] { 1, 0 })) : inputs[1];
            y = ctx.OpTo(ctx.Out(), "MatMul", new[] { x0, x1 });
        }
        for (; next < fused.Length; next++)
            y = ElementWiseOps.OnnxActivation(ctx, fused[next], y, type, next == fused.Length - 1 ? ctx.Out() : null);
        ctx.SetShape(0, new[] { m, n });
    }

    private static void BatchMatMul(OnnxLoweringContext ctx)
    {
        string Adjoint(int i, string attr)
        {
            if (!ctx.Bool(attr, false)) return ctx.Input(i);
            int? rank = ctx.InputRank(i);
            if (rank is null) throw ctx.Fail($"uses {attr} on an operand of unknown rank.");
            var perm = Enumerable.Range(0, rank.Value).Select(d => (long)d).ToArray();
            (perm[^1], perm[^2]) = (perm[^2], perm[^1]);
            return ctx.Op("Transpose", new[] { ctx.Input(i) }, OnnxAttr.Ints("perm", perm));
        }
        ctx.OpTo(ctx.Out(), "MatMul", new[] { Adjoint(0, "adj_x"), Adjoint(1, "adj_y") });
        var a = ctx.InputShape(0);
        var b = ctx.InputShape(1);
        if (a is { Length: >= 2 } && b is { Length: >= 2 })
        {
            var batch = OnnxShapes.Broadcast(a[..^2], b[..^2])!;
            long m = ctx.Bool("adj_x", false) ? a[^1] : a[^2], n = ctx.Bool("adj_y", false) ? b[^2] : b[^1];
            ctx.SetShape(0, batch.Append(m).Append(n).ToArray());
        }
    }
}
