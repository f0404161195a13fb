using ModelOps.Core.Errors;
using ModelOps.Core.Formats.TfLite;
using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Protos;
using ModelOps.Core.Runtime.TfLite;
using ModelOps.Core.Tensors;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Converters.TfLite;

/// <summary>
/// Full-integer post-training quantization (TFLite quantization spec): activations asymmetric int8 per tensor
/// from the ranges observed while the float model runs on the calibration samples; weights of CONV_2D /
/// DEPTHWISE_CONV_2D symmetric int8 per output channel, of FULLY_CONNECTED per tensor (TFLite 2.2's int8
/// FULLY_CONNECTED reads one filter scale only and outputs the zero point given several); biases int32 with
/// scale = input scale × weight scale; fixed output parameters for LOGISTIC / SOFTMAX / TANH; ops that only move
/// values keep their input's parameters; ops without an int8 kernel run in float between DEQUANTIZE / QUANTIZE.
/// </summary>
internal static partial class TfLiteQuantizer
{
    /// <summary>Ops written with int8 kernels.</summary>
    private static readonly HashSet<BuiltinOperator> Int8Ops = new()
    {
        BuiltinOperator.CONV_2D, BuiltinOperator.DEPTHWISE_CONV_2D, BuiltinOperator.FULLY_CONNECTED,
        BuiltinOperator.ADD, BuiltinOperator.SUB, BuiltinOperator.MUL, BuiltinOperator.MAXIMUM, BuiltinOperator.MINIMUM,
        BuiltinOperator.AVERAGE_POOL_2D, BuiltinOperator.MAX_POOL_2D, BuiltinOperator.RESHAPE, BuiltinOperator.SQUEEZE,
        BuiltinOperator.EXPAND_DIMS, BuiltinOperator.STRIDED_SLICE, BuiltinOperator.SLICE, BuiltinOperator.CONCATENATION,
        BuiltinOperator.PAD, BuiltinOperator.PADV2, BuiltinOperator.TRANSPOSE, BuiltinOperator.SOFTMAX,
        BuiltinOperator.LOGISTIC, BuiltinOperator.TANH, BuiltinOperator.RELU, BuiltinOperator.RELU6,
        BuiltinOperator.LEAKY_RELU, BuiltinOperator.HARD_SWISH, BuiltinOperator.PACK, BuiltinOperator.SPACE_TO_DEPTH,
        BuiltinOperator.RESIZE_BILINEAR, BuiltinOperator.RESIZE_NEAREST_NEIGHBOR, BuiltinOperator.SPLIT, BuiltinOperator.SPLIT_V,
        BuiltinOperator.GATHER,
    };

    /// <summary>
    /// Ops whose int8 outputs carry the parameters of their data input (restrict_same_input_output_scale in TFLite's
    /// operator_property.cc): they only move, select or interpolate values.
    /// </summary>
    private static readonly HashSet<BuiltinOperator> SameAsInput = new()
    {
        BuiltinOperator.MAX_POOL_2D, BuiltinOperator.AVERAGE_POOL_2D, BuiltinOperator.RESHAPE, BuiltinOperator.SQUEEZE,
        BuiltinOperator.EXPAND_DIMS, BuiltinOperator.STRIDED_SLICE, BuiltinOperator.SLICE, BuiltinOperator.PAD,
        BuiltinOperator.PADV2, BuiltinOperator.TRANSPOSE, BuiltinOperator.SPACE_TO_DEPTH, BuiltinOperator.RESIZE_BILINEAR,
        BuiltinOperator.RESIZE_NEAREST_NEIGHBOR, BuiltinOperator.SPLIT, BuiltinOperator.SPLIT_V, BuiltinOperator.GATHER,
    };

    /// <summary>The input that carries the values (SPLIT's first input is its axis).</summary>
    private static int DataInput(TflOperator op) => op.Code == BuiltinOperator.SPLIT ? op.Inputs[1] : op.Inputs[0];

