using System.Globalization;
using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Converters.TfLite;

/// <summary>
/// Op versions by the features each op uses (the rules of TFLite's op_version.cc for the ops this
/// converter writes), and the oldest TFLite runtime that has each (op, version) (runtime_version.cc).
/// </summary>
public static class TfLiteOpVersions
{
    public static void Assign(TflGraph g)
    {
        foreach (var op in g.Operators) op.Version = VersionOf(g, op);
    }

    public static int VersionOf(TflGraph g, TflOperator op)
    {
        TensorType In(int i) => i < op.Inputs.Count && op.Inputs[i] >= 0 ? g.Tensors[op.Inputs[i]].Type : (TensorType)(-1);
        TensorType Out(int i) => i < op.Outputs.Count ? g.Tensors[op.Outputs[i]].Type : (TensorType)(-1);
        int[] Dims(int i) => i < op.Inputs.Count && op.Inputs[i] >= 0 ? g.Tensors[op.Inputs[i]].Shape : Array.Empty<int>();
        bool PerChannel(int i) => i < op.Inputs.Count && op.Inputs[i] >= 0 && g.Tensors[op.Inputs[i]].Quantization?.Scale is { Count: > 1 };
        bool Broadcast() => op.Inputs.Count >= 2 && !Dims(0).AsSpan().SequenceEqual(Dims(1));
        int MaxDims() => op.Inputs.Where(t => t >= 0).Select(t => g.Tensors[t].Shape.Length).DefaultIfEmpty(0).Max();
        bool hybrid = In(0) == TensorType.FLOAT32 && In(1) == TensorType.INT8 && Out(0) == TensorType.FLOAT32;
        var i0 = In(0);

        switch (op.Code)
        {
            case BuiltinOperator.CONV_2D:
                if (i0 == TensorType.INT8 && In(1) == TensorType.INT8 && Out(0) == TensorType.INT8) return 3;
                if (hybrid) return PerChannel(1) ? 5 : 2;
                return 1;
            case BuiltinOperator.DEPTHWISE_CONV_2D:
                if (hybrid) return PerChannel(1) ? 6 : 4;
                if (i0 == TensorType.INT8 && In(1) == TensorType.INT8 && Out(0) == TensorType.INT8) return 3;
                var dw = op.Options?.Value as DepthwiseConv2DOptionsT;
                return dw is not null && (dw.DilationWFactor != 1 || dw.DilationHFactor != 1) ? 2 : 1;
            case BuiltinOperator.FULLY_CONNECTED:
            {
                var fc = op.Options?.Value as FullyConnectedOptionsT;
                if (hybrid && PerChannel(1)) return 12;
                if (op.Inputs.Count == 2 || (op.Inputs.Count > 2 && op.Inputs[2] < 0)) return 6;
                if (fc?.KeepNumDims == true) return 5;
                if (i0 == TensorType.INT8 && In(1) == TensorType.INT8 && Out(0) == TensorType.INT8) return 4;
                if (hybrid) return fc?.AsymmetricQuantizeInputs == true ? 9 : 3;
                return 1;
            }
            case BuiltinOperator.TRANSPOSE_CONV:
                if (op.Options?.Value is TransposeConvOptionsT tc && tc.FusedActivationFunction != ActivationFunctionType.NONE) return 4;
                if (op.Inputs.Count == 4 && op.Inputs[3] >= 0) return 3;
                return In(1) == TensorType.INT8 ? 2 : 1;
            case BuiltinOperator.BATCH_MATMUL:
                if (i0 == TensorType.INT8) return 2;
                if (hybrid && op.Options?.Value is BatchMatMulOptionsT { AsymmetricQuantizeInputs: true }) return 4;
                return 1;
            case BuiltinOperator.MUL:
                if (i0 == TensorType.INT64) return 5;
                if (i0 == TensorType.INT8)
                {
                    float s1 = Scale(g, op.Inputs[0]), s2 = Scale(g, op.Inputs[1]), so = Scale(g, op.Outputs[0]);
                    if (s1 > 0 && s2 > 0 && so > 0 && s1 * s2 / so >= 1.0) return 3;
                    return 2;
                }
                return 1;
            case BuiltinOperator.ADD:
                if (i0 == TensorType.INT64) return 4;
                return i0 == TensorType.INT8 ? 2 : 1;
            case BuiltinOperator.SUB:
                if (i0 == TensorType.INT64) return 4;
                if (Broadcast() && MaxDims() > 4) return 3;
                return i0 == TensorType.INT8 ? 2 : 1;
            case BuiltinOperator.DIV:
                return Broadcast() && MaxDims() > 4 ? 2 : 1;
            case BuiltinOperator.MAXIMUM:
            case BuiltinOperator.MINIMUM:
                if (Broadcast() && MaxDims() > 4) return 3;
                return i0 == TensorType.INT8 ? 2 : 1;
            case BuiltinOperator.MAX_POOL_2D:
            case BuiltinOperator.AVERAGE_POOL_2D:
            case BuiltinOperator.CONCATENATION:
            case BuiltinOperator.SOFTMAX:
            case BuiltinOperator.MEAN:
            case BuiltinOperator.REDUCE_MAX:
            case BuiltinOperator.REDUCE_MIN:
            case BuiltinOperator.RELU6:
            case BuiltinOperator.RSQRT:
            case BuiltinOperator.TANH:
            case BuiltinOperator.LOGISTIC:
            case BuiltinOperator.PACK:
            case BuiltinOperator.SPACE_TO_DEPTH:
            case BuiltinOperator.DEPTH_TO_SPACE:
            case BuiltinOperator.ARG_MAX:
            case BuiltinOperator.ARG_MIN:
            case BuiltinOperator.SUM:
            case BuiltinOperator.LOG_SOFTMAX:
                return i0 == TensorType.INT8 ? 2 : 1;
            case BuiltinOperator.RELU:
            case BuiltinOperator.ABS:
                return i0 is TensorType.INT8 or TensorType.UINT8 ? 2 : 1;
            case BuiltinOperator.TRANSPOSE:
                if (Dims(0).Length > 4) return 4;
                if (i0 == TensorType.BOOL) return 3;
                return i0 == TensorType.INT8 ? 2 : 1;
            case BuiltinOperator.PAD:
            case BuiltinOperator.PADV2:
                if (Dims(0).Length > 4) return 4;
                return i0 == TensorType.INT8 ? 2 : 1;
            case BuiltinOperator.STRIDED_SLICE:
            {
                var ss = op.Options?.Value as StridedSliceOptionsT;
                if (ss is not null && (ss.EllipsisMask != 0 || ss.NewAxisMask != 0)) return 6;
                if (Dims(0).Length > 4) return 4;
                if (i0 == TensorType.BOOL) return 3;
                return i0 == TensorType.INT8 ? 2 : 1;
            }
            case BuiltinOperator.SLICE:
                if (Dims(0).Length > 4) return 5;
                return i0 == TensorType.INT8 ? 2 : 1;
            case BuiltinOperator.GATHER:
                if (op.Options?.Value is GatherOptionsT { BatchDims: not 0 }) return 5;
                if (i0 == TensorType.BOOL) return 3;
                return i0 == TensorType.INT8 ? 2 : 1;
            case BuiltinOperator.DEQUANTIZE:
                if (i0 is TensorType.INT16 or TensorType.FLOAT16) return 3;
                if (i0 == TensorType.INT8) return PerChannel(0) ? 5 : 2;
                return 1;
            case BuiltinOperator.QUANTIZE:
            {
                // Float → int8 and int8 → int8/uint8 (requantize) per tensor are version 1; int16 output 2; a
                // per-channel output 3 (op_version.cc; TFLite's old post-training quantizer stamped 2 on every
                // QUANTIZE it inserted, more than the feature needs).
                var oq = op.Outputs.Count > 0 ? g.Tensors[op.Outputs[0]].Quantization : null;
                if (oq?.Scale is { Count: > 1 }) return 3;
                return Out(0) == TensorType.INT16 ? 2 : 1;
            }
            case BuiltinOperator.RESIZE_BILINEAR:
                if (op.Options?.Value is ResizeBilinearOptionsT { HalfPixelCenters: true }) return 3;
                return i0 == TensorType.INT8 ? 2 : 1;
            case BuiltinOperator.RESIZE_NEAREST_NEIGHBOR:
                if (op.Options?.Value is ResizeNearestNeighborOptionsT r && (r.HalfPixelCenters || r.AlignCorners)) return 3;
                return i0 == TensorType.INT8 ? 2 : 1;
            case BuiltinOperator.SPLIT:
                if (In(1) == TensorType.INT32) return 3;
                return In(1) == TensorType.INT8 ? 2 : 1;
            case BuiltinOperator.SPLIT_V:
                return i0 == TensorType.INT8 ? 2 : 1;
            case BuiltinOperator.UNPACK:
                if (i0 is TensorType.INT8 or TensorType.UINT8) return 2;
                return i0 == TensorType.BOOL ? 3 : 1;
            case BuiltinOperator.LEAKY_RELU:
                return i0 == TensorType.INT16 ? 2 : 1;
            case BuiltinOperator.SQUARED_DIFFERENCE:
                return i0 == TensorType.INT8 ? 2 : 1;
            case BuiltinOperator.TILE:
                return i0 == TensorType.INT8 ? 3 : 1;
            case BuiltinOperator.CAST:
                return 1;
            case BuiltinOperator.HARD_SWISH:
                return 1;
            default:
                return 1;
        }
    }

