using System.Globalization;
using System.Net;
using System.Text;
using ActorKv.Chaos.Linearizability;

namespace ActorKv.Chaos.Runner;

/// <summary>
/// The run as one HTML page: an SVG timeline with a row per client (each operation a bar from
/// call to return: reads blue, writes green, unknown outcomes grey to the end of the run, the
/// failing fragment red) under orange bands for the faults; hovering shows details.
/// </summary>
public static class Timeline
{
    public static string Html(ChaosOptions options, IReadOnlyList<Operation<KvInput, KvOutput>> history, IReadOnlyList<Fault> faults, long runMs, IReadOnlySet<Operation<KvInput, KvOutput>>? failing)
    {
        const int width = 1400, row = 12, top = 20;
        var clients = history.Count == 0 ? 1 : history.Max(o => o.Client) + 1;
        var height = top + clients * row + 20;
        double X(double ms) => Math.Clamp(ms / Math.Max(1, runMs) * width, 0, width);
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'>");
        foreach (var fault in faults)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<rect x='{X(fault.StartMs):F1}' y='0' width='{Math.Max(1, X(fault.EndMs) - X(fault.StartMs)):F1}' height='{height}' fill='orange' opacity='0.25'><title>{WebUtility.HtmlEncode(fault.Description)}</title></rect>");
        }

        for (var second = 0; second * 1000 <= runMs; second += 5)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x='{X(second * 1000):F1}' y='12' font-size='10'>{second}s</text>");
        }

        foreach (var operation in history)
        {
            var call = ChaosRun.TicksToMs(operation.Call);
            var ret = operation.OutcomeUnknown ? runMs : ChaosRun.TicksToMs(operation.Return);
            var color = failing?.Contains(operation) == true ? "red" : operation.OutcomeUnknown ? "grey" : operation.Input is KvInput.Get ? "steelblue" : "seagreen";
            var title = WebUtility.HtmlEncode($"{operation.Input} -> {(operation.OutcomeUnknown ? "unknown" : operation.Output)}");
            svg.Append(CultureInfo.InvariantCulture, $"<rect x='{X(call):F1}' y='{top + operation.Client * row}' width='{Math.Max(1, X(ret) - X(call)):F1}' height='{row - 3}' fill='{color}' opacity='{(operation.OutcomeUnknown ? 0.3 : 0.9)}'><title>{title}</title></rect>");
        }

        svg.Append("</svg>");
        var faultList = string.Join("", faults.Select(f => $"<li>{f.StartMs / 1000.0:F1}s to {f.EndMs / 1000.0:F1}s: {WebUtility.HtmlEncode(f.Description)}</li>"));
        return $"""
            <!DOCTYPE html>
            <html><head><meta charset="utf-8"><title>ActorKv chaos run, seed {options.Seed}</title></head>
            <body style="font-family: sans-serif">
            <h1>Chaos run, seed {options.Seed}</h1>
            <p>{options.Nodes} nodes, {options.Duration.TotalSeconds:F0}s, nemeses {string.Join(", ", options.Nemeses)}; {history.Count} operations.
            One row per client; blue reads, green writes, grey unknown outcomes, red the failing fragment; orange bands are faults.</p>
            {svg}
            <h2>Faults</h2><ul>{faultList}</ul>
            </body></html>
            """;
    }
}