    /// <summary>Ops whose int8 kernels need every input on the output's parameters (inputs are requantized to them).</summary>
    private static readonly HashSet<BuiltinOperator> InputsAsOutput = new()
    {
        BuiltinOperator.CONCATENATION, BuiltinOperator.MAXIMUM, BuiltinOperator.MINIMUM, BuiltinOperator.PACK,
    };

    /// <summary>Full-integer quantization of <paramref name="g"/>, calibrated by running its float form on the samples.</summary>
    public static void ToFullInteger(TflGraph g, GraphDef source, TfLiteConverterCore core, TfLiteConverterOptions options)
    {
        _ = source; _ = core;
        if (options.TargetRuntimeVersion is { } target && !System.Text.RegularExpressions.Regex.IsMatch(target, @"^[0-9]{1,4}(\.[0-9]{1,4}){0,2}$"))
            throw new ModelOpsException(TfLiteErrorIds.InvalidTargetRuntime, ErrorKind.InvalidArgument,
                $"'{target}' is not a TFLite version; give it as major.minor.patch, e.g. 2.2.0.", target);
        RewriteSplitV(g);
        var samples = BindSamples(g, options.CalibrationData);
        var (lo, hi) = Calibrate(g, samples);
        var qp = new Dictionary<int, (float Scale, int Zp)>();

        bool IsActivation(int t) => t >= 0 && g.Tensors[t].Type == TensorType.FLOAT32 && !g.Tensors[t].IsConstant;
        (float, int) FromRange(int t)
        {
            if (double.IsNaN(lo[t]))
                throw new ModelOpsException(TfLiteErrorIds.CalibrationData, ErrorKind.InvalidData,
                    $"Calibration produced no values for tensor '{g.Tensors[t].Name}'.", g.Tensors[t].Name);
            return ParamsForRange(lo[t], hi[t]);
        }

        // Quantization parameters of every float activation, in execution order.
        foreach (int t in g.Inputs) if (IsActivation(t)) qp[t] = FromRange(t);
        var quantizedOp = new bool[g.Operators.Count];
        for (int k = 0; k < g.Operators.Count; k++)
        {
            var op = g.Operators[k];
            bool floatIo = op.Outputs.Any(IsActivation);
            quantizedOp[k] = floatIo && Int8Ops.Contains(op.Code)
                && (options.TargetRuntimeVersion is null || TfLiteOpVersions.Int8KernelRuntime(op.Code) is not { } needs || TfLiteOpVersions.Compare(needs, options.TargetRuntimeVersion) <= 0)
                && op.Inputs.All(t => t < 0 || g.Tensors[t].Type != TensorType.FLOAT32 || IsActivation(t) || g.Tensors[t].Value is not null);
            foreach (int o in op.Outputs)
            {
                if (!IsActivation(o)) continue;
                if (!quantizedOp[k]) { qp[o] = FromRange(o); continue; }
                qp[o] = op.Code switch
                {
                    BuiltinOperator.LOGISTIC or BuiltinOperator.SOFTMAX => (1f / 256, -128),
                    BuiltinOperator.TANH => (1f / 128, 0),
                    _ when SameAsInput.Contains(op.Code) && IsActivation(DataInput(op)) => qp[DataInput(op)],
                    // A constant table (GATHER of a float constant): the output shares the constant's parameters.
                    _ when SameAsInput.Contains(op.Code) && g.Tensors[DataInput(op)] is { IsConstant: true, Type: TensorType.FLOAT32 } c => ConstantParams(c),
                    _ => FromRange(o),
                };
            }
        }

        // Rewrite: new op list with QUANTIZE / DEQUANTIZE where float and int8 meet.
        var floatCopy = new Dictionary<int, int>();   // int8 activation → float32 copy (DEQUANTIZE) for float ops
        var ops = new List<TflOperator>();
        var activations = qp.Keys.ToList();
        for (int k = 0; k < g.Operators.Count; k++)
        {
            var op = g.Operators[k];
            if (!quantizedOp[k])
            {
                for (int j = 0; j < op.Inputs.Count; j++)
                {
                    int t = op.Inputs[j];
                    if (!qp.ContainsKey(t)) continue;
                    if (!floatCopy.TryGetValue(t, out int f))
                    {
                        f = CloneTensor(g, g.Tensors[t], g.Tensors[t].Name + "/dequantized", TensorType.FLOAT32).Index;
                        ops.Add(new TflOperator(BuiltinOperator.DEQUANTIZE, new[] { t }, new[] { f }, null, op.SourceNode));
                        floatCopy[t] = f;
                    }
                    op.Inputs[j] = f;
                }
                ops.Add(op);
                for (int j = 0; j < op.Outputs.Count; j++)
                {
                    int t = op.Outputs[j];
                    if (!qp.ContainsKey(t)) continue;
                    var f = CloneTensor(g, g.Tensors[t], g.Tensors[t].Name + "/float", TensorType.FLOAT32);
                    op.Outputs[j] = f.Index;
                    floatCopy[t] = f.Index;
                    ops.Add(new TflOperator(BuiltinOperator.QUANTIZE, new[] { f.Index }, new[] { t }, null, op.SourceNode));
                }
                continue;
            }

            var outParams = op.Outputs.Where(qp.ContainsKey).Select(o => qp[o]).FirstOrDefault();
            for (int j = 0; j < op.Inputs.Count; j++)
            {
                int t = op.Inputs[j];
                if (t < 0 || g.Tensors[t].Type != TensorType.FLOAT32) continue;
                var tensor = g.Tensors[t];
                bool weightOp = op.Code is BuiltinOperator.CONV_2D or BuiltinOperator.DEPTHWISE_CONV_2D or BuiltinOperator.FULLY_CONNECTED;
                if (weightOp && j == 1 && tensor.IsConstant)
                {
                    int axis = op.Code switch { BuiltinOperator.CONV_2D => 0, BuiltinOperator.DEPTHWISE_CONV_2D => 3, _ => -1 };
                    op.Inputs[j] = AddSymmetricWeight(g, tensor, axis).Index;
                }
                else if (weightOp && j == 2)
                {
                    if (!tensor.IsConstant)
                        throw new ModelOpsException(TfLiteErrorIds.CalibrationData, ErrorKind.NotImplemented,
                            $"{op.OpName} from '{op.SourceNode}' has a computed bias, which full-integer quantization cannot express.", op.SourceNode);
                    var inScale = qp[op.Inputs[0]].Scale;
                    var w = g.Tensors[op.Inputs[1]];
                    var wScales = w.Quantization?.Scale ?? new List<float> { qp[op.Inputs[1]].Scale };
                    op.Inputs[j] = AddBias(g, tensor, inScale, wScales).Index;
                }
                else if (tensor.IsConstant)
                {
                    var p = InputsAsOutput.Contains(op.Code) || op.Code == BuiltinOperator.PADV2 ? outParams : ConstantParams(tensor);
                    op.Inputs[j] = AddAsymmetricConstant(g, tensor, p).Index;
                }
                else if (InputsAsOutput.Contains(op.Code) && qp[t] != outParams)
                {
                    var r = CloneTensor(g, tensor, tensor.Name + "/requantized", TensorType.INT8);
                    r.Quantization = Params(outParams);
                    ops.Add(new TflOperator(BuiltinOperator.QUANTIZE, new[] { t }, new[] { r.Index }, null, op.SourceNode));
                    op.Inputs[j] = r.Index;
                }
            }
            ops.Add(op);
        }

        foreach (int t in activations)
        {
            g.Tensors[t].Type = TensorType.INT8;
            g.Tensors[t].Quantization = Params(qp[t]);
        }

        // The edges: inputs and outputs in the type the caller asked for.
        var prologue = new List<TflOperator>();
        for (int i = 0; i < g.Inputs.Count; i++)
        {
            int t = g.Inputs[i];
            if (!qp.ContainsKey(t) || options.InferenceInputType == TfLiteIoType.Int8) continue;
            var q = g.Tensors[t];
            string name = q.Name;
            g.Rename(q, name + "/int8");
            var outer = EdgeTensor(g, q, name, options.InferenceInputType);
            prologue.Add(new TflOperator(BuiltinOperator.QUANTIZE, new[] { outer.Index }, new[] { t }, null, name));
            g.Inputs[i] = outer.Index;
        }
        for (int i = 0; i < g.Outputs.Count; i++)
        {
            int t = g.Outputs[i];
            if (!qp.ContainsKey(t) || options.InferenceOutputType == TfLiteIoType.Int8) continue;
            var q = g.Tensors[t];
            string name = q.Name;
            g.Rename(q, name + "/int8");
            var outer = EdgeTensor(g, q, name, options.InferenceOutputType);
            ops.Add(new TflOperator(options.InferenceOutputType == TfLiteIoType.Float32 ? BuiltinOperator.DEQUANTIZE : BuiltinOperator.QUANTIZE,
                new[] { t }, new[] { outer.Index }, null, name));
            g.Outputs[i] = outer.Index;
        }
        g.Operators.Clear();
        g.Operators.AddRange(prologue);
        g.Operators.AddRange(ops);
    }

