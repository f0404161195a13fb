namespace ModelOps.Core.Errors;

/// <summary>Error ids of the TFLite reader and interpreter.</summary>
public static partial class ErrorIds
{
    /// <summary>The flatbuffer is truncated or corrupt (failed verification or a structural check).</summary>
    public const string TfLiteCorrupt = "TfLiteCorrupt";
    /// <summary>The model's schema version is not 3.</summary>
    public const string TfLiteSchemaVersion = "TfLiteUnsupportedSchemaVersion";
    /// <summary>A constant tensor's buffer does not hold dtype × shape bytes.</summary>
    public const string TfLiteBufferSizeMismatch = "TfLiteBufferSizeMismatch";
    /// <summary>The model holds custom or builtin ops the managed interpreter does not implement.</summary>
    public const string UnsupportedOps = "UnsupportedOps";
    /// <summary>An op's inputs, options or quantization are outside what its kernel supports.</summary>
    public const string TfLiteUnsupported = "TfLiteUnsupported";
    /// <summary>Inputs given to a session do not match the model (missing, unknown, dtype, shape).</summary>
    public const string TfLiteInputMismatch = "TfLiteInputMismatch";
}
