using System.IO.Compression;
using System.Text;
using ModelOps.Core.Errors;
using ModelOps.Core.Formats.Npy;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Formats;

public class NpyFileTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("npy").FullName;

    public void Dispose() => Directory.Delete(_dir, true);

    /// <summary>Builds an .npy by hand: magic, version, header length, header text, payload.</summary>
    private static byte[] Npy(int major, string header, byte[] payload)
    {
        var ms = new MemoryStream();
        ms.Write(new byte[] { 0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y', (byte)major, 0 });
        var hb = Encoding.Latin1.GetBytes(header + "\n");
        if (major == 1) ms.Write(BitConverter.GetBytes((ushort)hb.Length));
        else ms.Write(BitConverter.GetBytes(hb.Length));
        ms.Write(hb);
        ms.Write(payload);
        return ms.ToArray();
    }

    private static Tensor ReadBytes(byte[] b) => NpyFile.Read(new MemoryStream(b));

    [Fact]
    public void Reads_v1_c_order_float32()
    {
        var payload = new[] { 1f, 2f, 3f, 4f, 5f, 6f }.SelectMany(BitConverter.GetBytes).ToArray();
        var t = ReadBytes(Npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", payload));
        Assert.Equal(DataType.DtFloat, t.DType);
        Assert.Equal(new[] { 2, 3 }, t.Shape);
        Assert.Equal(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, t.As<float>());
    }

    [Fact]
    public void Reads_fortran_order_as_row_major()
    {
        // Fortran order of [[1,2,3],[4,5,6]] is 1,4,2,5,3,6.
        var payload = new long[] { 1, 4, 2, 5, 3, 6 }.SelectMany(BitConverter.GetBytes).ToArray();
        var t = ReadBytes(Npy(2, "{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }", payload));
        Assert.Equal(new[] { 2, 3 }, t.Shape);
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6 }, t.As<long>());
    }

    [Fact]
    public void Reads_v3_bool_scalar_big_endian_and_strings()
    {
        var b = ReadBytes(Npy(3, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", new byte[] { 1, 0, 1 }));
        Assert.Equal(new[] { true, false, true }, b.As<bool>());
        var s = ReadBytes(Npy(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (), }", BitConverter.GetBytes(2.5)));
        Assert.Empty(s.Shape);
        Assert.Equal(2.5, s.As<double>()[0]);
        var be = ReadBytes(Npy(1, "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", new byte[] { 0, 0, 1, 2, 255, 255, 255, 255 }));
        Assert.Equal(new[] { 258, -1 }, be.As<int>());
        var str = ReadBytes(Npy(1, "{'descr': '|S3', 'fortran_order': False, 'shape': (2,), }", Encoding.ASCII.GetBytes("ab\0xyz")));
        Assert.Equal(new[] { "ab", "xyz" }, str.As<byte[]>().Select(x => Encoding.UTF8.GetString(x)));
        var u = ReadBytes(Npy(1, "{'descr': '<U2', 'fortran_order': False, 'shape': (1,), }", Encoding.UTF32.GetBytes("hé")));
        Assert.Equal("hé", Encoding.UTF8.GetString(u.As<byte[]>()[0]));
    }

    [Fact]
    public void Rejects_bad_files_with_InvalidNpy()
    {
        Assert.Equal(ErrorIds.InvalidNpy, Assert.Throws<ModelOpsException>(() => ReadBytes(Encoding.ASCII.GetBytes("not an npy file"))).ErrorId);
        Assert.Equal(ErrorIds.InvalidNpy, Assert.Throws<ModelOpsException>(() =>
            ReadBytes(Npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", new byte[8]))).ErrorId);
        Assert.Equal(ErrorIds.InvalidNpy, Assert.Throws<ModelOpsException>(() =>
            ReadBytes(Npy(1, "{'descr': '<M8', 'fortran_order': False, 'shape': (1,), }", new byte[8]))).ErrorId);
    }

    public static IEnumerable<object[]> AllDTypes() => new[]
    {
        new object[] { Tensor.Create(new[] { 1.5f, -2f }, 2) },
        new object[] { Tensor.Create(new[] { 1.5, -2 }, 1, 2) },
        new object[] { Tensor.Create(new[] { (Half)1.5f }, 1) },
        new object[] { Tensor.Create(new sbyte[] { -1, 2 }, 2) },
        new object[] { Tensor.Create(new byte[] { 255, 2 }, 2) },
        new object[] { Tensor.Create(new short[] { -300 }, 1) },
        new object[] { Tensor.Create(new ushort[] { 60000 }, 1) },
        new object[] { Tensor.Create(new[] { -7 }, 1, 1, 1) },
        new object[] { Tensor.Create(new uint[] { 4000000000 }, 1) },
        new object[] { Tensor.Create(new[] { long.MinValue }, 1) },
        new object[] { Tensor.Create(new[] { ulong.MaxValue }, 1) },
        new object[] { Tensor.Create(new[] { true, false }, 2) },
        new object[] { Tensor.Scalar(3f) },
        new object[] { Tensor.Create(Array.Empty<float>(), 0, 3) },
        new object[] { Tensor.FromStrings(new[] { "a", "bcd" }, 2) },
    };

    [Theory]
    [MemberData(nameof(AllDTypes))]
    public void Roundtrips_every_dtype(Tensor t)
    {
        var ms = new MemoryStream();
        NpyFile.Write(ms, t);
        Assert.Equal(0, (ms.ToArray()[8] | ms.ToArray()[9] << 8) + 10 & 63); // data aligned to 64 bytes
        var back = NpyFile.Read(new MemoryStream(ms.ToArray()));
        Assert.True(t.ContentEquals(back), $"{t} came back as {back}");
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Npz_roundtrips_deflated_and_stored_and_finds_tensor_names(bool compress)
    {
        string path = Path.Combine(_dir, $"a{compress}.npz");
        NpyFile.WriteNpz(path, new Dictionary<string, Tensor>
        {
            ["input:0"] = Tensor.Create(new[] { 1f, 2f }, 2),
            ["labels"] = Tensor.Create(new[] { 3L }, 1),
        }, compress: compress);
        using (var zip = ZipFile.OpenRead(path))
            Assert.All(zip.Entries, e => Assert.Equal(compress, e.CompressedLength < e.Length));
        var all = NpyFile.ReadNpz(path);
        Assert.Equal(new[] { 1f, 2f }, NpyFile.Find(all, "input")!.As<float>());
        Assert.Equal(new[] { 1f, 2f }, NpyFile.Find(all, "input:0")!.As<float>());
        Assert.Equal(new[] { 3L }, NpyFile.Find(all, "labels:0")!.As<long>());
        Assert.Null(NpyFile.Find(all, "other"));
        Assert.Throws<ModelOpsException>(() => NpyFile.WriteNpz(path, all)); // no silent overwrite
    }

    [SkippableFact]
    public void Reads_corpus_golden_files()
    {
        string? dir = Corpus.Path("tfjs-human", "faceboxes");
        Skip.If(dir is null || !File.Exists(System.IO.Path.Combine(dir, "input_0.npy")), "The corpus is not available (set MODELOPS_CORPUS).");
        var t = NpyFile.Read(System.IO.Path.Combine(dir!, "input_0.npy"));
        Assert.Equal(DataType.DtUint8, t.DType);
        Assert.Equal(new[] { 1, 256, 256, 3 }, t.Shape);
    }
}
