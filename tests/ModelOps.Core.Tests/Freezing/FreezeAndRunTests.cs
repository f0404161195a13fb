using ModelOps.Core.Freezing;
using ModelOps.Core.Inspection;
using ModelOps.Core.Runtime;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Freezing;

/// <summary>
/// Freezing proven by running: the corpus SavedModels and MetaGraph+checkpoint pairs with known
/// outputs (PROVENANCE.md) are frozen, then executed on the managed engine.
/// </summary>
public class FreezeAndRunTests
{
    private static Tensor Ramp(TensorSpec spec)
    {
        int[] shape = (spec.Shape ?? new long[] { -1 }).Select(d => d < 0 ? 3 : (int)d).ToArray();
        int n = (int)Tensor.ElementCount(shape);
        return Tensor.Create(Enumerable.Range(0, n).Select(i => (float)i).ToArray(), shape);
    }

    [SkippableTheory]
    [InlineData("savedmodel--tfserving-half_plus_two-family/saved_model_half_plus_two_cpu/00000123", 2f)]
    [InlineData("savedmodel--tfserving-half_plus_two-family/saved_model_half_plus_two_gpu/00000123", 2f)]
    [InlineData("savedmodel--tfserving-half_plus_two-family/saved_model_half_plus_two_mkl/00000123", 2f)]
    [InlineData("savedmodel--tfserving-half_plus_two-family/saved_model_half_plus_two_cpu_with_saved_model_config/00000123", 2f)]
    [InlineData("savedmodel--tfserving-half_plus_two-family/saved_model_half_plus_two_tf2_cpu/00000123", 2f)]
    [InlineData("savedmodel--tfserving-half_plus_two-family/saved_model_half_plus_three/00000123", 3f)]
    [InlineData("savedmodel--tfserving-half_plus_two-family/matrix_half_plus_two/1", 2f)]
    [InlineData("savedmodel--tf-cc-saved_model-testdata/half_plus_two/00000123", 2f)]
    [InlineData("savedmodel--tf-cc-saved_model-testdata/half_plus_two_pbtxt/00000123", 2f)]
    [InlineData("savedmodel--tf-cc-saved_model-testdata/half_plus_two_v2/00000123", 2f)]
    [InlineData("savedmodel--tf-cc-saved_model-testdata/half_plus_two_main_op/00000123", 2f)]
    public void HalfPlusTwoFamilyComputesHalfXPlusConstant(string dir, float plus)
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var frozen = GraphFreezer.FreezeSavedModel(Corpus.Path("tf", dir), new FreezeOptions());
        using var session = new GraphSession(frozen.Graph, frozen.Outputs.Select(o => o.Name).ToList());
        var x = Ramp(frozen.Inputs.Single());
        var y = session.Run(new Dictionary<string, Tensor> { [frozen.Inputs[0].Name] = x })[frozen.Outputs[0].Name];
        Assert.Equal(x.Shape, y.Shape);
        var xs = x.As<float>();
        var ys = y.As<float>();
        for (int i = 0; i < xs.Length; i++) Assert.Equal(0.5f * xs[i] + plus, ys[i]);
    }

    [SkippableFact]
    public void MetaGraphWithV2CheckpointComputesHalfPlusTwo()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string dir = Corpus.Path("tf", "ckpt-v2-meta--tfserving-half_plus_two", "00000123");
        var frozen = GraphFreezer.FreezeGraph(Path.Combine(dir, "export.meta"), Path.Combine(dir, "export"), new FreezeOptions { OutputNodes = new[] { "Add:0" } });
        using var session = new GraphSession(frozen.Graph, new[] { "Add" });
        Assert.Equal("Placeholder", session.Inputs.Single().Name);   // TF 0.12 graph: unnamed placeholder
        var y = session.Run(new Dictionary<string, Tensor> { ["Placeholder"] = Tensor.Create(new[] { 0f, 1f, 4f }, 3) })["Add"];
        Assert.Equal(new[] { 2f, 2.5f, 4f }, y.As<float>());
    }

    [SkippableFact]
    public void Tf2XPlusYAddsItsInputs()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var frozen = GraphFreezer.FreezeSavedModel(Corpus.Path("tf", "savedmodel--tf-cc-saved_model-testdata", "x_plus_y_v2_debuginfo"), new FreezeOptions());
        using var session = new GraphSession(frozen.Graph, frozen.Outputs.Select(o => o.Name).ToList());
        var feeds = frozen.Inputs.ToDictionary(i => i.Name, i => (Tensor)Tensor.Scalar(i.Name == "x" ? 1.5f : 2.25f));
        var result = session.Run(feeds)[frozen.Outputs[0].Name];
        Assert.Equal(3.75f, result.As<float>().Single());
    }

    [Fact]
    public void SampleDenseModelFreezesAndRunsLikeItsCheckpoint()
    {
        string dir = Directory.CreateTempSubdirectory("modelops-freeze-").FullName;
        try
        {
            string graph = ModelOps.Core.Samples.SampleModels.WriteDense(dir, 4, 3, 5);
            string prefix = Path.Combine(dir, "model.ckpt");
            var frozen = GraphFreezer.FreezeGraph(graph, prefix, new FreezeOptions { OutputNodes = new[] { "y" } });
            Assert.Equal(2, frozen.VariablesFrozen);
            using var session = new GraphSession(frozen.Graph, new[] { "y" });
            var x = Tensor.Create(new[] { 1f, 2f, 3f, 4f }, 1, 4);
            var y = session.Run(x)["y"];
            // The same numbers by hand from the checkpoint: y = x·W + b.
            using var ckpt = ModelOps.Core.Formats.Checkpoint.CheckpointReader.Open(prefix);
            var w = ckpt.Read("dense/kernel").As<float>();
            var b = ckpt.Read("dense/bias").As<float>();
            Assert.Equal(new[] { 1, 3 }, y.Shape);
            for (int j = 0; j < 3; j++)
            {
                float acc = b[j];
                for (int i = 0; i < 4; i++) acc += x.As<float>()[i] * w[i * 3 + j];
                Assert.Equal(acc, y.As<float>()[j], 5);
            }
        }
        finally { Directory.Delete(dir, true); }
    }
}
