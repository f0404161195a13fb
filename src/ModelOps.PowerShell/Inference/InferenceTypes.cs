using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;

namespace ModelOps.PowerShell.Inference;

/// <summary>One output tensor of a run, as Invoke-TfInference emits it.</summary>
public sealed class TfInferenceOutput
{
    public TfInferenceOutput(string name, Tensor tensor)
    {
        Name = name;
        Tensor = tensor;
    }

    public string Name { get; }
    public string DType => Tensor.DType.Name();
    public int[] Shape => Tensor.Shape;

    /// <summary>The elements, row-major, as a typed array (strings as string[]).</summary>
    public Array Data => Tensor.DType == Core.Protos.DataType.DtString
        ? ((byte[][])Tensor.Data).Select(b => System.Text.Encoding.UTF8.GetString(b)).ToArray()
        : Tensor.Data;

    public Tensor Tensor { get; }

    /// <summary>The first few values, for the compact view.</summary>
    public string Preview
    {
        get
        {
            const int max = 8;
            var items = Data.Cast<object>().Take(max + 1).Select(v => v is IFormattable f ? f.ToString(null, System.Globalization.CultureInfo.InvariantCulture) : v?.ToString()).ToList();
            string text = string.Join(", ", items.Take(max));
            return items.Count > max ? text + ", …" : text;
        }
    }

    public override string ToString() => $"{Name} {DType}{Tensor.FormatShape(Shape)}";
}

/// <summary>What Invoke-TfInference -Measure emits: how long planning and running took.</summary>
public sealed class TfRunSummary
{
    public required string Model { get; init; }
    public required InferenceEngine Engine { get; init; }
    /// <summary>Loading and planning the model (once per pipeline).</summary>
    public required TimeSpan PlanTime { get; init; }
    /// <summary>All runs together.</summary>
    public required TimeSpan RunTime { get; init; }
    public required int Runs { get; init; }
    /// <summary>Rows (pipeline objects) or 1 per -Input run.</summary>
    public required int Samples { get; init; }
    public TimeSpan MeanRunTime => Runs == 0 ? TimeSpan.Zero : RunTime / Runs;
    public TimeSpan TotalTime => PlanTime + RunTime;
    public required IReadOnlyList<string> Outputs { get; init; }

    /// <summary>Each run's wall time, in order.</summary>
    public IReadOnlyList<TimeSpan> RunTimes { get; init; } = [];

    /// <summary>The fastest run.</summary>
    public TimeSpan MinRunTime => RunTimes.Count == 0 ? TimeSpan.Zero : RunTimes.Min();

    /// <summary>The median run (the mean of the middle two for an even count).</summary>
    public TimeSpan MedianRunTime
    {
        get
        {
            if (RunTimes.Count == 0) return TimeSpan.Zero;
            var sorted = RunTimes.Order().ToList();
            int mid = sorted.Count / 2;
            return sorted.Count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
        }
    }

    /// <summary>Kernel time per op type over the timed runs, the most expensive first (the managed engines, graph and .tflite; empty on ONNX Runtime).</summary>
    public IReadOnlyList<TfOpTime> OpTimes { get; init; } = [];
}

/// <summary>One op type's share of the managed engine's kernel time in a measured run.</summary>
public sealed record TfOpTime(string Op, long Calls, TimeSpan Time, double Share)
{
    public override string ToString() => $"{Op}: {Calls} calls, {Time.TotalMilliseconds:F3} ms ({Share:P1})";
}
