using ModelOps.Core.Errors;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Converters.TfLite;

internal static partial class TfLiteQuantizer
{
    /// <summary>Full-integer quantization (calibrated with the managed engine): not written yet.</summary>
    public static void ToFullInteger(TflGraph g, GraphDef source, TfLiteConverterCore core, TfLiteConverterOptions options)
    {
        _ = g; _ = source; _ = core; _ = options;
        throw new ModelOpsException(TfLiteErrorIds.Int8NotImplemented, ErrorKind.NotImplemented,
            "Full-integer Int8 quantization is not implemented in this version of ConvertTo-TfLite yet. Use -Quantization Dynamic (int8 weights) or Float16.");
    }
}
