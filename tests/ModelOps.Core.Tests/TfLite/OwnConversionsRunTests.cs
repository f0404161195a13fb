using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Formats.TfLite;
using ModelOps.Core.Freezing;
using ModelOps.Core.Runtime;
using ModelOps.Core.Runtime.TfLite;
using ModelOps.Core.Samples;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.TfLite;

/// <summary>What ConvertTo-TfLite writes runs on the managed TFLite interpreter and matches the source graph.</summary>
public class OwnConversionsRunTests
{
    [Fact]
    public void FrozenSampleCnnWithMeanRunsLikeTheGraph()
    {
        string dir = Directory.CreateTempSubdirectory("modelops-tfl-").FullName;
        try
        {
            string graph = SampleModels.WriteCnn(dir);
            var frozen = GraphFreezer.FreezeGraph(graph, Path.Combine(dir, "model.ckpt"), new FreezeOptions { OutputNodes = new[] { "probabilities" } });
            var converted = TfLiteConverter.Convert(frozen.Graph);
            Assert.Contains(converted.Ops, o => o.Op == "MEAN");
            string path = Path.Combine(dir, "cnn.tflite");
            File.WriteAllBytes(path, converted.Model);

            var x = SampleModels.CnnImage(1, 9);
            using var reference = new GraphSession(frozen.Graph, new[] { "probabilities" });
            var expected = reference.Run(x)["probabilities"].As<float>();
            using var tfl = new TfLiteSession(TfLiteModelReader.Read(path));
            var actual = tfl.Run(new Dictionary<string, Tensor> { [tfl.Inputs[0].Name] = x }).Values.Single().As<float>();
            Assert.Equal(expected.Length, actual.Length);
            for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], actual[i], 5);
        }
        finally { Directory.Delete(dir, true); }
    }
}
