using System.Management.Automation;
using ModelOps.Core.Errors;

namespace ModelOps.PowerShell.Infrastructure;

/// <summary>
/// Shared plumbing for ModelOps cmdlets: provider-path resolution, ModelOpsException → ErrorRecord
/// with stable error ids, and the no-overwrite rule for outputs.
/// </summary>
public abstract class ModelOpsCmdlet : PSCmdlet
{
    /// <summary>Resolves a user path (relative, ~, PSDrive) to a provider path without requiring it to exist.</summary>
    protected string ResolvePath(string path) =>
        SessionState.Path.GetUnresolvedProviderPathFromPSPath(path);

    /// <summary>Resolves a path that must exist (file or folder); a missing one is a FileNotFound error record.</summary>
    protected string ResolveExistingPath(string path, bool allowDirectory = true)
    {
        string full = ResolvePath(path);
        if (File.Exists(full) || (allowDirectory && Directory.Exists(full))) return full;
        throw new ModelOpsException(ErrorIds.FileNotFound, ErrorKind.ObjectNotFound,
            $"Cannot find '{path}' (resolved to '{full}'). Check the path.", path);
    }

    protected static ErrorCategory CategoryOf(ErrorKind kind) => kind switch
    {
        ErrorKind.InvalidArgument => ErrorCategory.InvalidArgument,
        ErrorKind.ObjectNotFound => ErrorCategory.ObjectNotFound,
        ErrorKind.InvalidData => ErrorCategory.InvalidData,
        ErrorKind.NotImplemented => ErrorCategory.NotImplemented,
        ErrorKind.ResourceExists => ErrorCategory.ResourceExists,
        ErrorKind.InvalidOperation => ErrorCategory.InvalidOperation,
        ErrorKind.ReadError => ErrorCategory.ReadError,
        ErrorKind.WriteError => ErrorCategory.WriteError,
        _ => ErrorCategory.NotSpecified,
    };

    protected ErrorRecord ToErrorRecord(Exception ex, object? target)
    {
        if (ex is ModelOpsException m)
            return new ErrorRecord(m, m.ErrorId, CategoryOf(m.Kind), m.Target ?? target);
        if (ex is IOException)
            return new ErrorRecord(ex, "IOError", ErrorCategory.ReadError, target);
        if (ex is UnauthorizedAccessException)
            return new ErrorRecord(ex, "AccessDenied", ErrorCategory.PermissionDenied, target);
        return new ErrorRecord(ex, "UnexpectedError", ErrorCategory.NotSpecified, target);
    }

    /// <summary>Runs one unit of work; failures become terminating errors (default) or non-terminating ones.</summary>
    protected void Guard(object? target, Action action, bool terminating = true)
    {
        try
        {
            action();
        }
        catch (PipelineStoppedException) { throw; }
        catch (Exception ex) when (ex is ModelOpsException or IOException or UnauthorizedAccessException or InvalidOperationException or ArgumentException or NotSupportedException)
        {
            var rec = ToErrorRecord(ex, target);
            if (terminating) ThrowTerminatingError(rec);
            else WriteError(rec);
        }
    }
}
