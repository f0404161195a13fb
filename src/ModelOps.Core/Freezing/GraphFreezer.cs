using System.Diagnostics;
using System.Text.RegularExpressions;
using Google.Protobuf;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Checkpoint;
using ModelOps.Core.Formats.Text;
using ModelOps.Core.Graph;
using ModelOps.Core.Inspection;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Freezing;

/// <summary>
/// Freezes TensorFlow models: graph + checkpoint (GraphDef or MetaGraphDef), TF1 SavedModels and TF2
/// SavedModels become one GraphDef with every variable replaced by a Const holding its checkpoint value,
/// function calls inlined, and everything the outputs do not need (saver, initializers, training ops)
/// removed — what freeze_graph.py / convert_variables_to_constants(_v2) do, without TensorFlow.
/// </summary>
public static class GraphFreezer
{
    public const string ObjectGraphKey = "_CHECKPOINTABLE_OBJECT_GRAPH";

    private static readonly HashSet<string> RefVariableOps = new(StringComparer.Ordinal) { "Variable", "VariableV2", "AutoReloadVariable" };

    /// <summary>Ops that change variables or belong to saving/initialising: their control edges are dropped and they never survive.</summary>
    private static readonly HashSet<string> PlumbingOps = new(StringComparer.Ordinal)
    {
        "Assign", "AssignAdd", "AssignSub", "AssignVariableOp", "AssignAddVariableOp", "AssignSubVariableOp",
        "ScatterUpdate", "ScatterAdd", "ScatterSub", "ResourceScatterUpdate", "ResourceScatterAdd",
        "SaveV2", "Save", "SaveSlices", "RestoreV2", "Restore", "RestoreSlice", "MergeV2Checkpoints", "ShardedFilename", "StringJoin",
        "VarIsInitializedOp", "IsVariableInitialized", "DestroyResourceOp",
        "ApplyGradientDescent", "ApplyAdam", "ApplyMomentum", "ApplyRMSProp", "ApplyAdagrad",
        "ResourceApplyGradientDescent", "ResourceApplyAdam", "ResourceApplyMomentum", "ResourceApplyRMSProp", "ResourceApplyAdagrad", "ResourceApplyKerasMomentum",
    };

    private static readonly Dictionary<string, string> RefOpReplacements = new(StringComparer.Ordinal)
    {
        ["RefSwitch"] = "Switch", ["RefMerge"] = "Merge", ["RefEnter"] = "Enter", ["RefExit"] = "Exit",
        ["RefIdentity"] = "Identity", ["RefNextIteration"] = "NextIteration", ["RefSelect"] = "Select",
    };

    /// <summary>Freezes a graph file (.pb/.pbtxt/.meta) with a checkpoint (prefix, .index or folder).</summary>
    public static FreezeResult FreezeGraph(string graphPath, string? checkpoint, FreezeOptions options)
    {
        var file = ModelReader.Read(graphPath);
        if (file.Format == ModelFormat.SavedModel) return FreezeSavedModel(file, options);
        if (file.Graph is null)
            throw new ModelOpsException(ErrorIds.UnrecognizedModelFormat, ErrorKind.InvalidArgument, $"'{graphPath}' holds a {file.Format}, not a graph.", graphPath);
        var meta = file.MetaGraph;
        var sig = meta is null ? null : PickSignature(meta, options.Signature, required: false, graphPath);
        var reader = checkpoint is null ? null : CheckpointReader.Open(checkpoint);
        return Freeze(file.Graph, meta, sig, reader, options, file.Format.ToString(), renameSignature: false);
    }

    /// <summary>Freezes a SavedModel folder (TF1 or TF2) with its variables/ checkpoint.</summary>
    public static FreezeResult FreezeSavedModel(string dir, FreezeOptions options) => FreezeSavedModel(ModelReader.Read(dir), options);

    private static FreezeResult FreezeSavedModel(TfModelFile file, FreezeOptions options)
    {
        if (file.SavedModel is null)
            throw new ModelOpsException(ErrorIds.UnrecognizedModelFormat, ErrorKind.InvalidArgument, $"'{file.Path}' is a {file.Format}, not a SavedModel folder. Use -Graph for graph files.", file.Path);
        var meta = PickMetaGraph(file.SavedModel, options.Tags, file.Path);
        var sig = options.OutputNodes.Count == 0 ? PickSignature(meta, options.Signature, required: true, file.Path) : PickSignature(meta, options.Signature, required: false, file.Path);
        string vars = Path.Combine(file.SavedModelDirectory!, "variables", "variables");
        if (!File.Exists(vars + ".index") && (meta.GraphDef?.Node.Any(n => n.Op is "VariableV2" or "Variable" or "VarHandleOp") ?? false))
            throw new ModelOpsException(ErrorIds.CheckpointNotFound, ErrorKind.ObjectNotFound,
                $"The SavedModel '{file.Path}' has variables in its graph but no 'variables/variables.index' checkpoint holding their values; it cannot be frozen. Copy the SavedModel with its variables folder.", file.Path);
        var reader = File.Exists(vars + ".index") ? CheckpointReader.Open(vars) : null;
        bool tf2 = meta.ObjectGraphDef is { Nodes.Count: > 0 } && reader?.Contains(ObjectGraphKey) == true;
        return Freeze(meta.GraphDef ?? new GraphDef(), meta, sig, reader, options, tf2 ? "SavedModel (TF2)" : "SavedModel (TF1)", renameSignature: true);
    }

