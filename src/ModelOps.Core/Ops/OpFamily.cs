namespace ModelOps.Core.Ops;

/// <summary>
/// Everything ModelOps knows about one family of TensorFlow ops lives in one subclass of this type,
/// in one file under Ops/ (e.g. Ops/Convolution.cs): attribute defaults, shape/dtype rules, the engine
/// kernels, and (as those land) the lowerings to TFLite and ONNX. <see cref="OpRegistry.Default"/> finds
/// every family in this assembly by reflection, so adding an op touches its family file and its test only.
/// </summary>
public abstract class OpFamily
{
    /// <summary>Registers the engine kernels of this family.</summary>
    public abstract void RegisterKernels(KernelRegistry registry);

    /// <summary>Registers the ONNX lowerings of this family (none by default).</summary>
    public virtual void RegisterOnnx(Converters.Onnx.OnnxLoweringRegistry registry) { }

    /// <summary>Registers the lowerings of this family's ops to TFLite builtins (none by default).</summary>
    public virtual void RegisterTfLite(ModelOps.Core.Converters.TfLite.TfLiteLoweringRegistry registry) { }
}
