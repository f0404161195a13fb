using System.Text;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats.Checkpoint;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Formats;

public sealed class CheckpointCrcTests
{
    [Fact]
    public void Crc32C_matches_known_vectors()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")));
        Assert.Equal(0x8a9136aau, Crc32C.Compute(new byte[32]));
        var ff = Enumerable.Repeat((byte)0xff, 32).ToArray();
        Assert.Equal(0x62a8ab43u, Crc32C.Compute(ff));
        Assert.Equal(0u, Crc32C.Compute(ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public void Hardware_and_table_paths_agree_and_extend_composes()
    {
        var rnd = new Random(7);
        for (int len = 0; len < 300; len += 13)
        {
            var b = new byte[len];
            rnd.NextBytes(b);
            uint whole = Crc32C.Compute(b);
            Assert.Equal(whole, Crc32C.ExtendSoftware(0, b));
            int cut = len / 3;
            Assert.Equal(whole, Crc32C.Extend(Crc32C.Compute(b.AsSpan(0, cut)), b.AsSpan(cut)));
        }
    }

    [Fact]
    public void Long_inputs_agree_with_the_table_path_at_any_length_and_alignment()
    {
        // Covers the interleaved three-stream hardware path (rounds of 24 KiB) and its tails.
        var rnd = new Random(11);
        var big = new byte[200_000];
        rnd.NextBytes(big);
        foreach (int len in new[] { 24_575, 24_576, 24_577, 49_152, 49_160, 73_731, 199_990 })
            foreach (int start in new[] { 0, 1, 3, 7 })
            {
                var span = big.AsSpan(start, Math.Min(len, big.Length - start));
                uint expected = Crc32C.ExtendSoftware(0, span);
                Assert.Equal(expected, Crc32C.Compute(span));
                Assert.Equal(expected, Crc32C.Extend(Crc32C.Compute(span[..5000]), span[5000..]));
                Assert.Equal(Crc32C.ExtendSoftware(0x12345678u, span), Crc32C.Extend(0x12345678u, span));
            }
    }

    [Fact]
    public void Mask_round_trips_and_differs()
    {
        foreach (uint c in new[] { 0u, 1u, 0xE3069283u, uint.MaxValue })
        {
            Assert.Equal(c, Crc32C.Unmask(Crc32C.Mask(c)));
            Assert.NotEqual(c, Crc32C.Mask(c));
        }
    }
}

public sealed class CheckpointCorpusTests
{
    public static IEnumerable<object[]> CorpusIndexes()
    {
        if (Corpus.Root is null) { yield return new object[] { "" }; yield break; }
        var tf = Corpus.Path("tf");
        foreach (var f in Directory.EnumerateFiles(tf, "*.index", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
            yield return new object[] { Path.GetRelativePath(tf, f) };
    }

    [SkippableTheory]
    [MemberData(nameof(CorpusIndexes))]
    public void Every_corpus_checkpoint_reads_with_verified_crcs(string index)
    {
        Skip.If(Corpus.Root is null || index.Length == 0, "corpus not found (set MODELOPS_CORPUS)");
        using var r = CheckpointReader.Open(Corpus.Path("tf", index));
        Assert.NotEmpty(r.Entries);
        foreach (var e in r.Entries)
        {
            if (e.DType is DataType.DtVariant or DataType.DtResource) continue;
            var t = r.Read(e.Key);
            Assert.Equal(e.DType, t.DType);
            Assert.Equal(e.Shape, t.Shape.Select(d => (long)d).ToArray());
            if (e.DType.ByteSize() > 0) Assert.Equal(TensorBytes.ToBytes(t), r.ReadRaw(e.Key));
        }
    }

    [SkippableFact]
    public void Corpus_has_enough_checkpoints_and_snappy_indexes()
    {
        Skip.If(Corpus.Root is null, "corpus not found");
        var all = CorpusIndexes().Select(o => (string)o[0]).ToList();
        Assert.True(all.Count >= 20, $"only {all.Count} checkpoints found");
        // At least one index in the corpus uses Snappy-compressed blocks (TF ≥ 1.14).
        bool anySnappy = all.Any(i => HasSnappyBlock(File.ReadAllBytes(Corpus.Path("tf", i))));
        Assert.True(anySnappy);
    }

    private static int ExactIndexMatchesSkippedForSnappy;

    private static bool HasSnappyBlock(byte[] file) => SortedTable.BlockTypes(file, "index").Contains(SortedTable.SnappyCompression);

    [SkippableFact]
    public void Old_string_tensor_layout_reads_exact_values()
    {
        Skip.If(Corpus.Root is null, "corpus not found");
        using var r = CheckpointReader.Open(Corpus.Path("tf", "ckpt-v2--tf-tensor_bundle-old_string_tensors", "foo"));
        Assert.Equal(new[] { "floats", "scalar", "string_tensor", "strs" }, r.Entries.Select(e => e.Key));
        var strs = r.Read("strs");
        Assert.Equal(new[] { 4 }, strs.Shape);
        var s = (byte[][])strs.Data;
        Assert.Equal("hello", Encoding.ASCII.GetString(s[0]));
        Assert.Empty(s[1]);
        Assert.Equal("x01", Encoding.ASCII.GetString(s[2]));
        Assert.Equal(new string('c', 1024), Encoding.ASCII.GetString(s[3]));
        Assert.Equal("hello", Encoding.ASCII.GetString(((byte[][])r.Read("scalar").Data)[0]));
        Assert.Empty(((byte[][])r.Read("string_tensor").Data)[0]);
        var f = r.Read("floats");
        Assert.Equal(new[] { 2, 3 }, f.Shape);
        Assert.All(f.As<float>(), v => Assert.Equal(16.18f, v));
    }

    [SkippableFact]
    public void Half_plus_two_checkpoint_holds_a_and_b()
    {
        Skip.If(Corpus.Root is null, "corpus not found");
        using var r = CheckpointReader.Open(Corpus.Path("tf", "ckpt-v2-meta--tfserving-half_plus_two", "00000123", "export.index"));
        Assert.Equal(0.5f, r.Read("Variable").As<float>()[0]);
        Assert.Equal(2f, r.Read("Variable_1").As<float>()[0]);
    }

    [SkippableFact]
    public void Folder_with_state_file_resolves_latest_checkpoint()
    {
        Skip.If(Corpus.Root is null, "corpus not found");
        string dir = Corpus.Path("tf", "ckpt-v2--tf-tensorrt-quantization_mnist");
        Assert.Equal(Path.Combine(dir, "model.ckpt-46900"), CheckpointLocator.ResolvePrefix(dir));
        using var r = CheckpointReader.Open(dir);
        Assert.Equal(46900L, r.Read("global_step").GetInt64(0));
        Assert.Contains(r.Entries, e => e.Key.EndsWith("/Adam", StringComparison.Ordinal));
    }

    [SkippableFact]
    public void V1_checkpoints_get_a_clear_error()
    {
        Skip.If(Corpus.Root is null, "corpus not found");
        var ex = Assert.Throws<ModelOpsException>(() => CheckpointReader.Open(Corpus.Path("tf", "ckpt-v1-meta--tfserving-bad_half_plus_two", "00000123")));
        Assert.Equal(ErrorIds.CheckpointV1Unsupported, ex.ErrorId);
        Assert.Contains("V1", ex.Message);
        var ex2 = Assert.Throws<ModelOpsException>(() => CheckpointReader.Open(Corpus.Path("tf", "ckpt-v1-meta--tfserving-session_bundle-half_plus_two", "00000123", "export")));
        Assert.Equal(ErrorIds.CheckpointV1Unsupported, ex2.ErrorId);
    }

    /// <summary>Rewriting a corpus checkpoint with our writer reproduces TF's data file byte for byte, and the index too when TF wrote it uncompressed.</summary>
    [SkippableTheory]
    [MemberData(nameof(CorpusIndexes))]
    public void Writer_reproduces_tf_byte_layout(string index)
    {
        Skip.If(Corpus.Root is null || index.Length == 0, "corpus not found");
        string src = Corpus.Path("tf", index);
        using var r = CheckpointReader.Open(src);
        Skip.If(r.Header.NumShards != 1 || r.Entries.Any(e => e.IsPartitioned || e.DType is DataType.DtVariant or DataType.DtResource), "multi-shard, partitioned or variant checkpoint");
        using var tmp = new TempDir();
        string prefix = Path.Combine(tmp.Path, "copy");
        // Data order in TF's file is insertion order (by offset); replay in that order.
        using (var w = new CheckpointWriter(prefix))
        {
            foreach (var e in r.Entries.OrderBy(e => e.Proto.Offset)) w.Add(e.Key, r.Read(e.Key));
            w.Finish();
        }
        byte[] origIndex = File.ReadAllBytes(src);
        bool padded = r.Entries.OrderBy(e => e.Proto.Offset).Aggregate((ok: true, end: 0L), (a, e) => (a.ok && e.Proto.Offset == a.end, e.Proto.Offset + e.Proto.Size)).ok;
        if (padded)
            Assert.Equal(File.ReadAllBytes(r.ShardPath(0)), File.ReadAllBytes(prefix + ".data-00000-of-00001"));
        using var back = CheckpointReader.Open(prefix);
        foreach (var e in r.Entries) Assert.True(r.Read(e.Key).ContentEquals(back.Read(e.Key)), e.Key);
        bool snappy = HasSnappyBlock(origIndex);
        if (snappy)
        {
            // Re-write with Snappy: same logical content; the index bytes match when both compressors agree.
            string p2 = Path.Combine(tmp.Path, "snappy");
            using (var w = new CheckpointWriter(p2, snappyIndex: true))
            {
                foreach (var e in r.Entries.OrderBy(e => e.Proto.Offset)) w.Add(e.Key, r.Read(e.Key));
                w.Finish();
            }
            Assert.True(HasSnappyBlock(File.ReadAllBytes(p2 + ".index")));
            using var back2 = CheckpointReader.Open(p2);
            Assert.Equal(r.Entries.Select(e => e.Key), back2.Entries.Select(e => e.Key));
        }
        if (padded && r.Header.Version?.Producer == 1 && r.Header.Version.MinConsumer == 0 && r.Header.Version.BadConsumers.Count == 0)
        {
            if (snappy) ExactIndexMatchesSkippedForSnappy++;
            else Assert.Equal(origIndex, File.ReadAllBytes(prefix + ".index"));
        }
    }
}

public sealed class CheckpointWriterTests
{
    [Fact]
    public void Round_trip_of_every_dtype_strings_and_partitions()
    {
        using var tmp = new TempDir();
        string prefix = Path.Combine(tmp.Path, "model.ckpt-7");
        var tensors = new Dictionary<string, Tensor>
        {
            ["w"] = Tensor.Create(new float[] { 1, -2.5f, float.NaN, 4, 5, 6 }, 2, 3),
            ["d"] = Tensor.Create(new double[] { Math.PI }, 1),
            ["i64"] = Tensor.Scalar(123456789012L),
            ["i32"] = Tensor.Create(new[] { 1, 2, 3 }, 3),
            ["u8"] = Tensor.Create(new byte[] { 0, 255 }, 2),
            ["i8"] = Tensor.Create(new sbyte[] { -1, 1 }, 2),
            ["h"] = Tensor.Create(new[] { (Half)1.5, (Half)(-2) }, 2),
            ["b"] = Tensor.Create(new[] { true, false, true }, 3),
            ["c64"] = new Tensor(DataType.DtComplex64, new[] { 2 }, new float[] { 1, 2, 3, 4 }),
            ["s"] = Tensor.FromStrings(new[] { "", "hello", new string('x', 300), "\u00e9\u0000" }, 2, 2),
            ["empty"] = Tensor.Create(Array.Empty<float>(), 0, 4),
            ["global_step"] = Tensor.Scalar(5L),
        };
        var part = Tensor.Create(Enumerable.Range(0, 20).Select(i => (float)i).ToArray(), 5, 4);
        using (var w = new CheckpointWriter(prefix, snappyIndex: true))
        {
            foreach (var kv in tensors) w.Add(kv.Key, kv.Value);
            // Partition rows [0,2) and [2,5) of a 5x4 variable.
            w.AddSlice("part", new[] { 5, 4 }, new[] { new SliceExtent(0, 2), new SliceExtent(0, -1) }, Tensor.Create(Enumerable.Range(0, 8).Select(i => (float)i).ToArray(), 2, 4));
            w.AddSlice("part", new[] { 5, 4 }, new[] { new SliceExtent(2, 3), new SliceExtent(0, -1) }, Tensor.Create(Enumerable.Range(8, 12).Select(i => (float)i).ToArray(), 3, 4));
            w.Finish();
        }
        Assert.True(File.Exists(prefix + ".index"));
        Assert.True(File.Exists(prefix + ".data-00000-of-00001"));
        Assert.Empty(Directory.GetFiles(tmp.Path, "*.tmp"));
        using var r = CheckpointReader.Open(prefix + ".index");
        Assert.Equal(tensors.Keys.Append("part").Order(StringComparer.Ordinal), r.Entries.Select(e => e.Key));
        foreach (var kv in tensors) Assert.True(kv.Value.ContentEquals(r.Read(kv.Key)), kv.Key);
        Assert.True(r.Find("part")!.IsPartitioned);
        Assert.True(part.ContentEquals(r.Read("part")));
        Assert.Equal(new long[] { 5, 4 }, r.GetEntry("part").Shape);
    }

    [Fact]
    public void Many_keys_span_blocks_and_restart_points()
    {
        using var tmp = new TempDir();
        string prefix = Path.Combine(tmp.Path, "big");
        var names = Enumerable.Range(0, 3000).Select(i => $"layer_{i % 37}/block_{i:D5}/kernel_with_a_long_name_{new string('k', i % 200)}").ToList();
        using (var w = new CheckpointWriter(prefix))
        {
            foreach (var n in names) w.Add(n, Tensor.Scalar((float)n.Length));
            w.Finish();
        }
        using var r = CheckpointReader.Open(prefix);
        Assert.Equal(names.Count, r.Entries.Count);
        foreach (var n in names.Take(50).Concat(names.TakeLast(50))) Assert.Equal(n.Length, r.Read(n).As<float>()[0]);
    }

    [Fact]
    public void Flipped_data_byte_is_a_crc_error_and_truncated_index_is_corrupt()
    {
        using var tmp = new TempDir();
        string prefix = Path.Combine(tmp.Path, "c");
        using (var w = new CheckpointWriter(prefix))
        {
            w.Add("v", Tensor.Create(new float[] { 1, 2, 3, 4 }, 4));
            w.Add("s", Tensor.FromStrings(new[] { "abc", "de" }, 2));
            w.Finish();
        }
        var data = File.ReadAllBytes(prefix + ".data-00000-of-00001");
        using (var r = CheckpointReader.Open(prefix))
        {
            var off = r.GetEntry("v").Proto.Offset;
            data[off + 5] ^= 0x10;
        }
        File.WriteAllBytes(prefix + ".data-00000-of-00001", data);
        using (var r = CheckpointReader.Open(prefix))
        {
            var ex = Assert.Throws<ModelOpsException>(() => r.Read("v"));
            Assert.Equal(ErrorIds.CheckpointCrcMismatch, ex.ErrorId);
            Assert.Contains("'v'", ex.Message);
            Assert.Equal(ErrorIds.CheckpointCrcMismatch, Assert.Throws<ModelOpsException>(() => r.ReadRaw("v")).ErrorId);
            Assert.Equal("abc", Encoding.ASCII.GetString(((byte[][])r.Read("s").Data)[0]));
        }
        var index = File.ReadAllBytes(prefix + ".index");
        foreach (int cut in new[] { 0, 10, index.Length - 1, index.Length - 20 })
        {
            File.WriteAllBytes(prefix + ".index", index[..cut]);
            var ex = Assert.Throws<ModelOpsException>(() => CheckpointReader.Open(prefix));
            Assert.Equal(ErrorIds.CheckpointCorrupt, ex.ErrorId);
            Assert.Contains("truncated", ex.Message);
        }
        // A flipped byte inside an index block is caught by the block CRC.
        var bad = (byte[])index.Clone();
        bad[8] ^= 0x01;
        File.WriteAllBytes(prefix + ".index", bad);
        Assert.Equal(ErrorIds.CheckpointCrcMismatch, Assert.Throws<ModelOpsException>(() => CheckpointReader.Open(prefix)).ErrorId);
    }

    [Fact]
    public void Missing_key_suggests_near_names_and_missing_checkpoint_is_clear()
    {
        using var tmp = new TempDir();
        string prefix = Path.Combine(tmp.Path, "m");
        using (var w = new CheckpointWriter(prefix))
        {
            w.Add("dense/kernel", Tensor.Scalar(1f));
            w.Finish();
        }
        using var r = CheckpointReader.Open(prefix);
        var ex = Assert.Throws<ModelOpsException>(() => r.Read("dense/kernal"));
        Assert.Equal(ErrorIds.CheckpointKeyNotFound, ex.ErrorId);
        Assert.Contains("dense/kernel", ex.Message);
        Assert.Equal(ErrorIds.CheckpointNotFound, Assert.Throws<ModelOpsException>(() => CheckpointReader.Open(Path.Combine(tmp.Path, "nope"))).ErrorId);
        Assert.Throws<ModelOpsException>(() => new CheckpointWriter(prefix));
        File.WriteAllText(Path.Combine(tmp.Path, "checkpoint"), "model_checkpoint_path: \"/somewhere/else/m\"\n");
        Assert.Equal(prefix, CheckpointLocator.ResolvePrefix(tmp.Path));
    }

    [Fact]
    public void Slice_keys_match_tf_ordered_code()
    {
        // EncodeTensorNameSlice("foo", "-:-:1,3:4,5"): 00 'foo' 00 01, rank 4 → 01 04, then (0,-1)(0,-1)(1,3)(4,5).
        var key = SliceKey.Encode("foo", new[] { new SliceExtent(0, -1), new SliceExtent(0, -1), new SliceExtent(1, 3), new SliceExtent(4, 5) });
        Assert.Equal(new byte[] { 0x00, (byte)'f', (byte)'o', (byte)'o', 0x00, 0x01, 0x01, 0x04, 0x80, 0x7f, 0x80, 0x7f, 0x81, 0x83, 0x84, 0x85 }, key);
        var big = new List<byte>();
        SliceKey.WriteSignedNumIncreasing(big, 0x424242);
        Assert.Equal(new byte[] { 0xf0, 0x42, 0x42, 0x42 }, big);
        big.Clear();
        SliceKey.WriteSignedNumIncreasing(big, -0x800);
        Assert.Equal(new byte[] { 0x38, 0x00 }, big);
    }
}

internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "modelops-test-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public void Dispose()
    {
        try { Directory.Delete(Path, true); } catch (IOException) { }
    }
}