    public static MetaGraphDef PickMetaGraph(SavedModel sm, IReadOnlyList<string> tags, string path)
    {
        var want = new HashSet<string>(tags.Count == 0 ? new[] { "serve" } : tags, StringComparer.Ordinal);
        var exact = sm.MetaGraphs.FirstOrDefault(m => m.MetaInfoDef is not null && m.MetaInfoDef.Tags.ToHashSet(StringComparer.Ordinal).SetEquals(want));
        var superset = exact ?? sm.MetaGraphs.FirstOrDefault(m => m.MetaInfoDef is not null && want.IsSubsetOf(m.MetaInfoDef.Tags));
        if (superset is not null) return superset;
        if (sm.MetaGraphs.Count == 1 && (sm.MetaGraphs[0].MetaInfoDef?.Tags.Count ?? 0) == 0) return sm.MetaGraphs[0];
        var present = sm.MetaGraphs.Select(m => "{" + string.Join(", ", m.MetaInfoDef?.Tags ?? (IEnumerable<string>)Array.Empty<string>()) + "}");
        throw new ModelOpsException(ErrorIds.TagNotFound, ErrorKind.ObjectNotFound,
            $"The SavedModel '{path}' has no MetaGraph with tags {{{string.Join(", ", want)}}}. Tag sets present: {string.Join("; ", present)}. Pass one with -Tag.", path);
    }

    private static SignatureDef? PickSignature(MetaGraphDef meta, string name, bool required, string path)
    {
        if (meta.SignatureDef.TryGetValue(name, out var s)) return s;
        var usable = meta.SignatureDef.Where(kv => kv.Key != "__saved_model_init_op" && kv.Value.Outputs.Count > 0).ToList();
        if (!required && name == "serving_default") return usable.Count == 1 ? usable[0].Value : null;
        if (name == "serving_default" && usable.Count == 1) return usable[0].Value;
        throw new ModelOpsException(ErrorIds.SignatureNotFound, ErrorKind.ObjectNotFound,
            $"'{path}' has no signature '{name}'. Signatures present: {(usable.Count == 0 ? "none (pass -OutputNode)" : string.Join(", ", usable.Select(kv => kv.Key).Order(StringComparer.Ordinal)))}.", path);
    }

    private sealed record VarSource(string Key, string? SliceSpec);

    /// <summary>Takes ownership of <paramref name="reader"/>: the result keeps it (for the values it has not read yet) or it is closed.</summary>
    private static FreezeResult Freeze(GraphDef source, MetaGraphDef? meta, SignatureDef? sig, CheckpointReader? reader,
        FreezeOptions options, string sourceFormat, bool renameSignature)
    {
        var deferred = reader is null ? null : new DeferredWeights(reader, options.Progress);
        try
        {
            var result = Freeze(source, meta, sig, reader, deferred, options, sourceFormat, renameSignature);
            if (deferred is { Count: 0 }) deferred.Dispose();
            return result;
        }
        catch
        {
            deferred?.Dispose();
            throw;
        }
    }

