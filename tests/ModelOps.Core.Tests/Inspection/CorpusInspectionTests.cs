using ModelOps.Core.Formats;
using ModelOps.Core.Inspection;
using Xunit;

namespace ModelOps.Core.Tests.Inspection;

/// <summary>Every graph, MetaGraph and SavedModel of the shared corpus is inspected without an exception.</summary>
public class CorpusInspectionTests
{
    private static readonly string[] NotModels =
    {
        "fingerprint.pb", "saved_model_config.pb", "saved_model_debug_info.pb",
    };

    /// <summary>Relative paths of every model in the corpus (SavedModels by folder).</summary>
    public static IEnumerable<object[]> Models()
    {
        var list = Corpus.Files(f =>
            !f.Contains("/variables/", StringComparison.Ordinal) &&
            !NotModels.Contains(System.IO.Path.GetFileName(f)) &&
            !f.EndsWith(".config.pbtxt", StringComparison.Ordinal) &&
            (f.EndsWith(".pb", StringComparison.Ordinal) || f.EndsWith(".pbtxt", StringComparison.Ordinal) ||
             f.EndsWith(".meta", StringComparison.Ordinal) || f.EndsWith(".meta.bin", StringComparison.Ordinal)))
            .Select(f => System.IO.Path.GetFileName(f) is "saved_model.pb" or "saved_model.pbtxt" ? System.IO.Path.GetDirectoryName(f)!.Replace('\\', '/') : f)
            .Distinct()
            .Select(f => new object[] { f })
            .ToList();
        // Keep the theory non-empty where the corpus is absent, so it reports a skip rather than nothing.
        return list.Count > 0 ? list : new[] { new object[] { "" } };
    }

    [SkippableTheory]
    [MemberData(nameof(Models))]
    public void Inspects(string relative)
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var info = ModelInspector.Inspect(Corpus.Path(relative));
        Assert.True(info.NodeCount > 0 || info.Format == nameof(ModelFormat.SavedModel), $"{relative}: no nodes");
        Assert.True(info.FileSize > 0);
        Assert.Equal(info.NodeCount, info.OpHistogram.Values.Sum() is var s && info.Format == "OpList" ? info.NodeCount : s);
    }

    [SkippableFact]
    public void FindsEnoughModels()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        Assert.True(Models().Count() >= 60, $"only {Models().Count()} corpus models were found");
    }

    [SkippableFact]
    public void TextMetaGraphNamedPbIsSniffedAsText()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var info = ModelInspector.Inspect(Corpus.Path("tf", "pbtxt--tf-framework-metrics_export_metagraph", "metrics_export_meta_graph.pb"));
        Assert.Equal("MetaGraphDef", info.Format);
        Assert.Equal("Text", info.Encoding);
    }

    [SkippableFact]
    public void HalfPlusTwoSavedModelHasSignatureAndVariables()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var info = ModelInspector.Inspect(Corpus.Path("tf", "savedmodel--tfserving-half_plus_two-family", "saved_model_half_plus_two_cpu", "00000123"));
        Assert.Equal("SavedModel", info.Format);
        Assert.Contains("serve", info.Tags);
        Assert.Contains(info.Signatures, s => s.Name == "serving_default");
        Assert.Equal(6, info.VariableCount);   // a, a2, b, c, c2 (PROVENANCE.md) + the string filename_tensor
        Assert.Equal(5, info.ParameterCount);  // numeric scalars only
        Assert.Single(info.Inputs);
        Assert.Equal("float32", info.Inputs[0].DType);
    }

    [SkippableFact]
    public void TrainServeTagSetIsListed()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var info = ModelInspector.Inspect(Corpus.Path("tf", "savedmodel--tfrust-regression-tf1"));
        Assert.Contains(info.Tags, t => t.Contains("train") && t.Contains("serve"));
    }

    [SkippableFact]
    public void FrozenGraphCountsConstantParametersAndFindsInputs()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var info = ModelInspector.Inspect(Corpus.Path("tfjs-human", "age", "model.pb"));
        Assert.Equal("GraphDef", info.Format);
        Assert.Equal(296, info.NodeCount);
        Assert.Equal(0, info.VariableCount);
        Assert.True(info.ParameterCount > 1000);
        Assert.Contains(info.Inputs, i => i.Name == "input_1" && i.DType == "float32");
        Assert.NotEmpty(info.Outputs);
    }
}