    private static float Scale(TflGraph g, int t) => t >= 0 && g.Tensors[t].Quantization?.Scale is { Count: > 0 } s ? s[0] : 0f;

    // (op, version) → oldest runtime that runs it. Ops missing here default to 1.5.0 (the first TFLite release schema).
    private static readonly Dictionary<(BuiltinOperator, int), string> Runtime = new()
    {
        [(BuiltinOperator.AVERAGE_POOL_2D, 1)] = "1.5.0", [(BuiltinOperator.AVERAGE_POOL_2D, 2)] = "1.14.0",
        [(BuiltinOperator.BATCH_MATMUL, 1)] = "2.3.0", [(BuiltinOperator.BATCH_MATMUL, 2)] = "2.3.0", [(BuiltinOperator.BATCH_MATMUL, 4)] = "2.5.0",
        [(BuiltinOperator.CONV_2D, 1)] = "1.5.0", [(BuiltinOperator.CONV_2D, 2)] = "1.14.0", [(BuiltinOperator.CONV_2D, 3)] = "1.14.0", [(BuiltinOperator.CONV_2D, 5)] = "2.4.0",
        [(BuiltinOperator.DEPTHWISE_CONV_2D, 1)] = "1.5.0", [(BuiltinOperator.DEPTHWISE_CONV_2D, 2)] = "1.12.0", [(BuiltinOperator.DEPTHWISE_CONV_2D, 3)] = "1.14.0",
        [(BuiltinOperator.DEPTHWISE_CONV_2D, 4)] = "2.2.0", [(BuiltinOperator.DEPTHWISE_CONV_2D, 6)] = "2.3.0",
        [(BuiltinOperator.ADD, 1)] = "1.5.0", [(BuiltinOperator.ADD, 2)] = "1.14.0", [(BuiltinOperator.ADD, 4)] = "2.6.0",
        [(BuiltinOperator.ADD_N, 1)] = "1.14.0",
        [(BuiltinOperator.SUB, 1)] = "1.6.0", [(BuiltinOperator.SUB, 2)] = "1.14.0", [(BuiltinOperator.SUB, 3)] = "2.3.0", [(BuiltinOperator.SUB, 4)] = "2.4.0",
        [(BuiltinOperator.DIV, 1)] = "1.6.0", [(BuiltinOperator.DIV, 2)] = "2.3.0",
        [(BuiltinOperator.CAST, 1)] = "1.5.0",
        [(BuiltinOperator.CONCATENATION, 1)] = "1.5.0", [(BuiltinOperator.CONCATENATION, 2)] = "1.14.0",
        [(BuiltinOperator.DEPTH_TO_SPACE, 1)] = "2.1.0",
        [(BuiltinOperator.FULLY_CONNECTED, 1)] = "1.5.0", [(BuiltinOperator.FULLY_CONNECTED, 3)] = "1.14.0", [(BuiltinOperator.FULLY_CONNECTED, 4)] = "1.14.0",
        [(BuiltinOperator.FULLY_CONNECTED, 5)] = "2.0.0", [(BuiltinOperator.FULLY_CONNECTED, 6)] = "2.1.0", [(BuiltinOperator.FULLY_CONNECTED, 9)] = "2.3.0",
        [(BuiltinOperator.GATHER, 1)] = "1.6.0", [(BuiltinOperator.GATHER, 2)] = "1.14.0", [(BuiltinOperator.GATHER, 3)] = "1.15.0", [(BuiltinOperator.GATHER, 5)] = "2.5.0",
        [(BuiltinOperator.GATHER_ND, 1)] = "1.14.0",
        [(BuiltinOperator.L2_NORMALIZATION, 1)] = "1.5.0",
        [(BuiltinOperator.MAX_POOL_2D, 1)] = "1.5.0", [(BuiltinOperator.MAX_POOL_2D, 2)] = "1.14.0",
        [(BuiltinOperator.MAXIMUM, 1)] = "1.14.0", [(BuiltinOperator.MAXIMUM, 2)] = "1.14.0", [(BuiltinOperator.MAXIMUM, 3)] = "2.3.0",
        [(BuiltinOperator.MINIMUM, 1)] = "1.14.0", [(BuiltinOperator.MINIMUM, 2)] = "1.14.0", [(BuiltinOperator.MINIMUM, 3)] = "2.3.0",
        [(BuiltinOperator.MUL, 1)] = "1.5.0", [(BuiltinOperator.MUL, 2)] = "1.14.0", [(BuiltinOperator.MUL, 3)] = "1.15.0", [(BuiltinOperator.MUL, 5)] = "2.6.0",
        [(BuiltinOperator.PAD, 1)] = "1.5.0", [(BuiltinOperator.PAD, 2)] = "1.14.0", [(BuiltinOperator.PAD, 4)] = "2.6.0",
        [(BuiltinOperator.PADV2, 1)] = "1.9.0", [(BuiltinOperator.PADV2, 2)] = "1.14.0", [(BuiltinOperator.PADV2, 4)] = "2.6.0",
        [(BuiltinOperator.TILE, 1)] = "1.10.1", [(BuiltinOperator.TILE, 3)] = "2.8.0",
        [(BuiltinOperator.RESHAPE, 1)] = "1.5.0",
        [(BuiltinOperator.SOFTMAX, 1)] = "1.5.0", [(BuiltinOperator.SOFTMAX, 2)] = "1.14.0",
        [(BuiltinOperator.SPACE_TO_DEPTH, 1)] = "1.5.0", [(BuiltinOperator.SPACE_TO_DEPTH, 2)] = "1.14.0",
        [(BuiltinOperator.TRANSPOSE, 1)] = "1.6.0", [(BuiltinOperator.TRANSPOSE, 2)] = "1.14.0", [(BuiltinOperator.TRANSPOSE, 3)] = "1.15.0", [(BuiltinOperator.TRANSPOSE, 4)] = "2.3.0",
        [(BuiltinOperator.MEAN, 1)] = "1.6.0", [(BuiltinOperator.MEAN, 2)] = "1.14.0",
        [(BuiltinOperator.SUM, 1)] = "1.10.0", [(BuiltinOperator.SUM, 2)] = "1.15.0",
        [(BuiltinOperator.REDUCE_MAX, 1)] = "1.11.0", [(BuiltinOperator.REDUCE_MAX, 2)] = "1.14.0",
        [(BuiltinOperator.REDUCE_MIN, 1)] = "1.11.0", [(BuiltinOperator.REDUCE_MIN, 2)] = "1.14.0",
        [(BuiltinOperator.REDUCE_PROD, 1)] = "1.11.0",
        [(BuiltinOperator.RELU6, 1)] = "1.5.0", [(BuiltinOperator.RELU6, 2)] = "1.14.0",
        [(BuiltinOperator.RESIZE_BILINEAR, 1)] = "1.7.0", [(BuiltinOperator.RESIZE_BILINEAR, 2)] = "1.14.0", [(BuiltinOperator.RESIZE_BILINEAR, 3)] = "2.2.0",
        [(BuiltinOperator.RESIZE_NEAREST_NEIGHBOR, 1)] = "1.13.1", [(BuiltinOperator.RESIZE_NEAREST_NEIGHBOR, 2)] = "1.14.0", [(BuiltinOperator.RESIZE_NEAREST_NEIGHBOR, 3)] = "2.3.0",
        [(BuiltinOperator.SQUEEZE, 1)] = "1.6.0",
        [(BuiltinOperator.SPLIT, 1)] = "1.5.0", [(BuiltinOperator.SPLIT, 2)] = "1.14.0", [(BuiltinOperator.SPLIT, 3)] = "1.14.0",
        [(BuiltinOperator.SPLIT_V, 1)] = "1.13.1", [(BuiltinOperator.SPLIT_V, 2)] = "2.3.0",
        [(BuiltinOperator.STRIDED_SLICE, 1)] = "1.6.0", [(BuiltinOperator.STRIDED_SLICE, 2)] = "1.14.0", [(BuiltinOperator.STRIDED_SLICE, 3)] = "2.1.0",
        [(BuiltinOperator.STRIDED_SLICE, 4)] = "2.2.0", [(BuiltinOperator.STRIDED_SLICE, 6)] = "2.6.0",
        [(BuiltinOperator.TRANSPOSE_CONV, 1)] = "1.9.0", [(BuiltinOperator.TRANSPOSE_CONV, 2)] = "2.2.0", [(BuiltinOperator.TRANSPOSE_CONV, 3)] = "2.3.0", [(BuiltinOperator.TRANSPOSE_CONV, 4)] = "2.13.0",
        [(BuiltinOperator.EXPAND_DIMS, 1)] = "1.10.0",
        [(BuiltinOperator.PACK, 1)] = "1.11.0", [(BuiltinOperator.PACK, 2)] = "1.14.0",
        [(BuiltinOperator.SHAPE, 1)] = "1.10.0",
        [(BuiltinOperator.SLICE, 1)] = "1.14.0", [(BuiltinOperator.SLICE, 2)] = "1.14.0", [(BuiltinOperator.SLICE, 5)] = "2.5.0",
        [(BuiltinOperator.TANH, 1)] = "1.14.0", [(BuiltinOperator.TANH, 2)] = "1.14.0",
        [(BuiltinOperator.UNPACK, 1)] = "1.11.0", [(BuiltinOperator.UNPACK, 2)] = "1.14.0", [(BuiltinOperator.UNPACK, 3)] = "2.2.0",
        [(BuiltinOperator.LEAKY_RELU, 1)] = "1.13.1",
        [(BuiltinOperator.LOGISTIC, 1)] = "1.14.0", [(BuiltinOperator.LOGISTIC, 2)] = "1.14.0",
        [(BuiltinOperator.LOG_SOFTMAX, 1)] = "1.14.0", [(BuiltinOperator.LOG_SOFTMAX, 2)] = "1.14.0",
        [(BuiltinOperator.SQUARED_DIFFERENCE, 1)] = "1.13.1",
        [(BuiltinOperator.MIRROR_PAD, 1)] = "1.13.1",
        [(BuiltinOperator.DEQUANTIZE, 1)] = "1.13.1", [(BuiltinOperator.DEQUANTIZE, 2)] = "1.14.0", [(BuiltinOperator.DEQUANTIZE, 3)] = "1.15.0",
        [(BuiltinOperator.DEQUANTIZE, 5)] = "2.7.0",
        [(BuiltinOperator.QUANTIZE, 1)] = "1.14.0", [(BuiltinOperator.QUANTIZE, 2)] = "1.15.0", [(BuiltinOperator.QUANTIZE, 3)] = "2.7.0",
        [(BuiltinOperator.DEQUANTIZE, 4)] = "2.2.0",
        [(BuiltinOperator.RELU, 1)] = "1.5.0", [(BuiltinOperator.RELU, 2)] = "2.1.0", [(BuiltinOperator.RELU, 3)] = "2.5.0",
        [(BuiltinOperator.LEAKY_RELU, 2)] = "2.3.0",
        [(BuiltinOperator.HARD_SWISH, 1)] = "1.15.0",
        // Versions the converter reaches only with int16 or newer features; listed so no emitted version falls back.
        [(BuiltinOperator.AVERAGE_POOL_2D, 3)] = "2.3.0", [(BuiltinOperator.MAX_POOL_2D, 3)] = "2.3.0",
        [(BuiltinOperator.CONCATENATION, 3)] = "2.3.0", [(BuiltinOperator.SOFTMAX, 3)] = "2.3.0",
        [(BuiltinOperator.LOGISTIC, 3)] = "2.3.0", [(BuiltinOperator.TANH, 3)] = "2.3.0", [(BuiltinOperator.PACK, 3)] = "2.3.0",
        [(BuiltinOperator.SPLIT, 4)] = "2.3.0", [(BuiltinOperator.SLICE, 3)] = "1.14.0", [(BuiltinOperator.SLICE, 4)] = "2.4.0",
        [(BuiltinOperator.RESIZE_BILINEAR, 4)] = "2.5.0", [(BuiltinOperator.RESIZE_NEAREST_NEIGHBOR, 4)] = "2.4.0",
        [(BuiltinOperator.GATHER, 4)] = "2.4.0", [(BuiltinOperator.UNPACK, 4)] = "2.3.0", [(BuiltinOperator.SQUEEZE, 2)] = "2.5.0",
        [(BuiltinOperator.MEAN, 3)] = "2.4.0", [(BuiltinOperator.RELU6, 3)] = "2.5.0", [(BuiltinOperator.TILE, 2)] = "2.2.0",
        [(BuiltinOperator.ADD, 3)] = "2.4.0", [(BuiltinOperator.SUB, 5)] = "2.4.0", [(BuiltinOperator.MUL, 4)] = "2.3.0",
        [(BuiltinOperator.PAD, 3)] = "2.4.0", [(BuiltinOperator.PADV2, 3)] = "2.4.0", [(BuiltinOperator.TRANSPOSE, 5)] = "2.4.0",
        [(BuiltinOperator.STRIDED_SLICE, 5)] = "2.5.0", [(BuiltinOperator.MAXIMUM, 4)] = "2.3.0", [(BuiltinOperator.MINIMUM, 4)] = "2.3.0",
        [(BuiltinOperator.REDUCE_MAX, 3)] = "2.5.0", [(BuiltinOperator.REDUCE_MIN, 3)] = "2.5.0",
        [(BuiltinOperator.CONV_2D, 4)] = "2.3.0", [(BuiltinOperator.DEPTHWISE_CONV_2D, 5)] = "2.3.0",
        [(BuiltinOperator.FULLY_CONNECTED, 2)] = "1.10.0", [(BuiltinOperator.FULLY_CONNECTED, 7)] = "2.3.0", [(BuiltinOperator.FULLY_CONNECTED, 8)] = "2.3.0",
        [(BuiltinOperator.ELU, 1)] = "2.3.0",
        [(BuiltinOperator.RSQRT, 1)] = "1.10.0",
        [(BuiltinOperator.SQRT, 1)] = "1.10.0",
        [(BuiltinOperator.EXP, 1)] = "1.7.0",
        [(BuiltinOperator.LOG, 1)] = "1.14.0",
        [(BuiltinOperator.NEG, 1)] = "1.9.0",
        [(BuiltinOperator.ABS, 1)] = "1.13.0",
        [(BuiltinOperator.SQUARE, 1)] = "1.12.0",
        [(BuiltinOperator.POW, 1)] = "1.10.0",
        [(BuiltinOperator.ARG_MAX, 1)] = "1.9.0", [(BuiltinOperator.ARG_MAX, 2)] = "1.14.0",
        [(BuiltinOperator.ARG_MIN, 1)] = "1.9.0", [(BuiltinOperator.ARG_MIN, 2)] = "1.14.0",
        [(BuiltinOperator.FLOOR, 1)] = "1.9.0",
        [(BuiltinOperator.CEIL, 1)] = "1.14.0",
        [(BuiltinOperator.FLOOR_DIV, 1)] = "1.14.0", [(BuiltinOperator.FLOOR_DIV, 2)] = "1.14.0",
        [(BuiltinOperator.FLOOR_MOD, 1)] = "1.14.0",
        [(BuiltinOperator.FILL, 1)] = "1.13.0",
        [(BuiltinOperator.RANGE, 1)] = "1.13.0",
        [(BuiltinOperator.SELECT_V2, 1)] = "2.2.0",
        [(BuiltinOperator.BROADCAST_TO, 2)] = "2.5.0",
        [(BuiltinOperator.GELU, 1)] = "2.9.0",
    };

