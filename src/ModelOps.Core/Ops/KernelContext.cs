using System.Text;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using ModelOps.Core.Graph;

namespace ModelOps.Core.Ops;

/// <summary>
/// What a kernel sees: the node (for attributes and error messages), its data inputs in order, and
/// the output slots it must fill. Kernels must not modify input tensors (they may be shared).
/// </summary>
public sealed class KernelContext : NodeAttributeReader
{
    public KernelContext(NodeDef node, Tensor[] inputs, int outputCount, EngineOptions? options = null)
        : base(node)
    {
        Inputs = inputs;
        Outputs = new Tensor[outputCount];
        Options = options ?? EngineOptions.Default;
    }

    /// <inheritdoc/>
    protected override bool CacheAttributes => true;

    public Tensor[] Inputs { get; }
    public Tensor[] Outputs { get; }
    public EngineOptions Options { get; }

    /// <summary>Per-node state a kernel may keep between runs of the same plan (packed weights ...).</summary>
    public object? State { get; set; }

    /// <summary>
    /// Which data inputs are graph constants (the same tensor, with the same contents, on every run), as
    /// set by the execution plan; null when unknown. Kernels may cache work derived from such inputs in <see cref="State"/>.
    /// </summary>
    public bool[]? ConstantInputs { get; init; }

    /// <summary>True when data input <paramref name="i"/> is known to be a graph constant.</summary>
    public bool IsConstantInput(int i) => ConstantInputs is { } c && i < c.Length && c[i];

    public Tensor Input(int i) => i < Inputs.Length ? Inputs[i] : throw Error($"expects at least {i + 1} inputs but has {Inputs.Length}.");

    /// <summary>
    /// Input <paramref name="index"/> prepared by <paramref name="prepare"/> (packed, converted ...): when the input is a graph
    /// constant, prepared on the first run and kept in <see cref="State"/> (which this kernel then uses for nothing else);
    /// otherwise prepared for this run only. A kernel registered with <see cref="KernelTraits.PreparesWeights"/> reads
    /// input 1's elements only through here, so the plan may then keep only that constant's shape.
    /// </summary>
    internal T Prepared<T>(int index, Func<Tensor, T> prepare) where T : class
    {
        var t = Input(index);
        bool constant = IsConstantInput(index);
        // The copy serves the tensor it was made from (held weakly, so the plan can let it go) or its shape-only stand-in.
        if (constant && State is PreparedInput<T> kept && (t.IsShapeOnly || (kept.Source.TryGetTarget(out var source) && ReferenceEquals(source, t))))
            return kept.Value;
        if (t.IsShapeOnly)
            throw new InvalidOperationException($"Node '{Node.Name}': input {index} was released as prepared, but no prepared copy is kept.");
        var value = prepare(t);
        if (constant) State = new PreparedInput<T>(value, new WeakReference<Tensor>(t));
        return value;
    }

    /// <summary>
    /// The fused epilogue (bias, folded batch norm, activation) read from this node's attributes and constant inputs, kept by
    /// <see cref="Runtime.Kernels.FusedOps.Parse(KernelContext, int, int, int[], out Tensor?)"/> between runs.
    /// </summary>
    internal object? EpilogueCache { get; set; }

    /// <summary>True once <see cref="Prepared{T}"/> keeps a prepared copy of a constant input.</summary>
    internal bool HoldsPrepared => State is PreparedBase;

    private abstract record PreparedBase;

    /// <summary>What <see cref="Prepared{T}"/> keeps (the prepared value only: the constant itself may be let go).</summary>
    private sealed record PreparedInput<T>(T Value, WeakReference<Tensor> Source) : PreparedBase;

    public void SetOutput(int i, Tensor t) => Outputs[i] = t;

    // ---- output buffers: from the plan's buffer pool when the kernel runs in a plan, else new arrays ----

    /// <summary>The plan's buffer pool (set by the executor; null when the kernel is called on its own).</summary>
    internal Runtime.BufferPool? Pool { get; set; }