    private static FreezeResult Freeze(GraphDef source, MetaGraphDef? meta, SignatureDef? sig, CheckpointReader? reader, DeferredWeights? deferred,
        FreezeOptions options, string sourceFormat, bool renameSignature)
    {
        var graph = source.Clone();
        // 1. Outputs: user names, else the signature, else a clear error listing candidate sinks.
        var outputs = new List<(string Tensor, string? Key, TensorInfo? Info)>();
        var tf = new TfGraph(graph);
        if (options.OutputNodes.Count > 0)
        {
            foreach (var o in options.OutputNodes)
            {
                var tn = TensorName.Parse(o.Trim());
                if (tn.IsControl || !tf.Contains(tn.Node)) throw tf.NotFound(o, "output node");
                outputs.Add((tn.Tensor, null, null));
            }
        }
        else if (sig is not null)
        {
            foreach (var kv in sig.Outputs.OrderBy(k => k.Key, StringComparer.Ordinal))
            {
                if (string.IsNullOrEmpty(kv.Value.Name))
                    throw new ModelOpsException(ErrorIds.FreezeUnsupported, ErrorKind.NotImplemented, $"Signature output '{kv.Key}' is not a dense tensor (sparse/composite outputs cannot be frozen).", kv.Key);
                var tn = TensorName.Parse(kv.Value.Name);
                if (!tf.Contains(tn.Node)) throw tf.NotFound(kv.Value.Name, "signature output node");
                outputs.Add((tn.Tensor, kv.Key, kv.Value));
            }
        }
        else
        {
            var sinks = ModelInspector.GuessOutputs(graph).Select(s => s.Name).ToList();
            throw new ModelOpsException(ErrorIds.OutputNodeRequired, ErrorKind.InvalidArgument,
                "The graph has no signature naming its outputs; pass -OutputNode." + (sinks.Count > 0 ? $" Candidate output nodes (sinks): {string.Join(", ", sinks.Take(12))}." : ""));
        }

        // Signature inputs that are intermediate tensors (TF1 serving graphs feed e.g. the Identity after
        // ParseExample) become Placeholders, so the frozen graph starts where the signature starts.
        if (sig is not null && renameSignature) { sig = sig.Clone(); CutAtSignatureInputs(graph, sig); }
        tf = new TfGraph(graph);

        // 2. Variable → checkpoint key maps (computed on the full graph, before pruning).
        var saverMap = SaverMap(tf);
        var objectMap = reader is not null && meta?.ObjectGraphDef is { Nodes.Count: > 0 } && reader.Contains(ObjectGraphKey)
            ? ObjectGraphMap(graph, meta.ObjectGraphDef, reader) : new Dictionary<string, string>(StringComparer.Ordinal);

        // 3. Keep what the outputs need, inline functions, keep what they need again.
        var outNodes = outputs.Select(o => TensorName.Parse(o.Tensor).Node).ToList();
        graph = Prune(graph, outNodes);
        if (graph.Node.Any(n => n.Op is "PartitionedCall" or "StatefulPartitionedCall") || (graph.Library?.Function.Count ?? 0) > 0)
        {
            var inliner = new FunctionInliner(source.Library, meta?.MetaInfoDef?.StrippedOpList?.Op);
            inliner.InlineAll(graph);
            for (int i = 0; i < outputs.Count; i++) outputs[i] = outputs[i] with { Tensor = inliner.Resolve(outputs[i].Tensor) };
            outNodes = outputs.Select(o => TensorName.Parse(o.Tensor).Node).ToList();
            graph = Prune(graph, outNodes);
        }
        graph.Library = null;
        // Saver / initializer / training ops reached only through control edges go now, before any value is read.
        DropPlumbingControlEdges(graph);
        graph = Prune(graph, outNodes);

        // 4. Variables → Const.
        tf = new TfGraph(graph);
        var include = options.IncludeVariables.Select(Wildcard).ToList();
        var exclude = options.ExcludeVariables.Select(Wildcard).ToList();
        var varNodes = graph.Node.Where(n => RefVariableOps.Contains(n.Op) || n.Op == "VarHandleOp").ToList();
        var toFreeze = varNodes.Where(n => (include.Count == 0 || include.Any(r => r.IsMatch(n.Name))) && !exclude.Any(r => r.IsMatch(n.Name))).ToList();
        if (toFreeze.Count > 0 && reader is null)
            throw new ModelOpsException(ErrorIds.CheckpointNotFound, ErrorKind.InvalidArgument,
                $"The graph has {toFreeze.Count} variables ({string.Join(", ", toFreeze.Take(5).Select(v => v.Name))}{(toFreeze.Count > 5 ? ", ..." : "")}) but no checkpoint was given. Pass -Checkpoint with the checkpoint prefix or folder.");
        var sources = new Dictionary<string, VarSource>(StringComparer.Ordinal);
        foreach (var v in toFreeze)
        {
            VarSource src = objectMap.TryGetValue(v.Name, out var ok) ? new VarSource(ok, null)
                : saverMap.TryGetValue(v.Name, out var sv) ? sv
                : new VarSource(v.Op == "VarHandleOp" && v.Attr.TryGetValue("shared_name", out var sn) && sn.S.Length > 0 && reader!.Contains(sn.S.ToStringUtf8()) ? sn.S.ToStringUtf8() : v.Name, null);
            if (!reader!.Contains(src.Key))
            {
                var ex = reader.NotFound(src.Key);
                throw new ModelOpsException(ErrorIds.VariableMissing, ErrorKind.ObjectNotFound,
                    $"Variable '{v.Name}' is not in the checkpoint '{reader.Prefix}' (looked for key '{src.Key}'). {ex.Message} Use the checkpoint written for this graph, or -ExcludeVariable '{v.Name}'.", v.Name);
            }
            sources[v.Name] = src;
        }
        long total = sources.Values.Sum(s => reader!.GetEntry(s.Key).ElementCount * Math.Max(1, reader.GetEntry(s.Key).DType.ByteSize()));
        long done = 0, parameters = 0, weightBytes = 0;
        var frozenDtypes = new Dictionary<string, DataType>(StringComparer.Ordinal);
        var frozenSizes = new Dictionary<string, (long Elements, long Bytes)>(StringComparer.Ordinal);
        // Plain fixed-size values are not read here: their TensorProto holds only the length, and Write copies the
        // bytes from the checkpoint to the output (GraphFreezer.Write; FreezeResult.Graph reads them if asked).
        // The rest (saver slices, strings, partitioned or big-endian values) are read now, in data-file order.
        foreach (var v in toFreeze.OrderBy(v => reader!.Location(sources[v.Name].Key)))
        {
            var src = sources[v.Name];
            var entry = reader!.GetEntry(src.Key);
            var dtype = (v.Attr.TryGetValue("dtype", out var dt) ? dt.Type : entry.DType).Base();
            if (dtype != entry.DType)
                throw Mismatch(v.Name, src.Key, $"the graph declares dtype {dtype.Name()} but the checkpoint holds {entry.DType.Name()}");
            bool stream = src.SliceSpec is not { Length: > 0 } && entry.DType != DataType.DtString && reader.CanStreamRaw(src.Key);
            var value = stream ? deferred!.Add(src.Key, v.Name, entry) : ConstValue(reader, src, entry, v.Name);
            var shape = TensorProtoCodec.ToPartialShape(value.TensorShape)!;
            if (v.Attr.TryGetValue("shape", out var sa) && sa.Shape is { UnknownRank: false } gs)
            {
                var want = gs.Dim.Select(d => d.Size).ToArray();
                if (want.Length != shape.Length || want.Zip(shape).Any(p => p.First >= 0 && p.First != p.Second))
                    throw Mismatch(v.Name, src.Key, $"the graph declares shape {Tensor.FormatShape(want)} but the checkpoint holds {Tensor.FormatShape(shape)}");
            }
            string device = v.Device;
            v.Op = "Const";
            v.Input.Clear();
            v.Attr.Clear();
            v.Attr["dtype"] = Attr.Type(dtype);
            v.Attr["value"] = new AttrValue { Tensor = value };
            v.Device = device;
            frozenDtypes[v.Name] = dtype;
            long elems = shape.Aggregate(1L, (a, d) => a * d);
            frozenSizes[v.Name] = (elems, elems * Math.Max(1, dtype.ByteSize()));
            parameters += elems;
            long bytes = elems * Math.Max(1, dtype.ByteSize());
            weightBytes += bytes;
            if (stream) continue;
            done += bytes;
            options.Progress?.Invoke(v.Name, done, total);
        }

        // 5. Readers of frozen resource variables become Identity/Gather; ref-flavoured ops become plain ones.
        var pendingAxis = new List<NodeDef>();
        foreach (var n in graph.Node)
        {
            if (RefOpReplacements.TryGetValue(n.Op, out var plain)) n.Op = plain;
            if (n.Input.Count == 0) continue;
            var first = TensorName.Parse(n.Input[0]);
            if (first.IsControl || !frozenDtypes.TryGetValue(first.Node, out var vdt)) continue;
            if (n.Op == "ReadVariableOp")
            {
                n.Op = "Identity";
                n.Attr.Remove("dtype");
                n.Attr["T"] = Attr.Type(vdt);
            }
            else if (n.Op == "ResourceGather")
            {
                n.Op = "GatherV2";
                var tind = n.Attr.TryGetValue("Tindices", out var ti) ? ti.Type : DataType.DtInt32;
                var axisName = graph.Node.Any(x => x.Name == n.Name + "/axis") ? n.Name + "/axis_" : n.Name + "/axis";
                n.Attr.Remove("dtype");
                n.Attr.Remove("validate_indices");
                long batchDims = n.Attr.TryGetValue("batch_dims", out var bd) ? bd.I : 0;
                n.Attr["Tparams"] = Attr.Type(vdt);
                n.Attr["Taxis"] = Attr.Type(DataType.DtInt32);
                n.Attr["batch_dims"] = Attr.Int(batchDims);
                n.Attr["Tindices"] = Attr.Type(tind);
                var data = n.Input.Where(i => !i.StartsWith('^')).ToList();
                var ctrl = n.Input.Where(i => i.StartsWith('^')).ToList();
                pendingAxis.Add(new NodeDef
                {
                    Name = axisName, Op = "Const",
                    Attr = { ["dtype"] = Attr.Type(DataType.DtInt32), ["value"] = new AttrValue { Tensor = TensorProtoCodec.Encode(Tensor.Scalar((int)batchDims)) } },
                });
                n.Input.Clear();
                n.Input.AddRange(data.Take(2));
                n.Input.Add(axisName);
                n.Input.AddRange(ctrl);
            }
            else if (PlumbingOps.Contains(n.Op) || n.Op.StartsWith("Resource", StringComparison.Ordinal) && n.Op != "ResourceGather")
            {
                // Only reachable if an output needs it: stateful use of a frozen variable.
                if (outNodes.Contains(n.Name) || IsDataAncestor(graph, outNodes, n.Name))
                    throw new ModelOpsException(ErrorIds.FreezeUnsupported, ErrorKind.InvalidOperation,
                        $"The output depends on '{n.Name}' ({n.Op}), which modifies variable '{first.Node}'. A frozen graph has no variables; choose outputs that only read variables.", n.Name);
            }
        }
        graph.Node.AddRange(pendingAxis);

        // 6. Drop control edges from plumbing, prune again, tidy attributes.
        DropPlumbingControlEdges(graph);
        graph = Prune(graph, outNodes);
        var names = new HashSet<string>(graph.Node.Select(n => n.Name), StringComparer.Ordinal);
        foreach (var n in graph.Node)
        {
            if (options.ClearDevices) n.Device = "";
            if (n.Attr.TryGetValue("_class", out var cls) && cls.List is not null)
            {
                var kept = cls.List.S.Where(s => !s.ToStringUtf8().StartsWith("loc:@", StringComparison.Ordinal) || names.Contains(s.ToStringUtf8()[5..])).ToList();
                if (kept.Count == 0) n.Attr.Remove("_class");
                else if (kept.Count != cls.List.S.Count) { cls.List.S.Clear(); cls.List.S.AddRange(kept); }
            }
        }

        // 7. Signature inputs/outputs get the signature's names.
        var inputSpecs = new List<TensorSpec>();
        var outputSpecs = new List<TensorSpec>();
        if (renameSignature && sig is not null)
            RenameSignature(graph, sig, outputs, options.OutputNodes.Count == 0, inputSpecs, outputSpecs);
        else
        {
            tf = new TfGraph(graph);
            foreach (var n in graph.Node.Where(n => n.Op is "Placeholder" or "PlaceholderV2" || n.Op == "PlaceholderWithDefault" && sig is not null && sig.Inputs.Values.Any(i => TensorName.Parse(i.Name).Node == n.Name)))
                inputSpecs.Add(new TensorSpec(n.Name, n.Attr.TryGetValue("dtype", out var d) ? d.Type.Name() : "?", n.Attr.TryGetValue("shape", out var s) && s.Shape is not null ? TensorProtoCodec.ToPartialShape(s.Shape) : null));
            foreach (var o in outputs)
            {
                var tn = TensorName.Parse(o.Tensor);
                outputSpecs.Add(new TensorSpec(tn.ToString(), o.Info?.Dtype.Base().Name() ?? ModelInspector.OutputDType(tf.Get(tn.Node)), o.Info is not null ? TensorProtoCodec.ToPartialShape(o.Info.TensorShape) : OutShape(tf.Get(tn.Node), tn.Index)));
            }
        }

        var check = new TfGraph(graph);
        var dangling = check.DanglingInputs().FirstOrDefault();
        if (dangling.Node is not null)
            throw new ModelOpsException(ErrorIds.InvalidGraph, ErrorKind.InvalidData, $"Internal error: frozen node '{dangling.Node.Name}' reads '{dangling.Input}', which was removed.", dangling.Node.Name);
        // Count what survived: variables only training ops needed were frozen and then pruned.
        var survivors = graph.Node.Where(n => n.Op == "Const" && frozenSizes.ContainsKey(n.Name)).Select(n => frozenSizes[n.Name]).ToList();
        _ = parameters;
        _ = weightBytes;
        long survivingBytes = survivors.Sum(s => s.Bytes);
        if (deferred is not null)
        {
            deferred.Retain(graph.Node.Select(n => n.Attr.TryGetValue("value", out var a) ? a.Tensor : null).OfType<TensorProto>());
            deferred.Total = survivingBytes;
            deferred.Start = survivingBytes - deferred.PendingBytes;
        }
        return new FreezeResult
        {
            Graph = graph, SourceFormat = sourceFormat, Inputs = inputSpecs, Outputs = outputSpecs,
            VariablesFrozen = survivors.Count, ParameterCount = survivors.Sum(s => s.Elements), WeightBytes = survivingBytes,
            Deferred = deferred is { Count: > 0 } ? deferred : null,
        };
    }

