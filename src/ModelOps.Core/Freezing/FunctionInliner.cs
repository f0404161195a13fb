using Google.Protobuf.Collections;
using ModelOps.Core.Errors;
using ModelOps.Core.Graph;
using ModelOps.Core.Protos;

namespace ModelOps.Core.Freezing;

/// <summary>
/// Inlines TF2 function calls (PartitionedCall, StatefulPartitionedCall and direct calls of library
/// functions) into the graph, recursively, so a frozen graph has no function library. Body nodes get the
/// prefix "&lt;call node&gt;/"; function-body tensor names "node:out_arg:i" become flat "node:k" using the
/// op's OpDef (output arg sizes from number_attr / type_list_attr) or the callee's signature; consumers of
/// "call:k" are rewired to the k-th returned tensor, and "^call" to the returned and control-returned nodes.
/// </summary>
public sealed class FunctionInliner
{
    private static readonly HashSet<string> CallOps = new(StringComparer.Ordinal) { "PartitionedCall", "StatefulPartitionedCall" };
    private readonly Dictionary<string, FunctionDef> _functions;
    private readonly Dictionary<string, OpDef> _ops;

    public FunctionInliner(FunctionDefLibrary? library, IEnumerable<OpDef>? ops)
    {
        _functions = (library?.Function ?? new RepeatedField<FunctionDef>()).ToDictionary(f => f.Signature.Name, StringComparer.Ordinal);
        _ops = new Dictionary<string, OpDef>(StringComparer.Ordinal);
        foreach (var op in ops ?? Array.Empty<OpDef>()) _ops[op.Name] = op;
    }

    private readonly Dictionary<string, string> _allRewires = new(StringComparer.Ordinal);

    public int Inlined { get; private set; }

    /// <summary>Where a tensor of a (now inlined) call node ended up: "call:k" → the returned body tensor.</summary>
    public string Resolve(string tensor)
    {
        var tn = TensorName.Parse(tensor);
        string t = tn.Tensor;
        for (int i = 0; i < 128 && _allRewires.TryGetValue(t, out var next); i++) t = TensorName.Parse(next).Tensor;
        return t;
    }

    public bool IsCall(NodeDef n) => CallOps.Contains(n.Op) || _functions.ContainsKey(n.Op);

    /// <summary>Inlines every call reachable in <paramref name="graph"/> (in place); the library is removed.</summary>
    public void InlineAll(GraphDef graph)
    {
        for (int round = 0; ; round++)
        {
            var calls = graph.Node.Where(IsCall).ToList();
            if (calls.Count == 0) break;
            if (round > 64)
                throw new ModelOpsException(ErrorIds.FreezeUnsupported, ErrorKind.NotImplemented,
                    $"Function calls are nested more than 64 deep (or recursive), starting at '{calls[0].Name}'; such graphs cannot be inlined.");
            var rewire = new Dictionary<string, string>(StringComparer.Ordinal);
            var controlRewire = new Dictionary<string, List<string>>(StringComparer.Ordinal);
            var remove = new HashSet<string>(StringComparer.Ordinal);
            var added = new List<NodeDef>();
            var taken = new HashSet<string>(graph.Node.Select(n => n.Name), StringComparer.Ordinal);
            foreach (var call in calls)
            {
                InlineOne(call, added, rewire, controlRewire, taken);
                remove.Add(call.Name);
                Inlined++;
            }
            foreach (var kv in rewire) _allRewires[kv.Key] = kv.Value;
            var keep = graph.Node.Where(n => !remove.Contains(n.Name)).Concat(added).ToList();
            foreach (var n in keep) Rewire(n, rewire, controlRewire);
            graph.Node.Clear();
            graph.Node.AddRange(keep);
        }
        graph.Library = null;
    }

    private static void Rewire(NodeDef n, Dictionary<string, string> data, Dictionary<string, List<string>> control)
    {
        if (data.Count == 0 && control.Count == 0) return;
        var inputs = new List<string>();
        var controls = new List<string>();
        bool changed = false;
        foreach (var raw in n.Input)
        {
            var tn = TensorName.Parse(raw);
            if (tn.IsControl)
            {
                if (control.TryGetValue(tn.Node, out var deps)) { controls.AddRange(deps.Select(d => "^" + d)); changed = true; }
                else controls.Add(raw);
            }
            else if (data.TryGetValue(tn.Tensor, out var to)) { inputs.Add(to); changed = true; }
            else inputs.Add(raw);
        }
        if (!changed) return;
        n.Input.Clear();
        n.Input.AddRange(inputs);
        n.Input.AddRange(controls.Distinct(StringComparer.Ordinal).Where(c => !inputs.Any(i => TensorName.Parse(i).Node == c[1..])));
    }