    /// <summary>
    /// Where an op's integer kernel arrived later than its version says: TFLite's tables give int8 LEAKY_RELU version
    /// 1 (1.13.1), but TFLite 2.2 refuses it ("Only float32 and uint8 is supported currently, got INT8"); it is
    /// placed at 2.3.0, the release of LEAKY_RELU version 2 (int16), the oldest we know can run it. Null: none.
    /// </summary>
    internal static string? Int8KernelRuntime(BuiltinOperator op) => op == BuiltinOperator.LEAKY_RELU ? "2.3.0" : null;

    /// <summary>True when the (op, version) pair has an entry in the runtime table (no fallback to 1.5.0).</summary>
    internal static bool HasRuntimeEntry(BuiltinOperator op, int version) => Runtime.ContainsKey((op, version));

    public static string MinimumRuntime(BuiltinOperator op, int version) =>
        Runtime.TryGetValue((op, version), out var v) ? v : op == BuiltinOperator.CUSTOM ? "1.5.0" : "1.5.0";

    /// <summary>The newest of the minimum runtimes of all ops (what goes in the min_runtime_version metadata).</summary>
    public static string MinimumRuntime(TflGraph g)
    {
        string best = "1.5.0";
        foreach (var op in g.Operators)
        {
            string v = MinimumRuntime(op.Code, op.Version);
            if (Int8KernelRuntime(op.Code) is { } k && op.Inputs.Count > 0 && op.Inputs[0] >= 0 && g.Tensors[op.Inputs[0]].Type == TensorType.INT8 && Compare(k, v) > 0) v = k;
            if (Compare(v, best) > 0) best = v;
        }
        return best;
    }

    public static int Compare(string a, string b)
    {
        var x = a.Split('.');
        var y = b.Split('.');
        for (int i = 0; i < Math.Min(x.Length, y.Length); i++)
        {
            int p = int.Parse(x[i], CultureInfo.InvariantCulture), q = int.Parse(y[i], CultureInfo.InvariantCulture);
            if (p != q) return p.CompareTo(q);
        }
        return x.Length.CompareTo(y.Length);
    }
}
