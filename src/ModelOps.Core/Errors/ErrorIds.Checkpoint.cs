namespace ModelOps.Core.Errors;

/// <summary>Error ids of the checkpoint reader/writer and the freezer.</summary>
public static partial class ErrorIds
{
    public const string CheckpointNotFound = "CheckpointNotFound";
    public const string CheckpointCorrupt = "CheckpointCorrupt";
    public const string CheckpointCrcMismatch = "CheckpointCrcMismatch";
    public const string CheckpointV1Unsupported = "CheckpointV1Unsupported";
    public const string CheckpointKeyNotFound = "CheckpointKeyNotFound";
    public const string CheckpointUnsupported = "CheckpointUnsupported";
    public const string VariableMissing = "VariableMissing";
    public const string VariableMismatch = "VariableMismatch";
    public const string OutputNodeRequired = "OutputNodeRequired";
    public const string TagNotFound = "TagNotFound";
    public const string SignatureNotFound = "SignatureNotFound";
    public const string FunctionNotFound = "FunctionNotFound";
    public const string FreezeUnsupported = "FreezeUnsupported";
}