    /// <summary>
    /// Float SPLIT_V with constant sizes is rewritten before quantization: int8 SPLIT_V is version 2, which TFLite runs
    /// only from 2.3, while int8 SPLIT and SLICE (version 2) run since 1.14. Equal parts become one SPLIT, unequal
    /// parts one SLICE per output; both compute the same values.
    /// </summary>
    private static void RewriteSplitV(TflGraph g)
    {
        for (int k = 0; k < g.Operators.Count; k++)
        {
            var op = g.Operators[k];
            if (op.Code != BuiltinOperator.SPLIT_V || op.Inputs.Count != 3 || g.Tensors[op.Inputs[0]].Type != TensorType.FLOAT32) continue;
            var axisT = g.Tensors[op.Inputs[2]];
            if (axisT.Value is null || axisT.Value.Length != 1) continue;
            var outs = op.Outputs.Select(o => g.Tensors[o].Shape).ToList();
            var inShape = g.Tensors[op.Inputs[0]].Shape;
            int axis = (int)axisT.Value.GetInt64(0);
            if (axis < 0) axis += inShape.Length;
            if ((uint)axis >= (uint)inShape.Length || outs.Any(s => s.Length != inShape.Length || s.Any(d => d < 0)) || inShape.Any(d => d < 0)) continue;
            if (outs.All(s => s[axis] == outs[0][axis]))
            {
                g.Operators[k] = new TflOperator(BuiltinOperator.SPLIT, new[] { op.Inputs[2], op.Inputs[0] }, op.Outputs,
                    BuiltinOptionsUnion.FromSplitOptions(new SplitOptionsT { NumSplits = op.Outputs.Count }), op.SourceNode);
                continue;
            }
            var slices = new List<TflOperator>();
            int start = 0;
            for (int j = 0; j < op.Outputs.Count; j++)
            {
                var begin = new int[inShape.Length];
                begin[axis] = start;
                var size = (int[])outs[j].Clone();
                start += size[axis];
                int b = IntConstant(g, g.Tensors[op.Outputs[j]].Name + "/begin", begin);
                int sz = IntConstant(g, g.Tensors[op.Outputs[j]].Name + "/size", size);
                slices.Add(new TflOperator(BuiltinOperator.SLICE, new[] { op.Inputs[0], b, sz }, new[] { op.Outputs[j] },
                    BuiltinOptionsUnion.FromSliceOptions(new SliceOptionsT()), op.SourceNode));
            }
            g.Operators.RemoveAt(k);
            g.Operators.InsertRange(k, slices);
            k += slices.Count - 1;
        }
    }

