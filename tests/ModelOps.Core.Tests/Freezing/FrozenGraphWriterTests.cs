using Google.Protobuf;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Checkpoint;
using ModelOps.Core.Freezing;
using ModelOps.Core.Protos;
using ModelOps.Core.Samples;
using ModelOps.Core.Tensors;
using ModelOps.Core.Tests.Formats;
using Xunit;

namespace ModelOps.Core.Tests.Freezing;

/// <summary>
/// The streamed write (variable values copied from the checkpoint into the output file, never all in memory) gives
/// exactly the bytes of serializing the fully read graph, reports progress, and leaves no output when the
/// checkpoint turns out corrupt half-way through.
/// </summary>
public sealed class FrozenGraphWriterTests
{
    private readonly Xunit.Abstractions.ITestOutputHelper _out;
    public FrozenGraphWriterTests(Xunit.Abstractions.ITestOutputHelper output) => _out = output;

    /// <summary>How the values of <paramref name="r"/> go out: (chunked, read whole), or (0, 0) when the freeze read them all.</summary>
    private static (int Streamed, int ReadWhole) Paths(FreezeResult r) =>
        r.Deferred is null ? (0, 0) : FrozenGraphWriter.Write(r.RawGraph, r.Deferred, new MemoryStream());

    /// <summary>Freezes twice: one result streamed to a file, the other read into memory and serialized; returns both.</summary>
    private static (byte[] Streamed, byte[] InMemory, FreezeResult Result) Both(Func<FreezeResult> freeze, string output, bool allowNothingDeferred = false)
    {
        var streamedResult = freeze();
        if (!allowNothingDeferred) Assert.NotNull(streamedResult.Deferred);
        GraphFreezer.Write(streamedResult, output, asText: false, overwrite: true);
        using var inMemory = freeze();
        var bytes = inMemory.Graph.ToByteArray();
        Assert.Null(inMemory.Deferred);
        return (File.ReadAllBytes(output), bytes, streamedResult);
    }

    [Fact]
    public void Sample_models_stream_byte_identical_output()
    {
        using var tmp = new TempDir();
        string dense = SampleModels.WriteDense(Path.Combine(tmp.Path, "dense"), 40, 30, 5);
        var (s1, m1, r1) = Both(() => GraphFreezer.FreezeGraph(dense, Path.Combine(tmp.Path, "dense", "model.ckpt"), new FreezeOptions { OutputNodes = new[] { "y" } }),
            Path.Combine(tmp.Path, "dense.pb"));
        Assert.Equal(m1, s1);
        r1.Dispose();

        var (mlp, weightBytes) = SampleModels.WriteLargeMlp(Path.Combine(tmp.Path, "mlp"), width: 96, layers: 3, smallVariables: 20);
        var options = new FreezeOptions { OutputNodes = new[] { "y", "aux" } };
        var (s2, m2, r2) = Both(() => GraphFreezer.FreezeGraph(mlp, Path.Combine(tmp.Path, "mlp"), options), Path.Combine(tmp.Path, "mlp.pb"));
        Assert.Equal(m2, s2);
        Assert.Equal(weightBytes, r2.WeightBytes);
        // Every value went through the chunked path (none through the read-whole fallback), and the graph read
        // afterwards from the same result is the same graph.
        var counts = FrozenGraphWriter.Write(r2.RawGraph, r2.Deferred!, new MemoryStream());
        Assert.Equal((r2.VariablesFrozen, 0), counts);
        Assert.Equal(m2, r2.Graph.ToByteArray());
        r2.Dispose();

        // Text output reads the values into memory and prints them as before.
        using var r3 = GraphFreezer.FreezeGraph(mlp, Path.Combine(tmp.Path, "mlp"), options);
        GraphFreezer.Write(r3, Path.Combine(tmp.Path, "mlp.pbtxt"), asText: true, overwrite: false);
        Assert.Equal(GraphDef.Parser.ParseFrom(m2), ModelOps.Core.Formats.Text.TextFormatParser.Parse<GraphDef>(File.ReadAllText(Path.Combine(tmp.Path, "mlp.pbtxt"))));
    }

    [Fact]
    public void Values_larger_than_one_chunk_stream_byte_identical_output()
    {
        using var tmp = new TempDir();
        // 600x600 floats = 1.44 MB: more than one 1 MiB chunk, not a multiple of it.
        var (mlp, _) = SampleModels.WriteLargeMlp(Path.Combine(tmp.Path, "mlp"), width: 600, layers: 1, smallVariables: 2);
        var (s, m, r) = Both(() => GraphFreezer.FreezeGraph(mlp, Path.Combine(tmp.Path, "mlp"), new FreezeOptions { OutputNodes = new[] { "y", "aux" } }),
            Path.Combine(tmp.Path, "out.pb"));
        Assert.Equal(m, s);
        r.Dispose();
    }

