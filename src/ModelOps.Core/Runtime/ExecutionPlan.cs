using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Ops;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Runtime;

/// <summary>How a planned node produces its outputs.</summary>
internal enum StepKind
{
    Kernel,
    Constant,
    Placeholder,
}

/// <summary>One node of a plan: its kernel, reusable context, and where its inputs and outputs live.</summary>
internal sealed class PlanStep
{
    public required int GraphIndex { get; init; }
    public required NodeDef Node { get; init; }
    public required StepKind Kind { get; init; }
    public Kernel? Kernel { get; init; }
    public required KernelContext Context { get; init; }
    /// <summary>Per data input: the step producing it and its output index.</summary>
    public required (int Step, int Output)[] DataInputs { get; init; }
    public required int[] ControlInputs { get; init; }
    public required int OutputCount { get; init; }
    public int OutputBase { get; set; }
    public Tensor? Constant { get; set; }
    /// <summary>Control-flow role (for the dataflow executor).</summary>
    public ControlRole Role { get; init; }
    public string? FrameName { get; init; }
    public bool IsConstantEnter { get; init; }
    /// <summary>For Merge: which data inputs come from NextIteration (loop back edges).</summary>
    public bool[]? BackEdge { get; init; }
    /// <summary>The kernel is registered with <see cref="KernelTraits.SpareCapacity"/>: it may read and write buffers longer than its tensors.</summary>
    public bool SpareCapacity { get; init; }
    /// <summary>The kernel is registered with <see cref="KernelTraits.PreparesWeights"/>: it reads input 1's elements only to prepare its own copy.</summary>
    public bool PreparesWeights { get; init; }
}

internal enum ControlRole
{
    None,
    Switch,
    Merge,
    Enter,
    Exit,
    NextIteration,
}

/// <summary>
/// A schedule for one set of fetches: the pruned nodes in topological order with their kernels and
/// contexts, slot layout and last-use release lists. Graphs without TF1 control flow run on a flat
/// array of slots; graphs with it run on <see cref="DataflowExecutor"/>.
/// </summary>
internal sealed class ExecutionPlan
{
    private readonly PlanStep[] _steps;
    private readonly (int Step, int Output)[] _fetches;
    private readonly int[][] _releaseAfter;
    private readonly int _slotCount;
    private readonly string[] _fetchNames;
    private readonly DataflowExecutor? _dataflow;
    // Per step, per data input: whether this step is the input slot's last reader (and it is not fetched).
    private readonly bool[][] _lastRead = Array.Empty<bool[]>();
    private readonly BufferPool _pool = new();
    private readonly bool _pooling;
    private readonly bool _reuseOutputs;
    // With EngineOptions.ReuseOutputBuffers: the pool's arrays the last run returned, recycled when the next run starts.
    private List<Array>? _lastResults;

    /// <summary>The pool recycling this plan's intermediate arrays (flat plans only; control-flow plans do not pool).</summary>
    internal BufferPool Pool => _pool;

    public ExecutionPlan(TfGraph graph, string[] fetches, KernelRegistry kernels, EngineOptions options, Dictionary<int, Tensor> constantCache,
        IReadOnlySet<NodeDef>? releasedConstants = null)
    {
        Graph = graph;
        _fetchNames = fetches;
        _constantCache = constantCache;
        _pooling = options.PoolHoldFactor > 0;
        _reuseOutputs = _pooling && options.ReuseOutputBuffers;
        _pool.HoldFactor = options.PoolHoldFactor;
        var fetchRefs = new TensorName[fetches.Length];
        for (int i = 0; i < fetches.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(fetches[i]))
                throw new ModelOpsException(EngineErrorIds.UnknownOutput, ErrorKind.InvalidArgument, "An empty output name was given.");
            fetchRefs[i] = TensorName.Parse(fetches[i]);
            if (fetchRefs[i].IsControl || !graph.Contains(fetchRefs[i].Node)) throw graph.NotFound(fetches[i], "output node");
        }