    private static int IntConstant(TflGraph g, string name, int[] values)
    {
        var v = Tensor.Create(values, values.Length);
        var t = g.AddTensor(name, TensorType.INT32, new[] { values.Length });
        t.Data = TensorBytes.ToBytes(v);
        t.Value = v;
        return t.Index;
    }

    /// <summary>The per-tensor asymmetric int8 parameters for an observed range: the range is widened to hold 0, the zero point nudged onto the grid.</summary>
    internal static (float Scale, int ZeroPoint) ParamsForRange(double min, double max)
    {
        min = Math.Min(min, 0);
        max = Math.Max(max, 0);
        // A tensor that was constantly 0 during calibration: a unit range (scale 1/255), so that the multipliers of
        // its consumers stay in the range TFLite's fixed-point arithmetic handles; 0 is still exact.
        if (max - min < 1e-6) max = min + 1.0;
        float scale = (float)((max - min) / 255.0);
        double zpFromMin = -128 - min / scale;
        int zp = zpFromMin <= -128 ? -128 : zpFromMin >= 127 ? 127 : (int)Math.Round(zpFromMin, MidpointRounding.AwayFromZero);
        return (scale, zp);
    }

    private static QuantizationParametersT Params((float Scale, int Zp) p) =>
        new() { Scale = new List<float> { p.Scale }, ZeroPoint = new List<long> { p.Zp } };

