using ModelOps.Core.Inspection;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Runtime.Onnx;

/// <summary>
/// An <see cref="OnnxSession"/> seen through <see cref="IInferenceSession"/>: names of models converted from
/// TensorFlow are shown as TF nodes ("x" for "x:0"), as the managed engine shows them.
/// </summary>
public sealed class OnnxInferenceSession : IInferenceSession
{
    private readonly OnnxSession _session;

    public OnnxInferenceSession(OnnxSession session)
    {
        _session = session;
        Inputs = session.Inputs.Select(Short).ToList();
        Outputs = session.Outputs.Select(Short).ToList();
    }

    public IReadOnlyList<TensorSpec> Inputs { get; }
    public IReadOnlyList<TensorSpec> Outputs { get; }

    public IReadOnlyDictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyList<string>? fetches = null) =>
        _session.Run(feeds, fetches is { Count: > 0 } ? fetches : Outputs.Select(o => o.Name).ToList());

    public void Dispose() => _session.Dispose();

    private static TensorSpec Short(TensorSpec s) =>
        s.Name.EndsWith(":0", StringComparison.Ordinal) ? s with { Name = s.Name[..^2] } : s;
}