    [Fact]
    public void A_node_with_extra_fields_falls_back_to_reading_its_value_whole_and_stays_byte_identical()
    {
        using var tmp = new TempDir();
        string dir = Path.Combine(tmp.Path, "dense");
        string graphPath = SampleModels.WriteDense(dir, 8, 6, 5);
        var g = GraphDef.Parser.ParseFrom(File.ReadAllBytes(graphPath));
        var kernel = g.Node.Single(n => n.Name == "dense/kernel");
        kernel.ExperimentalDebugInfo = new NodeDef.Types.ExperimentalDebugInfo { OriginalNodeNames = { "original/kernel" } };
        File.WriteAllBytes(graphPath, g.ToByteArray());
        var options = new FreezeOptions { OutputNodes = new[] { "y" } };
        string prefix = Path.Combine(dir, "model.ckpt");
        var (s, m, r) = Both(() => GraphFreezer.FreezeGraph(graphPath, prefix, options), Path.Combine(tmp.Path, "out.pb"));
        Assert.Equal(m, s);
        Assert.Equal("original/kernel", GraphDef.Parser.ParseFrom(s).Node.Single(n => n.Name == "dense/kernel").ExperimentalDebugInfo.OriginalNodeNames.Single());
        Assert.Equal((1, 1), FrozenGraphWriter.Write(r.RawGraph, r.Deferred!, new MemoryStream()));
        r.Dispose();
    }

    [Fact]
    public void Empty_scalar_and_other_dtype_values_stream_byte_identical_output()
    {
        using var tmp = new TempDir();
        string prefix = Path.Combine(tmp.Path, "c");
        using (var w = new CheckpointWriter(prefix))
        {
            w.Add("empty", Tensor.Create(Array.Empty<float>(), 0, 3));    // no bytes: protobuf omits tensor_content
            w.Add("scalar", Tensor.Scalar(2.5f));
            w.Add("ints", Tensor.Create(Enumerable.Range(0, 1000).Select(i => (long)i).ToArray(), 10, 100));
            w.Finish();
        }
        using var reader = CheckpointReader.Open(prefix);
        var weights = new DeferredWeights(reader, null);
        var graph = new GraphDef { Versions = new VersionDef { Producer = 27 } };
        foreach (var key in new[] { "scalar", "empty", "ints" })
        {
            Assert.True(reader.CanStreamRaw(key));
            var t = weights.Add(key, key, reader.GetEntry(key));
            graph.Node.Add(new NodeDef { Name = key, Op = "Const", Attr = { ["dtype"] = ModelOps.Core.Graph.Attr.Type(t.Dtype), ["value"] = new AttrValue { Tensor = t } } });
        }
        var streamed = new MemoryStream();
        var counts = FrozenGraphWriter.Write(graph, weights, streamed);
        Assert.Equal((2, 1), counts); // the empty value's layout has no tensor_content field: the read-whole fallback
        weights.Materialize();
        Assert.Equal(graph.ToByteArray(), streamed.ToArray());
        Assert.Equal(new[] { 2.5f }, TensorProtoCodec.Decode(graph.Node[0].Attr["value"].Tensor).As<float>());
    }

    [Fact]
    public void Progress_is_reported_while_streaming_and_ends_at_the_weight_bytes()
    {
        using var tmp = new TempDir();
        var (mlp, weightBytes) = SampleModels.WriteLargeMlp(Path.Combine(tmp.Path, "mlp"), width: 64, layers: 2, smallVariables: 5);
        var calls = new List<(string Name, long Done, long Total)>();
        using var r = GraphFreezer.FreezeGraph(mlp, Path.Combine(tmp.Path, "mlp"), new FreezeOptions { OutputNodes = new[] { "y", "aux" }, Progress = (n, d, t) => calls.Add((n, d, t)) });
        Assert.Empty(calls); // nothing read yet
        GraphFreezer.Write(r, Path.Combine(tmp.Path, "out.pb"), asText: false, overwrite: false);
        Assert.Equal(r.VariablesFrozen, calls.Count);
        Assert.All(calls, c => Assert.Equal(weightBytes, c.Total));
        Assert.True(calls.Zip(calls.Skip(1)).All(p => p.Second.Done > p.First.Done));
        Assert.Equal(weightBytes, calls[^1].Done);
        Assert.Contains(calls, c => c.Name == "layer1/kernel");
    }

