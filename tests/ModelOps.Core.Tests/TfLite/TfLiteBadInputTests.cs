using System.Buffers.Binary;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats.TfLite;
using ModelOps.Core.Inspection;
using ModelOps.Core.Runtime.TfLite;
using ModelOps.Core.Tensors;
using Xunit;
using static ModelOps.Core.Tests.TfLite.TfLiteReaderTests;

namespace ModelOps.Core.Tests.TfLite;

public class TfLiteBadInputTests
{
    private static readonly HashSet<string> ReaderIds = new() { ErrorIds.TfLiteCorrupt, ErrorIds.TfLiteSchemaVersion, ErrorIds.TfLiteBufferSizeMismatch };

    private static byte[] HelloFloat() => File.ReadAllBytes(Tf("tflite--tflite-micro-hello_world", "hello_world_float.tflite"));

    [SkippableFact]
    public void TruncatedFilesAreCorruptNeverACrash()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var bytes = HelloFloat();
        foreach (int len in new[] { 0, 4, 8, 16, 100, bytes.Length / 2, bytes.Length - 1 })
        {
            var ex = Assert.Throws<ModelOpsException>(() => TfLiteModelReader.Read("t.tflite", bytes[..len]));
            Assert.Equal(ErrorIds.TfLiteCorrupt, ex.ErrorId);
            Assert.Contains("t.tflite", ex.Message);
        }
    }

    [SkippableFact]
    public void RandomByteFlipsOnlyEverGiveStableIds()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        foreach (var file in new[]
        {
            Tf("tflite--tflite-micro-hello_world", "hello_world_int8.tflite"), Tf("tflite--tflite-micro-hello_world", "hello_world_float.tflite"), Tf("tflite--tf-lite-testdata", "add.bin"),
            Tf("tflite--tflite-micro-mnist_lstm", "trained_lstm_int8.tflite"), Tf("tflite--tf-lite-optimize-testdata", "lstm_quantized.bin"),
        })
        {
            var original = File.ReadAllBytes(file);
            var rng = new Random(1234);
            int accepted = 0, rejected = 0;
            for (int trial = 0; trial < 400; trial++)
            {
                var b = (byte[])original.Clone();
                int flips = 1 + rng.Next(4);
                for (int k = 0; k < flips; k++) b[rng.Next(b.Length)] = (byte)rng.Next(256);
                try
                {
                    var m = TfLiteModelReader.Read("fuzz.tflite", b);
                    TfLiteInspector.Inspect(m, b.Length);
                    accepted++;
                    // A model that still verifies must also run or fail with a stable id.
                    try
                    {
                        using var s = new TfLiteSession(m);
                        var inputs = s.Inputs.ToDictionary(t => t.Name, t => Tensor.Zeros(t.DType, t.Shape));
                        s.Run(inputs);
                    }
                    catch (ModelOpsException ex) { Assert.Contains(ex.ErrorId, new[] { ErrorIds.UnsupportedOps, ErrorIds.TfLiteUnsupported, ErrorIds.TfLiteInputMismatch, ErrorIds.InvalidTensor }); }
                }
                catch (ModelOpsException ex)
                {
                    Assert.Contains(ex.ErrorId, ReaderIds);
                    rejected++;
                }
            }
            Assert.True(rejected > 0 && accepted + rejected == 400);
        }
    }

    [SkippableFact]
    public void UnsupportedSchemaVersionIsNamed()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var bytes = HelloFloat();
        var m = TfLiteModelReader.Read("v.tflite", bytes);
        Assert.Equal(3u, m.SchemaVersion);
        // Model.version is the root table's first field: find it through the vtable and set it to 2.
        int root = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        int vtable = root - BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(root));
        int fieldOffset = BinaryPrimitives.ReadInt16LittleEndian(bytes.AsSpan(vtable + 4));
        Assert.Equal(3, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(root + fieldOffset)));
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(root + fieldOffset), 2);
        var ex = Assert.Throws<ModelOpsException>(() => TfLiteModelReader.Read("v.tflite", bytes));
        Assert.Equal(ErrorIds.TfLiteSchemaVersion, ex.ErrorId);
        Assert.Contains("schema version 2", ex.Message);
    }

    [SkippableFact]
    public void BufferThatDoesNotMatchItsTensorIsRejected()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var bytes = HelloFloat();
        var m = TfLiteModelReader.Read("b.tflite", bytes);
        // Shrink the length prefix of one weight buffer's data vector by 4 bytes: still inside the file, wrong size.
        var t = m.Main.Tensors.First(x => x.Buffer != 0 && m.Buffers[x.Buffer].Length >= 64);
        var br = m.Buffers[t.Buffer];
        int lenPos = (int)br.Offset - 4;
        Assert.Equal(br.Length, BinaryPrimitives.ReadInt32LittleEndian(bytes.AsSpan(lenPos)));
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(lenPos), (int)br.Length - 4);
        var ex = Assert.Throws<ModelOpsException>(() => TfLiteModelReader.Read("b.tflite", bytes));
        Assert.Equal(ErrorIds.TfLiteBufferSizeMismatch, ex.ErrorId);
        Assert.Contains(t.Name, ex.Message);
    }

    // The flatbuffer table of tensor / operator `index` of subgraph 0 (field offsets from schema.fbs: Model.subgraphs 8,
    // SubGraph.tensors 4, SubGraph.operators 10).
    private static Google.FlatBuffers.Table Subgraph0Item(byte[] bytes, int listField, int index)
    {
        var bb = new Google.FlatBuffers.ByteBuffer(bytes);
        var root = new Google.FlatBuffers.Table(bb.GetInt(0), bb);
        var sg = new Google.FlatBuffers.Table(root.__indirect(root.__vector(root.__offset(8))), bb);
        return new Google.FlatBuffers.Table(sg.__indirect(sg.__vector(sg.__offset(listField)) + index * 4), bb);
    }

    [SkippableFact]
    public void IntegerLstmWithoutItsIntermediatesIsAStableError()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var bytes = File.ReadAllBytes(Tf("tflite--tflite-micro-mnist_lstm", "trained_lstm_int8.tflite"));
        var op = Subgraph0Item(bytes, 10, 0);
        int intermediates = op.__offset(20); // Operator.intermediates
        Assert.Equal(5, op.__vector_len(intermediates));
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(op.__vector(intermediates) - 4), 3);
        using var s = new TfLiteSession(TfLiteModelReader.Read("lstm.tflite", bytes));
        var ex = Assert.Throws<ModelOpsException>(() => s.Run(new Dictionary<string, Tensor> { ["0"] = Tensor.Zeros(Protos.DataType.DtInt8, [1, 28, 28]) }));
        Assert.Equal(ErrorIds.TfLiteUnsupported, ex.ErrorId);
        Assert.Contains("5 intermediate tensors", ex.Message);
    }

    [SkippableFact]
    public void IntegerLstmCellStateScaleMustBeAPowerOfTwo()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        var bytes = File.ReadAllBytes(Tf("tflite--tflite-micro-mnist_lstm", "trained_lstm_int8.tflite"));
        var m = TfLiteModelReader.Read("lstm.tflite", bytes);
        int cell = m.Main.Operators[0].Inputs[19];
        var tensor = Subgraph0Item(bytes, 4, cell);
        var q = new Google.FlatBuffers.Table(tensor.__indirect(tensor.__offset(12) + tensor.bb_pos), tensor.bb); // Tensor.quantization
        int scale = q.__vector(q.__offset(8)); // QuantizationParameters.scale
        Assert.Equal(MathF.Pow(2, -12), BitConverter.ToSingle(bytes, scale));
        BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(scale), 0.0003f);
        using var s = new TfLiteSession(TfLiteModelReader.Read("lstm.tflite", bytes));
        var ex = Assert.Throws<ModelOpsException>(() => s.Run(new Dictionary<string, Tensor> { ["0"] = Tensor.Zeros(Protos.DataType.DtInt8, [1, 28, 28]) }));
        Assert.Equal(ErrorIds.TfLiteUnsupported, ex.ErrorId);
        Assert.Contains("power of two", ex.Message);
    }

    [SkippableFact]
    public void NonTfLiteBytesWithTfliteNameAreCorrupt()
    {
        Skip.IfNot(Corpus.Available, Corpus.Missing);
        string tmp = Path.Combine(Path.GetTempPath(), $"notflite-{Guid.NewGuid():N}.tflite");
        File.WriteAllText(tmp, "This is an invalid model.");
        try { Assert.Equal(ErrorIds.TfLiteCorrupt, Assert.Throws<ModelOpsException>(() => ModelInspector.Inspect(tmp)).ErrorId); }
        finally { File.Delete(tmp); }
    }
}
