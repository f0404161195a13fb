using ModelOps.Core.Errors;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.TfLite;
using ModelOps.Core.Inspection;
using Xunit;
using Xunit.Abstractions;

namespace ModelOps.Core.Tests.TfLite;

public class TfLiteReaderTests(ITestOutputHelper output)
{
    internal static string Tf(params string[] parts) => Corpus.Path(new[] { "tf" }.Concat(parts).ToArray());

    [SkippableFact]
    public void EveryCorpusTfliteReadsOrFailsWithStableId()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var files = Corpus.Files(f => f.StartsWith("tf/tflite--", StringComparison.Ordinal) && (f.EndsWith(".tflite") || f.EndsWith(".bin") || f.EndsWith(".lite"))).ToList();
        Assert.True(files.Count > 40);
        foreach (var f in files)
        {
            string p = Corpus.Path(f);
            try
            {
                var info = ModelInspector.Inspect(p);
                output.WriteLine($"{f}: {info.OpSummary} | in {string.Join("; ", info.Inputs)} | out {string.Join("; ", info.Outputs)}");
            }
            catch (ModelOpsException ex)
            {
                output.WriteLine($"{f}: {ex.ErrorId}: {ex.Message}");
            }
        }
    }

    [SkippableFact]
    public void MobileNetShowsQuantizationLabelsAndOps()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var info = ModelInspector.Inspect(Tf("tflite--tflite-support-mobilenet_v1_0.25_224_quant", "mobilenet_v1_0.25_224_quant.tflite"));
        Assert.Equal("TfLite", info.Format);
        var inp = Assert.Single((IReadOnlyList<TfLiteTensorDetail>)info.Details["InputDetails"]);
        Assert.Equal("input", inp.Name);
        Assert.Equal("uint8", inp.DType);
        Assert.Equal(new[] { 1, 224, 224, 3 }, inp.Shape);
        Assert.Equal(0.0078125f, inp.Scale[0]);
        Assert.Equal(128, inp.ZeroPoint[0]);
        var outp = Assert.Single((IReadOnlyList<TfLiteTensorDetail>)info.Details["OutputDetails"]);
        Assert.Equal("MobilenetV1/Predictions/Reshape_1", outp.Name);
        var labels = (IReadOnlyList<string>)info.Details["Labels"];
        Assert.Equal(1001, labels.Count);
        Assert.Equal("cheeseburger", labels[934]);
        Assert.True(info.OpHistogram["CONV_2D"] > 10);
        Assert.Contains(((IReadOnlyList<TfLiteOpUsage>)info.Details["Operators"]), u => u.Op == "DEPTHWISE_CONV_2D");
        Assert.Equal(508786, info.FileSize);
    }

    [SkippableFact]
    public void HelloWorldInt8HasSignatureAndQuantization()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var m = TfLiteModelReader.Read(Tf("tflite--tflite-micro-hello_world", "hello_world_int8.tflite"));
        var sig = Assert.Single(m.Signatures);
        Assert.Equal("serving_default", sig.Key);
        Assert.Equal("dense_input", Assert.Single(sig.Inputs).Name);
        var input = m.Main.Tensors[m.Main.Inputs[0]];
        Assert.Equal(-128, input.Quantization!.ZeroPoint[0]);
        Assert.Equal(0.024480116f, input.Quantization.Scale[0], 6);
        Assert.All(m.Main.Operators, o => Assert.Equal(ModelOps.Core.Formats.TfLite.Schema.BuiltinOperator.FULLY_CONNECTED, m.OpCodeOf(o).Builtin));
        // The float model's op codes only fill the deprecated field or both; either way FULLY_CONNECTED.
        var f = TfLiteModelReader.Read(Tf("tflite--tflite-micro-hello_world", "hello_world_float.tflite"));
        Assert.Equal(3, f.Main.Operators.Count);
    }

    [SkippableFact]
    public void MinRuntimeVersionAndCustomOpsAreReported()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var m = TfLiteModelReader.Read(Tf("tflite--tf-lite-testdata", "test_min_runtime.bin"));
        Assert.Equal("1.10.0", m.MinRuntimeVersion);
        var info = ModelInspector.Inspect(Tf("tflite--tf-lite-testdata", "multi_add_flex.bin"));
        Assert.Contains("FlexAdd", (IReadOnlyList<string>)info.Details["CustomOps"]);
    }

    [SkippableFact]
    public void InvalidModelIsRejected()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var ex = Assert.Throws<ModelOpsException>(() => ModelInspector.Inspect(Tf("tflite--tf-lite-java-testdata", "invalid_model.bin")));
        output.WriteLine(ex.ErrorId + ": " + ex.Message);
    }
}