        // Prune to the ancestors of the fetches, schedule in topological order.
        var needed = graph.AncestorsOf(fetchRefs.Select(f => f.Node));
        var order = graph.TopologicalOrder().Where(needed.Contains).ToArray();
        var stepOf = new Dictionary<int, int>(order.Length);
        for (int s = 0; s < order.Length; s++) stepOf[order[s]] = s;

        // Output counts: the op's arity where known, else what consumers and fetches reference.
        var referenced = new int[order.Length];
        for (int s = 0; s < order.Length; s++)
            foreach (var tn in graph.InputsOf(order[s]))
                if (!tn.IsControl && stepOf.TryGetValue(graph.IndexOf(tn.Node), out int src))
                    referenced[src] = Math.Max(referenced[src], tn.Index + 1);
        foreach (var f in fetchRefs) { int s = stepOf[graph.IndexOf(f.Node)]; referenced[s] = Math.Max(referenced[s], f.Index + 1); }

        // Unsupported ops: all of them, with counts, before anything runs.
        var missing = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (int gi in order)
        {
            var op = graph.Nodes[gi].Op;
            if (op is "Const" || GraphSession.IsPlaceholder(op)) continue;
            if (!kernels.Contains(op)) missing[op] = missing.GetValueOrDefault(op) + 1;
        }
        if (missing.Count > 0)
        {
            int total = missing.Values.Sum();
            throw new ModelOpsException(EngineErrorIds.UnsupportedOps, ErrorKind.NotImplemented,
                $"The managed engine has no kernel for {missing.Count} op type(s) used by {total} node(s) this model needs: {GraphSession.FormatOpCounts(missing)}. " +
                "Ask for outputs that avoid them (-Output), or run the model with another engine.", string.Join(",", missing.Keys));
        }