    private static (float, int) ConstantParams(TflTensor t)
    {
        var v = t.Value!.As<float>();
        double min = 0, max = 0;
        foreach (float x in v) { min = Math.Min(min, x); max = Math.Max(max, x); }
        return ParamsForRange(min, max);
    }

    private static TflTensor CloneTensor(TflGraph g, TflTensor t, string name, TensorType type)
    {
        var c = g.AddTensor(name, type, t.Shape.ToArray());
        c.ShapeSignature = t.ShapeSignature?.ToArray();
        return c;
    }

    private static TflTensor EdgeTensor(TflGraph g, TflTensor q, string name, TfLiteIoType type)
    {
        var outer = CloneTensor(g, q, name, type == TfLiteIoType.Float32 ? TensorType.FLOAT32 : TensorType.UINT8);
        if (type == TfLiteIoType.UInt8)
            outer.Quantization = new QuantizationParametersT { Scale = q.Quantization!.Scale.ToList(), ZeroPoint = new List<long> { q.Quantization.ZeroPoint[0] + 128 } };
        return outer;
    }

    private static TflTensor AddSymmetricWeight(TflGraph g, TflTensor w, int axis)
    {
        var (data, scales) = QuantizeSymmetric(w.Value!.As<float>(), w.Shape, axis);
        var q = g.AddTensor(w.Name + "/int8", TensorType.INT8, w.Shape.ToArray());
        var qv = Tensor.Create(data, w.Shape);
        q.Data = TensorBytes.ToBytes(qv);
        q.Value = qv;
        q.Role = TfLiteWeightRole.Weight;
        q.Quantization = new QuantizationParametersT
        {
            Scale = scales.ToList(), ZeroPoint = new long[scales.Length].ToList(), QuantizedDimension = axis < 0 ? 0 : axis,
        };
        return q;
    }

    private static TflTensor AddBias(TflGraph g, TflTensor b, float inputScale, List<float> weightScales)
    {
        var src = b.Value!.As<float>();
        var scales = new float[weightScales.Count == 1 ? 1 : src.Length];
        for (int c = 0; c < scales.Length; c++) scales[c] = inputScale * weightScales[weightScales.Count == 1 ? 0 : c];
        var data = new int[src.Length];
        for (int i = 0; i < src.Length; i++)
        {
            double v = Math.Round(src[i] / (double)scales[scales.Length == 1 ? 0 : i], MidpointRounding.AwayFromZero);
            data[i] = (int)Math.Clamp(v, int.MinValue + 1, int.MaxValue);
        }
        var q = g.AddTensor(b.Name + "/int32", TensorType.INT32, b.Shape.ToArray());
        var qv = Tensor.Create(data, b.Shape);
        q.Data = TensorBytes.ToBytes(qv);
        q.Value = qv;
        q.Role = TfLiteWeightRole.Bias;
        q.Quantization = new QuantizationParametersT { Scale = scales.ToList(), ZeroPoint = new long[scales.Length].ToList(), QuantizedDimension = 0 };
        return q;
    }

