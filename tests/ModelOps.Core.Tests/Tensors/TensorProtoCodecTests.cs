using Google.Protobuf;
using ModelOps.Core.Errors;
using ModelOps.Core.Protos;
using ModelOps.Core.Tensors;
using Xunit;

namespace ModelOps.Core.Tests.Tensors;

public class TensorProtoCodecTests
{
    private static TensorProto Proto(DataType dt, params long[] shape)
    {
        var p = new TensorProto { Dtype = dt, TensorShape = TensorProtoCodec.FromShape(shape) };
        return p;
    }

    [Fact]
    public void TensorContentFloat()
    {
        var p = Proto(DataType.DtFloat, 2, 2);
        p.TensorContent = ByteString.CopyFrom(TensorBytes.AsBytes(new[] { 1f, -2f, 3.5f, float.NegativeInfinity }));
        var t = TensorProtoCodec.Decode(p);
        Assert.Equal(new[] { 2, 2 }, t.Shape);
        Assert.Equal(new[] { 1f, -2f, 3.5f, float.NegativeInfinity }, t.As<float>());
    }

    [Fact]
    public void OneValueBroadcastFillsEveryElement()
    {
        var p = Proto(DataType.DtFloat, 2, 3);
        p.FloatVal.Add(0.5f);
        Assert.Equal(Enumerable.Repeat(0.5f, 6), TensorProtoCodec.Decode(p).As<float>());
    }

    [Fact]
    public void FewerValuesRepeatTheLast()
    {
        var p = Proto(DataType.DtInt32, 5);
        p.IntVal.Add(new[] { 1, 2 });
        Assert.Equal(new[] { 1, 2, 2, 2, 2 }, TensorProtoCodec.Decode(p).As<int>());
    }

    [Fact]
    public void NoValuesMeansZeros()
    {
        Assert.Equal(new long[3], TensorProtoCodec.Decode(Proto(DataType.DtInt64, 3)).As<long>());
    }

    [Fact]
    public void TooManyValuesIsAnError()
    {
        var p = Proto(DataType.DtFloat, 2);
        p.FloatVal.Add(new[] { 1f, 2f, 3f });
        Assert.Equal(ErrorIds.InvalidTensor, Assert.Throws<ModelOpsException>(() => TensorProtoCodec.Decode(p)).ErrorId);
    }

    [Fact]
    public void WrongContentLengthIsAnError()
    {
        var p = Proto(DataType.DtFloat, 3);
        p.TensorContent = ByteString.CopyFrom(new byte[8]);
        Assert.Equal(ErrorIds.InvalidTensor, Assert.Throws<ModelOpsException>(() => TensorProtoCodec.Decode(p)).ErrorId);
    }

    [Theory]
    [InlineData(DataType.DtInt8, new[] { -128, 127, 5 })]
    [InlineData(DataType.DtUint8, new[] { 0, 255, 7 })]
    [InlineData(DataType.DtInt16, new[] { -32768, 32767, 9 })]
    [InlineData(DataType.DtUint16, new[] { 0, 65535, 11 })]
    [InlineData(DataType.DtQint8, new[] { -3, 4, 5 })]
    public void SmallIntegersComeFromIntVal(DataType dt, int[] values)
    {
        var p = Proto(dt, 3);
        p.IntVal.Add(values);
        var t = TensorProtoCodec.Decode(p);
        Assert.Equal(values.Select(v => (long)v), Enumerable.Range(0, 3).Select(t.GetInt64));
    }

    [Fact]
    public void HalfAndBfloat16ComeFromHalfValBits()
    {
        var h = Proto(DataType.DtHalf, 2);
        h.HalfVal.Add(new[] { (int)BitConverter.HalfToUInt16Bits((Half)1.5f), (int)BitConverter.HalfToUInt16Bits((Half)(-2f)) });
        Assert.Equal(new[] { (Half)1.5f, (Half)(-2f) }, TensorProtoCodec.Decode(h).As<Half>());

        var b = Proto(DataType.DtBfloat16, 1);
        b.HalfVal.Add(Tensor.SingleToBFloat16(3.0f));
        Assert.Equal(3.0, TensorProtoCodec.Decode(b).GetDouble(0));
    }