        _steps = new PlanStep[order.Length];
        // Per step: its output 0 is a graph constant (a Const, or an Identity-like op passing one through: a frozen TF1
        // graph reads each former variable through its "read" Identity), the same tensor on every run, so kernels may keep
        // work derived from it.
        var constantOut = new bool[order.Length];
        var placeholders = new List<int>();
        bool controlFlow = false;
        int slots = 0;
        for (int s = 0; s < order.Length; s++)
        {
            int gi = order[s];
            var node = graph.Nodes[gi];
            var inputs = graph.InputsOf(gi);
            var data = new List<(int, int)>();
            var control = new List<int>();
            var back = new List<bool>();
            foreach (var tn in inputs)
            {
                int src = stepOf[graph.IndexOf(tn.Node)];
                if (tn.IsControl) control.Add(src);
                else
                {
                    data.Add((src, tn.Index));
                    back.Add(graph.Nodes[order[src]].Op is "NextIteration" or "RefNextIteration");
                }
            }
            var role = node.Op switch
            {
                "Switch" or "RefSwitch" => ControlRole.Switch,
                "Merge" or "RefMerge" => ControlRole.Merge,
                "Enter" or "RefEnter" => ControlRole.Enter,
                "Exit" or "RefExit" => ControlRole.Exit,
                "NextIteration" or "RefNextIteration" => ControlRole.NextIteration,
                _ => ControlRole.None,
            };
            if (role != ControlRole.None) controlFlow = true;
            var kind = node.Op == "Const" ? StepKind.Constant : GraphSession.IsPlaceholder(node.Op) ? StepKind.Placeholder : StepKind.Kernel;
            constantOut[s] = kind == StepKind.Constant
                || (node.Op is "Identity" or "RefIdentity" or "Snapshot" or "StopGradient" or "PreventGradient" or "DebugIdentity"
                    && data.Count == 1 && data[0].Item2 == 0 && constantOut[data[0].Item1]);
            if (kind == StepKind.Placeholder) placeholders.Add(gi);
            int outCount = Math.Max(Math.Max(referenced[s], OutputArity(node)), 1);
            kernels.TryGet(node.Op, out var kernel);
            var step = new PlanStep
            {
                GraphIndex = gi,
                Node = node,
                Kind = kind,
                Kernel = kernel,
                Context = new KernelContext(node, new Tensor[data.Count], outCount, options)
                {
                    ConstantInputs = data.Select(d => d.Item2 == 0 && constantOut[d.Item1]).ToArray(),
                },
                DataInputs = data.ToArray(),
                ControlInputs = control.ToArray(),
                OutputCount = outCount,
                OutputBase = slots,
                Role = role,
                FrameName = role == ControlRole.Enter ? StringAttr(node, "frame_name") : null,
                IsConstantEnter = role == ControlRole.Enter && node.Attr.TryGetValue("is_constant", out var ic) && ic.B,
                BackEdge = role == ControlRole.Merge ? back.ToArray() : null,
                SpareCapacity = (kernels.TraitsOf(node.Op) & KernelTraits.SpareCapacity) != 0,
                PreparesWeights = (kernels.TraitsOf(node.Op) & KernelTraits.PreparesWeights) != 0,
            };
            slots += outCount;
            if (kind == StepKind.Constant)
            {
                lock (constantCache)
                {
                    if (!constantCache.TryGetValue(gi, out var value))
                    {
                        if (releasedConstants is not null && releasedConstants.Contains(node))
                            throw new ModelOpsException(EngineErrorIds.ConstantReleased, ErrorKind.InvalidOperation,
                                $"Const node '{node.Name}' was released from this session's graph when it planned its outputs (EngineOptions.ReleaseGraphConstants); " +
                                "run these outputs in a session made without that option.", node.Name);
                        value = node.Attr.TryGetValue("value", out var v) && v.Tensor is not null
                            ? TensorProtoCodec.Decode(v.Tensor, $"value of Const node '{node.Name}'")
                            : throw new ModelOpsException(ErrorIds.InvalidGraph, ErrorKind.InvalidData, $"Const node '{node.Name}' has no value attribute.", node.Name);
                        constantCache[gi] = value;
                    }
                    step.Constant = value;
                }
            }
            _steps[s] = step;
        }
        _slotCount = slots;
        Placeholders = placeholders;
        _fetches = fetchRefs.Select(f => (stepOf[graph.IndexOf(f.Node)], f.Index)).ToArray();
        foreach (var (st, o) in _fetches)
            if (o >= _steps[st].OutputCount)
                throw new ModelOpsException(EngineErrorIds.UnknownOutput, ErrorKind.InvalidArgument,
                    $"Node '{_steps[st].Node.Name}' ({_steps[st].Node.Op}) has no output {o}.", _steps[st].Node.Name);

        if (controlFlow)
        {
            _dataflow = new DataflowExecutor(_steps, _fetches);
            _releaseAfter = Array.Empty<int[]>();
            return;
        }

