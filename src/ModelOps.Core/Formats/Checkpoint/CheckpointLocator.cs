using System.Globalization;
using System.Text.RegularExpressions;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats.Text;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Formats.Checkpoint;

/// <summary>
/// Finds the checkpoint a user means: a prefix, a .index / .data-NNNNN-of-MMMMM file, a folder holding a
/// `checkpoint` state file (latest checkpoint, as tf.train.latest_checkpoint) or a SavedModel's variables.
/// Legacy V1 checkpoints (a single SSTable of SavedTensorSlices, no .index) get their own clear error.
/// </summary>
public static partial class CheckpointLocator
{
    public const string StateFileName = "checkpoint";

    [GeneratedRegex(@"\.data-\d{5}-of-\d{5}$")]
    private static partial Regex DataSuffix();

    public static string IndexPath(string prefix) => prefix + ".index";

    public static string DataPath(string prefix, int shard, int numShards) =>
        string.Create(CultureInfo.InvariantCulture, $"{prefix}.data-{shard:D5}-of-{numShards:D5}");

    /// <summary>True when the path names a V2 checkpoint in any of the accepted spellings.</summary>
    public static bool LooksLikeCheckpoint(string path)
    {
        try { ResolvePrefix(path); return true; }
        catch (ModelOpsException) { return false; }
    }

    /// <summary>The prefix of the V2 checkpoint the path names; throws CheckpointNotFound / CheckpointV1Unsupported.</summary>
    public static string ResolvePrefix(string path)
    {
        string full = Path.GetFullPath(path);
        if (Directory.Exists(full))
        {
            string state = Path.Combine(full, StateFileName);
            if (File.Exists(state)) return FromStateFile(state);
            string sm = Path.Combine(full, "variables", "variables");
            if (File.Exists(IndexPath(sm))) return sm;
            var indexes = Directory.GetFiles(full, "*.index");
            if (indexes.Length == 1) return indexes[0][..^".index".Length];
            throw new ModelOpsException(ErrorIds.CheckpointNotFound, ErrorKind.ObjectNotFound,
                indexes.Length > 1
                    ? $"The folder '{path}' holds {indexes.Length} checkpoints and no '{StateFileName}' state file naming the latest; pass one prefix: {string.Join(", ", indexes.Select(i => Path.GetFileName(i)[..^6]).Order(StringComparer.Ordinal))}."
                    : $"The folder '{path}' holds no checkpoint: no '{StateFileName}' state file and no *.index file.", path);
        }
        if (full.EndsWith(".index", StringComparison.Ordinal) && File.Exists(full)) return full[..^".index".Length];
        var m = DataSuffix().Match(full);
        if (m.Success && File.Exists(full)) return full[..m.Index];
        if (File.Exists(IndexPath(full))) return full;
        ThrowIfV1(full, path);
        string? dir = Path.GetDirectoryName(full);
        string hint = dir is not null && Directory.Exists(dir) && File.Exists(Path.Combine(dir, StateFileName))
            ? $" The folder has a '{StateFileName}' file: pass the folder to use the latest checkpoint." : "";
        throw new ModelOpsException(ErrorIds.CheckpointNotFound, ErrorKind.ObjectNotFound,
            $"Cannot find the checkpoint '{path}': '{IndexPath(full)}' does not exist. Give the checkpoint prefix (e.g. 'model.ckpt-1000'), its .index file, or its folder.{hint}", path);
    }

    /// <summary>The latest checkpoint a `checkpoint` state file names (relative paths are relative to its folder).</summary>
    public static string FromStateFile(string stateFile)
    {
        string dir = Path.GetDirectoryName(Path.GetFullPath(stateFile))!;
        CheckpointState st;
        try
        {
            st = TextFormatParser.Parse<CheckpointState>(File.ReadAllText(stateFile));
        }
        catch (TextFormatException ex)
        {
            throw new ModelOpsException(ErrorIds.CheckpointCorrupt, ErrorKind.InvalidData,
                $"The checkpoint state file '{stateFile}' is not a text CheckpointState: {ex.Message}", stateFile, ex);
        }
        if (string.IsNullOrEmpty(st.ModelCheckpointPath))
            throw new ModelOpsException(ErrorIds.CheckpointNotFound, ErrorKind.ObjectNotFound,
                $"The checkpoint state file '{stateFile}' names no model_checkpoint_path.", stateFile);
        string named = st.ModelCheckpointPath;
        string candidate = Path.IsPathRooted(named) ? named : Path.Combine(dir, named);
        if (File.Exists(IndexPath(candidate))) return Path.GetFullPath(candidate);
        // State files keep the absolute path of the machine that trained; the files usually sit beside it.
        string local = Path.Combine(dir, Path.GetFileName(named.Replace('\\', '/').TrimEnd('/')));
        if (File.Exists(IndexPath(local))) return local;
        ThrowIfV1(local, stateFile);
        throw new ModelOpsException(ErrorIds.CheckpointNotFound, ErrorKind.ObjectNotFound,
            $"The checkpoint state file '{stateFile}' names '{named}', but neither '{IndexPath(candidate)}' nor '{IndexPath(local)}' exists.", stateFile);
    }

    private static void ThrowIfV1(string prefix, string userPath)
    {
        string? v1 = null;
        if (File.Exists(prefix) && IsTable(prefix)) v1 = prefix;
        else
        {
            string? dir = Path.GetDirectoryName(prefix);
            if (dir is not null && Directory.Exists(dir))
                v1 = Directory.GetFiles(dir, Path.GetFileName(prefix) + "-?????-of-?????").FirstOrDefault(IsTable);
        }
        if (v1 is not null)
            throw new ModelOpsException(ErrorIds.CheckpointV1Unsupported, ErrorKind.NotImplemented,
                $"'{userPath}' is a legacy V1 checkpoint ('{Path.GetFileName(v1)}' is a SavedTensorSlices table and there is no .index file). " +
                "Re-save it with TensorFlow ≥ 1.x as a V2 checkpoint (tf.train.Saver(write_version=tf.train.SaverDef.V2)) or export a SavedModel, then freeze that.", userPath);
    }

    private static bool IsTable(string file)
    {
        try
        {
            using var fs = File.OpenRead(file);
            if (fs.Length < SortedTable.FooterSize) return false;
            Span<byte> tail = stackalloc byte[8];
            fs.Seek(-8, SeekOrigin.End);
            fs.ReadExactly(tail);
            return System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(tail) == SortedTable.Magic;
        }
        catch (IOException) { return false; }
    }
}
