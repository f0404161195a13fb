using ModelOps.Core.Errors;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Converters.TfLite;

internal static partial class TfLiteQuantizer
{
    /// <summary>Full-integer quantization; needs the managed engine for calibration.</summary>
    public static void ToFullInteger(TflGraph g, GraphDef source, TfLiteConverterCore core, TfLiteConverterOptions options)
    {
        _ = g; _ = source; _ = core; _ = options;
        throw new ModelOpsException(TfLiteErrorIds.EngineUnavailable, ErrorKind.NotImplemented,
            "Int8 quantization needs the managed engine for calibration, which this build does not include yet. Use -Quantization Dynamic or Float16.");
    }
}
