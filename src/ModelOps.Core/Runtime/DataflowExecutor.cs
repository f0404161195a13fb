using ModelOps.Core.Errors;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Runtime;

/// <summary>
/// Executes plans that contain TF1 control flow, with TensorFlow's executor semantics run
/// sequentially: tensors are tagged by frame and iteration; a node is ready when all its inputs for
/// that frame/iteration have arrived; dead tensors (the untaken output of a Switch) make every
/// consumer dead except Merge, which forwards its first live input (or is dead when all its inputs
/// are). Enter moves a tensor into a child frame (is_constant Enters into every iteration),
/// NextIteration into the next iteration of the same frame (a dead one stops), Exit back into the
/// parent frame (a dead one is held until the frame is over and only then passed on dead).
/// parallel_iterations is ignored: iterations run one after another.
/// </summary>
internal sealed class DataflowExecutor
{
    private readonly PlanStep[] _steps;
    private readonly (int Step, int Output)[] _fetches;
    private readonly List<(int Dst, int Slot, int Output)>[] _outEdges;
    private readonly int[] _initialPending;
    private readonly Dictionary<int, List<int>> _fetchesByStep = new();

    public DataflowExecutor(PlanStep[] steps, (int Step, int Output)[] fetches)
    {
        _steps = steps;
        _fetches = fetches;
        _outEdges = new List<(int, int, int)>[steps.Length];
        for (int s = 0; s < steps.Length; s++) _outEdges[s] = new List<(int, int, int)>();
        _initialPending = new int[steps.Length];
        for (int s = 0; s < steps.Length; s++)
        {
            var st = steps[s];
            for (int i = 0; i < st.DataInputs.Length; i++) _outEdges[st.DataInputs[i].Step].Add((s, i, st.DataInputs[i].Output));
            foreach (int c in st.ControlInputs) _outEdges[c].Add((s, -1, -1));
            _initialPending[s] = st.Role == ControlRole.Merge ? st.ControlInputs.Length : st.DataInputs.Length + st.ControlInputs.Length;
        }
        for (int i = 0; i < fetches.Length; i++)
        {
            if (!_fetchesByStep.TryGetValue(fetches[i].Step, out var l)) _fetchesByStep[fetches[i].Step] = l = new List<int>();
            l.Add(i);
        }
    }

    private sealed class Frame
    {
        public required string Name { get; init; }
        public Frame? Parent { get; init; }
        public Iteration? ParentIteration { get; init; }
        public int Depth { get; init; }
        public List<Iteration> Iterations { get; } = new();
        /// <summary>is_constant Enter values to deliver to every iteration: (enter step, value or null when dead).</summary>
        public List<(int Step, Tensor? Value)> Constants { get; } = new();
        /// <summary>Exit step → whether it has emitted a live tensor.</summary>
        public Dictionary<int, bool> Exits { get; } = new();
        public bool Finished { get; set; }
    }

    private sealed class Iteration
    {
        public Iteration(Frame frame, int index, int[] initialPending)
        {
            Frame = frame;
            Index = index;
            Pending = (int[])initialPending.Clone();
            DeadCount = new int[initialPending.Length];
            Flags = new byte[initialPending.Length];
            Inputs = new Tensor?[initialPending.Length][];
        }

        public Frame Frame { get; }
        public int Index { get; }
        public int[] Pending { get; }
        public int[] DeadCount { get; }
        /// <summary>Bit 1: some input was dead; bit 2: a Merge has taken its live input; bit 4: a Merge's data is all dead.</summary>
        public byte[] Flags { get; }
        public Tensor?[][] Inputs { get; }
        public Dictionary<string, Frame>? Children { get; set; }
    }

    private const byte DeadInput = 1, MergeLive = 2, MergeDead = 4, Queued = 8;

