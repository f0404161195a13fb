using System.Globalization;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;
using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Converters.TfLite;

/// <summary>
/// Frozen TF graph → .tflite flatbuffer, like tf.lite.TFLiteConverter.from_frozen_graph: each node is
/// lowered by its op family's registered lowering, constants are folded, BiasAdd/activations are fused
/// into their producer, then the chosen quantization is applied and the flatbuffer written.
/// </summary>
public static class TfLiteConverter
{
    public static TfLiteConversionResult Convert(GraphDef graph, TfLiteConverterOptions? options = null, TfLiteLoweringRegistry? lowerings = null)
    {
        options ??= new TfLiteConverterOptions();
        var core = new TfLiteConverterCore(graph, options, lowerings ?? TfLiteLoweringRegistry.Default);
        var g = core.Build();
        TfLiteFusion.Run(g);
        g.Compact();
        switch (options.Quantization)
        {
            case TfLiteQuantization.Float16: TfLiteQuantizer.ToFloat16(g); break;
            case TfLiteQuantization.Dynamic: TfLiteQuantizer.ToDynamicRange(g, options.MinWeightElementsForDynamic, options.DynamicHybridKernels); break;
            case TfLiteQuantization.Int8: TfLiteQuantizer.ToFullInteger(g, graph, core, options); break;
        }
        g.Compact();
        TfLiteOpVersions.Assign(g);
        string runtime = TfLiteOpVersions.MinimumRuntime(g);
        var bytes = TfLiteWriter.Write(g, runtime, out int buffers);
        var result = new TfLiteConversionResult(bytes, g, options.Quantization, runtime, TfLiteConversionResult.Summarize(g),
            g.Inputs.Select((t, i) => TfLiteConversionResult.Describe(g.Tensors[t], g.InputKeys[i])).ToList(),
            g.Outputs.Select((t, i) => TfLiteConversionResult.Describe(g.Tensors[t], g.OutputKeys[i])).ToList(), buffers);
        return result;
    }
}

/// <summary>The graph walk: TF nodes in topological order → <see cref="TflGraph"/>.</summary>
internal sealed class TfLiteConverterCore
{
    private static readonly HashSet<string> PassThrough = new(StringComparer.Ordinal)
        { "Identity", "StopGradient", "Snapshot", "PreventGradient", "EnsureShape", "CheckNumerics" };

    private readonly GraphDef _def;
    private readonly TfLiteLoweringRegistry _lowerings;
    private readonly TflGraph _g = new();
    private readonly Dictionary<string, TfLiteValue> _values = new(StringComparer.Ordinal);
    private readonly HashSet<int> _batchDynamic = new();
    private bool _batchFolded;

    public TfLiteConverterCore(GraphDef def, TfLiteConverterOptions options, TfLiteLoweringRegistry lowerings)
    {
        _def = def;
        Options = options;
        _lowerings = lowerings;
    }

    public TfLiteConverterOptions Options { get; }
    public TflGraph Graph => _g;
    /// <summary>TF tensor name ("node:i") → TFLite tensor index, for every non-constant value.</summary>
    public Dictionary<string, int> TensorOfTfName { get; } = new(StringComparer.Ordinal);
    public IReadOnlyList<string> InputNames { get; private set; } = Array.Empty<string>();
    public IReadOnlyList<string> OutputNames { get; private set; } = Array.Empty<string>();

    /// <summary>Marks that a shape computation used the placeholder batch of 1: the file is then batch-static.</summary>
    public void NoteBatchFolded() => _batchFolded = true;

    public TflGraph Build()
    {
        var tg = new TfGraph(_def);
        var outputs = (Options.Outputs is { Count: > 0 } o ? o : DefaultOutputs(tg)).Select(n => TensorName.Parse(n)).ToList();
        if (outputs.Count == 0)
            throw new ModelOpsException(TfLiteErrorIds.InvalidOutput, ErrorKind.InvalidArgument, "The graph has no outputs to convert. Name them with -Outputs.");
        foreach (var tn in outputs) if (!tg.Contains(tn.Node)) throw tg.NotFound(tn.Node);
        var needed = tg.AncestorsOf(outputs.Select(t => t.Node));
        // Default inputs: the placeholders the outputs need. A PlaceholderWithDefault folds to its default (Keras'
        // learning-phase flags), unless the outputs need no plain placeholder at all: then the defaulted ones are the
        // model's inputs (TF2 signatures can take an input with a default), not constants that would leave nothing to feed.
        var inputNodes = Options.Inputs is { Count: > 0 } ins
            ? ins.Select(n => TensorName.Parse(n).Node).ToList()
            : tg.Nodes.Where((n, i) => needed.Contains(i) && n.Op is "Placeholder").Select(n => n.Name).ToList();
        if (Options.Inputs is not { Count: > 0 } && inputNodes.Count == 0)
            inputNodes = tg.Nodes.Where((n, i) => needed.Contains(i) && n.Op is "PlaceholderWithDefault").Select(n => n.Name).ToList();
        foreach (var n in inputNodes) if (!tg.Contains(n)) throw tg.NotFound(n);
        var inputSet = new HashSet<string>(inputNodes, StringComparer.Ordinal);
        InputNames = inputNodes;

        // How many outputs each node has (the highest index anyone reads).
        var outCount = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var n in tg.Nodes)
            foreach (var tn in tg.InputsOf(n))
                if (!tn.IsControl) outCount[tn.Node] = Math.Max(outCount.GetValueOrDefault(tn.Node, 1), tn.Index + 1);
        foreach (var tn in outputs) outCount[tn.Node] = Math.Max(outCount.GetValueOrDefault(tn.Node, 1), tn.Index + 1);

