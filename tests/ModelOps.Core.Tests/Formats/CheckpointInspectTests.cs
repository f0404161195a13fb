using ModelOps.Core.Errors;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Checkpoint;
using ModelOps.Core.Inspection;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Formats;

public sealed class CheckpointInspectTests
{
    [Fact]
    public void Inspect_lists_variables_for_prefix_index_and_folder()
    {
        using var tmp = new TempDir();
        string prefix = Path.Combine(tmp.Path, "model.ckpt-3");
        using (var w = new CheckpointWriter(prefix))
        {
            w.Add("dense/kernel", Tensor.Zeros(Protos.DataType.DtFloat, new[] { 3, 2 }));
            w.Add("dense/bias", Tensor.Zeros(Protos.DataType.DtFloat, new[] { 2 }));
            w.Add("global_step", Tensor.Scalar(3L));
            w.Finish();
        }
        File.WriteAllText(Path.Combine(tmp.Path, "checkpoint"), "model_checkpoint_path: \"model.ckpt-3\"\n");
        foreach (var p in new[] { prefix, prefix + ".index", prefix + ".data-00000-of-00001", tmp.Path })
        {
            var info = ModelInspector.Inspect(p);
            Assert.Equal("Checkpoint", info.Format);
            Assert.Equal(prefix, info.Path);
            Assert.Equal(new[] { "dense/bias", "dense/kernel", "global_step" }, info.Variables.Select(v => v.Name));
            Assert.Equal(new long[] { 3, 2 }, info.Variables[1].Shape);
            Assert.Equal("float32", info.Variables[1].DType);
            Assert.Equal("int64", info.Variables[2].DType);
            Assert.Equal(3, info.VariableCount);
            Assert.Equal(9, info.ParameterCount);
            Assert.True(info.FileSize > 0);
        }
    }

    [SkippableFact]
    public void Inspect_corpus_checkpoint_folder_and_v1_error()
    {
        Skip.If(Corpus.Root is null, "corpus not found");
        var info = ModelInspector.Inspect(Corpus.Path("tf", "ckpt-v2--tf-tensorrt-quantization_mnist"));
        Assert.Equal("Checkpoint", info.Format);
        Assert.Contains(info.Variables, v => v.Name == "global_step" && v.DType == "int64");
        var ex = Assert.Throws<ModelOpsException>(() => ModelInspector.Inspect(Corpus.Path("tf", "ckpt-v1-meta--tfserving-bad_half_plus_two", "00000123", "export")));
        Assert.Equal(ErrorIds.CheckpointV1Unsupported, ex.ErrorId);
        // A SavedModel folder stays a SavedModel.
        Assert.Equal("SavedModel", ModelInspector.Inspect(Corpus.Path("tf", "savedmodel--tfrust-regression-tf1")).Format);
        Assert.False(ModelReader.IsCheckpoint(Corpus.Path("tf", "ckpt-v2-meta--tfserving-half_plus_two", "00000123", "export.meta")));
    }
}