    /// <summary>
    /// The plan may hand this kernel buffers longer than its tensors (it is registered with
    /// <see cref="KernelTraits.SpareCapacity"/> and its outputs are not fetched as they are).
    /// </summary>
    internal bool SpareCapacity { get; set; }

    /// <summary>Per input: the executor allows this kernel to write its output over the input's array (its last use, not aliased).</summary>
    internal bool[]? Donatable { get; set; }

    /// <summary>
    /// A T[] of <paramref name="length"/> elements for an output of this kernel. Inside a plan it comes
    /// from the plan's buffer pool and goes back there once no live tensor uses it any more, so it must
    /// only be used for a tensor set with <see cref="SetOutput"/> (or as scratch given back with
    /// <see cref="ReturnScratch"/>), never kept elsewhere. Zero-filled when <paramref name="clear"/>;
    /// otherwise its contents are undefined and the kernel must write every element. For a kernel
    /// registered with <see cref="KernelTraits.SpareCapacity"/> the array may be longer than asked for:
    /// only the first <paramref name="length"/> elements are the kernel's (and zeroed when asked).
    /// </summary>
    public T[] Allocate<T>(long length, bool clear = true) where T : unmanaged
    {
        int n = checked((int)length);
        if (Pool is { } pool) return pool.Rent<T>(n, clear, SpareCapacity);
        if (!SpareCapacity || SpareForTests <= 0) return new T[n];
        // Tests: an array longer than asked for, its tail all one bits (NaN for floats), as a planned buffer may be.
        var a = new T[n + SpareForTests];
        System.Runtime.InteropServices.MemoryMarshal.AsBytes(a.AsSpan(clear ? n : 0)).Fill(0xFF);
        return a;
    }

    /// <summary>Tests only: outside a plan, <see cref="Allocate{T}"/> returns this many elements more than asked when <see cref="SpareCapacity"/>.</summary>
    internal int SpareForTests { get; set; }


    /// <summary>Gives back an array from <see cref="Allocate{T}"/> that no output uses (scratch).</summary>
    public void ReturnScratch(Array array) => Pool?.ReturnScratch(array);

    /// <summary>
    /// For element-wise kernels: the array of <paramref name="input"/> (one of <see cref="Inputs"/>) when
    /// the output may be written over it in place: this node is its last reader, no other live tensor or
    /// input of this node shares the array, it is not a constant, feed or fetched result, and it is a
    /// T[] of <paramref name="length"/> elements (or more, for a kernel registered with
    /// <see cref="KernelTraits.SpareCapacity"/>). Otherwise null. An array is handed out once.
    /// </summary>
    public T[]? TryReuseInput<T>(Tensor input, long length) where T : unmanaged
    {
        var donatable = Donatable;
        if (donatable is null || input.Data is not T[] a || (SpareCapacity ? a.Length < length : a.Length != length)) return null;
        for (int i = 0; i < Inputs.Length && i < donatable.Length; i++)
            if (donatable[i] && ReferenceEquals(Inputs[i], input))
            {
                donatable[i] = false;
                return a;
            }
        return null;
    }

    /// <summary>An output array of <paramref name="length"/> elements: <paramref name="input"/>'s when it may be reused in place, else a fresh one (contents undefined).</summary>
    public T[] ReuseOrAllocate<T>(Tensor input, long length) where T : unmanaged =>
        TryReuseInput<T>(input, length) ?? Allocate<T>(length, clear: false);

    public ModelOpsException Error(string message) =>
        new("KernelError", ErrorKind.InvalidData, $"{Node.Op} node '{Node.Name}' {message}", Node.Name);

    // ---- attributes, with TensorFlow's defaults given by the caller ----

    protected override ModelOpsException MissingAttribute(string name) => Error($"has no '{name}' attribute.");
}

/// <summary>Engine settings shared by all kernels of a run.</summary>
public sealed class EngineOptions
{
    public static EngineOptions Default { get; } = new();

