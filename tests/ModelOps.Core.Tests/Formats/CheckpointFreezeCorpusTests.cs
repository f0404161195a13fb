using ModelOps.Core.Formats;
using ModelOps.Core.Formats.Checkpoint;
using ModelOps.Core.Freezing;
using ModelOps.Core.Graph;
using ModelOps.Core.Inspection;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Xunit;
using Xunit.Abstractions;

namespace ModelOps.Core.Tests.Formats;

/// <summary>Proof: every corpus model with a graph and a V2 checkpoint (or no variables) freezes, and every frozen constant equals its checkpoint tensor byte for byte.</summary>
public sealed class CheckpointFreezeCorpusTests
{
    private readonly ITestOutputHelper _out;
    public CheckpointFreezeCorpusTests(ITestOutputHelper output) => _out = output;

    public static IEnumerable<object[]> SavedModels()
    {
        if (Corpus.Root is null) { yield return new object[] { "" }; yield break; }
        var tf = Corpus.Path("tf");
        foreach (var f in Directory.EnumerateFiles(tf, "saved_model.pb*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            yield return new object[] { Path.GetRelativePath(tf, Path.GetDirectoryName(f)!) };
    }

    public static IEnumerable<object[]> MetaGraphsWithCheckpoints()
    {
        if (Corpus.Root is null) { yield return new object[] { "", "" }; yield break; }
        var tf = Corpus.Path("tf");
        foreach (var meta in Directory.EnumerateFiles(tf, "*.meta", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            string prefix = meta[..^5];
            if (File.Exists(prefix + ".index")) yield return new object[] { Path.GetRelativePath(tf, meta), Path.GetRelativePath(tf, prefix) };
        }
    }

    [SkippableTheory]
    [MemberData(nameof(SavedModels))]
    public void Every_corpus_saved_model_freezes(string dir)
    {
        Skip.If(Corpus.Root is null || dir.Length == 0, "corpus not found");
        string full = Corpus.Path("tf", dir);
        var sm = ModelReader.Read(full).SavedModel!;
        var meta = sm.MetaGraphs.FirstOrDefault(m => m.MetaInfoDef.Tags.Contains("serve")) ?? sm.MetaGraphs[0];
        var sigs = meta.SignatureDef.Where(kv => kv.Value.Outputs.Count > 0 && kv.Key != "__saved_model_init_op").Select(kv => kv.Key).Order(StringComparer.Ordinal).ToList();
        Skip.If(sigs.Count == 0, "no signature with outputs");
        bool hasVars = File.Exists(Path.Combine(full, "variables", "variables.index"));
        if (!hasVars && meta.GraphDef.Node.Any(n => n.Op is "VariableV2" or "VarHandleOp"))
        {
            // A SavedModel copied without its variables folder cannot be frozen: clear error.
            var ex = Assert.Throws<ModelOps.Core.Errors.ModelOpsException>(() => GraphFreezer.FreezeSavedModel(full, new FreezeOptions { Tags = meta.MetaInfoDef.Tags.ToList(), Signature = sigs[0] }));
            Assert.Equal(ModelOps.Core.Errors.ErrorIds.CheckpointNotFound, ex.ErrorId);
            return;
        }
        foreach (var s in sigs)
        {
            FreezeResult r;
            try
            {
                r = GraphFreezer.FreezeSavedModel(full, new FreezeOptions { Tags = meta.MetaInfoDef.Tags.ToList(), Signature = s });
            }
            catch (ModelOps.Core.Errors.ModelOpsException ex) when (ex.ErrorId == ModelOps.Core.Errors.ErrorIds.FreezeUnsupported && dir.Contains("counter") && s != "get_counter")
            {
                // incr/reset signatures change the counter variable: nothing to freeze, clear error.
                _out.WriteLine($"{dir} [{s}]: {ex.ErrorId}: {ex.Message}");
                continue;
            }
            _out.WriteLine($"{dir} [{s}]: {r.SourceFormat} nodes={r.NodeCount} vars={r.VariablesFrozen} in=({string.Join(", ", r.Inputs)}) out=({string.Join(", ", r.Outputs)})");
            AssertFrozen(r.Graph);
            string vars = Path.Combine(full, "variables", "variables");
            if (File.Exists(vars + ".index")) AssertConstsMatchCheckpoint(r.Graph, vars, meta, r.VariablesFrozen);
        }
    }

    [SkippableTheory]
    [MemberData(nameof(MetaGraphsWithCheckpoints))]
    public void Every_corpus_metagraph_with_checkpoint_freezes(string meta, string prefix)
    {
        Skip.If(Corpus.Root is null || meta.Length == 0, "corpus not found");
        var file = ModelReader.Read(Corpus.Path("tf", meta));
        var outs = ModelInspector.GuessOutputs(file.Graph!).Select(o => o.Name).ToList();
        var r = GraphFreezer.FreezeGraph(Corpus.Path("tf", meta), Corpus.Path("tf", prefix), new FreezeOptions { OutputNodes = outs });
        _out.WriteLine($"{meta}: nodes={r.NodeCount} vars={r.VariablesFrozen} out=({string.Join(", ", r.Outputs)})");
        AssertFrozen(r.Graph);
        Assert.True(r.VariablesFrozen > 0);
        AssertConstsMatchCheckpoint(r.Graph, Corpus.Path("tf", prefix), file.MetaGraph, r.VariablesFrozen);
    }

    internal static void AssertFrozen(GraphDef g)
    {
        var tf = new TfGraph(g);
        Assert.Empty(tf.DanglingInputs());
        tf.TopologicalOrder();
        Assert.DoesNotContain(g.Node, n => n.Op is "VariableV2" or "Variable" or "VarHandleOp" or "ReadVariableOp" or "StatefulPartitionedCall" or "PartitionedCall"
            or "Assign" or "AssignVariableOp" or "RestoreV2" or "SaveV2");
        Assert.True(g.Library is null || g.Library.Function.Count == 0);
        Assert.All(g.Node, n => Assert.Equal("", n.Device));
    }

    /// <summary>Every Const that replaced a variable holds exactly the checkpoint bytes of that variable.</summary>
    internal static void AssertConstsMatchCheckpoint(GraphDef frozen, string prefix, MetaGraphDef? meta, int variablesFrozen)
    {
        using var reader = CheckpointReader.Open(prefix);
        var original = meta?.GraphDef ?? new GraphDef();
        var vars = original.Node.Where(n => n.Op is "VariableV2" or "Variable" or "VarHandleOp").Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        int compared = 0;
        foreach (var n in frozen.Node.Where(n => n.Op == "Const" && vars.Contains(n.Name)))
        {
            var value = n.Attr["value"].Tensor;
            var t = TensorProtoCodec.Decode(value);
            // Find the checkpoint tensor with identical bytes under a plausible key.
            var candidates = reader.Entries.Where(e => e.DType == t.DType && e.Shape.SequenceEqual(t.Shape.Select(d => (long)d))).ToList();
            Assert.True(candidates.Count > 0, $"no checkpoint tensor with {t} for {n.Name}");
            var exact = candidates.FirstOrDefault(e => e.Key == n.Name || e.Key.StartsWith(n.Name + "/.ATTRIBUTES", StringComparison.Ordinal))
                ?? candidates.FirstOrDefault(e => reader.Read(e.Key).ContentEquals(t));
            Assert.NotNull(exact);
            var ck = reader.Read(exact!.Key);
            if (t.DType.ByteSize() > 0) Assert.Equal(reader.ReadRaw(exact.Key), value.TensorContent.IsEmpty ? TensorBytes.ToBytes(t) : value.TensorContent.ToByteArray());
            Assert.True(ck.ContentEquals(t), n.Name);
            compared++;
        }
        Assert.Equal(variablesFrozen, compared);
    }
}

public sealed class CheckpointFreezeStructureTests
{
    /// <summary>half_plus_two (TF1 and TF2): the frozen graph computes y = Add(Mul(a, x), b) with a = 0.5, b = 2 as constants.</summary>
    [SkippableTheory]
    [InlineData("savedmodel--tfserving-half_plus_two-family/saved_model_half_plus_two_cpu/00000123", 2f)]
    [InlineData("savedmodel--tfserving-half_plus_two-family/saved_model_half_plus_two_tf2_cpu/00000123", 2f)]
    [InlineData("savedmodel--tfserving-half_plus_two-family/saved_model_half_plus_three/00000123", 3f)]
    public void Half_plus_two_family_freezes_to_half_x_plus_constant(string dir, float plus)
    {
        Skip.If(Corpus.Root is null, "corpus not found");
        var r = GraphFreezer.FreezeSavedModel(Corpus.Path("tf", dir), new FreezeOptions());
        Assert.Equal("x", r.Inputs.Single().Name);
        Assert.Equal("y", r.Outputs.Single().Name);
        var g = new TfGraph(r.Graph);
        Assert.Contains(g.Get("x").Op, new[] { "Placeholder", "PlaceholderWithDefault" });
        // Walk from y through Identity nodes to the Add.
        float Value(string input)
        {
            var n = g.Get(TensorName.Parse(input).Node);
            while (n.Op == "Identity") n = g.Get(TensorName.Parse(n.Input[0]).Node);
            Assert.Equal("Const", n.Op);
            return TensorProtoCodec.Decode(n.Attr["value"].Tensor).As<float>()[0];
        }
        NodeDef Skip1(string input)
        {
            var n = g.Get(TensorName.Parse(input).Node);
            while (n.Op == "Identity") n = g.Get(TensorName.Parse(n.Input[0]).Node);
            return n;
        }
        var add = Skip1("y");
        Assert.Contains(add.Op, new[] { "Add", "AddV2" });
        var mul = new[] { add.Input[0], add.Input[1] }.Select(Skip1).Single(n => n.Op == "Mul");
        var bias = new[] { add.Input[0], add.Input[1] }.Single(i => Skip1(i).Op == "Const");
        Assert.Equal(plus, Value(bias));
        var scale = mul.Input.Single(i => Skip1(i).Op == "Const");
        Assert.Equal(0.5f, Value(scale));
        Assert.Contains(mul.Input, i => Skip1(i).Name == "x");
    }
}