    public Tensor[] Run(Dictionary<int, Tensor> feeds, string[] fetchNames)
    {
        var root = new Frame { Name = "", Depth = 0 };
        var rootIter = new Iteration(root, 0, _initialPending);
        root.Iterations.Add(rootIter);
        var frames = new List<Frame> { root };
        var ready = new Queue<(int Step, Iteration Iter)>();
        var results = new Tensor?[_fetches.Length];

        for (int s = 0; s < _steps.Length; s++)
            if (_initialPending[s] == 0 && _steps[s].Role != ControlRole.Merge && _steps[s].DataInputs.Length == 0)
                Enqueue(rootIter, s);

        try
        {
            while (true)
            {
                while (ready.Count > 0)
                {
                    var (s, it) = ready.Dequeue();
                    Process(s, it);
                }
                // Quiescent: close the deepest frame still open, passing on exits that never went live (dead).
                Frame? open = null;
                foreach (var f in frames)
                    if (!f.Finished && f.Parent is not null && (open is null || f.Depth > open.Depth)) open = f;
                if (open is null) break;
                open.Finished = true;
                foreach (var (exit, live) in open.Exits)
                    if (!live)
                    {
                        Record(exit, open.ParentIteration!, null, nodeDead: true);
                        Deliver(exit, open.ParentIteration!, null, nodeDead: true);
                    }
            }
        }
        finally
        {
            foreach (var st in _steps) { Array.Clear(st.Context.Inputs); Array.Clear(st.Context.Outputs); }
        }

        var output = new Tensor[_fetches.Length];
        for (int i = 0; i < output.Length; i++)
            output[i] = results[i] ?? throw ExecutionPlan.NotComputed(fetchNames[i], _steps[_fetches[i].Step].Node);
        return output;

        void Enqueue(Iteration it, int s)
        {
            it.Flags[s] |= Queued;
            ready.Enqueue((s, it));
        }

        void Process(int s, Iteration it)
        {
            var step = _steps[s];
            var flags = it.Flags[s];
            var inputs = it.Inputs[s];
            it.Inputs[s] = null!;
            bool dead = step.Role == ControlRole.Merge ? (flags & MergeDead) != 0 : (flags & DeadInput) != 0;
            if (dead)
            {
                Propagate(s, it, null, nodeDead: true);
                return;
            }
            Tensor?[] outs;
            switch (step.Kind)
            {
                case StepKind.Constant:
                    outs = new Tensor?[step.OutputCount];
                    outs[0] = step.Constant;
                    break;
                case StepKind.Placeholder when feeds.TryGetValue(step.GraphIndex, out var fed):
                    outs = new Tensor?[step.OutputCount];
                    outs[0] = fed;
                    break;
                default:
                    var ctx = step.Context;
                    for (int i = 0; i < ctx.Inputs.Length; i++)
                    {
                        var v = inputs?[i];
                        if (v is null && step.Role != ControlRole.Merge)
                            throw new ModelOpsException(EngineErrorIds.OutputNotComputed, ErrorKind.InvalidOperation,
                                $"Node '{step.Node.Name}' ran without its input {i}.", step.Node.Name);
                        ctx.Inputs[i] = v!;
                    }
                    ExecutionPlan.RunKernel(step);
                    outs = new Tensor?[step.OutputCount];
                    for (int o = 0; o < outs.Length; o++) { outs[o] = ctx.Outputs[o]; ctx.Outputs[o] = null!; }
                    Array.Clear(ctx.Inputs);
                    break;
            }
            Propagate(s, it, outs, nodeDead: false);
        }

        // Sends a node's outputs (null entries = dead) to its consumers in the right frame/iteration.
        void Propagate(int s, Iteration it, Tensor?[]? outs, bool nodeDead)
        {
            var step = _steps[s];
            Iteration target = it;
            switch (step.Role)
            {
                case ControlRole.Enter:
                {
                    var frame = ChildFrame(it, step.FrameName ?? "");
                    Tensor? value = nodeDead ? null : outs![0];
                    if (step.IsConstantEnter)
                    {
                        frame.Constants.Add((s, value));
                        foreach (var iter in frame.Iterations) Deliver(s, iter, value, nodeDead);
                        return;
                    }
                    target = frame.Iterations[0];
                    break;
                }
                case ControlRole.NextIteration:
                    if (nodeDead || outs![0] is null) return; // deadness stops at NextIteration
                    target = NextIteration(it);
                    break;
                case ControlRole.Exit:
                {
                    var frame = it.Frame;
                    if (frame.Parent is null)
                        throw new ModelOpsException(EngineErrorIds.OutputNotComputed, ErrorKind.InvalidData,
                            $"Exit node '{step.Node.Name}' is not inside a while loop frame.", step.Node.Name);
                    bool live = !nodeDead && outs![0] is not null;
                    if (!live)
                    {
                        frame.Exits.TryAdd(s, false);
                        return; // held until the frame is over
                    }
                    frame.Exits[s] = true;
                    target = frame.ParentIteration!;
                    break;
                }
            }
            Record(s, target, outs, nodeDead);
            Deliver(s, target, nodeDead ? null : outs![0], nodeDead, outs);
        }

        // Keeps fetched tensors that land in the root frame.
        void Record(int s, Iteration target, Tensor?[]? outs, bool nodeDead)
        {
            if (target.Frame != root || !_fetchesByStep.TryGetValue(s, out var fl)) return;
            foreach (int fi in fl) results[fi] = nodeDead ? null : outs![_fetches[fi].Output];
        }

        void Deliver(int s, Iteration target, Tensor? first, bool nodeDead, Tensor?[]? outs = null)
        {
            bool fromEnter = _steps[s].Role == ControlRole.Enter;
            foreach (var (dst, slot, o) in _outEdges[s])
            {
                Tensor? value = slot < 0 ? null : nodeDead ? null : outs is null ? first : outs[o];
                bool edgeDead = nodeDead || (slot >= 0 && value is null);
                var dstStep = _steps[dst];
                if (dstStep.Role == ControlRole.Merge)
                {
                    if (slot < 0)
                    {
                        target.Pending[dst]--; // a dead control input does not kill a Merge
                    }
                    else if (!edgeDead)
                    {
                        if ((target.Flags[dst] & (MergeLive | MergeDead)) == 0)
                        {
                            target.Flags[dst] |= MergeLive;
                            var ins = target.Inputs[dst] ??= new Tensor?[dstStep.DataInputs.Length];
                            ins[slot] = value;
                        }
                    }
                    else
                    {
                        target.DeadCount[dst]++;
                        // A loop Merge waits on its Enter input in iteration 0 and on NextIteration after.
                        var back = dstStep.BackEdge!;
                        int expected = 0;
                        if (Array.IndexOf(back, true) < 0) expected = back.Length;
                        else
                            for (int k = 0; k < back.Length; k++)
                                if (back[k] == (target.Index > 0)) expected++;
                        if ((target.Flags[dst] & MergeLive) == 0 && (target.DeadCount[dst] >= expected || fromEnter))
                            target.Flags[dst] |= MergeDead;
                    }
                    if (target.Pending[dst] == 0 && (target.Flags[dst] & (MergeLive | MergeDead)) != 0 && (target.Flags[dst] & Queued) == 0)
                        Enqueue(target, dst);
                    continue;
                }
                if (slot >= 0)
                {
                    var ins = target.Inputs[dst] ??= new Tensor?[dstStep.DataInputs.Length];
                    ins[slot] = value;
                }
                if (edgeDead) target.Flags[dst] |= DeadInput;
                if (--target.Pending[dst] == 0) Enqueue(target, dst);
            }
        }

        Frame ChildFrame(Iteration parent, string name)
        {
            parent.Children ??= new Dictionary<string, Frame>(StringComparer.Ordinal);
            if (parent.Children.TryGetValue(name, out var f)) return f;
            f = new Frame { Name = name, Parent = parent.Frame, ParentIteration = parent, Depth = parent.Frame.Depth + 1 };
            f.Iterations.Add(new Iteration(f, 0, _initialPending));
            parent.Children[name] = f;
            frames.Add(f);
            return f;
        }

        Iteration NextIteration(Iteration it)
        {
            var frame = it.Frame;
            int next = it.Index + 1;
            if (next < frame.Iterations.Count) return frame.Iterations[next];
            var iter = new Iteration(frame, next, _initialPending);
            frame.Iterations.Add(iter);
            foreach (var (step, value) in frame.Constants) Deliver(step, iter, value, value is null);
            return iter;
        }
    }
}
