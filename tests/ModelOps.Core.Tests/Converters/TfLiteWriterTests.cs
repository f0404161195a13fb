using Google.FlatBuffers;
using ModelOps.Core.Converters.TfLite;
using ModelOps.Core.Formats.TfLite.Schema;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;
using ModelOps.Core.Samples;
using Xunit;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Tests.Converters;

/// <summary>The flatbuffer facts every .tflite we write must satisfy, read back with the generated schema reader.</summary>
public sealed class TfLiteWriterTests
{
    private static Model Read(byte[] bytes) => Model.GetRootAsModel(new ByteBuffer(bytes));

    [Fact]
    public void SampleCnn_HasIdentifierVersionSentinelAlignedBuffersMetadataAndSignature()
    {
        var r = TfLiteConverter.Convert(SampleModels.FrozenCnn());
        var bytes = r.Model;
        Assert.True(Model.ModelBufferHasIdentifier(new ByteBuffer(bytes)));
        Assert.Equal("TFL3", System.Text.Encoding.ASCII.GetString(bytes, 4, 4));
        Assert.True(ModelVerify.Verify(new Verifier(new ByteBuffer(bytes)), (uint)BitConverter.ToInt32(bytes, 0)));
        var m = Read(bytes);
        Assert.Equal(3u, m.Version);
        // Buffer 0: the empty sentinel.
        Assert.Equal(0, m.Buffers(0)!.Value.DataLength);
        for (int i = 1; i < m.BuffersLength; i++)
        {
            var seg = m.Buffers(i)!.Value.GetDataBytes();
            Assert.True(seg.HasValue && seg.Value.Count > 0);
            Assert.True(seg.Value.Offset % 16 == 0, $"buffer {i} data starts at {seg.Value.Offset}, not 16-byte aligned");
        }
        // min_runtime_version: a 16-byte buffer holding the version, zero padded.
        var meta = Enumerable.Range(0, m.MetadataLength).Select(i => m.Metadata(i)!.Value).Single(x => x.Name == "min_runtime_version");
        var rv = m.Buffers((int)meta.Buffer)!.Value.GetDataBytes()!.Value;
        Assert.Equal(16, rv.Count);
        Assert.Equal(r.MinRuntimeVersion, System.Text.Encoding.ASCII.GetString(rv.Array!, rv.Offset, rv.Count).TrimEnd('\0'));
        // SignatureDef serving_default maps TF names to the subgraph's inputs/outputs.
        var sig = m.SignatureDefs(0)!.Value;
        Assert.Equal("serving_default", sig.SignatureKey);
        Assert.Equal("input", sig.Inputs(0)!.Value.Name);
        Assert.Equal("probabilities", sig.Outputs(0)!.Value.Name);
        var sg = m.Subgraphs(0)!.Value;
        Assert.Equal((int)sig.Inputs(0)!.Value.TensorIndex, sg.Inputs(0));
        // Unknown batch: shape 1, shape_signature -1.
        var inT = sg.Tensors(sg.Inputs(0))!.Value;
        Assert.Equal(new[] { 1, 8, 8, 3 }, inT.GetShapeArray());
        Assert.Equal(new[] { -1, 8, 8, 3 }, inT.GetShapeSignatureArray());
        Assert.Equal(0u, inT.Buffer);
    }

    [Fact]
    public void OperatorCodes_WriteBothFields_DeprecatedClampedTo127()
    {
        // LEAKY_RELU is 98 (< 127); GELU is 150 (> 127): deprecated_builtin_code must be 127 there.
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 1, 4);
        b.Op("y", "LeakyRelu", DataType.DtFloat, "x").Attr["alpha"] = Attr.Float(0.1f);
        var r = TfLiteConverter.Convert(b.Graph);
        var m = Read(r.Model);
        var code = m.OperatorCodes(0)!.Value;
        Assert.Equal(BuiltinOperator.LEAKY_RELU, code.BuiltinCode);
        Assert.Equal((sbyte)BuiltinOperator.LEAKY_RELU, code.DeprecatedBuiltinCode);

