using ModelOps.Core.Converters.Onnx;
using ModelOps.Core.Formats;
using ModelOps.Core.Inspection;
using ModelOps.Core.Ops;
using ModelOps.Core.Runtime;
using ModelOps.Core.Runtime.Onnx;
using ModelOps.Core.Tensors;

namespace ModelOps.PowerShell.Inference;

/// <summary>One loaded model on one engine, as Invoke-TfInference uses it: inputs, outputs, Run.</summary>
internal interface IInferenceRunner : IDisposable
{
    IReadOnlyList<TensorSpec> Inputs { get; }
    IReadOnlyList<TensorSpec> Outputs { get; }
    IReadOnlyDictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyList<string>? fetches);
}

internal static class InferenceRunner
{
    /// <summary>Loads a model for an engine: the managed engine plans the graph; ONNX Runtime runs .onnx files or converts TF graphs in memory.</summary>
    public static IInferenceRunner Load(string path, InferenceEngine engine, IReadOnlyList<string>? outputs, int? intraOpThreads) => engine switch
    {
        InferenceEngine.OnnxRuntime => new OrtRunner(OnnxSession.Load(path, new OnnxSessionOptions
        {
            IntraOpThreads = intraOpThreads,
            Conversion = new OnnxConversionOptions { Outputs = outputs },
        })),
        _ => new ManagedRunner(new GraphSession(ModelReader.ReadGraphDef(path), outputs,
            intraOpThreads is int n ? new EngineOptions { IntraOpThreads = n } : null)),
    };

    private sealed class ManagedRunner(GraphSession session) : IInferenceRunner
    {
        public IReadOnlyList<TensorSpec> Inputs => session.Inputs;
        public IReadOnlyList<TensorSpec> Outputs => session.Outputs;
        public IReadOnlyDictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyList<string>? fetches) => session.Run(feeds, fetches);
        public void Dispose() => session.Dispose();
    }

    /// <summary>ONNX Runtime, with TF-converted names shown as TF nodes ("x" for "x:0") like the managed engine shows them.</summary>
    private sealed class OrtRunner : IInferenceRunner
    {
        private readonly OnnxSession _session;

        public OrtRunner(OnnxSession session)
        {
            _session = session;
            Inputs = session.Inputs.Select(Short).ToList();
            Outputs = session.Outputs.Select(Short).ToList();
        }

        public IReadOnlyList<TensorSpec> Inputs { get; }
        public IReadOnlyList<TensorSpec> Outputs { get; }

        public IReadOnlyDictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> feeds, IReadOnlyList<string>? fetches) =>
            _session.Run(feeds, fetches is { Count: > 0 } ? fetches : Outputs.Select(o => o.Name).ToList());

        public void Dispose() => _session.Dispose();

        private static TensorSpec Short(TensorSpec s) =>
            s.Name.EndsWith(":0", StringComparison.Ordinal) ? s with { Name = s.Name[..^2] } : s;
    }
}