    /// <summary>Threads kernels may use (1 = single-threaded). Defaults to the processor count.</summary>
    public int IntraOpThreads { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Intermediate arrays are recycled through a per-plan buffer pool (and element-wise ops run in place
    /// at their input's last use). The first run records every output a kernel asks for and when it is last
    /// used; later runs get buffers planned from that record, each shared by tensors whose lifetimes do not
    /// overlap (a kernel registered with <see cref="KernelTraits.SpareCapacity"/> may get a longer buffer, so
    /// tensors of different sizes share), which comes to about the most bytes of activations alive at once.
    /// Runs that ask for other sizes (new input shapes) take exact arrays for what the plan does not match,
    /// and the plan is made anew from them. This factor bounds those fallback arrays: the pool keeps at most
    /// this multiple of the bytes its previous run had in use at once (<see cref="double.PositiveInfinity"/>
    /// keeps all). 0 turns pooling, planning and in-place reuse off (every kernel allocates its outputs).
    /// </summary>
    public double PoolHoldFactor { get; init; } = 4.0;

    /// <summary>
    /// The tensors a run returns stay valid only until the next run of the session with the same outputs: their
    /// arrays then go back to the buffer pool and are overwritten. Saves allocating the results on every run (an
    /// output of 85 KB or more is a large-object-heap array, and a stream of those costs a gen-2 collection every
    /// few runs). A result fed back in as an input of the next run (a carried state) is not recycled by that run.
    /// Copy what you keep. Off by default; no effect when <see cref="PoolHoldFactor"/> is 0 or the graph has
    /// control flow.
    /// </summary>
    public bool ReuseOutputBuffers { get; init; }

    /// <summary>
    /// The session owns the GraphDef it is given (nothing else reads it, as in <c>Invoke-TfInference</c>): once it has planned
    /// the default outputs it removes from that GraphDef the values of the constants the plan holds (decoded, and later
    /// packed by the kernels that read them), so the weights are in memory once rather than twice, the first run included.
    /// <see cref="Runtime.GraphSession.Graph"/> then shows those Const nodes without values, and a run of other outputs
    /// that needs one of them fails with <see cref="Runtime.EngineErrorIds.ConstantReleased"/>. Off by default.
    /// </summary>
    public bool ReleaseGraphConstants { get; init; }

    /// <summary>When set, every kernel call is timed and added to this collector by op type.</summary>
    public Runtime.OpProfile? Profile { get; init; }

    /// <summary>
    /// Plans run Conv2D / DepthwiseConv2dNative / MatMul followed by a bias add and an activation as one fused
    /// kernel, and a 1×1 convolution's Add of another tensor (with the activation after it) too, the sum written over
    /// that tensor at its last use (the fuse_contractions rewrite with residual=true, applied to the session's copy of
    /// the graph; inputs and outputs keep their names, and fetching a node that the rewrite folded away plans the
    /// unrewritten graph instead). The arithmetic is the same, so results are identical; false runs the graph exactly as given.
    /// </summary>
    public bool FuseContractions { get; init; } = true;

    /// <summary>
    /// Plans cancel layout transposes: Transpose pairs around layout-agnostic ops (element-wise, Pad, ConcatV2), as
    /// graphs converted from NCHW formats have, are moved through those ops until they meet and vanish (the
    /// cancel_transposes rewrite, applied to the session's copy of the graph). Outputs keep their values; nodes
    /// whose layout changed are renamed, so fetching one of them plans the unrewritten graph instead.
    /// </summary>
    public bool CancelTransposes { get; init; } = true;

    /// <summary>
    /// Plans fold a zero Pad read only by convolutions into their explicit padding (the fold_pad_into_conv rewrite,
    /// applied to the session's copy of the graph), so the padded tensor is never built. Values are unchanged.
    /// </summary>
    public bool FoldPadIntoConv { get; init; } = true;
}