    private static ModelOpsException Mismatch(string v, string key, string why) =>
        new(ErrorIds.VariableMismatch, ErrorKind.InvalidData, $"Variable '{v}' does not match checkpoint tensor '{key}': {why}. Use the checkpoint written for this graph.", v);

    private static long[]? OutShape(NodeDef n, int i) =>
        n.Attr.TryGetValue("_output_shapes", out var v) && v.List is { } l && l.Shape.Count > i ? TensorProtoCodec.ToPartialShape(l.Shape[i]) : null;

    /// <summary>A TensorProto for the variable: raw checkpoint bytes as tensor_content (no copy), strings as string_val.</summary>
    private static TensorProto ConstValue(CheckpointReader reader, VarSource src, CheckpointEntry entry, string varName)
    {
        if (src.SliceSpec is { Length: > 0 } spec)
        {
            var full = reader.Read(src.Key);
            return TensorProtoCodec.Encode(ExtractSlice(full, spec, varName));
        }
        if (entry.DType == DataType.DtString) return TensorProtoCodec.Encode(reader.Read(src.Key));
        var raw = reader.ReadRaw(src.Key);
        return new TensorProto { Dtype = entry.DType, TensorShape = TensorProtoCodec.FromShape(entry.Shape), TensorContent = UnsafeByteOperations.UnsafeWrap(raw) };
    }

