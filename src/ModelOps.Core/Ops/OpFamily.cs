namespace ModelOps.Core.Ops;

/// <summary>
/// Everything ModelOps knows about one family of TensorFlow ops lives in one partial subclass of this type:
/// the engine kernels with their attribute defaults in Ops/&lt;Family&gt;.cs, the TFLite lowerings in
/// Ops/&lt;Family&gt;.TfLite.cs and the ONNX lowerings in Ops/&lt;Family&gt;.Onnx.cs, side by side.
/// <see cref="OpRegistry"/> finds every family in this assembly by reflection, so adding an op touches its
/// family's files and their tests only.
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