        var unsupported = new SortedDictionary<string, int>(StringComparer.Ordinal);
        foreach (int idx in tg.TopologicalOrder())
        {
            if (!needed.Contains(idx)) continue;
            var node = tg.Nodes[idx];
            if (inputSet.Contains(node.Name)) { AddInput(node); continue; }
            if (node.Op == "Const") { SetValue(node.Name, 0, Const(node)); continue; }
            if (node.Op == "NoOp") continue;
            var data = tg.InputsOf(node).Where(t => !t.IsControl).ToList();
            if (node.Op == "Placeholder")
                throw new ModelOpsException(TfLiteErrorIds.InvalidOutput, ErrorKind.InvalidArgument,
                    $"The outputs need placeholder '{node.Name}', which is not among the inputs. Add it to -Inputs.", node.Name);
            if (node.Op == "PlaceholderWithDefault" || PassThrough.Contains(node.Op))
            {
                SetValue(node.Name, 0, Lookup(data[0], node));
                continue;
            }
            if (node.Op == "IdentityN")
            {
                for (int i = 0; i < data.Count; i++) SetValue(node.Name, i, Lookup(data[i], node));
                continue;
            }
            int nOut = outCount.GetValueOrDefault(node.Name, 1);
            if (data.Any(t => !_values.ContainsKey(t.Tensor)) && node.Op is "Merge" or "RefMerge")
            {
                // A TF1 loop (its NextIteration back edge comes later): no builtin; listed in the error below.
                unsupported[node.Op] = unsupported.GetValueOrDefault(node.Op) + 1;
                for (int i = 0; i < nOut; i++) SetValue(node.Name, i, new TfLiteValue(DataType.DtFloat, Array.Empty<int>(), null, -1, false), placeholder: true);
                continue;
            }
            var inputs = data.Select(t => Lookup(t, node)).ToArray();
            if (inputs.Any(v => v.TensorIndex < 0 && !v.IsConstant))
            {
                if (!_lowerings.Contains(node.Op)) unsupported[node.Op] = unsupported.GetValueOrDefault(node.Op) + 1;
                // Downstream of an op without a lowering: nothing to build; the error below lists the cause.
                for (int i = 0; i < nOut; i++) SetValue(node.Name, i, inputs.First(v => v.TensorIndex < 0 && !v.IsConstant), placeholder: true);
                continue;
            }
            if (inputs.Length > 0 && inputs.All(v => v.IsConstant) && TryFoldWithKernel(node, inputs, nOut)) continue;
            if (_lowerings.TryGet(node.Op, out var lowering))
            {
                var ctx = new TfLiteLoweringContext(this, node, inputs, nOut);
                lowering(ctx);
                for (int i = 0; i < nOut; i++)
                {
                    var v = ctx.Outputs[i];
                    if (v is null)
                    {
                        if (outCount.ContainsKey(node.Name) || i == 0)
                            throw new InvalidOperationException($"The TFLite lowering of {node.Op} did not bind output {i} of '{node.Name}'.");
                        continue;
                    }
                    SetValue(node.Name, i, v);
                }
                continue;
            }
            unsupported[node.Op] = unsupported.GetValueOrDefault(node.Op) + 1;
            if (Options.AllowCustomOps || Options.SelectTfOps) EmitCustom(node, inputs, nOut);
            else for (int i = 0; i < nOut; i++) SetValue(node.Name, i, new TfLiteValue(DataType.DtFloat, Array.Empty<int>(), null, -1, false), placeholder: true);
        }
        if (unsupported.Count > 0 && !(Options.AllowCustomOps || Options.SelectTfOps))
            throw new ModelOpsException(TfLiteErrorIds.UnsupportedOps, ErrorKind.NotImplemented,
                $"TFLite has no builtin for {unsupported.Count} op type(s) of this graph: " +
                string.Join(", ", unsupported.Select(kv => $"{kv.Key} (x{kv.Value})")) +
                ". Use -AllowCustomOps to write them as custom ops (the runtime must then provide them), or -SelectTfOps for the Flex delegate.");