    /// <summary>Extracts the part a "d0 d1 ... start,len:start,len" shape_and_slices spec names ("-" = whole dimension).</summary>
    internal static Tensor ExtractSlice(Tensor full, string spec, string varName)
    {
        var parts = spec.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var slices = parts[^1].Split(':');
        int rank = full.Rank;
        if (slices.Length != rank)
            throw new ModelOpsException(ErrorIds.VariableMismatch, ErrorKind.InvalidData, $"The saver slice spec '{spec}' of '{varName}' does not match the checkpoint tensor of rank {rank}.", varName);
        var starts = new int[rank];
        var lens = new int[rank];
        for (int d = 0; d < rank; d++)
        {
            if (slices[d] == "-") { starts[d] = 0; lens[d] = full.Shape[d]; continue; }
            var se = slices[d].Split(',');
            starts[d] = int.Parse(se[0], System.Globalization.CultureInfo.InvariantCulture);
            lens[d] = int.Parse(se[1], System.Globalization.CultureInfo.InvariantCulture);
        }
        var result = Tensor.Zeros(full.DType, lens);
        int lanes = full.DType.Lanes();
        // Walk the slice's rows and copy from the full tensor.
        long total = lens.Aggregate(1L, (a, b) => a * b);
        if (total == 0) return result;
        if (rank == 0) return full;
        int run = lens[rank - 1] * lanes;
        var idx = new int[rank];
        long dstPos = 0;
        while (true)
        {
            long srcPos = 0;
            for (int d = 0; d < rank; d++) srcPos = srcPos * full.Shape[d] + starts[d] + (d == rank - 1 ? 0 : idx[d]);
            Array.Copy(full.Data, srcPos * lanes, result.Data, dstPos, run);
            dstPos += run;
            int k = rank - 2;
            while (k >= 0 && ++idx[k] == lens[k]) idx[k--] = 0;
            if (k < 0) break;
        }
        return result;
    }

