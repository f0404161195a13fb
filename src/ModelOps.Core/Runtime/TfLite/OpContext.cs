using Google.FlatBuffers;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats.TfLite;
using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Protos;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Runtime.TfLite;

/// <summary>A kernel: reads its inputs from the context and sets its outputs.</summary>
internal delegate void TfLiteKernel(OpContext ctx);

/// <summary>Quantization of one tensor as kernels use it (per-tensor scale and zero point).</summary>
internal readonly record struct QParams(float Scale, int ZeroPoint);

/// <summary>What one operator's kernel sees while it runs: its tensors, options and quantization.</summary>
internal sealed class OpContext
{
    private readonly Tensor?[] _values;

    public OpContext(TfLiteModel model, TfLiteSubGraph graph, TfLiteOperator op, Tensor?[] values, TfLiteSession session)
    {
        Model = model;
        Graph = graph;
        Op = op;
        _values = values;
        Session = session;
    }

    public TfLiteModel Model { get; }
    public TfLiteSubGraph Graph { get; }
    public TfLiteOperator Op { get; }
    public TfLiteSession Session { get; }
    public TfLiteOpCode Code => Model.OpCodeOf(Op);
    public int InputCount => Op.Inputs.Length;
    public int OutputCount => Op.Outputs.Length;

    public bool HasInput(int i) => i < Op.Inputs.Length && Op.Inputs[i] >= 0;

    public Tensor Input(int i)
    {
        if (!HasInput(i)) throw Unsupported($"input {i} is missing");
        return _values[Op.Inputs[i]] ?? throw Unsupported($"input {i} ('{Graph.Tensors[Op.Inputs[i]].Name}') has no value yet");
    }

    public Tensor? OptionalInput(int i) => HasInput(i) ? _values[Op.Inputs[i]] : null;

    public TfLiteTensor InputInfo(int i) => Graph.Tensors[Op.Inputs[i]];
    public TfLiteTensor OutputInfo(int i) => Graph.Tensors[Op.Outputs[i]];
    public DataType OutputType(int i = 0) => OutputInfo(i).DType;

    public void SetOutput(int i, Tensor t) => _values[Op.Outputs[i]] = t;

    /// <summary>Stored value of a variable tensor (LSTM state ...), by tensor index.</summary>
    public Tensor? Value(int tensorIndex) => _values[tensorIndex];
    public void SetValue(int tensorIndex, Tensor t) => _values[tensorIndex] = t;

    /// <summary>
    /// Per-operator state kept by the session between runs (packed weights, multipliers): made by
    /// <paramref name="make"/> on first use, and made again whenever <paramref name="key"/> (the tensor the state
    /// derives from, normally a constant filter) or <paramref name="key2"/> (a second one, the bias) is a different
    /// object than the one it was made from.
    /// </summary>
    public T Cached<T>(Tensor key, Tensor? key2, Func<T> make) where T : class
    {
        var slots = Session.OpStates;
        if (slots[Op.Index] is CachedState { Value: T v } c && ReferenceEquals(c.Key, key) && ReferenceEquals(c.Key2, key2)) return v;
        var made = make();
        slots[Op.Index] = new CachedState(key, key2, made);
        return made;
    }

    private sealed record CachedState(Tensor Key, Tensor? Key2, object Value);

    public T? Options<T>() where T : struct, IFlatbufferObject => Op.Raw.BuiltinOptions<T>();

    public QParams InQ(int i) => Q(InputInfo(i));
    public QParams OutQ(int i = 0) => Q(OutputInfo(i));

    public static QParams Q(TfLiteTensor t)
    {
        var q = t.Quantization;
        if (q is null || q.Scale.Length == 0) return new QParams(0f, 0);
        return new QParams(q.Scale[0], q.ZeroPoint.Length > 0 ? (int)q.ZeroPoint[0] : 0);
    }

    public ModelOpsException Unsupported(string why) =>
        new(ErrorIds.TfLiteUnsupported, ErrorKind.NotImplemented,
            $"{Code.Name} (operator {Op.Index}, output '{(Op.Outputs.Length > 0 ? Graph.Tensors[Op.Outputs[0]].Name : "?")}'): {why}.", Model.Path);

    public ModelOpsException UnsupportedType(Tensor t) => Unsupported($"{t.DType} inputs are not implemented for this op");
}