        var g = new TflGraph();
        var x = g.AddTensor("x", TensorType.FLOAT32, new[] { 1, 4 });
        var y = g.AddTensor("y", TensorType.FLOAT32, new[] { 1, 4 });
        g.Inputs.Add(x.Index); g.InputKeys.Add("x"); g.Outputs.Add(y.Index); g.OutputKeys.Add("y");
        g.Operators.Add(new TflOperator(BuiltinOperator.GELU, new[] { x.Index }, new[] { y.Index }, null, "gelu"));
        var m2 = Read(TfLiteWriter.Write(g, "2.9.0", out _));
        Assert.Equal(BuiltinOperator.GELU, m2.OperatorCodes(0)!.Value.BuiltinCode);
        Assert.Equal((sbyte)127, m2.OperatorCodes(0)!.Value.DeprecatedBuiltinCode);
    }

    [Fact]
    public void Conv2D_FilterIsOhwi_BiasAddAndReluFused()
    {
        var r = TfLiteConverter.Convert(SampleModels.FrozenCnn());
        var conv = r.Graph.Operators.Single(o => o.Code == BuiltinOperator.CONV_2D);
        Assert.Equal(ActivationFunctionType.RELU, conv.FusedActivation);
        var filter = r.Graph.Tensors[conv.Inputs[1]];
        Assert.Equal(new[] { 4, 3, 3, 3 }, filter.Shape);
        var hwio = ModelOps.Core.Tensors.TensorProtoCodec.Decode(SampleModels.FrozenCnn().Node.Single(n => n.Name == "conv/weights").Attr["value"].Tensor).As<float>();
        var ohwi = filter.Value!.As<float>();
        // ohwi[o,h,w,i] == hwio[h,w,i,o]
        for (int o = 0; o < 4; o++) for (int h = 0; h < 3; h++) for (int w = 0; w < 3; w++) for (int i = 0; i < 3; i++)
            Assert.Equal(hwio[((h * 3 + w) * 3 + i) * 4 + o], ohwi[((o * 3 + h) * 3 + w) * 3 + i]);
        var bias = r.Graph.Tensors[conv.Inputs[2]].Value!.As<float>();
        var tfBias = ModelOps.Core.Tensors.TensorProtoCodec.Decode(SampleModels.FrozenCnn().Node.Single(n => n.Name == "conv/bias").Attr["value"].Tensor).As<float>();
        Assert.Equal(tfBias, bias);
        Assert.DoesNotContain(r.Graph.Operators, o => o.Code is BuiltinOperator.ADD or BuiltinOperator.RELU);
    }

    [Fact]
    public void DepthwiseFilter_IsReshapedTo1HWCM_WithDepthMultiplier()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 1, 5, 5, 2);
        var w = new float[3 * 3 * 2 * 3];
        for (int i = 0; i < w.Length; i++) w[i] = i;
        b.Const("w", Tensor.Create(w, 3, 3, 2, 3));
        var dw = b.Op("dw", "DepthwiseConv2dNative", DataType.DtFloat, "x", "w");
        dw.Attr["strides"] = Attr.Ints(1, 2, 2, 1);
        dw.Attr["padding"] = Attr.String("VALID");
        var r = TfLiteConverter.Convert(b.Graph);
        var op = r.Graph.Operators.Single();
        Assert.Equal(BuiltinOperator.DEPTHWISE_CONV_2D, op.Code);
        Assert.Equal(3, ((DepthwiseConv2DOptionsT)op.Options!.Value).DepthMultiplier);
        Assert.Equal(new[] { 1, 3, 3, 6 }, r.Graph.Tensors[op.Inputs[1]].Shape);
        Assert.Equal(w, r.Graph.Tensors[op.Inputs[1]].Value!.As<float>());
        Assert.Equal(new[] { 1, 2, 2, 6 }, r.Outputs[0].Shape);
    }

    [Fact]
    public void Dynamic_QuantizesLargeConvWeightsPerChannel_Hybrid()
    {
        var b = new GraphBuilder();
        b.Placeholder("x", DataType.DtFloat, 1, 8, 8, 16);
        var w = new float[3 * 3 * 16 * 8];
        var rng = new Random(3);
        for (int i = 0; i < w.Length; i++) w[i] = (float)(rng.NextDouble() - 0.5) * (1 + i % 8);
        b.Const("w", Tensor.Create(w, 3, 3, 16, 8));
        var c = b.Op("conv", "Conv2D", DataType.DtFloat, "x", "w");
        c.Attr["strides"] = Attr.Ints(1, 1, 1, 1);
        c.Attr["padding"] = Attr.String("SAME");
        var r = TfLiteConverter.Convert(b.Graph, new TfLiteConverterOptions { Quantization = TfLiteQuantization.Dynamic });
        var conv = r.Graph.Operators.Single();
        var q = r.Graph.Tensors[conv.Inputs[1]];
        Assert.Equal(TensorType.INT8, q.Type);
        Assert.Equal(8, q.Quantization!.Scale.Count);
        Assert.Equal(0, q.Quantization.QuantizedDimension);
        Assert.All(q.Quantization.ZeroPoint, z => Assert.Equal(0, z));
        Assert.Equal(5, conv.Version);                 // hybrid, per channel
        Assert.Equal("2.4.0", r.MinRuntimeVersion);
        // Every channel uses the symmetric range: max |q| == 127, and q*scale is within scale/2 of w.
        var qs = q.Value!.As<sbyte>();
        for (int o = 0; o < 8; o++)
        {
            float s = q.Quantization.Scale[o];
            int maxQ = 0;
            for (int k = 0; k < 3 * 3 * 16; k++)
            {
                int idx = o * 144 + k;
                maxQ = Math.Max(maxQ, Math.Abs((int)qs[idx]));
                int h = k / 48, ww = k / 16 % 3, i = k % 16;
                float orig = w[((h * 3 + ww) * 16 + i) * 8 + o];
                Assert.True(Math.Abs(qs[idx] * s - orig) <= s / 2 + 1e-6f);
            }
            Assert.Equal(127, maxQ);
        }
    }
}
