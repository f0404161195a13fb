using ModelOps.Core.Tensors;

namespace ModelOps.Core.Converters.TfLite;

/// <summary>Post-training quantization modes (what tf.lite.TFLiteConverter offers).</summary>
public enum TfLiteQuantization
{
    /// <summary>float32 everywhere.</summary>
    None,
    /// <summary>float32 weights stored as float16, DEQUANTIZE before use.</summary>
    Float16,
    /// <summary>Dynamic range: large weights int8 (symmetric), hybrid kernels quantize activations on the fly.</summary>
    Dynamic,
    /// <summary>Full integer: int8 weights and activations from calibration ranges, int32 biases.</summary>
    Int8,
}

/// <summary>The type of the model's inputs/outputs as the caller sees them (Int8 mode only).</summary>
public enum TfLiteIoType
{
    Float32,
    Int8,
    UInt8,
}

public sealed class TfLiteConverterOptions
{
    public TfLiteQuantization Quantization { get; init; } = TfLiteQuantization.None;
    public TfLiteIoType InferenceInputType { get; init; } = TfLiteIoType.Float32;
    public TfLiteIoType InferenceOutputType { get; init; } = TfLiteIoType.Float32;
    /// <summary>Write ops without a builtin lowering as CUSTOM ops (the runtime must provide them).</summary>
    public bool AllowCustomOps { get; init; }
    /// <summary>Write ops without a builtin lowering as Select TF ops ("Flex" + op; needs the Flex delegate).</summary>
    public bool SelectTfOps { get; init; }
    /// <summary>Input tensor/node names; default: every Placeholder the outputs need (or, when they need none, every PlaceholderWithDefault they need).</summary>
    public IReadOnlyList<string>? Inputs { get; init; }
    /// <summary>Output tensor/node names; default: the graph's sinks.</summary>
    public IReadOnlyList<string>? Outputs { get; init; }
    /// <summary>Shapes for inputs whose placeholder shape is unknown (by input node name).</summary>
    public IReadOnlyDictionary<string, int[]>? InputShapes { get; init; }
    /// <summary>Representative input samples (input name → tensor) for Int8 calibration and accuracy reports.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, Tensor>>? CalibrationData { get; init; }
    /// <summary>Dynamic mode: weights with fewer elements stay float (TFLite's default 1024).</summary>
    public int MinWeightElementsForDynamic { get; init; } = 1024;
    /// <summary>
    /// Dynamic mode: let CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED read int8 weights directly (hybrid
    /// kernels that also quantize activations on the fly, TFLite's default). False puts a DEQUANTIZE before
    /// every quantized weight instead (per channel for convolutions: DEQUANTIZE v5, TFLite 2.7+): float math,
    /// so the only error is the weight rounding that the accuracy report measures.
    /// </summary>
    public bool DynamicHybridKernels { get; init; } = true;
    /// <summary>
    /// Int8 mode: the oldest TFLite the file must run on (e.g. "2.2.0"); ops whose integer kernel needs a newer
    /// runtime stay float between DEQUANTIZE and QUANTIZE. Null: no limit, every op with an int8 kernel is int8.
    /// </summary>
    public string? TargetRuntimeVersion { get; init; }
}