    [Fact]
    public void OtherTypedFields()
    {
        var d = Proto(DataType.DtDouble, 2); d.DoubleVal.Add(new[] { 1.25, -1e300 });
        Assert.Equal(new[] { 1.25, -1e300 }, TensorProtoCodec.Decode(d).As<double>());
        var l = Proto(DataType.DtInt64, 1); l.Int64Val.Add(long.MinValue);
        Assert.Equal(long.MinValue, TensorProtoCodec.Decode(l).As<long>()[0]);
        var u = Proto(DataType.DtUint32, 1); u.Uint32Val.Add(uint.MaxValue);
        Assert.Equal(uint.MaxValue, TensorProtoCodec.Decode(u).As<uint>()[0]);
        var u64 = Proto(DataType.DtUint64, 1); u64.Uint64Val.Add(ulong.MaxValue);
        Assert.Equal(ulong.MaxValue, TensorProtoCodec.Decode(u64).As<ulong>()[0]);
        var bo = Proto(DataType.DtBool, 3); bo.BoolVal.Add(new[] { true, false });
        Assert.Equal(new[] { true, false, false }, TensorProtoCodec.Decode(bo).As<bool>());
        var c = Proto(DataType.DtComplex64, 2); c.ScomplexVal.Add(new[] { 1f, 2f });
        Assert.Equal(new[] { 1f, 2f, 1f, 2f }, TensorProtoCodec.Decode(c).As<float>());
    }

    [Fact]
    public void Strings()
    {
        var p = Proto(DataType.DtString, 2);
        p.StringVal.Add(ByteString.CopyFromUtf8("héllo"));
        p.StringVal.Add(ByteString.CopyFrom(0, 255));
        var t = TensorProtoCodec.Decode(p);
        Assert.Equal("héllo", System.Text.Encoding.UTF8.GetString(t.As<byte[]>()[0]));
        Assert.Equal(new byte[] { 0, 255 }, t.As<byte[]>()[1]);
        Assert.True(TensorProtoCodec.Decode(TensorProtoCodec.Encode(t)).ContentEquals(t));
    }

    [Fact]
    public void ScalarShapeAndEmptyTensor()
    {
        var s = Proto(DataType.DtFloat); s.FloatVal.Add(7f);
        var t = TensorProtoCodec.Decode(s);
        Assert.Empty(t.Shape);
        Assert.Equal(7f, t.As<float>()[0]);
        var e = TensorProtoCodec.Decode(Proto(DataType.DtFloat, 0, 4));
        Assert.Equal(0, e.Length);
    }

    public static IEnumerable<object[]> RoundTripCases() => new[]
    {
        new object[] { Tensor.Create(new[] { 1f, 2f, 3f, 4f, 5f, 6f }, 2, 3) },
        new object[] { Tensor.Create(new[] { 1.0, -2.0 }, 2) },
        new object[] { Tensor.Create(new[] { (Half)1, (Half)0.5 }, 2) },
        new object[] { Tensor.Create(new sbyte[] { -1, 2 }, 2, 1) },
        new object[] { Tensor.Create(new byte[] { 1, 200 }, 2) },
        new object[] { Tensor.Create(new short[] { -1, 2 }, 2) },
        new object[] { Tensor.Create(new ushort[] { 1, 60000 }, 2) },
        new object[] { Tensor.Create(new[] { 1, -2, 3 }, 3) },
        new object[] { Tensor.Create(new uint[] { 1, 4000000000 }, 2) },
        new object[] { Tensor.Create(new[] { 1L, long.MaxValue }, 2) },
        new object[] { Tensor.Create(new ulong[] { 1, ulong.MaxValue }, 2) },
        new object[] { Tensor.Create(new[] { true, false, true }, 3) },
        new object[] { Tensor.Scalar(3.5f) },
        new object[] { Tensor.Scalar(9L) },
        new object[] { Tensor.Scalar(true) },
    };

    [Theory]
    [MemberData(nameof(RoundTripCases))]
    public void EncodeDecodeRoundTrips(Tensor t)
    {
        var back = TensorProtoCodec.Decode(TensorProto.Parser.ParseFrom(TensorProtoCodec.Encode(t).ToByteArray()));
        Assert.True(back.ContentEquals(t), $"{t} did not round-trip");
    }

    [Fact]
    public void NegativeDimensionInConstantIsAnError()
    {
        var p = Proto(DataType.DtFloat, -1, 2);
        Assert.Equal(ErrorIds.InvalidTensor, Assert.Throws<ModelOpsException>(() => TensorProtoCodec.Decode(p)).ErrorId);
    }

    [Theory]
    [InlineData("float32", DataType.DtFloat)]
    [InlineData("DT_INT64", DataType.DtInt64)]
    [InlineData("double", DataType.DtDouble)]
    [InlineData("uint8", DataType.DtUint8)]
    public void DataTypeNames(string name, DataType dt)
    {
        Assert.Equal(dt, DataTypes.Parse(name));
        Assert.Equal(dt, DataTypes.Parse(dt.Name()));
    }

    [Fact]
    public void RefTypesReduceToBase()
    {
        Assert.Equal(DataType.DtFloat, DataType.DtFloatRef.Base());
        Assert.Equal("float32_ref", DataType.DtFloatRef.Name());
    }
}