    /// <summary>TF1 Saver: variable node → (checkpoint key, slice spec) from save/RestoreV2 → Assign chains.</summary>
    private static Dictionary<string, VarSource> SaverMap(TfGraph g)
    {
        var map = new Dictionary<string, VarSource>(StringComparer.Ordinal);
        // Every save/Assign_i reads the same RestoreV2 name and spec lists: decode each list once, not once per variable.
        var decoded = new Dictionary<string, string[]?>(StringComparer.Ordinal);
        string[]? Strings(string input) => decoded.TryGetValue(input, out var v) ? v : decoded[input] = ConstStrings(g, input);
        foreach (var n in g.Nodes)
        {
            if (n.Op is not ("Assign" or "AssignVariableOp") || n.Input.Count < 2) continue;
            var target = TensorName.Parse(n.Input[0]).Node;
            var value = TensorName.Parse(n.Input[1]);
            for (int hops = 0; hops < 8; hops++)
            {
                var src = g.Find(value.Node);
                if (src is null) break;
                if (src.Op is "Identity" && src.Input.Count > 0) { value = TensorName.Parse(src.Input[0]); continue; }
                if (src.Op is "RestoreV2" or "RestoreSlice" or "Restore" && src.Input.Count >= 2)
                {
                    var names = Strings(src.Input[1]);
                    var specs = src.Input.Count >= 3 ? Strings(src.Input[2]) : null;
                    if (src.Op == "RestoreV2" && names is not null && value.Index < names.Length)
                        map[target] = new VarSource(names[value.Index], specs is not null && value.Index < specs.Length ? specs[value.Index] : null);
                    else if (names is { Length: 1 })
                        map[target] = new VarSource(names[0], specs is { Length: 1 } ? specs[0] : null);
                }
                break;
            }
        }
        return map;
    }

    private static string[]? ConstStrings(TfGraph g, string input)
    {
        var n = g.Find(TensorName.Parse(input).Node);
        if (n is null || n.Op != "Const" || !n.Attr.TryGetValue("value", out var v) || v.Tensor is null) return null;
        return v.Tensor.StringVal.Select(s => s.ToStringUtf8()).ToArray() is { Length: > 0 } arr ? arr
            : TensorProtoCodec.Decode(v.Tensor).Data is byte[][] b ? b.Select(System.Text.Encoding.UTF8.GetString).ToArray() : null;
    }

    /// <summary>
    /// TF2: outer-graph VarHandleOp → checkpoint key. A call node's trailing inputs are the captured resources
    /// listed (as object-graph node ids) in its SavedConcreteFunction.bound_inputs; the SavedObjectGraph is
    /// matched to the checkpoint's TrackableObjectGraph by child names from the root, and a variable's
    /// VARIABLE_VALUE attribute gives its key. Variables not reached through a call are matched by name.
    /// </summary>
    private static Dictionary<string, string> ObjectGraphMap(GraphDef graph, SavedObjectGraph saved, CheckpointReader reader)
    {
        TrackableObjectGraph trackable;
        try { trackable = TrackableObjectGraph.Parser.ParseFrom(((byte[][])reader.Read(ObjectGraphKey).Data)[0]); }
        catch (InvalidProtocolBufferException ex)
        {
            throw new ModelOpsException(ErrorIds.CheckpointCorrupt, ErrorKind.InvalidData, $"The checkpoint's object graph ({ObjectGraphKey}) is not a TrackableObjectGraph: {ex.Message}");
        }
        // saved node id → checkpoint node id, by walking children names from both roots.
        var savedToCkpt = new Dictionary<int, int> { [0] = 0 };
        var queue = new Queue<int>();
        queue.Enqueue(0);
        while (queue.Count > 0)
        {
            int s = queue.Dequeue();
            int c = savedToCkpt[s];
            if (s >= saved.Nodes.Count || c >= trackable.Nodes.Count) continue;
            var ckChildren = trackable.Nodes[c].Children.GroupBy(ch => ch.LocalName).ToDictionary(gr => gr.Key, gr => gr.First().NodeId, StringComparer.Ordinal);
            foreach (var ch in saved.Nodes[s].Children)
                if (!savedToCkpt.ContainsKey(ch.NodeId) && ckChildren.TryGetValue(ch.LocalName, out int cc))
                {
                    savedToCkpt[ch.NodeId] = cc;
                    queue.Enqueue(ch.NodeId);
                }
        }
        string? KeyOf(int savedId) =>
            savedToCkpt.TryGetValue(savedId, out int c) && c < trackable.Nodes.Count
                ? trackable.Nodes[c].Attributes.FirstOrDefault(a => a.Name == "VARIABLE_VALUE")?.CheckpointKey : null;

        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        var byName = graph.Node.ToDictionary(n => n.Name, StringComparer.Ordinal);
        foreach (var call in graph.Node.Where(n => n.Op is "StatefulPartitionedCall" or "PartitionedCall"))
        {
            if (!call.Attr.TryGetValue("f", out var f) || f.Func is null || !saved.ConcreteFunctions.TryGetValue(f.Func.Name, out var cf)) continue;
            var data = call.Input.Where(i => !i.StartsWith('^')).ToList();
            int nb = cf.BoundInputs.Count;
            if (nb == 0 || nb > data.Count) continue;
            for (int j = 0; j < nb; j++)
            {
                var node = TensorName.Parse(data[data.Count - nb + j]).Node;
                if (byName.TryGetValue(node, out var vn) && vn.Op == "VarHandleOp" && KeyOf(cf.BoundInputs[j]) is { } key) map.TryAdd(node, key);
            }
        }
        // Fallback: a SavedVariable whose name equals the VarHandleOp's name / shared_name.
        for (int i = 0; i < saved.Nodes.Count; i++)
        {
            if (saved.Nodes[i].Variable is not { } sv || KeyOf(i) is not { } key) continue;
            foreach (var n in graph.Node.Where(n => n.Op == "VarHandleOp" && !map.ContainsKey(n.Name)))
            {
                string shared = n.Attr.TryGetValue("shared_name", out var sn) ? sn.S.ToStringUtf8() : "";
                if (n.Name == sv.Name || shared == sv.Name) map[n.Name] = key;
            }
        }
        return map;
    }