    private static TflTensor AddAsymmetricConstant(TflGraph g, TflTensor t, (float Scale, int Zp) p)
    {
        var src = t.Value!.As<float>();
        var data = new sbyte[src.Length];
        for (int i = 0; i < src.Length; i++)
            data[i] = (sbyte)Math.Clamp(Math.Round(src[i] / p.Scale, MidpointRounding.AwayFromZero) + p.Zp, -128, 127);
        var q = g.AddTensor(t.Name + "/int8", TensorType.INT8, t.Shape.ToArray());
        var qv = Tensor.Create(data, t.Shape);
        q.Data = TensorBytes.ToBytes(qv);
        q.Value = qv;
        q.Quantization = Params(p);
        return q;
    }

    /// <summary>Samples keyed by input name; a bare array (key "") belongs to the only input; none: generated uniform [0,1) inputs.</summary>
    private static List<IReadOnlyDictionary<string, Tensor>> BindSamples(TflGraph g, IReadOnlyList<IReadOnlyDictionary<string, Tensor>>? data)
    {
        if (data is not { Count: > 0 })
            throw new ModelOpsException(TfLiteErrorIds.CalibrationRequired, ErrorKind.InvalidArgument,
                "Full-integer Int8 quantization needs -CalibrationData: representative inputs (.npy/.npz files, a folder of them, or tensors) to measure activation ranges.");
        var list = new List<IReadOnlyDictionary<string, Tensor>>();
        foreach (var s in data)
        {
            if (s.ContainsKey(""))
            {
                if (g.Inputs.Count != 1)
                    throw new ModelOpsException(TfLiteErrorIds.CalibrationData, ErrorKind.InvalidArgument,
                        $"The model has {g.Inputs.Count} inputs; give calibration samples as .npz files with one array per input name ({string.Join(", ", g.InputKeys)}).");
                list.Add(new Dictionary<string, Tensor>(StringComparer.Ordinal) { [g.InputKeys[0]] = s[""] });
            }
            else list.Add(s);
        }
        return list;
    }

    /// <summary>Runs the float model in the managed interpreter on every sample; min/max of each float tensor (NaN: never seen).</summary>
    private static (double[] Min, double[] Max) Calibrate(TflGraph g, List<IReadOnlyDictionary<string, Tensor>> samples)
    {
        TfLiteOpVersions.Assign(g);
        var bytes = TfLiteWriter.Write(g, TfLiteOpVersions.MinimumRuntime(g), out _);
        using var session = new TfLiteSession(TfLiteModelReader.Read("calibration.tflite", bytes));
        var lo = Enumerable.Repeat(double.NaN, g.Tensors.Count).ToArray();
        var hi = Enumerable.Repeat(double.NaN, g.Tensors.Count).ToArray();
        foreach (var s in samples)
        {
            var feeds = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var (k, v) in s) feeds[k] = v.DType == DataType.DtFloat ? v : ToFloat(v);
            var values = session.RunAllTensors(feeds);
            for (int t = 0; t < g.Tensors.Count; t++)
            {
                if (g.Tensors[t].Type != TensorType.FLOAT32 || g.Tensors[t].IsConstant || values[t] is not { } v) continue;
                var span = v.As<float>();
                double mn = double.IsNaN(lo[t]) ? double.PositiveInfinity : lo[t], mx = double.IsNaN(hi[t]) ? double.NegativeInfinity : hi[t];
                foreach (float x in span)
                {
                    if (!float.IsFinite(x)) continue;
                    if (x < mn) mn = x;
                    if (x > mx) mx = x;
                }
                if (mn <= mx) { lo[t] = mn; hi[t] = mx; }
            }
        }
        return (lo, hi);
    }

    private static Tensor ToFloat(Tensor v)
    {
        var f = new float[v.Length];
        for (int i = 0; i < f.Length; i++) f[i] = (float)v.GetDouble(i);
        return Tensor.Create(f, v.Shape);
    }
}
