using ModelOps.Core.Formats.TfLite.Schema;

namespace ModelOps.Core.Runtime.TfLite.Kernels;

/// <summary>Builtin op → kernel, collected from the op-family files.</summary>
internal static class TfLiteKernels
{
    public static readonly IReadOnlyDictionary<BuiltinOperator, TfLiteKernel> Registry = Build();

    private static Dictionary<BuiltinOperator, TfLiteKernel> Build()
    {
        var r = new Dictionary<BuiltinOperator, TfLiteKernel>();
        Arithmetic.Register(r);
        Convolution.Register(r);
        Pooling.Register(r);
        Activations.Register(r);
        Quantization.Register(r);
        Reshaping.Register(r);
        Lstm.Register(r);
        Reduction.Register(r);
        Resizing.Register(r);
        return r;
    }

    /// <summary>Names of the builtin ops the interpreter implements.</summary>
    public static IEnumerable<string> Supported => Registry.Keys.Select(k => k.ToString()).OrderBy(k => k, StringComparer.Ordinal);
}
