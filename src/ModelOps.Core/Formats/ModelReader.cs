using System.Text;
using Google.Protobuf;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats.Text;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Formats;

/// <summary>A TensorFlow protobuf model read from disk, with what was learned about its file.</summary>
public sealed class TfModelFile
{
    public required string Path { get; init; }
    public required ModelFormat Format { get; init; }
    public ProtoEncoding Encoding { get; init; }
    /// <summary>Bytes on disk: the file, or for a SavedModel the whole folder (graph, variables, assets).</summary>
    public long FileSize { get; init; }
    public GraphDef? Graph { get; init; }
    public MetaGraphDef? MetaGraph { get; init; }
    public SavedModel? SavedModel { get; init; }
    public OpList? OpList { get; init; }
    /// <summary>For an ONNX file: the model.</summary>
    public Protos.Onnx.ModelProto? OnnxModel { get; init; }
    /// <summary>For a SavedModel: the folder; else null.</summary>
    public string? SavedModelDirectory { get; init; }
    /// <summary>For a checkpoint: its prefix (path without .index / .data-…); else null.</summary>
    public string? CheckpointPrefix { get; init; }
    /// <summary>For a .tflite flatbuffer: the verified model; else null.</summary>
    public TfLite.TfLiteModel? TfLite { get; init; }
}

/// <summary>
/// Reads GraphDef, MetaGraphDef, SavedModel and OpList files in binary or text encoding, deciding the
/// encoding and the message by content. Every failure is a <see cref="ModelOpsException"/> naming the file.
/// </summary>
public static class ModelReader
{
    public const string SavedModelPb = "saved_model.pb";
    public const string SavedModelPbtxt = "saved_model.pbtxt";