        var outNames = new List<string>();
        foreach (var tn in outputs)
        {
            var v = _values[tn.Tensor];
            string key = tn.Index == 0 ? tn.Node : tn.Tensor;
            if (v.IsConstant)
                throw new ModelOpsException(TfLiteErrorIds.InvalidOutput, ErrorKind.InvalidArgument,
                    $"The output '{tn}' is a constant; TFLite models cannot output constants. Choose a computed tensor.", tn.ToString());
            int t = v.TensorIndex;
            if (_g.Outputs.Contains(t) || _g.Inputs.Contains(t))
            {
                // A tensor can be one input/output only once: copy it through a RESHAPE to its own shape.
                int copy = AddActivation(key, v.DType, v.Shape, v.BatchDynamic);
                int shape = AddConstant(Tensor.Create(v.Shape.ToArray(), v.Shape.Length), key + "/shape", TfLiteWeightRole.None, -1);
                Emit(new TflOperator(BuiltinOperator.RESHAPE, new[] { t, shape }, new[] { copy },
                    BuiltinOptionsUnion.FromReshapeOptions(new ReshapeOptionsT { NewShape = v.Shape.ToList() }), tn.Node));
                t = copy;
            }
            else
            {
                _g.Rename(_g.Tensors[t], key);
            }
            _g.Outputs.Add(t);
            _g.OutputKeys.Add(key);
            outNames.Add(tn.Tensor);
        }
        OutputNames = outNames;