    private void InlineOne(NodeDef call, List<NodeDef> added, Dictionary<string, string> rewire, Dictionary<string, List<string>> controlRewire, HashSet<string> taken)
    {
        string fname = CallOps.Contains(call.Op)
            ? (call.Attr.TryGetValue("f", out var f) && f.Func is not null ? f.Func.Name : "")
            : call.Op;
        if (!_functions.TryGetValue(fname, out var fn))
            throw new ModelOpsException(ErrorIds.FunctionNotFound, ErrorKind.InvalidData,
                $"Node '{call.Name}' calls function '{fname}', which is not in the graph's function library.", call.Name);
        string prefix = call.Name + "/";
        // Caller inputs: data first, then control.
        var dataIn = call.Input.Where(i => !i.StartsWith('^')).ToList();
        var ctrlIn = call.Input.Where(i => i.StartsWith('^')).ToList();
        var sig = fn.Signature;
        var argMap = new Dictionary<string, string>(StringComparer.Ordinal);
        int pos = 0;
        foreach (var arg in sig.InputArg)
        {
            int size = ArgSize(arg, call, isCall: true);
            if (size == 1)
            {
                if (pos >= dataIn.Count) throw Bad(call, fname, $"it passes {dataIn.Count} inputs but the function takes more");
                argMap[arg.Name] = dataIn[pos++];
            }
            else
            {
                for (int j = 0; j < size; j++) argMap[$"{arg.Name}:{j}"] = dataIn[pos++];
            }
        }
        // Body node names: prefix + name, kept unique against the rest of the graph.
        var rename = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var bn in fn.NodeDef)
        {
            string nn = prefix + bn.Name;
            while (!taken.Add(nn)) nn += "_";
            rename[bn.Name] = nn;
        }
        var bodyByName = fn.NodeDef.ToDictionary(b => b.Name, StringComparer.Ordinal);
        foreach (var bn in fn.NodeDef)
        {
            var n = bn.Clone();
            n.Name = rename[bn.Name];
            n.Input.Clear();
            foreach (var raw in bn.Input) n.Input.Add(MapBodyInput(raw, argMap, rename, bodyByName, call, fname));
            if (bn.Input.Count == 0) n.Input.AddRange(ctrlIn);
            if (call.Device.Length > 0 && n.Device.Length == 0) n.Device = call.Device;
            added.Add(n);
        }
        // Outputs of the call: flat index k → returned tensor.
        int k = 0;
        var retNodes = new List<string>();
        foreach (var oarg in sig.OutputArg)
        {
            if (!fn.Ret.TryGetValue(oarg.Name, out var ret)) throw Bad(call, fname, $"output '{oarg.Name}' has no return value");
            string mapped = MapBodyInput(ret, argMap, rename, bodyByName, call, fname);
            rewire[$"{call.Name}:{k}"] = mapped;
            retNodes.Add(TensorName.Parse(mapped).Node);
            k++;
        }
        foreach (var cr in fn.ControlRet.Values)
            if (rename.TryGetValue(cr, out var crn)) retNodes.Add(crn);
        controlRewire[call.Name] = retNodes.Distinct(StringComparer.Ordinal).ToList();
    }

    private string MapBodyInput(string raw, Dictionary<string, string> argMap, Dictionary<string, string> rename,
        Dictionary<string, NodeDef> body, NodeDef call, string fname)
    {
        bool control = raw.StartsWith('^');
        string s = control ? raw[1..] : raw;
        var parts = s.Split(':');
        if (control)
        {
            if (rename.TryGetValue(parts[0], out var rn)) return "^" + rn;
            if (argMap.TryGetValue(parts[0], out var a)) return "^" + TensorName.Parse(a).Node;
            throw Bad(call, fname, $"a body node has control input '{raw}', which names nothing in the function");
        }
        if (parts.Length == 1 || (parts.Length == 2 && argMap.ContainsKey(s)))
        {
            if (argMap.TryGetValue(s, out var a)) return a;
            if (rename.TryGetValue(parts[0], out var rn0) && parts.Length == 1) return rn0;
            throw Bad(call, fname, $"a body node reads '{raw}', which is neither an argument nor a node");
        }
        if (parts.Length == 3 && rename.TryGetValue(parts[0], out var rn3) && int.TryParse(parts[2], out int idx))
        {
            int flat = FlatIndex(body[parts[0]], parts[1], idx, call, fname);
            return flat == 0 ? rn3 : $"{rn3}:{flat}";
        }
        if (parts.Length == 2 && rename.TryGetValue(parts[0], out var rn2) && int.TryParse(parts[1], out int i2))
            return i2 == 0 ? rn2 : $"{rn2}:{i2}";
        throw Bad(call, fname, $"a body node reads '{raw}', which cannot be resolved");
    }

    /// <summary>Flat output index of "node:arg:idx" inside a function body.</summary>
    private int FlatIndex(NodeDef n, string argName, int idx, NodeDef call, string fname)
    {
        IEnumerable<OpDef.Types.ArgDef>? outs = null;
        if (_ops.TryGetValue(n.Op, out var op)) outs = op.OutputArg;
        else if (_functions.TryGetValue(n.Op, out var callee)) outs = callee.Signature.OutputArg;
        else if (CallOps.Contains(n.Op)) return idx; // single list output "output"
        // Without an OpDef (graph carries no op list), assume the op has a single output arg.
        if (outs is null) return idx;
        int flat = 0;
        foreach (var a in outs)
        {
            if (a.Name == argName) return flat + idx;
            flat += ArgSize(a, n, isCall: false);
        }
        throw Bad(call, fname, $"node '{n.Name}' ({n.Op}) has no output named '{argName}'");
    }

    private static int ArgSize(OpDef.Types.ArgDef a, NodeDef n, bool isCall)
    {
        if (a.NumberAttr.Length > 0)
            return n.Attr.TryGetValue(a.NumberAttr, out var v) ? (int)v.I : 1;
        if (a.TypeListAttr.Length > 0)
            return n.Attr.TryGetValue(a.TypeListAttr, out var v) && v.List is not null ? v.List.Type.Count : 1;
        return 1;
    }

    private static ModelOpsException Bad(NodeDef call, string fname, string why) =>
        new(ErrorIds.InvalidGraph, ErrorKind.InvalidData, $"Cannot inline '{call.Name}' (function '{fname}'): {why}.", call.Name);
}