        // Last-use analysis: a slot is released right after the step that reads it last.
        var lastUse = new int[slots];
        Array.Fill(lastUse, -1);
        for (int s = 0; s < _steps.Length; s++)
        {
            for (int o = 0; o < _steps[s].OutputCount; o++) lastUse[_steps[s].OutputBase + o] = s; // unread: free at once
            foreach (var (src, o) in _steps[s].DataInputs) lastUse[_steps[src].OutputBase + o] = s;
        }
        foreach (var (st, o) in _fetches) lastUse[_steps[st].OutputBase + o] = int.MaxValue;
        var release = new List<int>[_steps.Length];
        for (int slot = 0; slot < slots; slot++)
        {
            int s = lastUse[slot];
            if (s >= 0 && s < _steps.Length) (release[s] ??= new List<int>()).Add(slot);
        }
        _releaseAfter = release.Select(l => l?.ToArray() ?? Array.Empty<int>()).ToArray();
        _lastRead = new bool[_steps.Length][];
        for (int s = 0; s < _steps.Length; s++)
        {
            var ins = _steps[s].DataInputs;
            var last = new bool[ins.Length];
            for (int i = 0; i < ins.Length; i++) last[i] = lastUse[_steps[ins[i].Step].OutputBase + ins[i].Output] == s;
            _lastRead[s] = last;
        }
        // Kernels that take buffers longer than their tensors get them, except for outputs fetched as they are
        // (results are exact arrays; one that aliases a longer buffer through Identity is copied when returned).
        var fetchedStep = new HashSet<int>(_fetches.Select(f => f.Step));
        foreach (var (s, step) in _steps.Select((st, i) => (i, st)))
            step.Context.SpareCapacity = _pooling && step.SpareCapacity && !fetchedStep.Contains(s);
        _preparedWeights = PreparedOnly(fetchedStep);
        if (_preparedWeights is not null)
        {
            _preparedBy = new int[_steps.Length][];
            for (int e = 0; e < _preparedWeights.Length; e++)
                foreach (int r in _preparedWeights[e].Readers)
                    _preparedBy[r] = [.. _preparedBy[r] ?? [], e];
        }
    }

    // The session's decoded constants (shared by its plans) and the constant steps whose every reader keeps its own
    // prepared copy: in the first run each keeps only its shape once its readers have prepared it, and whatever is left
    // when that run completes (null once done, when there are none, and in control-flow plans).
    private readonly Dictionary<int, Tensor> _constantCache;
    private (int Step, int[] Readers)[]? _preparedWeights;
    // Per step: the entries of _preparedWeights it reads (null for the others), so the first run lets a weight go as soon
    // as its last reader has prepared its copy, before the later kernels of that run need memory.
    private int[]?[]? _preparedBy;

    /// <summary>Constant steps, not fetched, read only as input 1 of kernels with <see cref="KernelTraits.PreparesWeights"/>, with those readers.</summary>
    private (int Step, int[] Readers)[]? PreparedOnly(HashSet<int> fetched)
    {
        var readers = new Dictionary<int, List<int>>();
        var disqualified = new HashSet<int>(fetched);
        for (int s = 0; s < _steps.Length; s++)
        {
            var ins = _steps[s].DataInputs;
            for (int i = 0; i < ins.Length; i++)
            {
                int src = ins[i].Step;
                if (_steps[src].Kind != StepKind.Constant) continue;
                if (i != 1 || !_steps[s].PreparesWeights || ins.Count(x => x.Step == src) > 1) disqualified.Add(src);
                else (readers.TryGetValue(src, out var l) ? l : readers[src] = new List<int>()).Add(s);
            }
        }
        var result = readers.Where(r => !disqualified.Contains(r.Key)).Select(r => (r.Key, r.Value.ToArray())).ToArray();
        return result.Length == 0 ? null : result;
    }

    /// <summary>
    /// After a completed run (and, in the first one, as soon as a weight's last reader has run): each constant whose readers
    /// all hold their prepared copy keeps only its shape here, and leaves the session's decoded constants (a plan made later
    /// decodes it again), so its elements can be collected once the run drops its slot.
    /// </summary>
    private void ReleasePreparedWeights()
    {
        for (int e = 0; e < _preparedWeights!.Length; e++) ReleasePrepared(e);
        _preparedWeights = null;
        _preparedBy = null;
    }

    /// <summary>Entry <paramref name="e"/> of the prepared-only constants keeps only its shape if every reader holds its copy.</summary>
    private void ReleasePrepared(int e)
    {
        var (s, readers) = _preparedWeights![e];
        var step = _steps[s];
        if (step.Constant is not { IsShapeOnly: false } value) return;
        foreach (int r in readers)
            if (!_steps[r].Context.HoldsPrepared) return;
        step.Constant = Tensor.ShapeOnly(value);
        lock (_constantCache)
            if (_constantCache.TryGetValue(step.GraphIndex, out var cached) && ReferenceEquals(cached, value)) _constantCache.Remove(step.GraphIndex);
    }

    /// <summary>The Const nodes whose values this plan holds (decoded, or shape-only with the readers' prepared copies).</summary>
    internal IEnumerable<NodeDef> ConstantNodes => _steps.Where(st => st.Kind == StepKind.Constant && st.Constant is not null).Select(st => st.Node);

    /// <summary>The value a Const node of this plan holds now (a shape-only stand-in once released; tests).</summary>
    internal Tensor? ConstantOf(string node) => _steps.FirstOrDefault(st => st.Kind == StepKind.Constant && st.Node.Name == node)?.Constant;

    /// <summary>The kernel context of a node's step (tests).</summary>
    internal KernelContext? ContextOf(string node) => _steps.FirstOrDefault(st => st.Node.Name == node)?.Context;

    /// <summary>The graph this plan runs (its node indices are the ones the plan uses).</summary>
    public TfGraph Graph { get; }

    /// <summary>Graph indices of the placeholders this plan reads.</summary>
    public IReadOnlyList<int> Placeholders { get; }

    public bool UsesControlFlow => _dataflow is not null;

    /// <summary>Runs the plan; returns the fetched tensors in fetch order.</summary>
    public Tensor[] Execute(Dictionary<int, Tensor> feeds)
    {
        CheckFeeds(feeds);
        if (_dataflow is not null) return _dataflow.Run(feeds, _fetchNames);

        var slots = new Tensor?[_slotCount];
        var pool = _pool;
        var profile = _steps.Length > 0 ? _steps[0].Context.Options.Profile : null;
        var live = profile is null ? null : new LiveBytes(_steps.Where(st => st.Constant is not null).Select(st => st.Constant!.Data).Concat(feeds.Values.Select(f => f.Data)));
        if (_lastResults is not null)
        {
            // The last run's results are recycled now, except an array fed back in (a state carried to this run).
            foreach (var a in _lastResults)
                if (!feeds.Values.Any(f => ReferenceEquals(f.Data, a))) pool.Adopt(a);
            _lastResults = null;
        }
        bool completed = false;
        try
        {
            for (int s = 0; s < _steps.Length; s++)
            {
                var step = _steps[s];
                switch (step.Kind)
                {
                    case StepKind.Constant:
                        slots[step.OutputBase] = step.Constant;
                        break;
                    case StepKind.Placeholder when feeds.TryGetValue(step.GraphIndex, out var fed):
                        slots[step.OutputBase] = fed;
                        break;
                    default:
                        var ctx = step.Context;
                        var lastRead = _lastRead[s];
                        bool[]? donatable = null;
                        for (int i = 0; i < step.DataInputs.Length; i++)
                        {
                            var (src, o) = step.DataInputs[i];
                            var input = ctx.Inputs[i] = slots[_steps[src].OutputBase + o]
                                ?? throw new ModelOpsException(EngineErrorIds.OutputNotComputed, ErrorKind.InvalidOperation,
                                    $"Node '{step.Node.Name}' reads output {o} of '{_steps[src].Node.Name}', which produced none.", step.Node.Name);
                            if (!step.SpareCapacity && input.HasSpareCapacity)
                            {
                                ctx.Inputs[i] = input.Exact(); // this kernel reads whole arrays: give it a copy of exactly the tensor
                                continue;
                            }
                            if (lastRead[i] && pool.RefCount(input.Data) == 1) (donatable ??= ctx.Donatable ??= new bool[step.DataInputs.Length])[i] = true;
                        }
                        if (donatable is not null)
                        {
                            // An input's array is only writable when no other input of this node reads the same array.
                            for (int i = 0; i < donatable.Length; i++)
                                if (donatable[i])
                                    for (int j = 0; j < ctx.Inputs.Length; j++)
                                        if (j != i && ReferenceEquals(ctx.Inputs[j].Data, ctx.Inputs[i].Data)) { donatable[i] = false; break; }
                        }
                        ctx.Pool = _pooling ? pool : null;
                        RunKernel(step);
                        if (_preparedBy?[s] is { } prepared)
                            foreach (int e in prepared) ReleasePrepared(e);
                        for (int o = 0; o < step.OutputCount; o++)
                        {
                            var value = slots[step.OutputBase + o] = ctx.Outputs[o];
                            if (value is not null)
                            {
                                pool.AddRef(value.Data);
                                live?.Add(value);
                            }
                            ctx.Outputs[o] = null!;
                        }
                        Array.Clear(ctx.Inputs);
                        if (donatable is not null) Array.Clear(donatable);
                        break;
                }
                if (live is not null) profile!.AddLive(live.Bytes);
                foreach (int slot in _releaseAfter[s])
                {
                    if (slots[slot] is { } dead)
                    {
                        pool.Release(dead.Data);
                        live?.Remove(dead);
                    }
                    slots[slot] = null;
                }
            }
            completed = true;
            if (_preparedWeights is not null) ReleasePreparedWeights();
        }
        finally
        {
            foreach (var st in _steps)
            {
                Array.Clear(st.Context.Inputs);
                Array.Clear(st.Context.Outputs);
                if (st.Context.Donatable is { } d) Array.Clear(d);
            }
            if (_reuseOutputs && completed)
            {
                // The fetched arrays the pool rented come back to it when the next run starts.
                var kept = new List<Array>(_fetches.Length);
                foreach (var (st, o) in _fetches)
                    if (slots[_steps[st].OutputBase + o] is { } t && pool.IsRented(t.Data) && !kept.Any(a => ReferenceEquals(a, t.Data))) kept.Add(t.Data);
                _lastResults = kept;
            }
            // Whatever is still rented now (the fetched results) leaves the pool: the caller owns it.
            pool.EndRun(completed);
            profile?.AddPool(pool.PeakBytes);
        }
        var result = new Tensor[_fetches.Length];
        for (int i = 0; i < result.Length; i++)
        {
            var (st, o) = _fetches[i];
            result[i] = (slots[_steps[st].OutputBase + o] ?? throw NotComputed(_fetchNames[i], _steps[st].Node)).Exact();
        }
        return result;
    }

    /// <summary>Bytes of the distinct kernel-made arrays held by live slots (profiling only).</summary>
    private sealed class LiveBytes
    {
        private readonly Dictionary<Array, int> _refs = new(ReferenceEqualityComparer.Instance);
        private readonly HashSet<Array> _notActivations = new(ReferenceEqualityComparer.Instance);

        public LiveBytes(IEnumerable<Array> constantsAndFeeds)
        {
            foreach (var a in constantsAndFeeds) _notActivations.Add(a);
        }

        public long Bytes { get; private set; }

        private readonly Dictionary<Array, long> _size = new(ReferenceEqualityComparer.Instance);

        public void Add(Tensor t)
        {
            var a = t.Data;
            if (_notActivations.Contains(a)) return; // passed through (Identity of a constant or a feed)
            if (_refs.TryGetValue(a, out int r)) _refs[a] = r + 1;
            else
            {
                _refs[a] = 1;
                Bytes += _size[a] = Size(t);
            }
        }

        public void Remove(Tensor t)
        {
            var a = t.Data;
            if (!_refs.TryGetValue(a, out int r)) return; // a constant or a feed
            if (r > 1) _refs[a] = r - 1;
            else
            {
                _refs.Remove(a);
                _size.Remove(a, out long bytes);
                Bytes -= bytes;
            }
        }

        /// <summary>The tensor's bytes (not its array's, which may be a longer planned buffer).</summary>
        private static long Size(Tensor t) =>
            t.Data is byte[][] s ? s.Sum(b => (long)b.Length) : (long)t.Length * Math.Max(1, t.DType.ByteSize());
    }

    internal static ModelOpsException NotComputed(string name, NodeDef node) =>
        new(EngineErrorIds.OutputNotComputed, ErrorKind.InvalidOperation,
            $"Output '{name}' was not computed: node '{node.Name}' ({node.Op}) produced no value for it (for example it lies on the branch of a cond that was not taken).", name);

    private void CheckFeeds(Dictionary<int, Tensor> feeds)
    {
        List<string>? missing = null;
        foreach (var step in _steps)
            if (step.Kind == StepKind.Placeholder && step.Node.Op != "PlaceholderWithDefault" && !feeds.ContainsKey(step.GraphIndex))
                (missing ??= new List<string>()).Add(Describe(step.Node));
        if (missing is not null)
            throw new ModelOpsException(EngineErrorIds.MissingInput, ErrorKind.InvalidArgument,
                $"The requested outputs need {missing.Count} input(s) that were not given: {string.Join(", ", missing)}. Feed a value for each.", missing[0]);
    }

    private static string Describe(NodeDef n)
    {
        string dtype = n.Attr.TryGetValue("dtype", out var dt) ? dt.Type.Name() : "?";
        long[]? shape = n.Attr.TryGetValue("shape", out var sh) && sh.Shape is not null ? TensorProtoCodec.ToPartialShape(sh.Shape) : null;
        return $"{n.Name} ({dtype}{(shape is null ? "" : Tensor.FormatShape(shape))})";
    }

    /// <summary>Runs a step's kernel; failures that are not ModelOpsException are wrapped with the node named.</summary>
    internal static void RunKernel(PlanStep step)
    {
        try
        {
            var profile = step.Context.Options.Profile;
            if (profile is null)
            {
                step.Kernel!(step.Context);
            }
            else
            {
                long a0 = GC.GetAllocatedBytesForCurrentThread();
                long t0 = System.Diagnostics.Stopwatch.GetTimestamp();
                step.Kernel!(step.Context);
                long ticks = System.Diagnostics.Stopwatch.GetTimestamp() - t0;
                long allocated = GC.GetAllocatedBytesForCurrentThread() - a0;
                foreach (var o in step.Context.Outputs)
                    if (o is not null) profile.AddOutput((long)o.Length * Math.Max(1, o.DType.ByteSize()));
                profile.Add(profile.ByShape ? step.Node.Op + " " + string.Join(" ", step.Context.Inputs.Select(t => Tensor.FormatShape(t.Shape))) : step.Node.Op, ticks, allocated);
            }
        }
        catch (ModelOpsException)
        {
            throw;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException and not OperationCanceledException)
        {
            throw new ModelOpsException(EngineErrorIds.KernelFailed, ErrorKind.InvalidData,
                $"{step.Node.Op} node '{step.Node.Name}' failed: {ex.Message}", step.Node.Name, ex);
        }
    }

    private static string? StringAttr(NodeDef n, string name) =>
        n.Attr.TryGetValue(name, out var v) ? v.S.ToStringUtf8() : null;

    /// <summary>Number of outputs of ops whose arity does not show in their consumers.</summary>
    internal static int OutputArity(NodeDef n)
    {
        long Attr(string name, long d) => n.Attr.TryGetValue(name, out var v) ? v.I : d;
        int listLen = n.Attr.TryGetValue("_output_shapes", out var os) && os.List is not null ? os.List.Shape.Count : 0;
        int known = n.Op switch
        {
            "Split" or "SplitV" => (int)Attr("num_split", 1),
            "Unpack" => (int)Attr("num", 1),
            "ShapeN" => (int)Attr("N", 1),
            "IdentityN" => n.Attr.TryGetValue("T", out var t) && t.List is not null ? t.List.Type.Count : n.Input.Count(i => !i.StartsWith('^')),
            "Switch" or "RefSwitch" or "Merge" or "RefMerge" or "TopKV2" or "TopK" or "TensorArrayV3" or "TensorArrayGradV3"
                or "NonMaxSuppressionV4" or "Unique" or "UniqueV2" => 2,
            "NonMaxSuppressionV5" => 3,
            "FusedBatchNorm" or "FusedBatchNormV2" => 5,
            "FusedBatchNormV3" or "_FusedBatchNormEx" => 6,
            _ => 1,
        };
        return Math.Max(known, listLen);
    }
}