        foreach (var t in _g.Tensors)
        {
            if (!_batchFolded && _batchDynamic.Contains(t.Index) && t.Shape.Length > 0 && t.Shape[0] == 1)
            {
                var sig = t.Shape.ToArray();
                sig[0] = -1;
                t.ShapeSignature = sig;
            }
        }
        return _g;
    }

    private static IReadOnlyList<string> DefaultOutputs(TfGraph g) =>
        g.Sinks().Where(n => n.Op is not ("Const" or "NoOp" or "Placeholder" or "Assert" or "SaveV2" or "Save" or "RestoreV2"
            or "Assign" or "AssignVariableOp" or "VarHandleOp" or "VariableV2"))
            .Select(n => n.Name).ToList();

    private void AddInput(NodeDef node)
    {
        var dtype = node.Attr.TryGetValue("dtype", out var dt) ? dt.Type : DataType.DtFloat;
        long[]? shape = node.Attr.TryGetValue("shape", out var sh) && sh.Shape is not null ? TensorProtoCodec.ToPartialShape(sh.Shape) : null;
        if (Options.InputShapes is not null && Options.InputShapes.TryGetValue(node.Name, out var given)) shape = given.Select(d => (long)d).ToArray();
        if (shape is null)
            throw new ModelOpsException(TfLiteErrorIds.UnknownShape, ErrorKind.InvalidArgument,
                $"Input '{node.Name}' has no known shape. Give it with -InputShape @{{'{node.Name}' = @(1, ...)}}.", node.Name);
        bool batchDyn = shape.Length > 0 && shape[0] < 0;
        for (int i = 1; i < shape.Length; i++)
            if (shape[i] < 0)
                throw new ModelOpsException(TfLiteErrorIds.UnknownShape, ErrorKind.InvalidArgument,
                    $"Input '{node.Name}' has shape {Tensor.FormatShape(shape)}: dimension {i} is unknown. Give a full shape with -InputShape @{{'{node.Name}' = @(1, ...)}}.", node.Name);
        var s = shape.Select(d => d < 0 ? 1 : checked((int)d)).ToArray();
        int t = AddActivation(node.Name, dtype, s, batchDyn);
        _g.Inputs.Add(t);
        _g.InputKeys.Add(node.Name);
        SetValue(node.Name, 0, new TfLiteValue(dtype, s, null, t, batchDyn));
    }

    private static TfLiteValue Const(NodeDef node)
    {
        var t = TensorProtoCodec.Decode(node.Attr["value"].Tensor, $"constant '{node.Name}'");
        return new TfLiteValue(t.DType, t.Shape, t, -1, false);
    }

    private void SetValue(string node, int index, TfLiteValue v, bool placeholder = false)
    {
        string key = $"{node}:{index}";
        _values[key] = v;
        if (!placeholder && v.TensorIndex >= 0) TensorOfTfName[key] = v.TensorIndex;
    }

    private TfLiteValue Lookup(TensorName tn, NodeDef consumer) =>
        _values.TryGetValue(tn.Tensor, out var v) ? v
            : throw new ModelOpsException(ErrorIds.InvalidGraph, ErrorKind.InvalidData,
                $"Node '{consumer.Name}' reads '{tn}', which the converter has no value for.", consumer.Name);

    private bool TryFoldWithKernel(NodeDef node, TfLiteValue[] inputs, int nOut)
    {
        if (!OpRegistry.Kernels.TryGet(node.Op, out var kernel)) return false;
        try
        {
            // Room for every output the kernel sets (consumers may read fewer than the op has).
            var kc = new KernelContext(node, inputs.Select(v => v.Constant!).ToArray(), Math.Max(nOut, 32));
            kernel(kc);
            for (int i = 0; i < nOut; i++)
            {
                // Only plain data folds into constants (not resource handles, TensorArrays, strings).
                if (kc.Outputs[i] is null || kc.Outputs[i].DType.ByteSize() == 0) return false;
            }
            for (int i = 0; i < nOut; i++) SetValue(node.Name, i, new TfLiteValue(kc.Outputs[i].DType, kc.Outputs[i].Shape, kc.Outputs[i], -1, false));
            return true;
        }
        catch (ModelOpsException) { return false; }
        catch (InvalidOperationException) { return false; }
        catch (ArgumentException) { return false; }
        catch (NotSupportedException) { return false; }
        catch (IndexOutOfRangeException) { return false; }
    }

    private void EmitCustom(NodeDef node, TfLiteValue[] inputs, int nOut)
    {
        var shapes = node.Attr.TryGetValue("_output_shapes", out var os) && os.List is not null ? os.List.Shape.ToList() : null;
        var types = node.Attr.TryGetValue("T", out var tt) ? tt.Type : DataType.DtFloat;
        if (shapes is null || shapes.Count < nOut)
            throw new ModelOpsException(TfLiteErrorIds.UnknownShape, ErrorKind.NotImplemented,
                $"Op {node.Op} (node '{node.Name}') has no TFLite builtin and no '_output_shapes' attribute, so its output shapes are unknown and it cannot be written as a custom op.", node.Name);
        var ins = inputs.Select((v, i) => Materialize(v, $"{node.Name}/input{i}")).ToArray();
        var outs = new int[nOut];
        bool dyn = inputs.Any(v => !v.IsConstant && v.BatchDynamic);
        for (int i = 0; i < nOut; i++)
        {
            var partial = TensorProtoCodec.ToPartialShape(shapes[i]) ?? Array.Empty<long>();
            var s = partial.Select(d => d < 0 ? 1 : (int)d).ToArray();
            outs[i] = AddActivation(i == 0 ? node.Name : $"{node.Name}:{i}", types, s, dyn);
            SetValue(node.Name, i, new TfLiteValue(types, s, null, outs[i], dyn));
        }
        var op = Emit(new TflOperator(BuiltinOperator.CUSTOM, ins, outs, null, node.Name));
        op.CustomCode = Options.SelectTfOps ? "Flex" + node.Op : node.Op;
        if (Options.SelectTfOps) op.CustomOptions = FlexNodeDef.Encode(node);
    }

    public int Materialize(TfLiteValue v, string name)
    {
        if (v.TensorIndex >= 0) return v.TensorIndex;
        if (v.Constant is null) throw new InvalidOperationException($"Value for '{name}' has neither tensor nor constant.");
        v.TensorIndex = AddConstant(v.Constant, name, TfLiteWeightRole.None, -1);
        return v.TensorIndex;
    }

    public int AddConstant(Tensor value, string name, TfLiteWeightRole role, int channelAxis)
    {
        var type = TfLiteTypes.FromTf(value.DType, $"Constant '{name}'");
        if (type == TensorType.STRING)
            throw new ModelOpsException(TfLiteErrorIds.UnsupportedDataType, ErrorKind.NotImplemented, $"Constant '{name}' is a string tensor; string constants are not supported by this converter.", name);
        var t = _g.AddTensor(name, type, value.Shape.ToArray());
        t.Data = TensorBytes.ToBytes(value);
        t.Value = value;
        t.Role = role;
        t.ChannelAxis = channelAxis;
        return t.Index;
    }

    public int AddActivation(string name, DataType dtype, int[] shape, bool batchDynamic)
    {
        var t = _g.AddTensor(name, TfLiteTypes.FromTf(dtype, $"Tensor '{name}'"), shape.ToArray());
        if (batchDynamic) _batchDynamic.Add(t.Index);
        return t.Index;
    }

    public TflOperator Emit(TflOperator op)
    {
        _g.Operators.Add(op);
        return op;
    }

    internal static string Fmt(double v) => v.ToString("G6", CultureInfo.InvariantCulture);
}
