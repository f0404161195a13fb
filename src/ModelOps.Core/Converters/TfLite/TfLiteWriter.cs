using System.Text;
using Google.FlatBuffers;
using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;

namespace ModelOps.Core.Converters.TfLite;

/// <summary>
/// Writes a <see cref="TflGraph"/> as a TFLite flatbuffer (schema version 3, identifier TFL3): buffer 0
/// the empty sentinel, every buffer's data 16-byte aligned in the file, OperatorCode with both
/// deprecated_builtin_code (min(code,127)) and builtin_code, min_runtime_version metadata and a
/// "serving_default" SignatureDef.
/// </summary>
public static class TfLiteWriter
{
    public const uint SchemaVersion = 3;
    public const string SignatureKey = "serving_default";
    public const string MinRuntimeVersionKey = "min_runtime_version";
    private const int PlaceholderForGreaterOpCodes = 127;

    public static byte[] Write(TflGraph g, string minRuntimeVersion, out int bufferCount)
    {
        // Buffers: 0 = sentinel, then one per constant tensor, then the runtime-version metadata.
        var buffers = new List<byte[]?> { null };
        var tensorBuffer = new uint[g.Tensors.Count];
        foreach (var t in g.Tensors)
        {
            if (t.Data is null) continue;
            tensorBuffer[t.Index] = (uint)buffers.Count;
            buffers.Add(t.Data);
        }
        // The version string zero-padded to 16 bytes (what TFLite's runtime_version writer does).
        var rv = new byte[16];
        var rvBytes = Encoding.ASCII.GetBytes(minRuntimeVersion);
        Array.Copy(rvBytes, rv, Math.Min(rvBytes.Length, 15));
        int rvBuffer = buffers.Count;
        buffers.Add(rv);
        bufferCount = buffers.Count;

        // Operator codes, unique by (code, custom code, version).
        var codes = new List<OperatorCodeT>();
        var codeIndex = new Dictionary<(BuiltinOperator, string?, int), int>();
        var ops = new List<OperatorT>();
        foreach (var op in g.Operators)
        {
            var key = (op.Code, op.CustomCode, op.Version);
            if (!codeIndex.TryGetValue(key, out int ci))
            {
                ci = codes.Count;
                codeIndex[key] = ci;
                codes.Add(new OperatorCodeT
                {
                    BuiltinCode = op.Code,
                    DeprecatedBuiltinCode = (sbyte)Math.Min((int)op.Code, PlaceholderForGreaterOpCodes),
                    CustomCode = op.CustomCode,
                    Version = op.Version,
                });
            }
            ops.Add(new OperatorT
            {
                OpcodeIndex = (uint)ci,
                Inputs = op.Inputs.ToList(),
                Outputs = op.Outputs.ToList(),
                BuiltinOptions = op.Options ?? new BuiltinOptionsUnion(),
                CustomOptions = op.CustomOptions?.ToList(),
                CustomOptionsFormat = CustomOptionsFormat.FLEXBUFFERS,
            });
        }

        var tensors = g.Tensors.Select(t => new TensorT
        {
            Shape = t.Shape.ToList(),
            ShapeSignature = t.ShapeSignature?.ToList(),
            Type = t.Type,
            Buffer = tensorBuffer[t.Index],
            Name = t.Name,
            Quantization = t.Quantization,
        }).ToList();

        var subgraph = new SubGraphT
        {
            Tensors = tensors,
            Inputs = g.Inputs.ToList(),
            Outputs = g.Outputs.ToList(),
            Operators = ops,
            Name = "main",
        };
        var signature = new SignatureDefT
        {
            SignatureKey = SignatureKey,
            SubgraphIndex = 0,
            Inputs = g.Inputs.Select((t, i) => new TensorMapT { Name = g.InputKeys[i], TensorIndex = (uint)t }).ToList(),
            Outputs = g.Outputs.Select((t, i) => new TensorMapT { Name = g.OutputKeys[i], TensorIndex = (uint)t }).ToList(),
        };

        long dataBytes = buffers.Sum(b => (long)(b?.Length ?? 0) + 32);
        if (dataBytes > int.MaxValue - (1 << 24))
            throw new Errors.ModelOpsException("TfLiteModelTooLarge", Errors.ErrorKind.NotImplemented,
                $"The model's weights take {dataBytes / (1 << 20)} MB; flatbuffers over 2 GB need external buffers, which this converter does not write.");
        var fbb = new FlatBufferBuilder((int)Math.Min(int.MaxValue - 1, dataBytes + (1 << 16)));

        // Buffers first (largest part); each data vector aligned to 16 bytes.
        var bufferOffsets = new Offset<Formats.TfLite.Schema.Buffer>[buffers.Count];
        for (int i = 0; i < buffers.Count; i++)
        {
            var data = buffers[i];
            if (data is null)
            {
                Formats.TfLite.Schema.Buffer.StartBuffer(fbb);
                bufferOffsets[i] = Formats.TfLite.Schema.Buffer.EndBuffer(fbb);
                continue;
            }
            fbb.StartVector(1, data.Length, 16);
            fbb.Add(data);
            var vec = fbb.EndVector();
            bufferOffsets[i] = Formats.TfLite.Schema.Buffer.CreateBuffer(fbb, vec);
        }
        var buffersVec = Model.CreateBuffersVector(fbb, bufferOffsets);
        var codesVec = Model.CreateOperatorCodesVector(fbb, codes.Select(c => OperatorCode.Pack(fbb, c)).ToArray());
        var subgraphsVec = Model.CreateSubgraphsVector(fbb, new[] { SubGraph.Pack(fbb, subgraph) });
        var description = fbb.CreateString("ModelOps TFLite converter");
        var metadataVec = Model.CreateMetadataVector(fbb, new[] { Metadata.Pack(fbb, new MetadataT { Name = MinRuntimeVersionKey, Buffer = (uint)rvBuffer }) });
        var signaturesVec = Model.CreateSignatureDefsVector(fbb, new[] { SignatureDef.Pack(fbb, signature) });
        var root = Model.CreateModel(fbb, SchemaVersion, codesVec, subgraphsVec, description, buffersVec,
            default, metadataVec, signaturesVec);
        Model.FinishModelBuffer(fbb, root);
        return fbb.SizedByteArray();
    }
}
