using System.Runtime.InteropServices;
using ModelOps.Core.Formats;
using ModelOps.Core.Formats.TfLite.Schema;

namespace ModelOps.Core.Samples;

public static partial class SampleModels
{
    /// <summary>
    /// A float32 .tflite: input "x" float32[1,4] → FULLY_CONNECTED (weights [2,4] = [[1,2,3,4],[-1,0,1,0]],
    /// bias [0.5,-1], RELU) → "dense" float32[1,2]; and ADD(x, x) → "doubled" float32[1,4]. Signature
    /// "serving_default" names the input "features".
    /// For x = [1,1,1,1]: dense = [10.5, 0], doubled = [2,2,2,2].
    /// </summary>
    public static byte[] TfLiteFloat()
    {
        var b = new TfLiteBuilder();
        int x = b.Tensor("x", TensorType.FLOAT32, [1, 4]);
        int w = b.Tensor("dense/weights", TensorType.FLOAT32, [2, 4], Bytes(new float[] { 1, 2, 3, 4, -1, 0, 1, 0 }));
        int bias = b.Tensor("dense/bias", TensorType.FLOAT32, [2], Bytes(new float[] { 0.5f, -1f }));
        int dense = b.Tensor("dense", TensorType.FLOAT32, [1, 2]);
        int doubled = b.Tensor("doubled", TensorType.FLOAT32, [1, 4]);
        b.Op(BuiltinOperator.FULLY_CONNECTED, [x, w, bias], [dense],
            BuiltinOptionsUnion.FromFullyConnectedOptions(new FullyConnectedOptionsT { FusedActivationFunction = ActivationFunctionType.RELU }));
        b.Op(BuiltinOperator.ADD, [x, x], [doubled], BuiltinOptionsUnion.FromAddOptions(new AddOptionsT()));
        return b.Finish([x], [dense, doubled], ("serving_default", [("features", x)], [("dense", dense), ("doubled", doubled)]));
    }

    /// <summary>
    /// A full-integer int8 .tflite: "a" int8[1,4] (scale 0.05, zero point −3) + "b" int8[1,4] (scale 0.1, zero point 2)
    /// → ADD → "sum" int8[1,4] (scale 0.125, zero point 1). Real values: sum ≈ a + b in steps of 0.125.
    /// Signature "serving_default" names the inputs "left" and "right".
    /// </summary>
    public static byte[] TfLiteInt8Add()
    {
        var b = new TfLiteBuilder();
        int a = b.Tensor("a", TensorType.INT8, [1, 4], quant: (0.05f, -3));
        int c = b.Tensor("b", TensorType.INT8, [1, 4], quant: (0.1f, 2));
        int sum = b.Tensor("sum", TensorType.INT8, [1, 4], quant: (0.125f, 1));
        b.Op(BuiltinOperator.ADD, [a, c], [sum], BuiltinOptionsUnion.FromAddOptions(new AddOptionsT()), version: 2);
        return b.Finish([a, c], [sum], ("serving_default", [("left", a), ("right", c)], [("sum", sum)]));
    }

    /// <summary>Writes one of the byte images above (never overwriting without <paramref name="overwrite"/>). Returns the path.</summary>
    public static string WriteTfLite(string path, byte[] model, bool overwrite = false)
    {
        AtomicFile.Write(path, model, overwrite);
        return path;
    }

    private static List<byte> Bytes<T>(T[] values) where T : struct => MemoryMarshal.AsBytes(values.AsSpan()).ToArray().ToList();

    /// <summary>A minimal one-subgraph .tflite writer over the flatbuffer object API (tests and samples).</summary>
    internal sealed class TfLiteBuilder
    {
        private readonly SubGraphT _graph = new() { Tensors = new(), Operators = new(), Inputs = new(), Outputs = new(), Name = "main" };
        private readonly List<BufferT> _buffers = [new BufferT { Data = new() }]; // buffer 0: the empty sentinel
        private readonly List<OperatorCodeT> _codes = new();

        public int Tensor(string name, TensorType type, int[] shape, List<byte>? data = null, (float Scale, long ZeroPoint)? quant = null)
        {
            uint buffer = 0;
            if (data is not null)
            {
                buffer = (uint)_buffers.Count;
                _buffers.Add(new BufferT { Data = data });
            }
            _graph.Tensors.Add(new TensorT
            {
                Name = name, Type = type, Shape = shape.ToList(), Buffer = buffer,
                Quantization = quant is { } q ? new QuantizationParametersT { Scale = [q.Scale], ZeroPoint = [q.ZeroPoint] } : null,
            });
            return _graph.Tensors.Count - 1;
        }

        public void Op(BuiltinOperator op, int[] inputs, int[] outputs, BuiltinOptionsUnion? options = null, int version = 1)
        {
            int code = _codes.FindIndex(c => c.BuiltinCode == op && c.Version == version);
            if (code < 0)
            {
                // Both fields, as TFLite's own writer does: older runtimes read only the deprecated one.
                _codes.Add(new OperatorCodeT { BuiltinCode = op, DeprecatedBuiltinCode = (sbyte)Math.Min((int)op, 127), Version = version });
                code = _codes.Count - 1;
            }
            _graph.Operators.Add(new OperatorT { OpcodeIndex = (uint)code, Inputs = inputs.ToList(), Outputs = outputs.ToList(), BuiltinOptions = options ?? new BuiltinOptionsUnion() });
        }

        public byte[] Finish(int[] inputs, int[] outputs, (string Key, (string Name, int Tensor)[] Inputs, (string Name, int Tensor)[] Outputs)? signature = null)
        {
            _graph.Inputs.AddRange(inputs);
            _graph.Outputs.AddRange(outputs);
            var model = new ModelT
            {
                Version = 3,
                Description = "ModelOps sample",
                OperatorCodes = _codes,
                Subgraphs = [_graph],
                Buffers = _buffers,
                SignatureDefs = signature is { } s
                    ?
                    [
                        new SignatureDefT
                        {
                            SignatureKey = s.Key, SubgraphIndex = 0,
                            Inputs = s.Inputs.Select(i => new TensorMapT { Name = i.Name, TensorIndex = (uint)i.Tensor }).ToList(),
                            Outputs = s.Outputs.Select(o => new TensorMapT { Name = o.Name, TensorIndex = (uint)o.Tensor }).ToList(),
                        },
                    ]
                    : null,
            };
            return model.SerializeToBinary();
        }
    }
}
