using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;
using ModelOps.Core.Protos;
using static ModelOps.Core.Converters.TfLite.TfLiteLowerHelpers;

namespace ModelOps.Core.Ops;

/// <summary>TFLite lowerings of the reduction family: Mean → MEAN, Sum → SUM, Max/Min/Prod → REDUCE_*, ArgMax/ArgMin.</summary>
public sealed partial class ReductionOps
{
    private static readonly Dictionary<string, BuiltinOperator> Reducers = new()
    {
        ["Mean"] = BuiltinOperator.MEAN, ["Sum"] = BuiltinOperator.SUM, ["Max"] = BuiltinOperator.REDUCE_MAX,
        ["Min"] = BuiltinOperator.REDUCE_MIN, ["Prod"] = BuiltinOperator.REDUCE_PROD, ["Any"] = BuiltinOperator.REDUCE_ANY,
    };

    public override void RegisterTfLite(TfLiteLoweringRegistry r)
    {
        r.Add(Reducers.Keys, LowerReduce);
        r.Add(["ArgMax", "ArgMin"], Arg);
    }

    private static void LowerReduce(TfLiteLoweringContext ctx)
    {
        var x = ctx.Shape(0);
        var axes = ctx.Constant(1).ToInt32Array().Select(a => Axis(ctx, a, x.Length)).Distinct().OrderBy(a => a).ToArray();
        bool keep = ctx.Bool("keep_dims", false);
        var outShape = keep ? x.Select((d, i) => axes.Contains(i) ? 1 : d).ToArray() : x.Where((_, i) => !axes.Contains(i)).ToArray();
        int axesT = ctx.AddConstant(Int32s(axes), "axes");
        ctx.Emit(Reducers[ctx.Op], new[] { ctx.Tensor(0), axesT }, new[] { ctx.Output(0, ctx.DType(0), outShape) },
            BuiltinOptionsUnion.FromReducerOptions(new ReducerOptionsT { KeepDims = keep }));
    }

    private static void Arg(TfLiteLoweringContext ctx)
    {
        var x = ctx.Shape(0);
        int axis = Axis(ctx, ctx.Constant(1).GetInt64(0), x.Length);
        var outType = ctx.Type("output_type", DataType.DtInt64);
        var tflType = outType == DataType.DtInt32 ? TensorType.INT32 : TensorType.INT64;
        var outShape = x.Where((_, i) => i != axis).ToArray();
        int axisT = ctx.AddConstant(Int32s(axis), "axis");
        bool max = ctx.Op == "ArgMax";
        ctx.Emit(max ? BuiltinOperator.ARG_MAX : BuiltinOperator.ARG_MIN, new[] { ctx.Tensor(0), axisT }, new[] { ctx.Output(0, outType, outShape) },
            max ? BuiltinOptionsUnion.FromArgMaxOptions(new ArgMaxOptionsT { OutputType = tflType })
                : BuiltinOptionsUnion.FromArgMinOptions(new ArgMinOptionsT { OutputType = tflType }));
    }
}