    [Fact]
    public void A_crc_mismatch_found_mid_stream_leaves_no_output_and_an_existing_file_untouched()
    {
        using var tmp = new TempDir();
        var (mlp, _) = SampleModels.WriteLargeMlp(Path.Combine(tmp.Path, "mlp"), width: 600, layers: 2, smallVariables: 3);
        string prefix = Path.Combine(tmp.Path, "mlp", "model.ckpt");
        string data = prefix + ".data-00000-of-00001";
        var options = new FreezeOptions { OutputNodes = new[] { "y", "aux" } };
        // Corrupt the last byte of the second layer's kernel: the graph writes layer0 first, so the mismatch is
        // found after well over a megabyte has gone to the temporary file.
        long offset;
        using (var reader = CheckpointReader.Open(prefix))
        {
            var e = reader.GetEntry("layer1/kernel").Proto;
            offset = e.Offset + e.Size - 1;
        }
        var bytes = File.ReadAllBytes(data);
        bytes[offset] ^= 0x40;
        File.WriteAllBytes(data, bytes);

        string output = Path.Combine(tmp.Path, "out", "frozen.pb");
        Directory.CreateDirectory(Path.GetDirectoryName(output)!);
        var written = new List<string>();
        using (var r = GraphFreezer.FreezeGraph(mlp, prefix, new FreezeOptions { OutputNodes = options.OutputNodes, Progress = (n, _, _) => written.Add(n) }))
        {
            var ex = Assert.Throws<ModelOpsException>(() => GraphFreezer.Write(r, output, asText: false, overwrite: false));
            Assert.Equal(ErrorIds.CheckpointCrcMismatch, ex.ErrorId);
            Assert.Contains("layer1/kernel", ex.Message);
            Assert.Contains("layer0/kernel", written); // it really was mid-stream
        }
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(output)!));

        // With -Force over an existing file: the old file stays as it was.
        File.WriteAllText(output, "previous");
        var ex2 = Assert.Throws<ModelOpsException>(() => GraphFreezer.Export(() => GraphFreezer.FreezeGraph(mlp, prefix, options), output, asText: false, overwrite: true));
        Assert.Equal(ErrorIds.CheckpointCrcMismatch, ex2.ErrorId);
        Assert.Equal("previous", File.ReadAllText(output));
        Assert.Single(Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(output)!));

        // Reading the graph into memory reports the same error.
        using var r2 = GraphFreezer.FreezeGraph(mlp, prefix, options);
        Assert.Equal(ErrorIds.CheckpointCrcMismatch, Assert.Throws<ModelOpsException>(() => r2.Graph).ErrorId);
    }

    public static IEnumerable<object[]> SavedModels() => CheckpointFreezeCorpusTests.SavedModels();
    public static IEnumerable<object[]> MetaGraphsWithCheckpoints() => CheckpointFreezeCorpusTests.MetaGraphsWithCheckpoints();

    [SkippableTheory]
    [MemberData(nameof(SavedModels))]
    public void Corpus_saved_models_stream_byte_identical_output(string dir)
    {
        Skip.If(Corpus.Root is null || dir.Length == 0, "corpus not found");
        string full = Corpus.Path("tf", dir);
        var sm = ModelReader.Read(full).SavedModel!;
        var meta = sm.MetaGraphs.FirstOrDefault(m => m.MetaInfoDef.Tags.Contains("serve")) ?? sm.MetaGraphs[0];
        var sigs = meta.SignatureDef.Where(kv => kv.Value.Outputs.Count > 0 && kv.Key != "__saved_model_init_op").Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
        Skip.If(sigs.Count == 0 || !File.Exists(Path.Combine(full, "variables", "variables.index")), "no signature with outputs, or no variables");
        int compared = 0;
        using var tmp = new TempDir();
        foreach (var s in sigs)
        {
            var options = new FreezeOptions { Tags = meta.MetaInfoDef.Tags.ToList(), Signature = s };
            FreezeResult probe;
            try { probe = GraphFreezer.FreezeSavedModel(full, options); }
            catch (ModelOpsException ex) when (ex.ErrorId == ErrorIds.FreezeUnsupported) { continue; }
            probe.Dispose();
            var (streamed, inMemory, r) = Both(() => GraphFreezer.FreezeSavedModel(full, options), Path.Combine(tmp.Path, "out.pb"), allowNothingDeferred: true);
            _out.WriteLine($"{dir} [{s}]: {streamed.Length} bytes, values (streamed in chunks, read whole) = {Paths(r)}");
            r.Dispose();
            Assert.Equal(inMemory, streamed);
            compared++;
        }
        Skip.If(compared == 0, "no signature freezes");
    }

    [SkippableTheory]
    [MemberData(nameof(MetaGraphsWithCheckpoints))]
    public void Corpus_metagraphs_stream_byte_identical_output(string meta, string prefix)
    {
        Skip.If(Corpus.Root is null || meta.Length == 0, "corpus not found");
        var outs = ModelOps.Core.Inspection.ModelInspector.GuessOutputs(ModelReader.Read(Corpus.Path("tf", meta)).Graph!).Select(o => o.Name).ToList();
        using var tmp = new TempDir();
        var (streamed, inMemory, r) = Both(() => GraphFreezer.FreezeGraph(Corpus.Path("tf", meta), Corpus.Path("tf", prefix), new FreezeOptions { OutputNodes = outs }),
            Path.Combine(tmp.Path, "out.pb"), allowNothingDeferred: true);
        _out.WriteLine($"{meta}: {streamed.Length} bytes, values (streamed in chunks, read whole) = {Paths(r)}");
        r.Dispose();
        Assert.Equal(inMemory, streamed);
    }
}
