using ModelOps.Core.Errors;

namespace ModelOps.Core.Formats;

/// <summary>
/// Writes outputs all-or-nothing: content goes to a temporary file beside the target, which is renamed
/// over the target only once complete. An existing target is never replaced unless <c>overwrite</c>.
/// On any failure the temporary file is removed and the target is untouched.
/// </summary>
public static class AtomicFile
{
    public static void EnsureWritable(string path, bool overwrite)
    {
        if (Directory.Exists(path))
            throw new ModelOpsException(ErrorIds.OutputExists, ErrorKind.ResourceExists,
                $"The output path '{path}' is a folder; give a file name.", path);
        if (File.Exists(path) && !overwrite)
            throw new ModelOpsException(ErrorIds.OutputExists, ErrorKind.ResourceExists,
                $"The file '{path}' already exists. Use -Force to overwrite it, or choose another -OutputPath.", path);
        string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir is not null && !Directory.Exists(dir))
            throw new ModelOpsException(ErrorIds.DirectoryNotFound, ErrorKind.ObjectNotFound,
                $"The folder '{dir}' for the output '{path}' does not exist.", path);
    }

    public static void Write(string path, ReadOnlySpan<byte> bytes, bool overwrite)
    {
        var copy = bytes.ToArray();
        Write(path, s => s.Write(copy), overwrite);
    }

    /// <summary>
    /// Writes through a temp file renamed into place; <paramref name="bufferSize"/> 0 leaves the file stream unbuffered
    /// (for writers with their own buffer). With <paramref name="durable"/> the temp file is flushed to the disk
    /// (fsync) before the rename, so that even a power cut or OS crash right afterwards leaves the old file or the
    /// complete new one. Without it, a failure or crash of this process still never leaves a partial output (the
    /// rename only happens once every byte is in the OS's cache), but an OS crash before the cache reaches the disk
    /// may — the same guarantee TensorFlow's own atomic writes give (temp file + rename, no fsync).
    /// </summary>
    public static void Write(string path, Action<Stream> write, bool overwrite, int bufferSize = 1 << 16, bool durable = true)
    {
        EnsureWritable(path, overwrite);
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, "." + Path.GetFileName(full) + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp");
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize))
            {
                write(fs);
                fs.Flush(durable);
            }
            File.Move(temp, full, overwrite);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }
}