    /// <summary>Reads a model file or SavedModel folder.</summary>
    public static TfModelFile Read(string path)
    {
        if (IsCheckpoint(path)) return ReadCheckpoint(path);
        if (Directory.Exists(path)) return ReadSavedModelDirectory(path);
        if (!File.Exists(path))
        {
            string? dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path));
            throw new ModelOpsException(ErrorIds.FileNotFound, ErrorKind.ObjectNotFound,
                dir is not null && !Directory.Exists(dir)
                    ? $"Cannot find '{path}': the folder '{dir}' does not exist."
                    : $"Cannot find the model file '{path}'. Check the path, or pass a SavedModel folder.", path);
        }
        byte[] bytes = File.ReadAllBytes(path);
        if (TfLite.TfLiteModelReader.IsTfLite(bytes) || path.EndsWith(".tflite", StringComparison.OrdinalIgnoreCase))
            return new TfModelFile { Path = path, Format = ModelFormat.TfLite, FileSize = bytes.LongLength, TfLite = TfLite.TfLiteModelReader.Read(path, bytes) };
        string name = System.IO.Path.GetFileName(path);
        if (name.Equals(SavedModelPb, StringComparison.OrdinalIgnoreCase) || name.Equals(SavedModelPbtxt, StringComparison.OrdinalIgnoreCase))
        {
            string dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
            return ReadSavedModel(path, bytes, dir);
        }
        if (OnnxModelFile.LooksLikeOnnx(bytes))
            return new TfModelFile { Path = path, Format = ModelFormat.Onnx, FileSize = bytes.LongLength, OnnxModel = OnnxModelFile.Parse(bytes, path) };
        return ReadProtoFile(path, bytes);
    }

    /// <summary>Reads any model and returns its GraphDef (the MetaGraphDef's graph for .meta files and SavedModels).</summary>
    public static GraphDef ReadGraphDef(string path)
    {
        var m = Read(path);
        if (m.Graph is not null) return m.Graph;
        throw new ModelOpsException(ErrorIds.UnrecognizedModelFormat, ErrorKind.InvalidData,
            $"'{path}' holds a {m.Format}, which contains no graph.", path);
    }

    /// <summary>
    /// A checkpoint prefix, its .index / .data-… file, a legacy V1 checkpoint file, or a folder with a
    /// `checkpoint` state file (or *.index files) and no saved_model.pb.
    /// </summary>
    public static bool IsCheckpoint(string path)
    {
        if (Directory.Exists(path))
            return !File.Exists(System.IO.Path.Combine(path, SavedModelPb)) && !File.Exists(System.IO.Path.Combine(path, SavedModelPbtxt))
                && (File.Exists(System.IO.Path.Combine(path, Checkpoint.CheckpointLocator.StateFileName)) || Directory.EnumerateFiles(path, "*.index").Any());
        if (File.Exists(path))
        {
            if (path.EndsWith(".index", StringComparison.Ordinal) || System.Text.RegularExpressions.Regex.IsMatch(path, @"\.data-\d{5}-of-\d{5}$")) return true;
            using var fs = File.OpenRead(path);
            if (fs.Length < Checkpoint.SortedTable.FooterSize) return false;
            Span<byte> tail = stackalloc byte[8];
            fs.Seek(-8, SeekOrigin.End);
            fs.ReadExactly(tail);
            return System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(tail) == Checkpoint.SortedTable.Magic;
        }
        return File.Exists(path + ".index");
    }

    private static TfModelFile ReadCheckpoint(string path)
    {
        string prefix = Checkpoint.CheckpointLocator.ResolvePrefix(path);
        string dir = System.IO.Path.GetDirectoryName(prefix)!;
        string name = System.IO.Path.GetFileName(prefix);
        long size = Directory.EnumerateFiles(dir, name + ".*")
            .Where(f => f.EndsWith(".index", StringComparison.Ordinal) || f[(prefix.Length)..].StartsWith(".data-", StringComparison.Ordinal))
            .Sum(f => new FileInfo(f).Length);
        return new TfModelFile { Path = prefix, Format = ModelFormat.Checkpoint, Encoding = ProtoEncoding.Binary, FileSize = size, CheckpointPrefix = prefix };
    }

    private static TfModelFile ReadSavedModelDirectory(string dir)
    {
        string pb = System.IO.Path.Combine(dir, SavedModelPb);
        string pbtxt = System.IO.Path.Combine(dir, SavedModelPbtxt);
        string? file = File.Exists(pb) ? pb : File.Exists(pbtxt) ? pbtxt : null;
        if (file is null)
        {
            bool hasCkpt = File.Exists(System.IO.Path.Combine(dir, "checkpoint"));
            throw new ModelOpsException(ErrorIds.SavedModelProtoMissing, ErrorKind.ObjectNotFound,
                $"The folder '{dir}' is not a SavedModel: it has no {SavedModelPb} or {SavedModelPbtxt}." +
                (hasCkpt ? " It holds a 'checkpoint' file: pass the checkpoint prefix (or this folder) to -Checkpoint with the graph in -Graph." : " Pass the SavedModel's own folder, or a graph file."), dir);
        }
        return ReadSavedModel(file, File.ReadAllBytes(file), dir);
    }

    private static TfModelFile ReadSavedModel(string file, byte[] bytes, string dir)
    {
        var enc = DetectEncoding(file, bytes);
        var sm = Parse<SavedModel>(file, bytes, enc, "SavedModel");
        if (sm.MetaGraphs.Count == 0)
            throw new ModelOpsException(ErrorIds.InvalidProtobuf, ErrorKind.InvalidData,
                $"The SavedModel '{dir}' has no MetaGraphs: '{System.IO.Path.GetFileName(file)}' is empty or not a SavedModel.", file);
        long size = new DirectoryInfo(dir).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
        var meta = sm.MetaGraphs[0];
        return new TfModelFile
        {
            Path = dir, Format = ModelFormat.SavedModel, Encoding = enc, FileSize = size,
            SavedModel = sm, MetaGraph = meta, Graph = meta.GraphDef, SavedModelDirectory = dir,
        };
    }

    private static TfModelFile ReadProtoFile(string path, byte[] bytes)
    {
        var enc = DetectEncoding(path, bytes);
        long size = bytes.LongLength;
        if (enc == ProtoEncoding.Text)
        {
            string text = DecodeUtf8(bytes);
            string? first = ProtoSniffer.FirstTextField(text);
            switch (first)
            {
                case "saved_model_schema_version" or "meta_graphs":
                    return ReadSavedModel(path, bytes, System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
                case "meta_info_def" or "graph_def" or "saver_def" or "collection_def" or "signature_def" or "asset_file_def" or "object_graph_def":
                    var meta = ParseText<MetaGraphDef>(path, text, "MetaGraphDef");
                    return new TfModelFile { Path = path, Format = ModelFormat.MetaGraphDef, Encoding = enc, FileSize = size, MetaGraph = meta, Graph = meta.GraphDef };
                case "op":
                    var ops = ParseText<OpList>(path, text, "OpList");
                    return new TfModelFile { Path = path, Format = ModelFormat.OpList, Encoding = enc, FileSize = size, OpList = ops };
                default:
                    var g = ParseText<GraphDef>(path, text, "GraphDef");
                    return new TfModelFile { Path = path, Format = ModelFormat.GraphDef, Encoding = enc, FileSize = size, Graph = g };
            }
        }

        var fields = ProtoSniffer.TopLevelFields(bytes, int.MaxValue)!;
        if (fields.Any(f => f is (1, 0)))
            return ReadSavedModel(path, bytes, System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        bool metaHint = path.EndsWith(".meta", StringComparison.OrdinalIgnoreCase)
            || fields.Any(f => f.Field is 6 or 7 || f is (3, 2));
        if (metaHint || !fields.Any(f => f.Field == 1))
        {
            var meta = TryParseMeta(bytes);
            if (meta is not null)
                return new TfModelFile { Path = path, Format = ModelFormat.MetaGraphDef, Encoding = enc, FileSize = size, MetaGraph = meta, Graph = meta.GraphDef };
        }
        else
        {
            var meta = TryParseMeta(bytes);
            if (meta is not null && meta.GraphDef is { Node.Count: > 0 } && PlausibleGraph(meta.GraphDef) && meta.MetaInfoDef is not null && Plausible(meta.MetaInfoDef.MetaGraphVersion))
                return new TfModelFile { Path = path, Format = ModelFormat.MetaGraphDef, Encoding = enc, FileSize = size, MetaGraph = meta, Graph = meta.GraphDef };
        }
        var graph = Parse<GraphDef>(path, bytes, enc, "GraphDef");
        if (!PlausibleGraph(graph))
            throw new ModelOpsException(ErrorIds.UnrecognizedModelFormat, ErrorKind.InvalidData,
                $"'{path}' is well-formed protobuf but not a TensorFlow GraphDef, MetaGraphDef or SavedModel (node names or ops are not valid).", path);
        return new TfModelFile { Path = path, Format = ModelFormat.GraphDef, Encoding = enc, FileSize = size, Graph = graph };
    }

    private static MetaGraphDef? TryParseMeta(byte[] bytes)
    {
        try
        {
            var m = MetaGraphDef.Parser.ParseFrom(bytes);
            return m.GraphDef is null || PlausibleGraph(m.GraphDef) ? m : null;
        }
        catch (InvalidProtocolBufferException) { return null; }
    }

    private static bool Plausible(string s) => s.All(c => c >= ' ' && c != '\uFFFD');

    private static bool PlausibleGraph(GraphDef g) =>
        g.Node.All(n => n.Name.Length > 0 && n.Op.Length > 0 && IsNodeName(n.Name) && n.Op.All(c => char.IsAsciiLetterOrDigit(c) || c == '_' || c == '>' || c == '.'));

    private static bool IsNodeName(string s) => s.All(c => c > ' ' && c < 0x7F || c > 0x7F && c != '\uFFFD');

    /// <summary>Text or binary by content; empty, binary-garbage and truncated files get a clear error.</summary>
    public static ProtoEncoding DetectEncoding(string path, byte[] bytes)
    {
        if (bytes.Length == 0)
            throw new ModelOpsException(ErrorIds.InvalidProtobuf, ErrorKind.InvalidData, $"'{path}' is empty; a model file cannot be 0 bytes long.", path);
        if (ProtoSniffer.LooksLikeText(bytes)) return ProtoEncoding.Text;
        if (bytes.Length >= 8 && bytes[4] == 'T' && bytes[5] == 'F' && bytes[6] == 'L')
            throw new ModelOpsException(ErrorIds.UnrecognizedModelFormat, ErrorKind.InvalidData, $"'{path}' is a TensorFlow Lite flatbuffer, not a TensorFlow graph.", path);
        if (ProtoSniffer.TopLevelFields(bytes, int.MaxValue) is null)
            throw new ModelOpsException(ErrorIds.InvalidProtobuf, ErrorKind.InvalidData,
                $"'{path}' is neither text-format nor well-formed binary protobuf: the file is truncated, corrupt, or not a TensorFlow model.", path);
        return ProtoEncoding.Binary;
    }

    public static T Parse<T>(string path, byte[] bytes, ProtoEncoding enc, string what) where T : IMessage<T>, new()
    {
        if (enc == ProtoEncoding.Text) return ParseText<T>(path, DecodeUtf8(bytes), what);
        try
        {
            var parser = new MessageParser<T>(() => new T());
            return parser.ParseFrom(bytes);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new ModelOpsException(ErrorIds.InvalidProtobuf, ErrorKind.InvalidData,
                $"'{path}' is not a valid binary {what}: {ex.Message} The file may be truncated or corrupt.", path, ex);
        }
    }

    public static T ParseText<T>(string path, string text, string what) where T : IMessage<T>, new()
    {
        try
        {
            return TextFormatParser.Parse<T>(text, TypeRegistries.TensorFlow);
        }
        catch (TextFormatException ex)
        {
            throw new ModelOpsException(ErrorIds.TextFormatSyntax, ErrorKind.InvalidData,
                $"'{path}' (text {what}) has a syntax error at line {ex.Line}, column {ex.Column}: {ex.Message}", path, ex);
        }
    }

    private static string DecodeUtf8(byte[] bytes)
    {
        int start = bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF ? 3 : 0;
        return Encoding.UTF8.GetString(bytes, start, bytes.Length - start);
    }
}