    private static void RenameSignature(GraphDef graph, SignatureDef sig, List<(string Tensor, string? Key, TensorInfo? Info)> outputs, bool fromSignature,
        List<TensorSpec> inputSpecs, List<TensorSpec> outputSpecs)
    {
        var taken = new HashSet<string>(graph.Node.Select(n => n.Name), StringComparer.Ordinal);
        var byName = graph.Node.ToDictionary(n => n.Name, StringComparer.Ordinal);
        var renames = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var kv in sig.Inputs.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            var tn = TensorName.Parse(kv.Value.Name);
            if (!byName.TryGetValue(tn.Node, out var node)) continue; // pruned: the outputs do not use this input
            string name = tn.Node;
            if (tn.Index == 0 && node.Op is "Placeholder" or "PlaceholderWithDefault" && kv.Key != tn.Node && !taken.Contains(kv.Key) && IsNodeName(kv.Key))
            {
                renames[tn.Node] = kv.Key;
                taken.Add(kv.Key);
                name = kv.Key;
            }
            inputSpecs.Add(new TensorSpec(tn.Index == 0 ? name : $"{name}:{tn.Index}", kv.Value.Dtype.Base().Name(), TensorProtoCodec.ToPartialShape(kv.Value.TensorShape)));
        }
        if (renames.Count > 0)
        {
            foreach (var n in graph.Node)
            {
                if (renames.TryGetValue(n.Name, out var nn)) n.Name = nn;
                for (int i = 0; i < n.Input.Count; i++)
                {
                    var tn = TensorName.Parse(n.Input[i]);
                    if (renames.TryGetValue(tn.Node, out var rn)) n.Input[i] = (tn with { Node = rn }).ToString();
                }
            }
        }
        for (int i = 0; i < outputs.Count; i++)
        {
            var (tensor, key, info) = outputs[i];
            var tn = TensorName.Parse(tensor);
            if (renames.TryGetValue(tn.Node, out var rn)) tn = tn with { Node = rn };
            string name = tn.ToString();
            if (fromSignature && key is not null && info is not null && IsNodeName(key) && !taken.Contains(key))
            {
                graph.Node.Add(new NodeDef { Name = key, Op = "Identity", Input = { tn.ToString() }, Attr = { ["T"] = Attr.Type(info.Dtype.Base()) } });
                taken.Add(key);
                name = key;
            }
            outputSpecs.Add(new TensorSpec(name, info?.Dtype.Base().Name() ?? "?", info is null ? null : TensorProtoCodec.ToPartialShape(info.TensorShape)));
        }
    }

    private static void CutAtSignatureInputs(GraphDef graph, SignatureDef sig)
    {
        var byName = graph.Node.ToDictionary(n => n.Name, StringComparer.Ordinal);
        foreach (var kv in sig.Inputs.ToList())
        {
            if (string.IsNullOrEmpty(kv.Value.Name)) continue;
            var tn = TensorName.Parse(kv.Value.Name);
            if (!byName.TryGetValue(tn.Node, out var node) || node.Op is "Placeholder" or "PlaceholderV2") continue;
            var attrs = new Dictionary<string, AttrValue> { ["dtype"] = Attr.Type(kv.Value.Dtype.Base()) };
            if (kv.Value.TensorShape is not null) attrs["shape"] = new AttrValue { Shape = kv.Value.TensorShape.Clone() };
            bool onlyFirst = tn.Index == 0 && !graph.Node.Any(n => n.Input.Any(i => { var x = TensorName.Parse(i); return !x.IsControl && x.Node == node.Name && x.Index != 0; }));
            if (onlyFirst && node.Op != "PlaceholderWithDefault")
            {
                node.Op = "Placeholder";
                node.Input.Clear();
                node.Attr.Clear();
                foreach (var a in attrs) node.Attr[a.Key] = a.Value;
                continue;
            }
            if (node.Op == "PlaceholderWithDefault" && tn.Index == 0) continue; // already an input; feeding it is fine
            string name = node.Name + "/input";
            while (byName.ContainsKey(name)) name += "_";
            var ph = new NodeDef { Name = name, Op = "Placeholder" };
            foreach (var a in attrs) ph.Attr[a.Key] = a.Value;
            graph.Node.Add(ph);
            byName[name] = ph;
            foreach (var n in graph.Node)
                for (int i = 0; i < n.Input.Count; i++)
                {
                    var x = TensorName.Parse(n.Input[i]);
                    if (!x.IsControl && x.Node == tn.Node && x.Index == tn.Index) n.Input[i] = name;
                }
            sig.Inputs[kv.Key] = new TensorInfo(kv.Value) { Name = name + ":0" };
        }
    }

    private static bool IsNodeName(string s) => Regex.IsMatch(s, @"^[A-Za-z0-9.][A-Za-z0-9_.\-/>]*$");

    /// <summary>The sub-graph the named nodes need (data and control edges); keeps the original order.</summary>
    private static GraphDef Prune(GraphDef graph, IReadOnlyList<string> outNodes)
    {
        var g = new TfGraph(graph);
        var keep = g.AncestorsOf(outNodes);
        var result = new GraphDef { Versions = graph.Versions?.Clone(), Library = graph.Library };
#pragma warning disable CS0612
        result.Version = graph.Version;
#pragma warning restore CS0612
        for (int i = 0; i < graph.Node.Count; i++) if (keep.Contains(i)) result.Node.Add(graph.Node[i]);
        return result;
    }

    private static bool IsDataAncestor(GraphDef graph, IReadOnlyList<string> outNodes, string name)
    {
        var byName = graph.Node.ToDictionary(n => n.Name, StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var stack = new Stack<string>(outNodes);
        while (stack.Count > 0)
        {
            var s = stack.Pop();
            if (!seen.Add(s)) continue;
            if (s == name) return true;
            if (!byName.TryGetValue(s, out var n)) continue;
            foreach (var i in n.Input) if (!i.StartsWith('^')) stack.Push(TensorName.Parse(i).Node);
        }
        return false;
    }

    /// <summary>Removes control edges whose source is a variable mutation, saver or initializer op (or a NoOp grouping only such ops).</summary>
    private static void DropPlumbingControlEdges(GraphDef graph)
    {
        var byName = graph.Node.ToDictionary(n => n.Name, StringComparer.Ordinal);
        var plumbing = new Dictionary<string, bool>(StringComparer.Ordinal);
        bool IsPlumbing(string name, int depth)
        {
            if (plumbing.TryGetValue(name, out var p)) return p;
            if (!byName.TryGetValue(name, out var n)) return true;
            bool r = PlumbingOps.Contains(n.Op);
            if (!r && n.Op == "NoOp" && depth < 50)
                r = n.Input.Count > 0 && n.Input.All(i => IsPlumbing(TensorName.Parse(i).Node, depth + 1));
            plumbing[name] = r;
            return r;
        }
        foreach (var n in graph.Node)
        {
            for (int i = n.Input.Count - 1; i >= 0; i--)
                if (n.Input[i].StartsWith('^') && IsPlumbing(n.Input[i][1..], 0)) n.Input.RemoveAt(i);
        }
    }

    private static Regex Wildcard(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace("\\*", ".*").Replace("\\?", ".") + "$", RegexOptions.CultureInvariant);

    /// <summary>
    /// Writes a frozen graph atomically (binary, or text with <paramref name="asText"/>); returns the bytes written.
    /// Binary output streams the variable values the freeze left in the checkpoint straight into the file
    /// (<see cref="FrozenGraphWriter"/>); a CRC mismatch found on the way fails the write and leaves no output.
    /// </summary>
    /// <param name="durable">
    /// fsync the file before renaming it into place. Off by default: the temp file + rename already guarantee that
    /// no failure of this process (error, Ctrl+C, kill) leaves a partial output; the fsync only adds that an OS
    /// crash or power cut in the seconds before the kernel writes its cache back cannot either. TensorFlow's own
    /// writers make the same choice (tf.io.gfile.GFile and freeze_graph write without fsync;
    /// file_io.atomic_write_string_to_file is temp file + rename, no fsync), a frozen graph can be made again
    /// from its inputs, and the fsync costs about as much as everything else together (the freeze benchmark
    /// times both: ~110–140 ms per 100 MB on the development VM).
    /// </param>
    public static long Write(FreezeResult result, string path, bool asText, bool overwrite, bool durable = false)
    {
        AtomicFile.Write(path, s =>
        {
            if (!asText && result.Deferred is { } deferred)
                FrozenGraphWriter.Write(result.RawGraph, deferred, s);
            else if (asText)
            {
                using var w = new StreamWriter(s, new System.Text.UTF8Encoding(false), 1 << 16, leaveOpen: true);
                w.Write(TextFormatPrinter.Print(result.Graph));
            }
            else
            {
                // One 1 MiB buffer between the message and the file (the file stream itself is unbuffered), so
                // tensor_content goes from the checkpoint buffers to the file with a single copy.
                using var cos = new CodedOutputStream(s, 1 << 20, leaveOpen: true);
                result.Graph.WriteTo(cos);
                cos.Flush();
            }
        }, overwrite, bufferSize: asText ? 1 << 16 : 0, durable: durable);
        return new FileInfo(path).Length;
    }

    /// <summary>Freezes and writes in one step, timing it (what Export-FrozenGraph does).</summary>
    public static FrozenGraphInfo Export(Func<FreezeResult> freeze, string outputPath, bool asText, bool overwrite, bool durable = false)
    {
        var sw = Stopwatch.StartNew();
        AtomicFile.EnsureWritable(outputPath, overwrite);
        using var r = freeze();
        long bytes = Write(r, outputPath, asText, overwrite, durable);
        return new FrozenGraphInfo
        {
            Path = Path.GetFullPath(outputPath), SourceFormat = r.SourceFormat, Inputs = r.Inputs, Outputs = r.Outputs,
            NodeCount = r.NodeCount, VariablesFrozen = r.VariablesFrozen, ParameterCount = r.ParameterCount, Bytes = bytes, Elapsed = sw.Elapsed,
        };
    }
}
