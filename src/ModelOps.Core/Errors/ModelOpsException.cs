namespace ModelOps.Core.Errors;

/// <summary>What kind of failure an error is; the PowerShell layer maps it to an ErrorCategory.</summary>
public enum ErrorKind
{
    InvalidArgument,
    ObjectNotFound,
    InvalidData,
    NotImplemented,
    ResourceExists,
    InvalidOperation,
    ReadError,
    WriteError,
}

/// <summary>
/// The one exception type the core throws for anything a user can cause or fix. <see cref="ErrorId"/>
/// is stable (tests and scripts match on it); the message names the thing and says what to do.
/// </summary>
public class ModelOpsException : Exception
{
    public ModelOpsException(string errorId, ErrorKind kind, string message, object? target = null, Exception? inner = null)
        : base(message, inner)
    {
        ErrorId = errorId;
        Kind = kind;
        Target = target;
    }

    public string ErrorId { get; }
    public ErrorKind Kind { get; }
    public object? Target { get; }
}

/// <summary>Stable error ids, one place so that every layer uses the same spelling.</summary>
public static partial class ErrorIds
{
    public const string FileNotFound = "FileNotFound";
    public const string DirectoryNotFound = "DirectoryNotFound";
    public const string UnrecognizedModelFormat = "UnrecognizedModelFormat";
    public const string InvalidProtobuf = "InvalidProtobuf";
    public const string TextFormatSyntax = "TextFormatSyntax";
    public const string SavedModelProtoMissing = "SavedModelProtoMissing";
    public const string InvalidTensor = "InvalidTensor";
    public const string NodeNotFound = "NodeNotFound";
    public const string GraphCycle = "GraphCycle";
    public const string InvalidGraph = "InvalidGraph";
    public const string OutputExists = "OutputExists";
    public const string InvalidNpy = "InvalidNpy";
}
