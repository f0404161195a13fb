using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Protos;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.TfLite.Kernels;

/// <summary>MEAN, SUM, REDUCE_MAX, REDUCE_MIN, REDUCE_PROD over the axes of input 1 (float32).</summary>
internal static class Reduction
{
    private enum Kind { Mean, Sum, Max, Min, Prod }

    public static void Register(Dictionary<BuiltinOperator, TfLiteKernel> r)
    {
        r[BuiltinOperator.MEAN] = ctx => Reduce(ctx, Kind.Mean);
        r[BuiltinOperator.SUM] = ctx => Reduce(ctx, Kind.Sum);
        r[BuiltinOperator.REDUCE_MAX] = ctx => Reduce(ctx, Kind.Max);
        r[BuiltinOperator.REDUCE_MIN] = ctx => Reduce(ctx, Kind.Min);
        r[BuiltinOperator.REDUCE_PROD] = ctx => Reduce(ctx, Kind.Prod);
    }

    private static void Reduce(OpContext ctx, Kind kind)
    {
        var input = ctx.Input(0);
        if (input.DType != DataType.DtFloat)
            throw ctx.Unsupported($"{input.DType} reductions are not implemented (float32 only)");
        bool keepDims = ctx.Options<ReducerOptions>()?.KeepDims ?? false;
        int rank = input.Rank;
        var reduce = new bool[rank];
        foreach (long a in ctx.Input(1).ToInt64Array())
        {
            long axis = a < 0 ? a + rank : a;
            if (axis < 0 || axis >= rank) throw ctx.Unsupported($"axis {a} is out of range for a rank-{rank} input");
            reduce[axis] = true;
        }

        // Output strides over the kept dims; every input element maps to one output element.
        var outDims = new List<int>();
        for (int d = 0; d < rank; d++)
            if (!reduce[d]) outDims.Add(input.Shape[d]);
            else if (keepDims) outDims.Add(1);
        int outCount = 1;
        foreach (int d in input.Shape.Where((_, i) => !reduce[i])) outCount *= d;
        var acc = new double[outCount];
        var init = kind switch { Kind.Max => double.NegativeInfinity, Kind.Min => double.PositiveInfinity, Kind.Prod => 1.0, _ => 0.0 };
        Array.Fill(acc, init);

        var x = input.As<float>();
        var index = new int[rank];
        for (int i = 0; i < x.Length; i++)
        {
            int o = 0;
            for (int d = 0; d < rank; d++)
                if (!reduce[d]) o = o * input.Shape[d] + index[d];
            double v = x[i];
            acc[o] = kind switch
            {
                Kind.Max => Math.Max(acc[o], v),
                Kind.Min => Math.Min(acc[o], v),
                Kind.Prod => acc[o] * v,
                _ => acc[o] + v,
            };
            for (int d = rank - 1; d >= 0 && ++index[d] == input.Shape[d]; d--) index[d] = 0;
        }
        int reducedCount = outCount == 0 ? 0 : x.Length / outCount;
        var y = new float[outCount];
        for (int o = 0; o < outCount; o++)
            y[o] = (float)(kind == Kind.Mean ? acc[o] / reducedCount : acc[o]);
        ctx.SetOutput(0, Tensor.Create(y, outDims.ToArray()));
    }
}
