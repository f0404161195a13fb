using ModelOps.Core.Errors;

namespace ModelOps.Core.Graph;

/// <summary>
/// One entry of NodeDef.input, or a user-given tensor/node name: "node" (output 0), "node:1" or
/// "^node" (control edge). Function-body names such as "node:output:0" keep the part after the node.
/// </summary>
public readonly record struct TensorName(string Node, int Index, bool IsControl)
{
    public static TensorName Parse(string text)
    {
        if (string.IsNullOrEmpty(text))
            throw new ModelOpsException(ErrorIds.InvalidGraph, ErrorKind.InvalidData, "An empty node input name was found.");
        if (text[0] == '^') return new TensorName(text[1..], -1, true);
        int colon = text.LastIndexOf(':');
        if (colon > 0 && int.TryParse(text.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int idx))
        {
            string node = text[..colon];
            // "fn_node:output:0" (function bodies): the node is the part before the first colon.
            return new TensorName(node, idx, false);
        }
        return new TensorName(text, 0, false);
    }

    /// <summary>The canonical tensor name "node:i".</summary>
    public string Tensor => IsControl ? "^" + Node : $"{Node}:{Index}";

    /// <summary>The spelling TF uses in NodeDef.input: "node" for output 0, "node:i" otherwise.</summary>
    public override string ToString() => IsControl ? "^" + Node : Index == 0 ? Node : $"{Node}:{Index}";
}
