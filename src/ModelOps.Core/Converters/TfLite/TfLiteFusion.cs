using ModelOps.Core.Formats.TfLite.Schema;
using Tensor = ModelOps.Core.Tensors.Tensor;
using ModelOps.Core.Tensors;

namespace ModelOps.Core.Converters.TfLite;

/// <summary>
/// The converter's fusions, as TFLite's optimize pass does them: a constant ADD after CONV_2D /
/// DEPTHWISE_CONV_2D / FULLY_CONNECTED goes into the op's bias, and a RELU / RELU6 / RELU_N1_TO_1
/// after an op with a fused_activation_function field becomes that field.
/// </summary>
internal static class TfLiteFusion
{
    private static readonly HashSet<BuiltinOperator> BiasOps = new() { BuiltinOperator.CONV_2D, BuiltinOperator.DEPTHWISE_CONV_2D, BuiltinOperator.FULLY_CONNECTED };

    public static void Run(TflGraph g)
    {
        bool changed = true;
        while (changed)
        {
            changed = false;
            var consumers = g.Consumers();
            var outputs = new HashSet<int>(g.Outputs);
            for (int k = 0; k < g.Operators.Count; k++)
            {
                var op = g.Operators[k];
                if (op.Outputs.Count != 1) continue;
                int t = op.Outputs[0];
                if (outputs.Contains(t) || consumers[t].Count != 1) continue;
                int nk = consumers[t][0];
                var next = g.Operators[nk];
                if (g.Tensors[t].Type != TensorType.FLOAT32) continue;
                if (TryFuseBias(g, op, next, t) || TryFuseActivation(op, next))
                {
                    op.Outputs[0] = next.Outputs[0];
                    g.Operators.RemoveAt(nk);
                    changed = true;
                    break;
                }
            }
        }
    }

    private static bool TryFuseBias(TflGraph g, TflOperator op, TflOperator add, int t)
    {
        if (!BiasOps.Contains(op.Code) || add.Code != BuiltinOperator.ADD || op.FusedActivation != ActivationFunctionType.NONE) return false;
        if (op.Inputs.Count < 3 || op.Inputs[2] < 0) return false;
        var bias = g.Tensors[op.Inputs[2]];
        if (bias.Value is null || bias.Value.DType != Protos.DataType.DtFloat) return false;
        int other = add.Inputs[0] == t ? add.Inputs[1] : add.Inputs[1] == t ? add.Inputs[0] : -1;
        if (other < 0 || add.Inputs[0] == add.Inputs[1]) return false;
        var c = g.Tensors[other];
        if (c.Value is null || c.Value.DType != Protos.DataType.DtFloat) return false;
        int channels = bias.Value.Length;
        // The addend must broadcast along the last axis only: shape [C] or [1,...,1,C].
        if (c.Value.Length != channels || c.Shape.Length == 0 || c.Shape[^1] != channels) return false;
        if (c.Shape.Length > g.Tensors[t].Shape.Length) return false;
        var sum = (float[])bias.Value.As<float>().Clone();
        var add1 = c.Value.As<float>();
        for (int i = 0; i < sum.Length; i++) sum[i] += add1[i];
        // Biases are created per op by the lowerings (never shared), so updating in place is safe.
        var value = Tensor.Create(sum, channels);
        bias.Value = value;
        bias.Data = TensorBytes.ToBytes(value);
        op.FusedActivation = add.FusedActivation;
        return true;
    }

    private static bool TryFuseActivation(TflOperator op, TflOperator act)
    {
        var fused = act.Code switch
        {
            BuiltinOperator.RELU => ActivationFunctionType.RELU,
            BuiltinOperator.RELU6 => ActivationFunctionType.RELU6,
            BuiltinOperator.RELU_N1_TO_1 => ActivationFunctionType.RELU_N1_TO_1,
            _ => (ActivationFunctionType?)null,
        };
        if (fused is null || !op.HasFusedActivationField || op.FusedActivation != ActivationFunctionType.NONE) return false;
        op.FusedActivation = fused.Value;
        return true;
    }
}
